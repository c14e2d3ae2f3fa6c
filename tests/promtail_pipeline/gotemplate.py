"""Go text/template, the subset the rendered `template` and `replace` stages
use, with the functions Promtail 3.6.15 gives templates.

Sources: Go's text/template (a missing map key prints "<no value>" and is
false; a function given a non-string fails the execution; `if`/`else if`/
`else`/`end`), github.com/Masterminds/sprig/v3 v3.3.0 (regexMatch is
regexp.MatchString) and grafana/loki at v3.6.15,
clients/pkg/logentry/stages/template.go (ToLower, ToUpper, TrimSpace, TrimSuffix over
sprig's TxtFuncMap). Constructs outside the subset raise NotTaught when the
template is parsed.
"""

from __future__ import annotations

from typing import Callable

import re2

from .errors import GoSyntaxError, NotTaught
from .go import go_unquote


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
    # strings.TrimSuffix(s, suffix): Promtail's, not sprig's trimSuffix (suffix first).
    "TrimSuffix": lambda s, suffix: _want_string(s).removesuffix(_want_string(suffix)),
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
    Anything else raises NotTaught when the template is parsed."""

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
                raise NotTaught(f"template {text!r}: trim markers and comments", __name__)
            items.append(("action", action.strip()))
            pos = end + 2
        return items

    def _pipeline(self, source: str) -> list[list]:
        commands, current, pos = [], [], 0
        while pos < len(source):
            match = _TEMPLATE_TOKEN.match(source, pos)
            if match is None or match.end() == pos:
                raise NotTaught(f"template {self.text!r}: {source[pos:]!r}", __name__)
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
                raise NotTaught(f"template {self.text!r}: {ident!r}", __name__)
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
                raise NotTaught(f"template {self.text!r}: {{{{{value}}}}}", __name__)
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
                raise NotTaught(f"template {self.text!r}: {{{{{action}}}}}", __name__)
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
