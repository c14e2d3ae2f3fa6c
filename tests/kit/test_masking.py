"""Masking at source (gateway_telemetry.masking) against Promtail's stages.

The kit and Promtail read one list of rules (gateway_telemetry.redaction);
the kit runs them with Python's re on each value as it will stand in the JSON
line, Promtail with Go's regexp on the whole line (tests/promtail_pipeline,
RE2 as google-re2). Here the whole corpus goes through both and must get the
same verdict line by line; the kit's own lines go through both and must come
out identical; and what the kit adds on top (masking by key at any depth,
values JSON has no form for) is pinned down.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
import re
import uuid
from pathlib import Path

import orjson
import pytest
import yaml
from promtail_pipeline import run_pipeline

from gateway_telemetry import masking
from gateway_telemetry.contract import LOG_FIELDS
from gateway_telemetry.masking import NEVER_TEXT, SECRET_MASK, MaskingProcessor, mask_event, mask_text
from gateway_telemetry.redaction import REDACTIONS, apply_rule, redaction_stages

CORPUS = yaml.safe_load((Path(__file__).parents[1] / "fixtures/redaction_corpus.yaml").read_text())
SECRETS = CORPUS["secrets"]
SURVIVORS = CORPUS["survivors"]
CHECKSUM_LOOK_ALIKES = CORPUS["checksum_look_alikes"]
STAGES = redaction_stages()


def promtail(line: str) -> str:
    return run_pipeline(STAGES, line, {}).line


def json_object(line: str):
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# Where the kit and Promtail must differ by design, by line: the verdict
# (masked or not) is still the same, only the shape of the masked value is not.
BY_DESIGN = {
    # Promtail's regex can only replace the whole array of bare card numbers
    # with one quoted mask; the kit masks each element and keeps the list.
    '{"cards": [4111111111111111, 5500000000000004]}': {"cards": ["[REDACTED:card_number]"] * 2},
}

CORPUS_LINES = [(case["line"], case["secret"]) for case in SECRETS] + [(line, None) for line in SURVIVORS]


@pytest.mark.parametrize("line,secret", CORPUS_LINES, ids=lambda x: str(x)[:40])
def test_kit_and_promtail_give_every_corpus_line_the_same_verdict(line, secret):
    """A JSON line is masked by mask_event (the kit's view of it: a dict), a
    plain line by mask_text; both must be masked exactly when Promtail masks
    the line, and say what Promtail says."""
    by_promtail = promtail(line)
    event = json_object(line)
    if event is None:
        assert mask_text(line) == by_promtail  # plain text: the same output text
        return
    by_kit = mask_event(json_object(line))
    assert (by_kit != event) == (by_promtail != line)
    assert by_kit == BY_DESIGN.get(line, json.loads(by_promtail))
    if secret is not None:
        assert secret not in orjson.dumps(by_kit).decode() and secret not in json.dumps(by_kit)


def test_by_design_differences_are_still_masked_by_both():
    for line, expected in BY_DESIGN.items():
        assert promtail(line) != line
        assert mask_event(json.loads(line)) == expected != json.loads(line)


# Plain corpus text in the places a log line gives it: a message, a field a
# call adds, an element of a list, with escapes and text around it.
PLAIN_TEXTS = [line for line, _ in CORPUS_LINES if json_object(line) is None]
AROUND = ("", "\n", "\t", '"', " ", "é", "x ", "\\")


def _kit_events():
    for text in PLAIN_TEXTS:
        for before in AROUND:
            for after in AROUND[:4]:
                value = before + text + after
                yield {"message": value, "n": 1}
                yield {"detail": {"note": value}, "items": [value]}


KIT_EVENTS = list(_kit_events())


def test_a_kit_line_comes_out_of_promtail_exactly_as_the_kit_wrote_it():
    """The kit's masked line is a fixed point of Promtail's stages (nothing
    left to mask), and it is exactly what Promtail makes of the unmasked line:
    the same verdict and the same text, escapes included."""
    wrong = []
    for event in KIT_EVENTS:
        unmasked = orjson.dumps(event).decode()
        by_kit = orjson.dumps(mask_event(json.loads(unmasked))).decode()
        if promtail(unmasked) != by_kit or promtail(by_kit) != by_kit:
            wrong.append((unmasked, by_kit, promtail(unmasked)))
    assert not wrong, wrong[:3]


def _ungated(line: str) -> str:
    for rule in REDACTIONS:
        line = apply_rule(rule, line, lambda pattern: re.compile(pattern, re.ASCII), checked=True)
    return line


def test_the_rule_set_skips_only_rules_that_would_change_nothing():
    """The kit runs only the rules its RE2 set says match, asking again after
    each change; that must give what every rule run in order gives, on the
    corpus and every variant of it."""
    lines = [line for line, _ in CORPUS_LINES] + CHECKSUM_LOOK_ALIKES
    lines += [orjson.dumps(event).decode() for event in KIT_EVENTS] + [json.dumps({"m": line}) for line in lines]
    wrong = [line for line in lines if masking.redact_line(line) != _ungated(line)]
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("line", CHECKSUM_LOOK_ALIKES)
def test_a_card_shaped_number_failing_luhn_is_kept_by_the_kit_alone(line):
    """Promtail's rules cannot compute a check digit: it masks by shape."""
    assert masking.redact_line(line) == line
    assert "[REDACTED:card_number]" in promtail(line)


def test_clean_values_never_reach_the_rules(monkeypatch):
    """A clean value costs the one pass of the rules' RE2 set; no rule runs."""

    def no_rules(rule, line, compile, checked=False):
        raise AssertionError(f"{rule.kind} ran on {line!r}")

    monkeypatch.setattr(masking, "apply_rule", no_rules)
    masking._clean_texts.clear()
    event = {"message": "request completed", "path": "/v1/chat/completions", "note": "fallback after 3 retries",
             "route": "/v1/models", "latency_ms": 1532.7, "status": 200, "tokens": 5}
    assert mask_event(dict(event)) == event


class NoSecondLook:
    def redact(self, text: str) -> str:
        raise AssertionError(f"{text!r} was checked again")


def test_a_clean_message_is_checked_once(monkeypatch):
    masking._clean_texts.clear()
    mask_event({"message": "cache warmed"})
    monkeypatch.setattr(masking, "_RULES", NoSecondLook())
    assert mask_event({"message": "cache warmed"}) == {"message": "cache warmed"}
    with pytest.raises(AssertionError, match="checked again"):
        mask_event({"message": "cache warmed twice"})


def test_the_rule_set_finds_every_rule_that_matches():
    """RE2's set answers "no match" when its DFA runs out of memory
    (re2/set.cc): with the kit's budget it finds, on every corpus line, each
    rule whose own regex matches there."""
    for case in SECRETS:
        line = json.dumps({"message": case["line"]})
        expected = [i for i, regex in enumerate(masking._RULES.regexes) if regex.search(line)]
        assert sorted(masking._RULES.matching(line)) == expected, line


# --- by key ---------------------------------------------------------------------

SENSITIVE_KEYS = ("api_key", "authorization", "password", "token", "secret", "cookie", "X-Api-Key", "accessToken",
                  "db_password", "Set-Cookie", "client_secret", "AWS_SECRET_ACCESS_KEY", "credentials", "apiKey",
                  "Proxy-Authorization", "refresh_token", "private_key")
ANY_VALUE = ("hunter2", 12345678, 0, -4.5, ["a", "b"], {"user": "svc", "pw": "x"}, [], {}, object())


@pytest.mark.parametrize("key", SENSITIVE_KEYS)
def test_a_sensitive_keys_value_is_masked_whole_at_any_depth(key):
    for value in ANY_VALUE:
        event = {"top": {key: value}, "list": [{"headers": {key: value}}], key: value}
        masked = mask_event(event)
        assert masked[key] == SECRET_MASK
        assert masked["top"][key] == SECRET_MASK
        assert masked["list"][0]["headers"][key] == SECRET_MASK


@pytest.mark.parametrize("key", ["Db_PassWord", "pAsSwOrD", "client_SeCrEt"])
def test_the_kit_masks_by_key_where_promtails_gates_do_not_look(key):
    """By design the two differ here: the kit reads the key itself, in any
    case, before any pattern sees the value; Promtail's key rules sit behind
    literal gates for lower, Title, UPPER and camelCase spellings only, so a
    mixed-case key gets past them. The kit is the stricter of the two."""
    line = json.dumps({key: "hunter2"})
    assert mask_event(json.loads(line)) == {key: SECRET_MASK}
    assert promtail(line) == line


@pytest.mark.parametrize("value", [None, True, False, ""])
def test_a_sensitive_key_holding_no_secret_stays_as_promtail_leaves_it(value):
    line = json.dumps({"api_key": value, "password": value})
    assert mask_event(json.loads(line)) == json.loads(line) == json.loads(promtail(line))


@pytest.mark.parametrize("key", ["input_tokens", "output_tokens", "max_tokens", "tokens", "token_type", "api_key_id",
                                 "password_hint", "password_required", "is_token_valid", "keys", "cache_key_hash"])
def test_look_alike_keys_are_not_secret(key):
    assert mask_event({key: "plain value 42"}) == {key: "plain value 42"}
    assert promtail(json.dumps({key: "plain value 42"})) == json.dumps({key: "plain value 42"})


def test_nested_keys_are_data_and_are_masked_as_text():
    masked = mask_event({"usage": {"jane.doe@example.com": 3, "bob": {"AKIAIOSFODNN7EXAMPLE": 1}}})
    assert masked == {"usage": {"[REDACTED:email]": 3, "bob": {"[REDACTED:aws_access_key]": 1}}}


def test_masking_never_changes_the_callers_objects():
    headers = {"authorization": "Bearer abcdefgh12345678", "accept": "json"}
    notes = ["mail jane.doe@example.com"]
    mask_event({"headers": headers, "notes": notes})
    assert headers == {"authorization": "Bearer abcdefgh12345678", "accept": "json"}
    assert notes == ["mail jane.doe@example.com"]


# --- values ----------------------------------------------------------------------


def test_never_text_is_every_contract_field_but_free_text_and_what_a_client_names():
    """Adding a contract field forces a decision: never text, or scanned.
    `provider` and `model` are scanned: a request names them (issue 18)."""
    names = {field.name for field in LOG_FIELDS}
    assert NEVER_TEXT <= names
    assert names - NEVER_TEXT == {"message", "path", "provider", "model"}


def test_never_text_fields_are_left_alone_and_everything_else_is_scanned():
    event = {name: "jane.doe@example.com" for name in NEVER_TEXT | {"message", "custom"}}
    masked = mask_event(event)
    assert {name for name, value in masked.items() if value == "[REDACTED:email]"} == {"message", "custom"}
    extra = MaskingProcessor(never_text=("route",))(None, "info", {"route": "jane.doe@example.com"})
    assert extra == {"route": "jane.doe@example.com"}


@dataclasses.dataclass
class Settings:
    user: str
    password: str


class Leaky:
    def __str__(self) -> str:
        return "client with key sk-proj-Ab3dEf5GhIjKlMnOpQrStUvWx"


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_values_json_has_no_form_for_are_logged_as_masked_text():
    masked = mask_event({
        "settings": Settings("svc", "hunter2"),
        "client": Leaky(),
        "path_obj": Path("/srv/jane.doe@example.com/x"),
        "raw": b"token=abcdef",
        "tags": {"a", "b"},
        "amount": decimal.Decimal("1.50"),
        "broken": Broken(),
        "when": datetime.datetime(2026, 11, 30, tzinfo=datetime.timezone.utc),
        "id": uuid.UUID(int=1),
    })
    line = orjson.dumps(masked).decode()  # renders without a fallback
    assert "hunter2" not in line and "sk-proj-" not in line and "jane.doe" not in line and "abcdef" not in line
    assert masked["settings"] == "Settings(user='svc', password='[REDACTED:secret_value]')"
    assert masked["client"] == "client with key [REDACTED:openai_key]"
    assert sorted(masked["tags"]) == ["a", "b"] and masked["amount"] == "1.50"
    assert masked["broken"] == "<unprintable Broken>"
    assert masked["when"] == datetime.datetime(2026, 11, 30, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("text", ["email=jane@example.com", "to:jane@example.com", "<jane@example.com>",
                                  "/home/jane@example.com/x", "mailto:jane@example.com?subject=hi"])
def test_an_email_after_any_separator_is_masked_by_both(text):
    """The e-mail rule's left boundary once read `+-\\` as a range and let
    `=`, `:`, `<` and `/` through (fixed in redaction._left_of)."""
    assert "jane@example.com" not in mask_text(text)
    assert mask_text(text) == promtail(text)


def test_card_sized_numbers_are_masked_and_other_numbers_are_not():
    masked = mask_event({"card": 4111111111111111, "card_float": 4111111111111111.0, "epoch_ns": 1732262515000000000,
                         "latency": 1234567890123, "cards": [5500000000000004, 7], "big": 2**70})
    assert masked == {"card": "[REDACTED:card_number]", "card_float": "[REDACTED:card_number]",
                      "epoch_ns": 1732262515000000000, "latency": 1234567890123,
                      "cards": ["[REDACTED:card_number]", 7], "big": 2**70}


HOSTILE = ('"}, "level": "debug', "\\", '\\"', "\n{\"x\":1}\n", "\u2028\u2029", "\x00\x1b[31m", "é漢字😀", "\ud800",
           "password=\"p\\\"w\" x", "[REDACTED:email", "]}\"", "{" * 50)


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_a_masked_event_renders_one_valid_json_line_whatever_the_values(value):
    event = {"message": value, value if isinstance(value, str) and "\ud800" not in value else "k": value,
             "nested": {value: [value, {"password": value}]}}
    masked = mask_event(event)
    line = orjson.dumps(masked)
    assert b"\n" not in line
    parsed = json.loads(line)
    assert parsed["nested"][next(iter(parsed["nested"]))][1] == {"password": SECRET_MASK}


def test_masking_twice_changes_nothing():
    for event in KIT_EVENTS[::7] + [json_object(line) for line, _ in CORPUS_LINES if json_object(line)]:
        once = mask_event(json.loads(json.dumps(event)))
        assert mask_event(json.loads(json.dumps(once))) == once
