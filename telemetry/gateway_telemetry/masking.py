"""Masking at source: no secret or personal data leaves the service in a log
line, before Promtail's redaction (the second line of defence) ever sees it.

Two ways a value is masked, both from gateway_telemetry.redaction (one
definition, two consumers):

- **By key.** A value whose key ends in one of SENSITIVE_KEY_SUFFIXES
  (password, secret, token, api_key, authorization, cookie, credentials, ...;
  any case, at any depth of dicts and lists) becomes `[REDACTED:secret_value]`
  whatever it holds, as Promtail's key rules do. None, booleans and "" stay:
  they hold no secret and Promtail leaves them too.
- **By pattern.** Every other string (and every number long enough to be a
  card number) runs the REDACTIONS rules, each behind its cheap gate, in the
  very form it will have in the line: JSON-encoded, as a member under its key
  (with non-ASCII both raw, as orjson writes it, and escaped, as other JSON
  writers do). The rules are written for the JSON line Promtail reads, so
  applying them to that text (redaction.apply_rule, Promtail's replace
  semantics) gives Promtail's verdict by construction;
  tests/kit/test_masking.py holds the two to the same verdict on the whole
  corpus.

What is free text: every string value except the contract fields in
NEVER_TEXT, which the kit or the service's own code fills from a closed
vocabulary, a number or an id. `message` and `path` are scanned; so is every
field a call adds, the formatted exception, and the keys of nested dicts
(data, unlike top-level keys, which are the call's keyword names). A value
of a type JSON has no form for (a Path, a dataclass, an object) is logged as
its str(), masked as text, never handed to the serializer raw.

Cost on a clean value: one JSON encoding and a few substring checks
(redaction's literal gates, case variants folded into one check on the
lower-cased text) plus the one regex gate of the digit rules; a text found
clean is remembered (log messages repeat), so a repeated message costs one
set lookup. The regexes run only when a gate opens (bench/kit_logging.py).
"""

from __future__ import annotations

import datetime
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import re2

from gateway_telemetry.redaction import REDACTIONS, SENSITIVE_KEY_SUFFIXES, Redaction, apply_rule, mask

SECRET_MASK = mask("secret_value")  # the key rules' mask

# Contract fields (contract.LOG_FIELDS) that never hold free text: written by
# the kit (timestamp, level, service, environment, version, logger, the ids,
# error fields, the method normalised to the HTTP conventions' set) and
# numbers. request_id is an id: the FastAPI glue keeps a caller's
# X-Request-ID only when it is a short token of [A-Za-z0-9._-] that holds no
# secret, and generates one otherwise (Promtail still runs every rule on it).
# Everything else is scanned: `message` and `path`, and `provider` and
# `model`, which a client can name in its request (issue 18, field report 3).
# tests/kit/test_masking.py fails when the contract gains a field that is in
# neither group.
NEVER_TEXT = frozenset(
    {
        "timestamp", "level", "service", "environment", "version", "logger", "request_id", "trace_id", "span_id",
        "method", "status", "latency_ms", "input_tokens", "output_tokens", "cost_usd",
        "error_type", "error_source", "upstream_status",
    }
)

# Long enough to be a card number (13+ digits): the only rule a bare number
# can meet (the bare card_number rule); shorter ones skip the rules entirely.
_CARD_SIZED = 10**12
# Bounded memories: clean texts and key verdicts repeat (messages, routes,
# field names), but a service may log unbounded distinct ones.
_MEMO_SIZE = 4096
_MEMO_TEXT_LENGTH = 512
# RE2's memory budget per regex and for the set of all of them. The set
# holds every rule in one automaton; when its DFA runs out of memory
# RE2::Set::Match answers "no match" (re2/set.cc), so the budget is set well
# above what the rules need (tests/kit/test_masking.py matches every corpus
# secret through the set).
_RE2_MAX_MEMORY = 256 * 2**20


