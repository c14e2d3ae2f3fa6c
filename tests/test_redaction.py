"""Redaction under RE2 (google-re2, the engine family Promtail runs).

The corpus says what must be masked and what must survive byte for byte; the
generated variants put every corpus line into the shapes a JSON log gives it
(a string value, after an escape, under a secret key, as a bare number, as
JSON inside a JSON string) and require, line by line: valid JSON stays valid
JSON (and invalid stays invalid), no secret survives, masking twice changes
nothing, and Promtail's gated stages give exactly what the ungated rules give.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import re2
import yaml
from promtail_pipeline import Selector, run_pipeline

from gateway_telemetry.redaction import (
    CLEAN_LABEL,
    LEAK_PATTERN,
    REDACTIONS,
    SENSITIVE_KEY_LITERALS,
    apply_rule,
    redact,
    redaction_stages,
    triggered,
)

CORPUS = yaml.safe_load((Path(__file__).parent / "fixtures/redaction_corpus.yaml").read_text())
SECRETS = CORPUS["secrets"]
SURVIVORS = CORPUS["survivors"]


def masked(line: str) -> str:
    return redact(line, re2.compile)


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def expected_redaction(case: dict) -> str:
    return case.get("redacted") or case["line"].replace(case["secret"], f"[REDACTED:{case['kind']}]")


# --- the corpus --------------------------------------------------------------


def test_corpus_is_big_enough_and_covers_every_kind():
    assert len(SECRETS) >= 126 and len(SURVIVORS) >= 101
    assert {case["kind"] for case in SECRETS} == {rule.kind for rule in REDACTIONS}


@pytest.mark.parametrize("rule", REDACTIONS, ids=lambda r: r.kind)
def test_every_pattern_and_trigger_compiles_under_re2_with_capture_groups(rule):
    assert re2.compile(rule.pattern).groups >= 1, "Promtail replaces capture groups"
    if isinstance(rule.trigger, str):
        re2.compile(rule.trigger)


def test_the_leak_detector_pattern_compiles_under_re2():
    re2.compile(LEAK_PATTERN)


@pytest.mark.parametrize("case", SECRETS, ids=lambda c: f"{c['kind']}:{c['secret'][:16]}")
def test_secret_is_masked_and_nothing_else_changes(case):
    assert masked(case["line"]) == expected_redaction(case)


@pytest.mark.parametrize("line", SURVIVORS, ids=lambda line: line[:40])
def test_look_alike_survives(line):
    assert masked(line) == line


def test_leak_detector_sees_raw_keys_but_not_redacted_ones():
    leak = re2.compile(LEAK_PATTERN)
    raw = [c["line"] for c in SECRETS if c["kind"] in {"openai_key", "anthropic_key", "aws_access_key", "google_api_key", "jwt"}]
    assert raw and all(leak.search(line) for line in raw)
    assert not any(leak.search(masked(c["line"])) for c in SECRETS)
    assert not any(leak.search(line) for line in SURVIVORS)


# --- generated variants -------------------------------------------------------

PLAIN_SECRETS = [c for c in SECRETS if not c["line"].lstrip().startswith(("{", "["))]
PLAIN_SURVIVORS = [line for line in SURVIVORS if not is_json(line)]
# What may stand right before a line inside a JSON string: escapes (newline,
# tab, quote) and plain text; and after it. A backslash is tested in the JSON
# family only: in plain text it is not an escape. A quote right after a
# logfmt value (`password="x""`) is not tried: that check is what keeps a
# JSON line's `"password=", "x": ...` from being read as a quoted value.
BEFORE = ("", "\n", "\t", '"', " ", "é", "x ")
AFTER = ("", "\n", "\t", " ")


def _as_message(text: str) -> str:
    return json.dumps({"level": "info", "message": text, "n": 1}, ensure_ascii=False)


def _message_cases():
    for text in [c["line"] for c in PLAIN_SECRETS] + PLAIN_SURVIVORS:
        for before in BEFORE:
            for after in AFTER:
                yield before + text + after


MESSAGE_CASES = list(_message_cases())


@pytest.mark.parametrize("text", MESSAGE_CASES, ids=lambda t: repr(t)[:40])
def test_masking_a_json_string_masks_what_its_text_would_show(text):
    """Redaction commutes with JSON encoding: the decoded message of the masked
    line is the masked text, whatever escape stands around it."""
    redacted = masked(_as_message(text))
    assert is_json(redacted), redacted
    assert json.loads(redacted)["message"] == masked(text)


def _secret_values():
    """Secret values, decoded, that a gateway might log under a key."""
    values = {c["secret"] for c in SECRETS if "\\" not in c["secret"] and not c["secret"].startswith(("[", "{"))}
    return sorted(values | {'hunter2"x', "back\\slash\\", "tab\there", "ünïcødé-pässwörd", "a]b}c,d"})


KEYED_SHAPES = {
    "string": lambda v: {"password": v, "user": "bob"},
    "nested": lambda v: {"request": {"headers": {"X-Api-Key": v, "accept": "json"}}},
    "camel": lambda v: {"clientSecret": v},
    "upper": lambda v: {"AWS_SECRET_ACCESS_KEY": v},
    "array": lambda v: {"api_keys": [v, v]},
    "object": lambda v: {"credentials": {"user": "svc", "password": v}},
    "json_in_string": lambda v: {"body": json.dumps({"access_token": v, "scope": "chat"})},
    "json_in_string_compact": lambda v: {"body": json.dumps({"access_token": v}, separators=(",", ":"))},
    "json_two_strings_deep": lambda v: {"body": json.dumps({"arguments": json.dumps({"password": v, "n": 1})})},
}
# Values that are not strings: numbers, arrays and objects, nested and not.
# Nested at most MAX_CONTAINER_DEPTH levels once inside the deepest shape.
BARE_VALUES = ("12345678", "-4.5e3", "0", "[1, 2]", '["sk-x", {"a": "b"}]', '{"a": {"b": [1, "c]"]}}', "[[[1]]]")


def _keyed_cases():
    for value in _secret_values():
        for shape, build in KEYED_SHAPES.items():
            for ascii_only in (False, True):
                yield shape, value, json.dumps(build(value), ensure_ascii=ascii_only)
    for bare in BARE_VALUES:
        for shape, build in KEYED_SHAPES.items():
            yield shape, bare, json.dumps(build(json.loads(bare)))


def _decoded_strings(value):
    """Every string in a JSON document, JSON held in strings decoded too."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _decoded_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _decoded_strings(item)
    elif isinstance(value, str):
        yield value
        if value[:1] in "{[" and not value.startswith("[REDACTED:"):
            yield from _decoded_strings(json.loads(value))


