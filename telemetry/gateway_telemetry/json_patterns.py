"""RE2 fragments that read JSON as text, for rules that must mask a value
without breaking the line around it (standard library only; no regex is run
here, these are strings).

A log line is JSON; a string in it may hold JSON itself (a request body, a
tool call's arguments), whose strings may hold JSON again. Call the top level
depth 0. A string at depth n is delimited by its quote: 2**n - 1 backslashes
and a `"` (`"`, `\\"`, `\\\\\\"`). Inside it, a run of k backslashes before a
`"` ends the string when k = 2**n - 1 (mod 2**(n+1)); any other run there
belongs to a string deeper down (k = -1 mod 2**(n+1)), and a run before any
other character is an escape (`\\n`, `\\\\`) at some depth. Reading runs whole
like this keeps a capture from ending inside an escape or running past its
string's end, at every depth.
"""

from __future__ import annotations

# Deepest JSON-in-a-string the rules read; deeper values are not masked by
# their key (docs/known-limits.md).
MAX_STRING_DEPTH = 2
# Deepest array/object nesting a bare value is masked whole at.
MAX_CONTAINER_DEPTH = 4

NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"


def quote_text(depth: int) -> str:
    """The quote of a string at `depth`, as text: '"', '\\"', '\\\\\\"'."""
    return "\\" * (2**depth - 1) + '"'


def quote(depth: int) -> str:
    """The quote of a string at `depth`, as an RE2 pattern."""
    return r"\\" * (2**depth - 1) + '"'


def _period(depth: int) -> int:
    return 2 ** (depth + 1)


def string_body(depth: int) -> str:
    """One or more characters of a string at `depth` (no capture group),
    trailing escaped backslashes included, never its closing quote."""
    period = _period(depth)
    token = rf'(?:[^"\\]|\\+[^"\\]|(?:\\{{{period}}})*\\{{{period - 1}}}")'
    return rf"(?:{token}+(?:\\{{{period}}})*|(?:\\{{{period}}})+)"


def string(depth: int) -> str:
    """A whole string at `depth`, quotes included (no capture group)."""
    return f"{quote(depth)}(?:{string_body(depth)})?{quote(depth)}"


def container(depth: int, nesting: int = MAX_CONTAINER_DEPTH) -> str:
    """A JSON array or object written at string `depth`, nested at most
    `nesting` levels; strings inside are read whole, so a `]` in one does not
    end it, and escapes between elements (`\\n` of pretty-printed JSON) are
    read as escapes."""
    inner = rf'[^\[\]{{}}"\\]|\\+[^"\\]|{string(depth)}'
    for _ in range(nesting - 1):
        inner += "|" + _bracketed(inner)
    return _bracketed(inner)


def _bracketed(inner: str) -> str:
    return rf"\[(?:{inner})*\]|\{{(?:{inner})*\}}"


def bare_value(depth: int) -> str:
    """A number, array or object at `depth` (true, false and null hold no
    secret and are left alone)."""
    return f"(?:{NUMBER}|{container(depth)})"


def left_of(first_chars: str) -> str:
    """What may stand before a capture whose first character is in the class
    `first_chars`: a run of escape pairs (taken whole from its start, so
    `\\njane@x.com` masks `jane@x.com`, never `njane...`), the line's start,
    or any other character that is not a backslash. Replaces `\\b`, which
    sees no boundary in `\\nAKIA...`."""
    # The backslash first: a `-` ending `first_chars` must stay last in the
    # class, or `+-\\` is a range (`+` to `\`) that holds `=`, `:`, `/`, `<`.
    return rf"(?:(?:\\.)+|^|[^\\{first_chars}])"
