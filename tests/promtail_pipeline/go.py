"""Go's semantics where Python's differ, for the values Promtail 3.6.15 handles.

Sources: the Go standard library (strconv.Unquote and FormatFloat, regexp's
FindAllStringSubmatchIndex and ExpandString, encoding/json Marshal and
Unmarshal, time.ParseDuration) and grafana/loki at v3.6.15,
clients/pkg/logentry/stages/util.go (getString: the text of an extracted
value). Regexes are google-re2's (`re2`), the engine family of Go's regexp.
"""

from __future__ import annotations

import json
import unicodedata
from decimal import Decimal
from typing import Optional

import re2

from .errors import GoSyntaxError


def go_unquote(literal: str) -> str:
    """strconv.Unquote for a double-quoted Go string literal.

    Raises GoSyntaxError for a raw (backtick) or single-quoted literal (see
    selector.py: Promtail's selector lexer has no raw strings), a newline
    inside the quotes, an unknown escape, or a byte escape above 0x7f (which
    would not be valid UTF-8 text: not supported here).
    """
    if len(literal) < 2 or literal[0] != '"' or literal[-1] != '"':
        raise GoSyntaxError(f"{literal!r}: expected a double-quoted Go string")
    body, out, i = literal[1:-1], [], 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"'}
    while i < len(body):
        c = body[i]
        if c == "\n" or c == '"':
            raise GoSyntaxError(f"{literal!r}: unescaped {c!r} inside a Go string")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise GoSyntaxError(f"{literal!r}: dangling backslash")
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
            continue
        digits = {"x": 2, "u": 4, "U": 8}.get(e)
        if digits:
            text = body[i + 2 : i + 2 + digits]
            if len(text) != digits or any(ch not in "0123456789abcdefABCDEF" for ch in text):
                raise GoSyntaxError(f"{literal!r}: bad \\{e} escape")
            value = int(text, 16)
        elif e in "01234567":
            text = body[i + 1 : i + 4]
            if len(text) != 3 or any(ch not in "01234567" for ch in text):
                raise GoSyntaxError(f"{literal!r}: bad octal escape")
            value, digits = int(text, 8), 2
            if value > 255:
                raise GoSyntaxError(f"{literal!r}: octal escape above \\377")
        else:
            raise GoSyntaxError(f"{literal!r}: unknown escape \\{e} (Go allows \\a\\b\\f\\n\\r\\t\\v\\\\\\\" \\x \\u \\U \\ooo)")
        if e in "x01234567" and value > 0x7F:
            raise GoSyntaxError(f"{literal!r}: byte escapes above 0x7f are not supported by this harness")
        if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            raise GoSyntaxError(f"{literal!r}: \\{e} escape is not a valid code point")
        out.append(chr(value))
        i += 2 + digits
    return "".join(out)


def go_find_all(regex, text: str) -> list:
    """Regexp.FindAllStringSubmatchIndex: successive non-overlapping matches,
    where an empty match right after the previous match is skipped (Python's
    finditer keeps it)."""
    matches, pos, prev_end = [], 0, -1
    while pos <= len(text):
        match = regex.search(text, pos)
        if match is None:
            break
        accept = True
        if match.end() == pos:  # an empty match at pos
            accept = match.start() != prev_end
            pos += 1
        else:
            pos = match.end()
        prev_end = match.end()
        if accept:
            matches.append(match)
    return matches


def _go_float(value: float, json_encoding: bool = False) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64), or encoding/json's float text."""
    if json_encoding and value != 0 and (abs(value) < 1e-6 or abs(value) >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")
        return f"{mantissa}e{int(exponent):+d}"  # Go writes e-7 where Python writes e-07
    return format(Decimal(repr(value)).normalize(), "f")


def go_string(value) -> Optional[str]:
    """util.go getString: the text Promtail uses for an extracted value, or
    None where getString returns an error (null, objects, arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def _go_json_string(text: str) -> str:
    escaped = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
    out = []
    for ch in text:
        if ch in escaped:
            out.append(escaped[ch])
        elif ch < " " or ch in "<>&\u2028\u2029":  # HTML-safe, as json.Marshal
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def go_json_marshal(value) -> str:
    """encoding/json Marshal of a value json.Unmarshal decoded into interface{}."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _go_float(float(value), json_encoding=True)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(go_json_marshal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_go_json_string(k)}:{go_json_marshal(value[k])}" for k in sorted(value)) + "}"
    raise TypeError(value)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # Go's decoder has no NaN/Infinity


def go_json_object(text: str) -> Optional[dict]:
    """json.Unmarshal into map[string]interface{}: numbers as float64; None
    where Go fails (not JSON, or not an object)."""
    try:
        document = json.loads(text, parse_int=float, parse_constant=_reject_constant)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> float:
    """time.ParseDuration, in seconds."""
    parts = re2.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise GoSyntaxError(f"{text!r}: not a Go duration")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def go_expand(template: str, regex, text: str, match) -> str:
    """Regexp.ExpandString: $1, ${1}, $name, ${name}, $$; an unknown name or a
    group that did not take part expands to ""; a malformed $ stays as is."""
    names = {name: index for name, index in regex.groupindex.items()}
    out, rest = [], template
    while "$" in rest:
        before, _, rest = rest.partition("$")
        out.append(before)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        brace = rest.startswith("{")
        body = rest[1:] if brace else rest
        i = 0
        while i < len(body) and (body[i].isalpha() or unicodedata.category(body[i]) == "Nd" or body[i] == "_"):
            i += 1
        if i == 0 or (brace and (i >= len(body) or body[i] != "}")):
            out.append("$")
            continue
        name = body[:i]
        rest = body[i + 1 :] if brace else body[i:]
        index = int(name) if name.isascii() and name.isdigit() and (name == "0" or name[0] != "0") else names.get(name)
        if index is not None and index <= regex.groups and match.start(index) >= 0:
            out.append(match.group(index))
    return "".join(out) + rest