KEYED_CASES = list(_keyed_cases())


@pytest.mark.parametrize("shape,value,line", KEYED_CASES, ids=lambda x: str(x)[:30])
def test_a_secret_keys_value_is_masked_whole_in_every_json_form(shape, value, line):
    """The line and every JSON document held in its strings still parse, and
    nothing of the value is left in any of them."""
    redacted = masked(line)
    assert is_json(redacted), redacted
    texts = list(_decoded_strings(json.loads(redacted)))  # json.loads inside raises if an inner document broke
    assert "[REDACTED:secret_value]" in "".join(texts), redacted
    secret = value if not value[:1] in "[{" else json.dumps(json.loads(value))
    assert not any(secret in text for text in texts), redacted
    assert not any(part in redacted for part in ("12345678", "sk-x", "c]")), redacted


ALL_LINES = [c["line"] for c in SECRETS] + SURVIVORS + [_as_message(t) for t in MESSAGE_CASES] + [c[2] for c in KEYED_CASES]


def test_output_is_valid_json_exactly_when_input_was():
    wrong = [(line, masked(line)) for line in ALL_LINES if is_json(masked(line)) != is_json(line)]
    assert not wrong, wrong[:5]


def test_masking_twice_changes_nothing():
    wrong = [line for line in ALL_LINES if masked(masked(line)) != masked(line)]
    assert not wrong, wrong[:5]


# --- what Promtail runs ---------------------------------------------------------


