"""Redaction under RE2 (google-re2, the engine family Promtail runs): every
secret in the corpus is masked, every look-alike survives byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
import re2
import yaml

from stack.redaction import LEAK_PATTERN, REDACTIONS, redact

CORPUS = yaml.safe_load((Path(__file__).parent / "fixtures/redaction_corpus.yaml").read_text())


def test_corpus_is_big_enough_and_covers_every_rule():
    assert len(CORPUS["secrets"]) >= 40 and len(CORPUS["survivors"]) >= 40
    assert {case["kind"] for case in CORPUS["secrets"]} == {rule.name for rule in REDACTIONS}


@pytest.mark.parametrize("rule", REDACTIONS, ids=lambda r: r.name)
def test_every_pattern_compiles_under_re2_with_one_capture_group(rule):
    regex = re2.compile(rule.pattern)
    assert regex.groups == 1, "Promtail replaces capture groups: exactly one per rule"


def test_the_leak_detector_pattern_compiles_under_re2():
    re2.compile(LEAK_PATTERN)


@pytest.mark.parametrize("case", CORPUS["secrets"], ids=lambda c: f"{c['kind']}:{c['secret'][:12]}")
def test_secret_is_masked(case):
    redacted = redact(case["line"], re2.compile)
    assert case["secret"] not in redacted, redacted
    assert f"[REDACTED:{case['kind']}]" in redacted, redacted


@pytest.mark.parametrize("line", CORPUS["survivors"], ids=lambda line: line[:40])
def test_look_alike_survives(line):
    assert redact(line, re2.compile) == line


@pytest.mark.parametrize("case", CORPUS["secrets"], ids=lambda c: f"{c['kind']}:{c['secret'][:12]}")
def test_redacted_json_stays_valid_json(case):
    import json

    if case["line"].startswith("{"):
        json.loads(redact(case["line"], re2.compile))


def test_leak_detector_sees_raw_keys_but_not_redacted_ones():
    leak = re2.compile(LEAK_PATTERN)
    raw = [c["line"] for c in CORPUS["secrets"] if c["kind"] in {"openai_key", "anthropic_key", "aws_access_key", "google_api_key", "jwt", "bearer_token"}]
    assert raw and all(leak.search(line) for line in raw)
    assert not any(leak.search(redact(c["line"], re2.compile)) for c in CORPUS["secrets"])
    assert not any(leak.search(line) for line in CORPUS["survivors"])
