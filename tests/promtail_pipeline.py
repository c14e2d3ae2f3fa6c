"""Runs log lines through the Promtail pipeline this stack renders, the way
Promtail 3.6.15 would.

Promtail cannot run here (no package), so this interprets the stage types and
the relabelling the rendered config uses, following the Promtail 3.6.15 source
(grafana/loki at tag v3.6.15, under clients/pkg/): every regex runs on RE2
(google-re2, the engine family of Go's regexp), Go's own semantics are kept
where Python's differ (FindAll's empty matches, strconv.Unquote, getString,
encoding/json, text/template truthiness and "<no value>"). A stage type, stage
option, template construct, JMESPath construct or selector form it does not
know fails loudly, so the config cannot drift away from what is tested.

Sources, all at v3.6.15:
- stages/pipeline.go: a pipeline first copies the entry's labels into the
  extracted map (nested `match` pipelines do it again).
- stages/multiline.go: one buffer per label set; entries pass through until
  their stream's first start line; lines joined with "\\n"; flushed on a new
  start line, at `max_lines`, after `max_wait_time` without a line for that
  stream, and at the end; the block keeps the start line's labels, time and
  extracted map.
- stages/match.go and logentry/logql/{ast.go,parser.go,expr.y}: stream
  matchers are Prometheus matchers (regexes anchored as ^(?s:...)$, a missing
  label is ""), line filters `|=`/`!=` are bytes.Contains, `|~`/`!~` an
  unanchored Go regexp; all ANDed. Filter strings are Go double-quoted
  strings only: the lexer maps text/scanner's String token to STRING but not
  its RawString token, so a `backtick` string is a syntax error there (unlike
  LogQL in Loki itself).
- stages/replace.go: every participating group of every match is replaced by
  the `replace` template executed with .Value = the group's text; a group
  starting before the end of the previous replaced one is skipped.
- stages/json.go: JMESPath (go-jmespath 0.4.0) on the decoded object; strings,
  numbers (float64), booleans and null are stored as they are (null too),
  objects and arrays as their json.Marshal text.
- stages/template.go: sprig + Promtail's functions; an empty result deletes
  the key; a failed execution changes nothing.
- stages/{regex,drop,labels,structuredmetadata,static_labels,labeldrop,
  timestamp}.go and util.go (getString).
- promtail/targets/docker/target.go: the discovered labels plus
  __meta_docker_container_log_stream ("stdout"/"stderr") are relabelled per
  line, then every label starting with "__" is removed.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterable, Optional

import re2

# --- Go semantics -------------------------------------------------------------------


class GoSyntaxError(AssertionError):
    """A config value Promtail itself would refuse to load."""


def go_unquote(literal: str) -> str:
    """strconv.Unquote for a double-quoted Go string literal.

    Raises GoSyntaxError for a raw (backtick) or single-quoted literal (see the
    module docstring: Promtail's selector lexer has no raw strings), a newline
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


def _go_expand(template: str, regex, text: str, match) -> str:
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


# --- Prometheus relabelling, as the Docker target applies it -----------------------


def _relabel_regex(pattern: str):
    return re2.compile(f"^(?s:{pattern})$")


def relabel(configs: list[dict], labels: dict[str, str]) -> Optional[dict[str, str]]:
    """model/relabel.Process for the actions this stack uses (replace, keep,
    drop); None when the target is dropped. Raises AssertionError for any
    other action or option."""
    labels = dict(labels)
    for config in configs:
        unknown = set(config) - {"source_labels", "separator", "regex", "target_label", "replacement", "action"}
        if unknown:
            raise AssertionError(f"relabel option(s) {sorted(unknown)}: teach tests/promtail_pipeline.py")
        action = config.get("action", "replace")
        regex_text = config.get("regex", "(.*)")
        regex = _relabel_regex(regex_text)
        value = config.get("separator", ";").join(labels.get(name, "") for name in config.get("source_labels", []))
        if action == "keep":
            if not regex.search(value):
                return None
        elif action == "drop":
            if regex.search(value):
                return None
        elif action == "replace":
            target, replacement = config["target_label"], config.get("replacement", "$1")
            if value == "" and regex_text == "(.*)" and "$" not in target and "$" not in replacement:
                labels[target] = replacement  # relabel.go's fast path
                continue
            match = regex.search(value)
            if match is None:
                continue
            target = _go_expand(target, regex, value, match)
            if not target:
                continue
            result = _go_expand(replacement, regex, value, match)
            if result:
                labels[target] = result
            else:
                labels.pop(target, None)
        else:
            raise AssertionError(f"relabel action {action!r}: teach tests/promtail_pipeline.py")
    return labels


def docker_entry_labels(relabel_configs: list[dict], discovered: dict[str, str], log_stream: str) -> Optional[dict[str, str]]:
    """The labels a line from one Docker container stream enters the pipeline
    with (targets/docker/target.go handleOutput); None when relabelling drops it."""
    labels = relabel(relabel_configs, {**discovered, "__meta_docker_container_log_stream": log_stream})
    if labels is None:
        return None
    return {k: v for k, v in labels.items() if not k.startswith("__")}


# --- text/template (the subset the rendered stages use) -----------------------------


class _Missing:
    """A map key the template data lacks: prints "<no value>", is false, and
    is an error where a function wants a string (text/template's invalid Value)."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class TemplateExecError(Exception):
    """template.Execute returned an error: the stage leaves the entry alone."""


def _want_string(value) -> str:
    if not isinstance(value, str):
        raise TemplateExecError(f"expected string; got {value!r}")
    return value


def _regex_match(pattern, text) -> bool:
    return re2.search(_want_string(pattern), _want_string(text)) is not None  # sprig: regexp.MatchString


TEMPLATE_FUNCTIONS: dict[str, Callable] = {
    "ToLower": lambda s: _want_string(s).lower(),
    "ToUpper": lambda s: _want_string(s).upper(),
    "TrimSpace": lambda s: _want_string(s).strip(" \t\n\r\v\f"),
    "regexMatch": _regex_match,
}

_TEMPLATE_TOKEN = re2.compile(r'\s*(?:("(?:[^"\\\n]|\\.)*")|(\.[A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*)|(\|))')


def _truth(value) -> bool:
    return value is not MISSING and bool(value)


def _print(value) -> str:
    if value is MISSING:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _want_string(value)


class GoTemplate:
    """A Go text/template with: literal text, {{ if P }} / {{ else if P }} /
    {{ else }} / {{ end }}, and pipelines of fields (.Name), double-quoted
    strings and the functions in TEMPLATE_FUNCTIONS, chained with `|`.
    Anything else raises AssertionError when the template is parsed."""

    def __init__(self, text: str):
        self.text = text
        self.body, rest = self._parse(self._lex(text), 0, top=True)

    def _lex(self, text: str) -> list:
        items, pos = [], 0
        while pos < len(text):
            start = text.find("{{", pos)
            if start < 0:
                items.append(("text", text[pos:]))
                break
            end = text.find("}}", start)
            if end < 0:
                raise GoSyntaxError(f"unclosed action in template {text!r}")
            if start > pos:
                items.append(("text", text[pos:start]))
            action = text[start + 2 : end]
            if action.startswith("-") or action.endswith("-") or action.lstrip().startswith("/*"):
                raise AssertionError(f"template {text!r}: trim markers and comments: teach tests/promtail_pipeline.py")
            items.append(("action", action.strip()))
            pos = end + 2
        return items

    def _pipeline(self, source: str) -> list[list]:
        commands, current, pos = [], [], 0
        while pos < len(source):
            match = _TEMPLATE_TOKEN.match(source, pos)
            if match is None or match.end() == pos:
                raise AssertionError(f"template {self.text!r}: {source[pos:]!r}: teach tests/promtail_pipeline.py")
            string, fieldname, ident, pipe = match.groups()
            if pipe:
                commands.append(current)
                current = []
            elif string:
                current.append(("value", go_unquote(string)))
            elif fieldname:
                current.append(("field", fieldname[1:]))
            elif ident in TEMPLATE_FUNCTIONS and not current:
                current.append(("func", ident))
            else:
                raise AssertionError(f"template {self.text!r}: {ident!r}: teach tests/promtail_pipeline.py")
            pos = match.end()
            if not source[pos:].strip():
                break
        commands.append(current)
        if any(not c for c in commands):
            raise GoSyntaxError(f"template {self.text!r}: empty command in {source!r}")
        return commands

    def _parse(self, items: list, i: int, top: bool = False) -> tuple[list, int]:
        nodes = []
        while i < len(items):
            kind, value = items[i]
            if kind == "text":
                nodes.append(("text", value))
                i += 1
                continue
            word = value.split(None, 1)[0] if value else ""
            if word in {"else", "end"}:
                if top:
                    raise GoSyntaxError(f"template {self.text!r}: unexpected {{{{{value}}}}}")
                return nodes, i
            if word == "if":
                branches, i = self._parse_if(items, i, value[2:].strip())
                nodes.append(("if", branches))
                continue
            if word in {"range", "with", "define", "template", "block"} or value.startswith("$"):
                raise AssertionError(f"template {self.text!r}: {{{{{value}}}}}: teach tests/promtail_pipeline.py")
            nodes.append(("print", self._pipeline(value)))
            i += 1
        if not top:
            raise GoSyntaxError(f"template {self.text!r}: missing {{{{end}}}}")
        return nodes, i

    def _parse_if(self, items: list, i: int, condition: str) -> tuple[list, int]:
        branches = []
        while True:
            body, i = self._parse(items, i + 1)
            branches.append((self._pipeline(condition) if condition is not None else None, body))
            action = items[i][1]
            if action == "end":
                return branches, i + 1
            if action == "else":
                condition = None
            elif action.startswith("else if "):
                condition = action[len("else if ") :].strip()
            else:
                raise AssertionError(f"template {self.text!r}: {{{{{action}}}}}: teach tests/promtail_pipeline.py")
            if branches[-1][0] is None:
                raise GoSyntaxError(f"template {self.text!r}: {{{{else}}}} after {{{{else}}}}")

    def _evaluate(self, commands: list[list], data: dict):
        piped = None
        for index, command in enumerate(commands):
            args = [data.get(v, MISSING) if k == "field" else v for k, v in command if k != "func"]
            if index:
                args.append(piped)
            if command[0][0] == "func":
                function = TEMPLATE_FUNCTIONS[command[0][1]]
                try:
                    piped = function(*args)
                except TypeError as error:
                    raise TemplateExecError(f"wrong number of arguments for {command[0][1]}") from error
            elif len(args) == 1:
                piped = args[0]
            else:
                raise TemplateExecError(f"can't give arguments to a non-function in {self.text!r}")
        return piped

    def _run(self, nodes: list, data: dict, out: list) -> None:
        for kind, value in nodes:
            if kind == "text":
                out.append(value)
            elif kind == "print":
                out.append(_print(self._evaluate(value, data)))
            else:
                for condition, body in value:
                    if condition is None or _truth(self._evaluate(condition, data)):
                        self._run(body, data, out)
                        break

    def execute(self, data: dict) -> str:
        """The output for `data` (name -> string); raises TemplateExecError."""
        out: list[str] = []
        self._run(self.body, data, out)
        return "".join(out)


# --- LogQL stream selector of the match stage ---------------------------------------------

_SELECTOR_TOKEN = re2.compile(r'\s*(?:("(?:[^"\\\n]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(=~|!~|!=|\|=|\|~|[{}=,])|(`|\S))')


@dataclass(frozen=True)
class Selector:
    """A parsed Promtail match selector: label matchers and line filters."""

    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)
    filters: tuple[tuple[str, str], ...]  # (op, text)

    @classmethod
    def parse(cls, text: str) -> "Selector":
        """Raises GoSyntaxError for what Promtail 3.6.15's parser rejects."""
        tokens, pos = [], 0
        while pos < len(text) and text[pos:].strip():
            match = _SELECTOR_TOKEN.match(text, pos)
            string, ident, op, other = match.groups()
            if other:
                hint = " (raw strings are not strings to Promtail's selector lexer)" if other == "`" else ""
                raise GoSyntaxError(f"selector {text!r}: unexpected {other!r}{hint}")
            tokens.append(("string", go_unquote(string)) if string else ("ident", ident) if ident else ("op", op))
            pos = match.end()

        def expect(kind: str, value: Optional[str] = None):
            if not tokens or tokens[0][0] != kind or (value is not None and tokens[0][1] != value):
                raise GoSyntaxError(f"selector {text!r}: expected {value or kind}, got {tokens[0][1] if tokens else 'the end'}")
            return tokens.pop(0)[1]

        expect("op", "{")
        matchers = []
        while True:
            name = expect("ident")
            op = expect("op")
            if op not in {"=", "!=", "=~", "!~"}:
                raise GoSyntaxError(f"selector {text!r}: {op!r} is not a label matcher")
            matchers.append((name, op, expect("string")))
            if expect("op") == "}":
                break
        filters = []
        while tokens:
            op = expect("op")
            if op not in {"|=", "!=", "|~", "!~"}:
                raise GoSyntaxError(f"selector {text!r}: {op!r} is not a line filter")
            filters.append((op, expect("string")))
        for _, op, value in matchers:
            if op in {"=~", "!~"}:
                re2.compile(f"^(?s:{value})$")
        for op, value in filters:
            if op in {"|~", "!~"}:
                re2.compile(value)
        return cls(tuple(matchers), tuple(filters))

    def matches(self, labels: dict[str, str], line: str) -> bool:
        for name, op, value in self.matchers:
            actual = labels.get(name, "")
            if op in {"=", "!="}:
                ok = actual == value
            else:
                ok = re2.search(f"^(?s:{value})$", actual) is not None
            if ok != (op in {"=", "=~"}):
                return False
        for op, value in self.filters:
            found = value in line if op in {"|=", "!="} else re2.search(value, line) is not None
            if found != (op in {"|=", "|~"}):
                return False
        return True


# --- JMESPath (the subset the json stage uses) -------------------------------------------

_JMES_IDENT = r'(?:[A-Za-z_][A-Za-z0-9_]*|"(?:[^"\\]|\\.)*")'
_JMES_PATH = re2.compile(rf"^\s*{_JMES_IDENT}(?:\s*\.\s*{_JMES_IDENT})*\s*$")


def _jmes_false(value) -> bool:
    return value is None or value is False or value in ("", [], {})  # go-jmespath isFalse


class JmesPath:
    """Or-expressions (`a || b`) of sub-expressions (`a.b.c`) of identifiers,
    evaluated as go-jmespath 0.4.0 does: a field of a non-object is null, `||`
    returns the left side unless it is false (null, false, "", [], {})."""

    def __init__(self, expression: str):
        self.expression = expression
        self.alternatives = []
        for part in expression.split("||"):
            if not _JMES_PATH.match(part):
                raise AssertionError(f"JMESPath {expression!r}: teach tests/promtail_pipeline.py")
            names = re2.findall(_JMES_IDENT, part)
            self.alternatives.append([json.loads(n) if n.startswith('"') else n for n in names])

    def search(self, document):
        value = None
        for names in self.alternatives:
            value = document
            for name in names:
                value = value.get(name) if isinstance(value, dict) else None
            if not _jmes_false(value):
                return value
        return value


# --- Entries and stages --------------------------------------------------------------------


@dataclass
class Entry:
    line: str
    labels: dict[str, str]
    extracted: dict = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    timestamp: Optional[datetime] = None
    dropped: Optional[str] = None  # the drop_counter_reason
    at: float = 0.0  # when Promtail read it, in seconds (drives multiline's max_wait_time)


def _allowed(kind: str, config: dict, keys: set[str]) -> None:
    unknown = set(config) - keys
    if unknown:
        raise AssertionError(f"{kind} option(s) {sorted(unknown)}: teach tests/promtail_pipeline.py")


class _Stage:
    """Push-based, as Promtail's channel stages: push() entries, tick() a
    clock, close() at the end; results go to `emit`, drops to `drop`."""

    def __init__(self, emit: Callable[[Entry], None], drop: Callable[[Entry], None]):
        self.emit, self.drop = emit, drop

    def push(self, entry: Entry) -> None:
        raise NotImplementedError

    def tick(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass


class _EntryStage(_Stage):
    """A stage that handles one entry at a time (Promtail's toStage)."""

    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        self.configure(config)

    def configure(self, config) -> None:
        raise NotImplementedError

    def process(self, entry: Entry) -> Optional[str]:
        """Changes the entry; returns a drop reason to drop it."""
        raise NotImplementedError

    def push(self, entry: Entry) -> None:
        reason = self.process(entry)
        if reason is None:
            self.emit(entry)
        else:
            entry.dropped = reason
            self.drop(entry)


class _Replace(_EntryStage):
    def configure(self, config):
        _allowed("replace", config, {"expression", "replace", "source"})
        self.regex = re2.compile(config["expression"])
        self.template = GoTemplate(config.get("replace", ""))
        self.source = config.get("source")

    def process(self, entry):
        if self.source is not None:
            if self.source not in entry.extracted:
                return None
            text = go_string(entry.extracted[self.source])
            if text is None:
                return None
        else:
            text = entry.line
        matches = go_find_all(self.regex, text)
        if not matches:
            return None
        data = {k: s for k, v in entry.extracted.items() if (s := go_string(v)) is not None}
        result, previous_end, captured = [], 0, {}
        try:
            for match in matches:
                for group in range(1, self.regex.groups + 1):
                    start, end = match.span(group)
                    if start < 0:
                        continue
                    data["Value"] = text[start:end]
                    replacement = self.template.execute(data)
                    if previous_end == 0 or previous_end <= start:
                        result += [text[previous_end:start], replacement]
                        previous_end = end
                    captured[text[start:end]] = replacement
        except TemplateExecError:
            return None
        result.append(text[previous_end:])
        if self.source is not None:
            entry.extracted[self.source] = "".join(result)
        else:
            entry.line = "".join(result)
        first = self.regex.search(text)
        for name, index in self.regex.groupindex.items():
            value = first.group(index) or ""
            if value in captured:
                entry.extracted[name] = captured[value]
        return None


class _Json(_EntryStage):
    def configure(self, config):
        _allowed("json", config, {"expressions"})
        self.expressions = {name: JmesPath(path or name) for name, path in config["expressions"].items()}

    def process(self, entry):
        document = go_json_object(entry.line)
        if document is None:
            return None  # logged, not dropped (drop_malformed is off)
        for name, path in self.expressions.items():
            value = path.search(document)
            entry.extracted[name] = value if value is None or isinstance(value, (str, float, bool)) else go_json_marshal(value)
        return None


class _Regex(_EntryStage):
    def configure(self, config):
        _allowed("regex", config, {"expression", "source"})
        self.regex = re2.compile(config["expression"])
        self.source = config.get("source")

    def process(self, entry):
        if self.source is not None:
            if self.source not in entry.extracted:
                return None
            text = go_string(entry.extracted[self.source])
            if text is None:
                return None
        else:
            text = entry.line
        match = self.regex.search(text)
        if match:
            entry.extracted.update({name: match.group(index) or "" for name, index in self.regex.groupindex.items()})
        return None


class _Template(_EntryStage):
    def configure(self, config):
        _allowed("template", config, {"source", "template"})
        self.source, self.template = config["source"], GoTemplate(config["template"])

    def process(self, entry):
        data = {}
        for name, value in entry.extracted.items():
            text = go_string(value)
            if text is not None:
                data[name] = text
                if name == self.source:
                    data["Value"] = text
        data["Entry"] = entry.line
        try:
            result = self.template.execute(data)
        except TemplateExecError:
            return None
        if result:
            entry.extracted[self.source] = result
        else:
            entry.extracted.pop(self.source, None)
        return None


class _Drop(_EntryStage):
    def configure(self, config):
        _allowed("drop", config, {"source", "expression", "drop_counter_reason", "separator"})
        source = config.get("source")
        self.sources = [source] if isinstance(source, str) else source
        self.regex = re2.compile(config["expression"]) if "expression" in config else None
        self.separator = config.get("separator", ";")
        self.reason = config.get("drop_counter_reason") or "drop_stage"
        if self.sources is None or self.regex is None:
            raise AssertionError("drop without both source and expression: teach tests/promtail_pipeline.py")

    def process(self, entry):
        values = []
        for source in self.sources:
            if source in entry.extracted:
                text = go_string(entry.extracted[source])
                if text is None:
                    return None
                values.append(text)
        return self.reason if self.regex.search(self.separator.join(values)) else None


def _label_sources(config: dict) -> dict[str, str]:
    return {name: source or name for name, source in config.items()}


class _Labels(_EntryStage):
    def configure(self, config):
        self.sources = _label_sources(config)

    def process(self, entry):
        for name, source in self.sources.items():
            if source in entry.extracted and (text := go_string(entry.extracted[source])) is not None:
                entry.labels[name] = text
        return None


class _StructuredMetadata(_EntryStage):
    def configure(self, config):
        self.sources = _label_sources(config)

    def process(self, entry):
        taken = {}
        for name, source in self.sources.items():
            if source in entry.extracted and (text := go_string(entry.extracted[source])) is not None:
                entry.metadata[name] = text
                taken[source] = text
        for name, source in self.sources.items():
            if source not in taken and source in entry.labels:
                entry.metadata[name] = entry.labels[source]
                taken[source] = entry.labels[source]
        for source, value in taken.items():
            if entry.labels.get(source) == value:
                del entry.labels[source]  # moved, not copied
        return None


class _StaticLabels(_EntryStage):
    def configure(self, config):
        self.labels = {k: v for k, v in config.items() if v not in (None, "")}

    def process(self, entry):
        entry.labels.update(self.labels)
        return None


class _LabelDrop(_EntryStage):
    def configure(self, config):
        if not isinstance(config, list):
            raise GoSyntaxError(f"labeldrop takes a list of label names, got {config!r}")
        self.names = list(config)

    def process(self, entry):
        for name in self.names:
            entry.labels.pop(name, None)
        return None


class _Timestamp(_EntryStage):
    def configure(self, config):
        _allowed("timestamp", config, {"source", "format", "action_on_failure"})
        if config["format"] != "RFC3339Nano" or config.get("action_on_failure") != "skip":
            raise AssertionError(f"timestamp {config}: teach tests/promtail_pipeline.py")
        self.source = config["source"]

    def process(self, entry):
        text = go_string(entry.extracted.get(self.source))
        if text:
            try:
                entry.timestamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                pass  # skip: the entry keeps the time Docker recorded
        return None


class _Match(_Stage):
    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        _allowed("match", config, {"selector", "stages", "action", "drop_counter_reason", "pipeline_name"})
        self.selector = Selector.parse(config["selector"])
        self.action = config.get("action") or "keep"
        stages = config.get("stages") or []
        if self.action == "keep":
            if not stages:
                raise GoSyntaxError("match stage requires at least one additional stage to be defined in '- stages'")
            self.inner = Pipeline(stages, emit=emit, drop=drop)
        elif self.action == "drop":
            if stages:
                raise GoSyntaxError("match stage configured to drop entries cannot contains stages")
            self.reason = config.get("drop_counter_reason") or "match_stage"
        else:
            raise GoSyntaxError("match stage action should be 'keep' or 'drop'")

    def push(self, entry):
        if not self.selector.matches(entry.labels, entry.line):
            self.emit(entry)
        elif self.action == "keep":
            self.inner.push(entry)
        else:
            entry.dropped = self.reason
            self.drop(entry)

    def tick(self, now):
        if self.action == "keep":
            self.inner.tick(now)

    def close(self):
        if self.action == "keep":
            self.inner.close()


@dataclass
class _Block:
    lines: list[str] = field(default_factory=list)
    start: Optional[Entry] = None
    last_line_at: float = 0.0


class _Multiline(_Stage):
    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        _allowed("multiline", config, {"firstline", "max_lines", "max_wait_time"})
        self.firstline = re2.compile(config["firstline"])
        self.max_lines = int(config.get("max_lines", 128))
        self.max_wait = go_duration(config.get("max_wait_time", "3s"))
        self.blocks: dict[frozenset, _Block] = {}

    def _flush(self, block: _Block) -> None:
        if not block.lines:
            return
        start = block.start
        self.emit(Entry("\n".join(block.lines), dict(start.labels), dict(start.extracted), timestamp=start.timestamp, at=start.at))
        block.lines = []

    def push(self, entry):
        key = frozenset(entry.labels.items())
        block = self.blocks.get(key)
        starts = self.firstline.search(entry.line) is not None
        if block is None:
            if not starts:
                self.emit(entry)  # before its stream's first start line
                return
            block = self.blocks[key] = _Block()
        if starts:
            self._flush(block)
            block.start = entry
        block.lines.append(entry.line)
        block.last_line_at = entry.at
        if len(block.lines) == self.max_lines:
            self._flush(block)

    def tick(self, now):
        # A stream's timer restarts with each of its lines; when it fires first
        # or at the same instant as the next line arrives, the block goes out.
        for block in sorted(self.blocks.values(), key=lambda b: b.last_line_at):
            if block.lines and block.last_line_at + self.max_wait <= now:
                self._flush(block)

    def close(self):
        for block in self.blocks.values():
            self._flush(block)


STAGES: dict[str, type] = {
    "multiline": _Multiline,
    "match": _Match,
    "replace": _Replace,
    "json": _Json,
    "regex": _Regex,
    "template": _Template,
    "drop": _Drop,
    "labels": _Labels,
    "structured_metadata": _StructuredMetadata,
    "static_labels": _StaticLabels,
    "labeldrop": _LabelDrop,
    "timestamp": _Timestamp,
}


class Pipeline:
    """A Promtail pipeline over a list of stage configs (dicts as rendered).

    push() entries in the order Promtail reads them (with `at` set for
    multiline's timer), close() at the end; `output` holds what reaches the
    client, `dropped` what a stage dropped (with its reason). Raises
    AssertionError (or GoSyntaxError) at construction for a stage or option
    this interpreter does not know or Promtail would refuse.
    """

    def __init__(self, stages: list[dict], emit: Optional[Callable] = None, drop: Optional[Callable] = None):
        self.output: list[Entry] = []
        self.dropped: list[Entry] = []
        sink = emit or self.output.append
        self.drop = drop or self.dropped.append
        self.stages: list[_Stage] = []
        for config in reversed(stages):
            if not isinstance(config, dict) or len(config) != 1:
                raise GoSyntaxError(f"a pipeline stage is a mapping with one key, got {config!r}")
            (kind, body), = config.items()
            if kind not in STAGES:
                raise AssertionError(f"unknown stage {kind}: teach tests/promtail_pipeline.py")
            stage = STAGES[kind](sink, self.drop, body)
            self.stages.insert(0, stage)
            sink = stage.push

    def push(self, entry: Entry) -> None:
        # pipeline.go Run: labels are copied into the extracted map first.
        entry.extracted.update(entry.labels)
        self.tick(entry.at)
        if self.stages:
            self.stages[0].push(entry)

    def tick(self, now: float) -> None:
        for stage in self.stages:
            stage.tick(now)

    def close(self) -> None:
        for stage in self.stages:
            stage.close()


def run_stream(stages: list[dict], events: Iterable[tuple[float, dict[str, str], str]]) -> Pipeline:
    """Every (at_seconds, labels, line) through the pipeline, then the end of
    input; returns the pipeline with its `output` and `dropped` entries."""
    pipeline = Pipeline(stages)
    for at, labels, line in events:
        pipeline.push(Entry(line=line, labels=dict(labels), at=at))
    pipeline.close()
    return pipeline


def run_pipeline(stages: list[dict], line: str, labels: dict[str, str]) -> Entry:
    """One entry through every stage: the entry as it reaches the client, or
    as it was dropped (with `dropped` set)."""
    pipeline = run_stream(stages, [(0.0, labels, line)])
    results = pipeline.output + pipeline.dropped
    assert len(results) == 1, f"one line in, {len(results)} entries out"
    return results[0]