def test_every_trigger_holds_wherever_its_rule_would_change_the_line():
    """The gate is sound: at the rule's place in the order, whenever the rule
    matches a line, its trigger does too."""
    misses = []
    for line in ALL_LINES:
        for rule in REDACTIONS:
            if apply_rule(rule, line, re2.compile) != line and not triggered(rule, line, re2.search):
                misses.append((rule.kind, line))
            line = apply_rule(rule, line, re2.compile)
    assert not misses, misses[:5]


def test_promtails_gated_stages_mask_exactly_like_the_rules():
    stages = redaction_stages()
    wrong = []
    for line in ALL_LINES:
        got = run_pipeline(stages, line, {"service": "unified-llm-api"}).line
        if got != masked(line):
            wrong.append((line, got, masked(line)))
    assert not wrong, wrong[:3]


def test_a_line_without_a_service_label_is_still_masked():
    line = SECRETS[0]["line"]
    assert run_pipeline(redaction_stages(), line, {}).line == masked(line) != line


def test_a_clean_line_pays_one_and_of_literals_and_one_regex_pass():
    """The cost model bench/ measures in the real Promtail: the first stage
    ANDs a `!=` per literal trigger and a `!~` per regex trigger (Promtail's
    match grammar has no `or`), so a clean line pays those checks and is
    marked; the gated rules sit behind the marker, and the marker is dropped
    before anything leaves the redaction stages."""
    first, gated, drop = redaction_stages()
    selector = Selector.parse(first["match"]["selector"])
    assert {op for op, _ in selector.filters} == {"!=", "!~"}
    assert sum(op == "!~" for op, _ in selector.filters) == 1, "one regex pass for the digit shapes"
    assert first["match"]["stages"] == [{"static_labels": {CLEAN_LABEL: "true"}}]
    assert Selector.parse(gated["match"]["selector"]).matchers == ((CLEAN_LABEL, "=", ""),)
    replaces = [inner for gate in gated["match"]["stages"] for inner in gate["match"]["stages"]]
    assert [r["replace"]["expression"] for r in replaces] == [rule.pattern for rule in REDACTIONS]
    assert drop == {"labeldrop": [CLEAN_LABEL]}
    clean = json.dumps({"level": "info", "path": "/v1/chat/completions", "input_tokens": 812, "latency_ms": 431.5})
    assert selector.matches({}, clean)
    assert not any(triggered(rule, clean, re2.search) for rule in REDACTIONS)
    assert all(not selector.matches({}, case["line"]) for case in SECRETS), "a line with a secret is never marked clean"


def test_the_clean_marker_never_leaves_the_redaction_stages():
    for line in (SECRETS[0]["line"], SURVIVORS[0], "plain"):
        assert CLEAN_LABEL not in run_pipeline(redaction_stages(), line, {"service": "api"}).labels


SECRET_KEY_NAMES = ("password", "passwd", "passwords", "secret", "client_secret", "token", "access_token",
                    "api_key", "api-key", "apikey", "x-api-key", "secret_key", "access_key", "private_key",
                    "secret_access_key", "authorization", "proxy-authorization", "cookie", "set-cookie", "credentials")


def _spellings(name: str) -> set[str]:
    words = name.replace("-", "_").split("_")
    camel = words[0] + "".join(w.title() for w in words[1:])
    return {name, name.upper(), name.title(), camel, camel[:1].upper() + camel[1:]}


@pytest.mark.parametrize("name", SECRET_KEY_NAMES)
def test_every_spelling_of_a_secret_key_is_masked_by_promtails_stages(name):
    """Lower, Title, UPPER and camelCase spellings all reach a rule through
    the gates (the key rules are case-insensitive, their gates are literals)."""
    stages = redaction_stages()
    for key in _spellings(name):
        for line in (json.dumps({key: "v4lue-x"}), f"{key}=v4lue-x", f"{key}: v4lue-x", json.dumps({"m": f"{key}=v4lue-x"})):
            assert "v4lue-x" not in run_pipeline(stages, line, {}).line, line


def test_token_counts_open_no_key_gate():
    """Every access line carries input_tokens/output_tokens: they must not
    send every line through the key rules."""
    line = json.dumps({"input_tokens": 812, "output_tokens": 233, "max_tokens": 4096, "tokens": 3})
    assert not any(literal in line for literal in SENSITIVE_KEY_LITERALS)
