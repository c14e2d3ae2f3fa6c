"""The LogQL stream selector of Promtail 3.6.15's `match` stage: label
matchers and line filters.

Sources: grafana/loki at v3.6.15, clients/pkg/logentry/stages/match.go and
clients/pkg/logentry/logql/{ast.go,parser.go,expr.y}: stream matchers are
Prometheus matchers (regexes anchored as ^(?s:...)$, a missing label is ""),
line filters `|=`/`!=` are bytes.Contains, `|~`/`!~` an unanchored Go regexp;
all ANDed. A filter may list several strings, `|= "a" or "b"` (LogQL since
3.0, pkg/logql/syntax/{syntax.y,ast.go}): a positive filter holds when any
string is found, a negated one (`!= "a" or "b"`) when none is. Filter strings are Go double-quoted strings only: the lexer maps
text/scanner's String token to STRING but not its RawString token, so a
`backtick` string is a syntax error there (unlike LogQL in Loki itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import re2

from .errors import GoSyntaxError
from .go import go_unquote

_SELECTOR_TOKEN = re2.compile(r'\s*(?:("(?:[^"\\\n]|\\.)*")|([A-Za-z_][A-Za-z0-9_]*)|(=~|!~|!=|\|=|\|~|[{}=,])|(`|\S))')


@dataclass(frozen=True)
class Selector:
    """A parsed Promtail match selector: label matchers and line filters."""

    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)
    filters: tuple[tuple[str, tuple[str, ...]], ...]  # (op, texts joined by `or`)

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
            texts = [expect("string")]
            while tokens and tokens[0] == ("ident", "or"):
                tokens.pop(0)
                texts.append(expect("string"))
            filters.append((op, tuple(texts)))
        for _, op, value in matchers:
            if op in {"=~", "!~"}:
                re2.compile(f"^(?s:{value})$")
        for op, texts in filters:
            if op in {"|~", "!~"}:
                for value in texts:
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
        for op, texts in self.filters:
            if op in {"|=", "!="}:
                found = any(value in line for value in texts)
            else:
                found = any(re2.search(value, line) is not None for value in texts)
            if found != (op in {"|=", "|~"}):
                return False
        return True
