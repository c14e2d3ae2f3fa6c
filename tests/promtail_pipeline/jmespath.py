"""JMESPath, the subset the rendered `json` stage uses, as go-jmespath 0.4.0
evaluates it (the version grafana/loki v3.6.15's go.mod requires, used by
clients/pkg/logentry/stages/json.go).
"""

from __future__ import annotations

import json

import re2

from .errors import NotTaught

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
                raise NotTaught(f"JMESPath {expression!r}", __name__)
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
