"""Every relative link and anchor in README.md and docs/ resolves: the file
exists, and an anchor names a heading of it as GitHub makes heading anchors
(lower case; punctuation other than `-` and `_` dropped; spaces as `-`; a
repeated heading gets `-1`, `-2`). Links to other sites are not fetched (CI
has no network), and links inside code are not links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(?<!!)\[(?:[^\]\n]|\][^(])*?\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def prose(document: Path) -> str:
    """The document without its code: fenced blocks and inline code."""
    return INLINE_CODE.sub("", FENCE.sub("", document.read_text()))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = text.strip().lower().replace("`", "")
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for heading in HEADING.findall(FENCE.sub("", document.read_text())):
        base = slug(heading)
        number = counts.get(base, 0)
        counts[base] = number + 1
        found.add(base if number == 0 else f"{base}-{number}")
    return found


def links(document: Path) -> list[str]:
    return [target for target in LINK.findall(prose(document)) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def broken_links(document: Path) -> list[str]:
    """Each relative link of `document` whose file or heading does not exist, with why."""
    broken = []
    for target in links(document):
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        if not resolved.exists():
            broken.append(f"{target}: no file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return broken


def test_the_slug_is_githubs():
    assert slug("The gateway's side: the telemetry kit") == "the-gateways-side-the-telemetry-kit"
    assert slug("What `make verify` checks") == "what-make-verify-checks"
    assert slug("AI metrics need AI Proxy statistics") == "ai-metrics-need-ai-proxy-statistics"


def test_a_broken_link_is_caught_and_a_good_one_is_not(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Its part\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\nSee [here](#no-such-heading), [there](missing.md), [that](other.md#no-part) "
        "but `[not](a-link.md)`; fine: [this](#title), [that](other.md#its-part).\n"
    )
    assert broken_links(page) == [
        "#no-such-heading: no heading #no-such-heading in page.md",
        f"missing.md: no file {tmp_path / 'missing.md'}",
        "other.md#no-part: no heading #no-part in other.md",
    ]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(document):
    broken = broken_links(document)
    assert not broken, "\n".join(broken)
