"""Pinned images: the versions the stack deploys and what the docs say of them."""

from __future__ import annotations

import re

from conftest import ROOT

from stack.versions import COMPONENTS, DEFAULT_IMAGE_TAGS, image_reference

# The newest Promtail patch release: tag v3.6.15 of grafana/loki (2026-08-05).
# Loki 3.7 ships no Promtail; the 3.6 line is where its patches land.
NEWEST_PROMTAIL = "3.6.15"


def test_promtail_is_pinned_to_its_newest_patch_release():
    assert DEFAULT_IMAGE_TAGS["promtail"] == NEWEST_PROMTAIL


def test_no_comment_names_another_promtail_release():
    text = (ROOT / "stack" / "versions.py").read_text()
    assert set(re.findall(r"\b3\.6\.\d+\b", text)) == {DEFAULT_IMAGE_TAGS["promtail"]}


def test_the_docs_name_every_pinned_image_and_no_other_promtail():
    operating = (ROOT / "docs" / "operating.md").read_text()
    for component in COMPONENTS:
        assert image_reference(component, DEFAULT_IMAGE_TAGS[component]) in operating, component
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        assert set(re.findall(r"\b3\.6\.\d+\b", page.read_text())) <= {DEFAULT_IMAGE_TAGS["promtail"]}, page
