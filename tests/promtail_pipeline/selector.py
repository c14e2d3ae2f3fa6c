"""The selector of Promtail 3.6.15's `match` stage: its own small grammar,
not Loki's LogQL.

Sources, grafana/loki at v3.6.15:
- clients/pkg/logentry/logql/expr.y: the whole grammar. A stream selector
  `{name OP "value", ...}` (OP one of = != =~ !~, at least one matcher), then
  any number of line filters `|= "s"`, `!= "s"`, `|~ "re"`, `!~ "re"`. Nothing
  else: no `or` (Loki 3.x LogQL has it, this parser does not), no parsers
  (`| json`), no label filters, no `line_format`. Its error productions only
  recover; the parser still reports every syntax error, so ParseExpr fails.
- clients/pkg/logentry/logql/parser.go: the lexer is Go's text/scanner in its
  default GoTokens mode (comments skipped); a String token is unquoted with
  strconv.Unquote; two-character operators are the token's text plus the next
  character; any other token (an identifier, a number, a char literal, a
  `raw` string, a lone `|` or `!`) is an IDENTIFIER.
- clients/pkg/logentry/logql/ast.go: a regex matcher goes through
  labels.NewMatcher (Prometheus: anchored as ^(?s:...)$; mustNewMatcher
  panics on a bad one, so Promtail crashes rather than refuses); `|=`/`!=`
  are bytes.Contains, `|~`/`!~` an unanchored regexp.Compile; filters run
  left to right, ANDed. A missing label reads as "".
- clients/pkg/logentry/stages/match.go: the stage parses its selector with
  exactly this parser (logql.ParseExpr).

Left out: text/scanner's Unicode identifiers beyond what a label name needs
(an identifier here is [A-Za-z_][A-Za-z0-9_]*; a non-ASCII letter raises
NotTaught rather than guess).
"""

from __future__ import annotations

import re as _re
from dataclasses import dataclass

import re2

from .errors import GoSyntaxError, NotTaught
from .go import go_unquote

# text/scanner, GoTokens mode (scanner.go Scan): whitespace, // and /* */
# comments are skipped; then an identifier, a number, a "string", a `raw`
# string, a 'char', or one character.
_SKIP = _re.compile(r"(?:[ \t\r\n]+|//[^\n]*|/\*.*?\*/)*", _re.S)
_TOKEN = _re.compile(
    r"""(?P<string>"(?:[^"\\\n]|\\.)*")"""
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>\.?[0-9][0-9A-Za-z_.]*)"
    r"|(?P<raw>`[^`]*`)"
    r"|(?P<char>'(?:[^'\\\n]|\\.)*')"
    r"|(?P<other>.)",
    _re.S,
)
# parser.go `tokens`: the only operators the lexer knows.
_OPERATORS = {",", ".", "{", "}", "=", "!=", "=~", "!~", "|=", "|~"}
MATCHER_OPS = {"=", "!=", "=~", "!~"}
FILTER_OPS = {"|=", "!=", "|~", "!~"}


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) pairs: ("op", "|="), ("string", unquoted) or
    ("ident", text) for every other token, as parser.go's Lex returns them."""
    tokens, pos = [], 0
    while True:
        pos = _SKIP.match(text, pos).end()
        if pos >= len(text):
            return tokens
        if text.startswith("/*", pos):
            raise GoSyntaxError(f"selector {text!r}: comment not terminated")
        match = _TOKEN.match(text, pos)
        kind = match.lastgroup
        token = match.group()
        pos = match.end()
        if kind == "string":
            tokens.append(("string", go_unquote(token)))
        elif kind == "other" and not token.isascii():
            raise NotTaught(f"selector {text!r}: non-ASCII character {token!r}", __name__)
        elif kind == "other" and len(pair := token + text[pos : pos + 1]) == 2 and pair in _OPERATORS:
            tokens.append(("op", pair))
            pos += 1
        elif kind == "other" and token in _OPERATORS:
            tokens.append(("op", token))
        elif kind == "other" and token == '"':
            raise GoSyntaxError(f"selector {text!r}: string literal not terminated")
        else:  # identifiers, numbers, raw strings, chars, lone `|`, `!`, `(` ...: IDENTIFIER
            tokens.append(("ident", token))


@dataclass(frozen=True)
class Selector:
    """A parsed Promtail match selector: label matchers and line filters."""

    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)
    filters: tuple[tuple[str, str], ...]  # (op, text), ANDed left to right

    @classmethod
    def parse(cls, text: str) -> "Selector":
        """Raises GoSyntaxError for whatever Promtail 3.6.15's match stage
        refuses (or panics on)."""
        tokens = _tokens(text)

        def take(kind: str, allowed: set[str] | None = None) -> str:
            found = tokens.pop(0) if tokens else ("end", "the end")
            if found[0] != kind or (allowed is not None and found[1] not in allowed):
                want = " or ".join(sorted(allowed)) if allowed else kind
                raise GoSyntaxError(f"selector {text!r}: syntax error: unexpected {found[1]!r}, expecting {want}")
            return found[1]

        take("op", {"{"})
        matchers = []
        while True:
            name = take("ident")
            op = take("op", MATCHER_OPS)
            matchers.append((name, op, take("string")))
            if take("op", {",", "}"}) == "}":
                break
        filters = []
        while tokens:
            op = take("op", FILTER_OPS)
            filters.append((op, take("string")))
        for name, op, value in matchers:
            if not _re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise GoSyntaxError(f"selector {text!r}: {name!r} is not a label name")
            if op in {"=~", "!~"}:
                _compile(text, f"^(?s:{value})$")
        for op, value in filters:
            if op in {"|~", "!~"}:
                _compile(text, value)
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


def _compile(selector: str, pattern: str) -> None:
    try:
        re2.compile(pattern)
    except re2.error as error:
        raise GoSyntaxError(f"selector {selector!r}: bad regexp {pattern!r}: {error}") from None