def _sensitive_key_regex() -> re.Pattern:
    # At the END of the key, like Promtail's key rules (`_KEY` followed by
    # the key's closing quote): `db_password` and `accessToken` are secret,
    # `input_tokens`, `api_key_id` and `password_hint` are not.
    return re.compile("(?:" + "|".join(SENSITIVE_KEY_SUFFIXES) + r")\Z", re.IGNORECASE | re.ASCII)


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _RE2_MAX_MEMORY
    return options


class _Rules:
    """REDACTIONS as one RE2 set (google-re2: the engine family of Go's
    regexp, which Promtail runs): a single pass over a text says exactly
    which rules match it. A clean text costs that pass; a text with a
    secret runs only the rules that match, in order, and the set is asked
    again after each change (a mask can make a later rule match, or stop
    one from matching, as it would in Promtail's sequence of stages).

    The matching rules are applied with Python's re, which reads these RE2
    patterns alike (no look-around or backreference is allowed in them;
    re.ASCII makes \\d, \\s, \\w and \\b mean what they mean to RE2; the
    characters on which the two still differ, \\v and a newline before `$`,
    never stand raw in JSON text) and, with capture groups, runs 2-4x faster
    than google-re2's Python binding (bench/kit_logging.py)."""

    def __init__(self, rules: tuple[Redaction, ...]) -> None:
        options = _re2_options()
        self.rules = rules
        self.regexes = tuple(re.compile(rule.pattern, re.ASCII) for rule in rules)
        self.set = re2.Set.SearchSet(options)
        for rule in rules:
            self.set.Add(rule.pattern)
        self.set.Compile()

    def matching(self, text: str) -> list[int]:
        """Indices of the rules whose pattern matches somewhere in `text`."""
        return self.set.Match(text) or []

    def redact(self, line: str) -> str:
        """What Promtail's redaction stages leave of `line`, with the kit's
        checksums on (redaction.apply_rule)."""
        matching = self.matching(line)
        if not matching:
            return line
        pending = sorted(matching)
        position = 0
        while pending:
            index = pending[0]
            regex = self.regexes[index]
            masked = apply_rule(self.rules[index], line, lambda _pattern: regex, checked=True)
            position = index + 1
            if masked != line:
                line = masked
                pending = sorted(i for i in self.matching(line) if i >= position)
            else:
                pending = pending[1:]
        return line


_RULES = _Rules(REDACTIONS)
_SENSITIVE_KEY = _sensitive_key_regex()
_key_verdicts: dict[str, bool] = {}
_clean_texts: set[str] = set()


def redact_line(line: str) -> str:
    """Every REDACTIONS rule on a JSON text, in Promtail's order and with its
    replace semantics (what the Promtail stages leave of `line`), each
    checksum rule also checked (a card number that fails Luhn is kept)."""
    return _RULES.redact(line)


def is_sensitive_key(key: str) -> bool:
    """Whether a value under `key` is a secret, whatever it holds."""
    verdict = _key_verdicts.get(key)
    if verdict is None:
        verdict = _SENSITIVE_KEY.search(key) is not None
        if len(_key_verdicts) >= _MEMO_SIZE:
            _key_verdicts.clear()
        _key_verdicts[key] = verdict
    return verdict


def _in_context(key: str, value: Any, in_list: bool) -> Any:
    """`value` masked the way Promtail masks it in a line where it stands
    under `key` (inside an array when `in_list`): the rules run on that JSON
    member, and the member is read back. A mask may turn a number or a
    whole array into a string, as Promtail's quoted masks do."""
    member = {key: [value] if in_list else value}
    try:
        line = orjson.dumps(member).decode()
    except TypeError:
        if isinstance(value, str) and key:  # a key with lone surrogates: the value still gets masked
            return _in_context("", value, in_list)
        return value  # an int beyond 64 bits: too long for a card number, rendered by the fallback
    if line.isascii():
        masked = redact_line(line)
        if masked == line:
            return value
    else:
        # Promtail may read a line with non-ASCII escaped (`J\u00f6rg@...`,
        # what ensure_ascii writers send) or raw (orjson writes UTF-8): each
        # form lets some rule see what the other hides (an e-mail's non-ASCII
        # local part; a card number right after a non-ASCII letter), so the
        # value is masked in both, escaped first (a whole address, before the
        # raw form masks its ASCII tail). Masks are ASCII, and masking twice
        # changes nothing (tests/test_redaction.py).
        escaped = redact_line(json.dumps(member, ensure_ascii=True, separators=(",", ":")))
        masked = redact_line(orjson.dumps(orjson.loads(escaped)).decode())
        if orjson.loads(masked) == member:
            return value
    try:
        result = next(iter(orjson.loads(masked).values()))
    except orjson.JSONDecodeError:  # the rules keep JSON valid (tests/test_redaction.py); never the raw value
        return masked
    if in_list and isinstance(result, list) and len(result) == 1:
        return result[0]
    return result


def _mask_string(key: str, text: str, in_list: bool = False, remember: bool = True) -> Any:
    if text in _clean_texts:
        return text
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # Lone surrogates (undecodable bytes carried in a str) have no
            # UTF-8 form: each becomes "?", so the value can be masked and written.
            text = text.encode("utf-8", "replace").decode("utf-8")
    # The rules read the text as it stands in the line, under its key,
    # escapes and quotes included, exactly where Promtail's stages look.
    masked = _in_context(key, text, in_list)
    if masked is text and remember and len(text) <= _MEMO_TEXT_LENGTH:
        if len(_clean_texts) >= _MEMO_SIZE:
            _clean_texts.clear()
        _clean_texts.add(text)
    return masked


def mask_text(text: str) -> str:
    """`text` as it comes out of the REDACTIONS rules when it is a string
    value in a JSON line (what Promtail leaves of it there), decoded again:
    `[REDACTED:<kind>]` in place of each secret or personal datum. A string
    under a key or in a list is masked the same way by mask_event."""
    masked = _mask_string("", text)
    return masked if isinstance(masked, str) else orjson.dumps(masked).decode()


# The HTTP conventions' attributes that hold a URL or part of one, percent-encoded.
URL_ATTRIBUTES = frozenset({"url.full", "url.query", "url.original", "http.url", "http.target"})


def holds_secret(text: str) -> bool:
    """Whether mask_text would change `text`. Not remembered when clean: for
    values that never repeat (a caller's request id), which would only push
    repeating texts out of the memory."""
    return _mask_string("", text, remember=False) != text


def mask_attributes(attributes: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """OpenTelemetry attributes (str keys; str, bool, int, float values or
    sequences of one of them) masked as a log line's fields are: a value
    under a sensitive key (`http.request.header.authorization`) becomes
    SECRET_MASK, every other string and card-sized number runs the rules.
    A masked number becomes a string, a sequence holding one becomes a
    sequence of strings (attribute sequences are homogeneous). Returns the
    same object when nothing changed."""
    if not attributes:
        return attributes
    masked: dict[str, Any] | None = None
    for key, value in attributes.items():
        if is_sensitive_key(key):
            new = value if value is None or value is True or value is False or value == "" else SECRET_MASK
        elif key in URL_ATTRIBUTES and isinstance(value, str) and ("%" in value or "+" in value):
            # Percent-encoding hides a secret's shape (`Bearer%20sk-...`):
            # the decoded text is masked, and kept decoded when it held one.
            decoded = urllib.parse.unquote_plus(value)
            masked_url = mask_text(decoded)
            new = masked_url if masked_url != decoded else mask_text(value)
        elif isinstance(value, (str, int, float)):
            new = _mask_value(key, value)
        elif isinstance(value, (list, tuple)):
            elements = [_mask_value(key, element) for element in value]
            if any(type(a) is not type(b) for a, b in zip(elements, value)):
                elements = [e if isinstance(e, str) else as_text(e) for e in elements]
            new = tuple(elements) if elements != list(value) else value
        else:
            new = value
        if new is not value and new != value:
            if masked is None:
                masked = dict(attributes)
            masked[key] = new
    return attributes if masked is None else masked


def _mask_value(key: str, value: Any, in_list: bool = False) -> Any:
    kind = type(value)
    if kind is str:
        return _mask_string(key, value, in_list)
    if kind is bool or value is None:
        return value
    if kind is int or kind is float:
        return _in_context(key, value, in_list) if not -_CARD_SIZED < value < _CARD_SIZED else value
    if isinstance(value, Mapping):
        return _mask_mapping(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        # Elements keep their list's key as context: Promtail reads
        # `"cards": [4111...]` as one bare value of that key.
        return [_mask_value(key, element, in_list=True) for element in value]
    if isinstance(value, str):  # str subclasses, StrEnum
        return _mask_string(key, str(value), in_list)
    if isinstance(value, (int, float)):  # IntEnum and friends
        return _mask_value(key, int(value) if isinstance(value, int) else float(value), in_list)
    if isinstance(value, (datetime.date, datetime.time, uuid.UUID)):
        return value  # orjson writes these itself; they hold no text
    return _mask_string(key, as_text(value), in_list)


def as_text(value: Any) -> str:
    """How a value JSON has no form for is logged: its str(), or
    `<unprintable TypeName>` when that raises (a broken __str__ must not
    break the log call)."""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _mask_member(key: str, value: Any) -> Any:
    if is_sensitive_key(key):
        return value if value is None or value is True or value is False or value == "" else SECRET_MASK
    return _mask_value(key, value)


def _mask_mapping(mapping: Mapping) -> dict:
    # Nested keys are data (user ids, e-mail addresses as keys): masked as
    # text. A copy: the caller's dict is never changed.
    masked = {}
    for key, value in mapping.items():
        text_key = key if type(key) is str else as_text(key)
        masked_key = _mask_string("", text_key)
        if not isinstance(masked_key, str):
            masked_key = text_key
        masked[masked_key] = _mask_member(masked_key, value)
    return masked


def mask_event(event: dict, never_text: frozenset[str] = NEVER_TEXT) -> dict:
    """Mask a structlog event dict in place and return it.

    Values of sensitive keys (any depth) become SECRET_MASK; every other
    string, and numbers long enough to be card numbers, run the REDACTIONS
    rules (see the module docstring); top-level keys in `never_text` are left
    alone. Nested dicts and lists are replaced by masked copies, so objects
    the caller logged are never changed. Raises nothing for any value.
    """
    return _mask_top_level(event, never_text)


def _mask_top_level(
    event: dict,
    never_text: frozenset[str],
    # Bound once: a local name is cheaper than a global one, every field of
    # every line. (Both are cleared in place, never rebound.)
    verdicts: dict = _key_verdicts,
    clean_texts: set = _clean_texts,
) -> dict:
    for key, value in event.items():
        if key in never_text:
            continue
        # The common cases inline (a call per field is most of the cost):
        # a known key, a text already found clean, a short number, no value.
        sensitive = verdicts.get(key)
        if sensitive is None:
            sensitive = is_sensitive_key(key)
        if not sensitive:
            kind = type(value)
            if kind is str:
                if value in clean_texts:
                    continue
            elif kind is int or kind is float:
                if -_CARD_SIZED < value < _CARD_SIZED:
                    continue
            elif value is None or kind is bool:
                continue
        masked = _mask_member(key, value)
        if masked is not value:
            event[key] = masked  # same keys: safe while iterating
    return event


class MaskingProcessor:
    """The structlog processor: mask_event on every event dict. Put it after
    every processor that adds a field that can hold text (the formatted
    exception included); processors after it may add NEVER_TEXT fields only.
    `never_text` adds a service's own fields that never hold text to
    NEVER_TEXT (each scanned field costs a few checks)."""

    def __init__(self, never_text: Iterable[str] = ()):
        self.never_text = NEVER_TEXT | frozenset(never_text)

    def __call__(self, logger: Any, method_name: str, event_dict: dict) -> dict:
        return _mask_top_level(event_dict, self.never_text)
