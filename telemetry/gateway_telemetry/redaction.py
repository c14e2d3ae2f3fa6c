"""What never reaches Loki: API keys, tokens and personal data in gateway logs.

One ordered list, read by the Promtail pipeline (each rule becomes a `replace`
stage) and by Loki's leak-detector alert. Patterns are RE2 (Go's regexp, which
Promtail runs): no look-around, no backreferences. Every capture group of a
match is replaced by the rule's mask (Promtail's replace stage replaces each
participating group).

Three properties shape every pattern:

- **JSON stays JSON.** Gateway lines are JSON, so a secret can sit in a JSON
  string (with `\\"`, `\\\\` and `\\n` escapes inside), in a JSON string that
  itself holds escaped JSON, or be a bare number. A capture never ends inside
  an escape pair, never starts on the letter of one (`\\njane@...`), and a bare
  value is replaced by a quoted mask (`"password": 1234` becomes
  `"password": "[REDACTED:secret_value]"`).
- **Cheap when there is nothing to find.** Go's regexp scans fast only for a
  literal prefix (strings.Index); any other pattern costs ~15-50 ns per byte
  per pass, and Promtail's replace stage makes two passes. So every rule
  carries a `trigger`, a necessary condition Promtail checks first in a
  `match` stage. Promtail's match selector has no `or` (its own grammar,
  clients/pkg/logentry/logql/expr.y: `|=`, `!=`, `|~`, `!~` filters, all
  ANDed), so the gates are arranged around one AND: a first stage marks a
  line clean when it holds none of the literal triggers (`!=` each:
  bytes.Contains) and fails every regex trigger (`!~`); only unmarked lines
  enter the gated rules. A clean line pays the literal checks, one regex
  pass and three stage hops. See bench/ for the figures measured in the
  real Promtail.
- **Order matters.** A JWT is masked before the `Bearer` rule sees it, a URL's
  password before the e-mail rule could take `pass@host.com` for an address,
  and bare values before the string forms of the same key.

Source for Promtail's semantics: clients/pkg/logentry/stages/{replace,match,
static_labels,labeldrop}.go and clients/pkg/logentry/logql/{expr.y,parser.go,
ast.go} in grafana/loki at v3.6.15.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Callable, Union

from gateway_telemetry import json_patterns as J
from gateway_telemetry.secret_formats import PERSONAL, TOKENS, Format


@dataclass(frozen=True)
class Redaction:
    """One masking rule.

    kind: what the mask says (`[REDACTED:<kind>]`); several rules may share one.
    pattern: RE2; every capture group is replaced by `replacement`.
    what: a phrase for the redaction rules reference (docs/reference/).
    trigger: what Promtail checks before running the rule, holding on every
        line the rule can change (tests/test_redaction.py proves it): a tuple
        of literals, any of which may be present (bytes.Contains each), or
        one RE2 pattern (a full regex pass, for shapes with no literal at
        all).
    quote: the captured text is a bare JSON value; the mask is wrapped in this
        quote (json_patterns.quote_text of the value's depth) to stay a string.
    checksum: the name of a check in CHECKSUMS the captured text must pass
        to be masked (a card number's Luhn digit, an IBAN's mod 97). The kit
        checks it; Promtail cannot (RE2 has no arithmetic) and masks every
        text of the shape, so a look-alike that fails the check is kept at
        source and masked again in Loki only when it passes Promtail.
    source: where the format comes from (a secret scanner's rule, a
        standard), for the reference's table.
    """

    kind: str
    pattern: str
    what: str
    trigger: Union[tuple[str, ...], str]
    quote: str = ""
    checksum: str = ""
    source: str = ""

    @property
    def replacement(self) -> str:
        return f"{self.quote}{mask(self.kind)}{self.quote}"


def mask(kind: str) -> str:
    """What replaces a secret of `kind`: `[REDACTED:<kind>]`. No backslash,
    quote or space inside, so a mask within a JSON string keeps it valid."""
    return f"[REDACTED:{kind}]"


# --- where a value stands ------------------------------------------------------


# A value under a key that names an id (`span_id`, `request_id`, Kong's
# `request.id`) is consumed whole, without a capture group, so the number
# rules never take an all-digit id for a card or phone number.
_ID_VALUE = r'(?i:id)\\*"\s*:\s*\\*"[0-9A-Fa-f-]*\\*"'

# --- secret keys ---------------------------------------------------------------

# Key names whose value is a secret, case-insensitive, matched at the END of
# the key (`db_password`, `x-api-key`, `accessToken`), so `input_tokens`,
# `api_key_id` and `password_hint` are not secrets.
SENSITIVE_KEY_SUFFIXES = (
    r"pass(?:word|wd)s?",
    r"secrets?",
    r"token",  # never "tokens": token counts are not secrets
    r"api[_-]?keys?",
    r"(?:secret|access|private)[_-]?(?:access[_-]?)?key",
    r"authorization",
    r"cookie",
    r"credentials?",
)
_KEY = "(?i:" + "|".join(SENSITIVE_KEY_SUFFIXES) + ")"

# The gate of the key rules: every key above in lower case, Title case, UPPER
# case or camelCase contains one of these (tests prove it). `token` only with
# what may follow a key, since every access line has `input_tokens`.
SENSITIVE_KEY_LITERALS = (
    "assw", "ASSW",  # password, passwd
    "ecret", "ECRET",  # secret, client_secret, secret_key
    "key", "Key", "KEY",  # api_key, apiKey, X-Api-Key, access_key, private_key
    "Token", "TOKEN", 'token"', "token\\", "token'", "token=", "token:", "token ",
    "uthoriz", "UTHORIZ",  # authorization
    "ookie", "OOKIE",  # cookie
    "redential", "REDENTIAL",  # credentials
)

# An unquoted value in free text (`password=hunter2&`, `X-Api-Key: abc`): up
# to whitespace, a quote or a separator; escape pairs other than a quote or a
# control character belong to it. It never starts with "[", so an earlier
# mask is taken whole instead (masking twice changes nothing).
_PLAIN_FIRST = r"""(?:[^\s"'&,;}\]\\\[]|\\[\\/]|\\u[0-9a-fA-F]{4})"""
_PLAIN_NEXT = r"""(?:[^\s"'&,;}\]\\]|\\[\\/]|\\u[0-9a-fA-F]{4})"""
_PLAIN = rf"\[REDACTED:[a-z_]+\]|{_PLAIN_FIRST}{_PLAIN_NEXT}*"
# The scheme of an Authorization header (`Basic dXNlcjpwYXNz`) stays visible.
_SCHEME = r"(?:(?i:bearer|basic|token|digest)(?:\s|\\[tn])+)?"
# What may follow a quoted logfmt value (`password="x" user=bob`): in a JSON
# line, a `"` after `password=` closes the string instead, and what follows
# its next quote is a key, never one of these.
_LOGFMT_END = r"(?:[\s,;&)}\]]|$)"


def _member(depth: int) -> str:
    """A secret key's end, its closing quote at `depth` and the colon."""
    return rf"{_KEY}{J.quote(depth)}\s*:\s*"


def _key_value_rules() -> list[Redaction]:
    """Values after a secret key: bare JSON values at each string depth
    first (quoted mask), then every string and free-text form."""
    depths = range(J.MAX_STRING_DEPTH + 1)
    bare = [
        Redaction(
            "secret_value",
            _member(depth) + f"({J.bare_value(depth)})",
            "bare JSON values (numbers, arrays, objects) of secret keys, also in JSON held in a string",
            trigger=SENSITIVE_KEY_LITERALS,
            quote=J.quote_text(depth),
        )
        for depth in depths
    ]
    members = [f"{J.quote(d)}\\s*:\\s*{J.quote(d)}({J.string_body(d)}){J.quote(d)}" for d in depths]  # {"password": "..."}
    free_text = (
        r"'?\s*[:=]\s*(?:"
        + r"'((?:[^'\\]|\\.)+)'"  # {'password': '...'}
        + f'|"({J.string_body(0)})"{_LOGFMT_END}'  # password="..." (logfmt)
        + "".join(f"|{J.quote(d)}({J.string_body(d)}){J.quote(d)}" for d in depths[1:])  # password=\"...\"
        + f"|{_SCHEME}({_PLAIN})"  # password=..., Authorization: Bearer ...
        + ")"
    )
    strings = Redaction(
        "secret_value",
        _KEY + "(?:" + "|".join([*members, free_text]) + ")",
        "values of keys ending in password, passwd, secret, token, api_key, secret_key, access_key, private_key, "
        "authorization, cookie or credentials (lower, Title, UPPER or camelCase; JSON, JSON in strings, headers, "
        "logfmt, query strings)",
        trigger=SENSITIVE_KEY_LITERALS,
    )
    return [*bare, strings]


# --- personal data -----------------------------------------------------------

_CARD = r"(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6011|65\d{2})(?:[ -]?\d{4}){3}|3[47]\d{2}[ -]?\d{6}[ -]?\d{5}"
_CARD_DIGITS = r"(?:(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6011|65\d{2})\d{12}|3[47]\d{13})"
# The one regex pass a clean line pays: card numbers, dashed phone numbers,
# social security numbers, IBANs and National Insurance numbers have no
# literal to look for. Factored on the shared first three digits or two
# capitals: Go's regexp costs per position and per alternative. Whole card
# lengths only: a 32-hex trace id often holds ten digits in a row.
_SHAPES_TRIGGER = (
    r"\d{3}(?:\d[ -]?(?:\d{4}[ -]?\d{4}[ -]?\d{4}|\d{6}[ -]?\d{5})|[-.]\d{3}[-.]\d{4}|-\d{2}-\d{4})"
    r"|[A-Z]{2}(?:\d{2}[ -]?[A-Z0-9]{4}[ -]?[A-Z0-9]{4}| ?\d{2} ?\d{2} ?\d{2} ?[A-D])"
)
_TOKEN_CHARS = "A-Za-z0-9._~+/=-"


def _from_format(format: Format, trigger: Union[tuple[str, ...], str, None] = None) -> Redaction:
    """A catalogue format as a rule; `trigger` replaces its own when the rule
    shares a gate with its neighbours."""
    return Redaction(
        format.kind,
        format.pattern,
        format.what,
        trigger=format.trigger if trigger is None else trigger,
        checksum=format.checksum,
        source=format.source,
    )


REDACTIONS = (
    # Keys first: a header's whole value (`Authorization: Bearer ...`) is one
    # secret, and a key's mask says secret_value whatever the value looks like.
    *_key_value_rules(),
    # Without a left boundary an AKIA inside a longer word, or "wearer
    # <token>", is masked too: harmless.
    Redaction(
        "aws_access_key",
        r"(A(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16})\b",
        "AWS access key ids (`AKIA...`, `ASIA...`)",
        trigger=("AKIA", "ASIA", "ABIA", "ACCA"),
    ),
    # Formats of the secret scanners' catalogues (secret_formats.py), before
    # the generic rules: a token gets its own kind, and no digit rule bites
    # into it first.
    *(_from_format(token) for token in TOKENS),
    *(
        Redaction("bearer_token", rf"{tail}(?:\s|\\[tn])+([{_TOKEN_CHARS}]{{8,}})", "`Bearer` tokens", trigger=(tail,))
        for tail in ("earer", "EARER")
    ),
    Redaction(
        "card_number",
        r'[^\\]"\s*:\s*'
        + rf"({_CARD_DIGITS}(?:\.\d+)?(?:[eE][+-]?\d+)?\b|\[[-0-9.eE+,\s]*\b{_CARD_DIGITS}\b[-0-9.eE+,\s]*\])",
        "payment card numbers as bare JSON numbers (or arrays of them)",
        trigger=_SHAPES_TRIGGER,
        quote='"',
        checksum="luhn",
        source="ISO/IEC 7812 issuer prefixes and lengths; Luhn check digit (kit only)",
    ),
    Redaction(
        "card_number",
        f"{_ID_VALUE}|" + J.left_of("A-Za-z0-9_") + rf"({_CARD})\b",
        "payment card numbers (Visa, Mastercard, Amex, Discover; with or without separators)",
        trigger=_SHAPES_TRIGGER,
        checksum="luhn",
        source="ISO/IEC 7812 issuer prefixes and lengths; Luhn check digit (kit only)",
    ),
    Redaction(
        "phone_number",
        f"{_ID_VALUE}|" + J.left_of("A-Za-z0-9_") + r"(\d{3}[-.]\d{3}[-.]\d{4})\b",
        "phone numbers (`555-123-4567`, `555.123.4567`)",
        trigger=_SHAPES_TRIGGER,
    ),
    *(_from_format(personal, trigger=_SHAPES_TRIGGER) for personal in PERSONAL),
    Redaction(
        "phone_number",
        # Never right after a letter, digit or dot: `1.2.3+20241022` is
        # semantic-version build metadata, `a+b` a sum.
        J.left_of("A-Za-z0-9_.+") + r"(\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4})",
        "international phone numbers (`+1 415 555 2671`, `+49-30-1234567`)",
        trigger=("+",),
    ),
    Redaction("phone_number", r"(\(\d{3}\) ?\d{3}-\d{4})", "phone numbers (`(555) 123-4567`)", trigger=("(",)),
    # `sk-` never inside a word: `risk-scoring-7f9c...` is a pod name.
    Redaction(
        "anthropic_key",
        J.left_of("A-Za-z0-9_-") + r"(sk-ant-[A-Za-z0-9_-]{20,})",
        "Anthropic API keys (`sk-ant-...`)",
        trigger=("sk-",),
    ),
    Redaction(
        "openai_key",
        J.left_of("A-Za-z0-9_-") + r"(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})",
        "OpenAI API keys (`sk-...`, `sk-proj-...`)",
        trigger=("sk-",),
    ),
    Redaction("google_api_key", r"(AIza[0-9A-Za-z_-]{35})", "Google API keys (`AIza...`)", trigger=("AIza",)),
    Redaction(
        "jwt", r"(eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,})", "JSON Web Tokens", trigger=("eyJ",)
    ),
    Redaction(
        "url_password",
        # The user may be empty (`redis://:password@host`).
        r'://[^:/\s@\["\\]*:((?:[^@/\s\["\\]|\\.)+)@',
        "passwords in URLs (`scheme://user:password@host`, `redis://:password@host`)",
        trigger=("@",),
    ),
    Redaction(
        "email",
        # An SCP-style remote (`git@github.com:org/repo`: a host, a colon
        # and a path) is consumed by the first alternative, without a group,
        # so it is never taken for an address (leftmost-first: at one start
        # RE2 prefers the first alternative).
        J.left_of("A-Za-z0-9._%+-")
        + r"(?:[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}:[A-Za-z0-9_~./-]"
        + r"|((?:[A-Za-z0-9._%+-]|\\u[0-9a-fA-F]{4})+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}))",
        "e-mail addresses (not `user@host:path` remotes)",
        trigger=("@",),
    ),
)

# What the leak detector looks for in Loki: the distinctive shapes only, so
# a hit means redaction really failed (never a false alarm on redacted text).
# The catalogue's token formats are all distinctive enough to join it.
LEAK_PATTERN = "|".join(
    (
        r"(?:^|[^A-Za-z0-9_-])sk-(ant-|proj-)?[A-Za-z0-9_-]{20,}",
        *(token.pattern for token in TOKENS),
        r"(AKIA|ASIA)[A-Z0-9]{16}",
        r"AIza[0-9A-Za-z_-]{35}",
        r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
        r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}",
    )
)

# Every stream matches: a missing label is the empty string to a matcher, so
# no line skips redaction for lack of a label.
_ANY_STREAM = '{service=~".*"}'


def triggered(rule: Redaction, line: str, search: Callable) -> bool:
    """Whether Promtail's gate lets `line` reach the rule; `search` is
    re2.search in the tests."""
    if isinstance(rule.trigger, tuple):
        return any(literal in line for literal in rule.trigger)
    return bool(search(rule.trigger, line))


def _logql_string(text: str) -> str:
    """A string literal of Promtail's match selector: a Go double-quoted
    string (its lexer unquotes text/scanner's String token with
    strconv.Unquote, logql/parser.go; a `raw` string is no STRING token
    there). JSON's escapes are a subset of Go's."""
    return json.dumps(text)


# What RE2 (Go's regexp/syntax) reads as an operator outside a class. A
# backslash before any other character is an error there for letters and
# digits, and for a space ("invalid escape sequence"), so nothing else is
# escaped: re.escape would escape the space of `token `.
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def re2_literal(text: str) -> str:
    """`text` as an RE2 pattern that matches exactly it (the redaction gates'
    literals; the stack's relabel rules use it for names and label values)."""
    return "".join("\\" + char if char in _RE2_SPECIAL else char for char in text)


def _trigger_regex(trigger: Union[tuple[str, ...], str]) -> str:
    """The gate as one RE2 pattern: the regex itself, or the literals as an
    alternation."""
    return trigger if isinstance(trigger, str) else "|".join(map(re2_literal, trigger))


def _replace_stage(rule: Redaction) -> dict:
    return {"replace": {"expression": rule.pattern, "replace": rule.replacement}}


def _gate_key(rule: Redaction) -> Union[type, str]:
    # Literal triggers of neighbouring rules pool into one gate; a regex
    # trigger is its own.
    return tuple if isinstance(rule.trigger, tuple) else rule.trigger


def gates() -> list[tuple[Union[tuple[str, ...], str], list[Redaction]]]:
    """REDACTIONS as (trigger, rules) runs, in order: consecutive rules with
    literal triggers share one gate (their literals, deduplicated), and
    consecutive rules with the same regex trigger share one. Pooling is
    sound: a rule whose own trigger is absent leaves the line as it is, so
    meeting it through a neighbour's literal changes nothing
    (tests/test_redaction.py runs both ways)."""
    runs = []
    for key, run in itertools.groupby(REDACTIONS, key=_gate_key):
        rules = list(run)
        trigger = tuple(dict.fromkeys(lit for rule in rules for lit in rule.trigger)) if key is tuple else key
        runs.append((trigger, rules))
    return runs


# Set, for the length of the redaction stages only, on a line that no gate
# lets through. A label: the match stage can select on nothing else that a
# stage can set (match.go processLogQL reads e.Labels and the line).
CLEAN_LABEL = "redaction_clean"


def clean_selector() -> str:
    """The first gate: a line holding none of the literal triggers (`!=`,
    bytes.Contains each: logql/ast.go filterExpr) and matching no regex
    trigger (`!~`, one unanchored regexp pass each). Filters run left to
    right and stop at the first that fails."""
    triggers = [trigger for trigger, _ in gates()]
    literals = dict.fromkeys(lit for trigger in triggers if isinstance(trigger, tuple) for lit in trigger)
    regexes = dict.fromkeys(trigger for trigger in triggers if isinstance(trigger, str))
    filters = [f"!= {_logql_string(lit)}" for lit in literals] + [f"!~ {_logql_string(rx)}" for rx in regexes]
    return " ".join((_ANY_STREAM, *filters))


def redaction_stages() -> list[dict]:
    """The Promtail stages that apply REDACTIONS in order, in the grammar of
    Promtail 3.6.15's match stage (no `or`; see the module docstring):

    1. `match` clean_selector() -> `static_labels` {CLEAN_LABEL: "true"};
    2. `match` on lines without CLEAN_LABEL, holding one `match` stage per
       gate (`|~` its trigger_regex: a literal run as an alternation, a full
       regex pass that only lines with a trigger pay) around the run's
       `replace` stages, in order;
    3. `labeldrop` CLEAN_LABEL, so the marker never reaches Loki.
    """
    gated = [
        {"match": {"selector": f"{_ANY_STREAM} |~ {_logql_string(_trigger_regex(trigger))}", "stages": [_replace_stage(r) for r in rules]}}
        for trigger, rules in gates()
    ]
    return [
        {"match": {"selector": clean_selector(), "stages": [{"static_labels": {CLEAN_LABEL: "true"}}]}},
        {"match": {"selector": f'{{{CLEAN_LABEL}=""}}', "stages": gated}},
        {"labeldrop": [CLEAN_LABEL]},
    ]


# A number in a card rule's capture: digits, maybe grouped by spaces or
# dashes; a JSON number's fraction or exponent, or an array's commas, end it.
_CARD_CANDIDATE = re.compile(r"\d(?:[ -]?\d)*")


def luhn_valid(text: str) -> bool:
    """Whether a number in `text` (a card rule's capture: one number, with
    or without separators, a JSON number, or an array of them) of 12 digits
    or more passes the Luhn check of ISO/IEC 7812-1, as every payment card
    number does."""
    for candidate in _CARD_CANDIDATE.findall(text):
        digits = candidate.replace(" ", "").replace("-", "")
        if len(digits) < 12:
            continue
        # From the right: every second digit doubled (its digit sum taken).
        total = sum(map(int, digits[-1::-2])) + sum(map(_LUHN_DOUBLED.__getitem__, digits[-2::-2]))
        if total % 10 == 0:
            return True
    return False


_LUHN_DOUBLED = {str(digit): digit * 2 - 9 if digit > 4 else digit * 2 for digit in range(10)}


def iban_valid(text: str) -> bool:
    """Whether `text` (spaces ignored) is an IBAN whose check digits hold:
    ISO 13616-1, the country code and check digits moved to the end,
    letters as 10..35, the number mod 97 is 1."""
    compact = "".join(text.split()).upper()
    if len(compact) < 15 or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTER_VALUES)) % 97 == 1


# A=10 ... Z=35, as ISO 13616 turns an IBAN into a number.
_IBAN_LETTER_VALUES = str.maketrans({chr(ord("A") + i): str(10 + i) for i in range(26)})


# The checks a rule may name (Redaction.checksum); the kit runs them.
CHECKSUMS: dict[str, Callable[[str], bool]] = {"luhn": luhn_valid, "iban": iban_valid}


def apply_rule(rule: Redaction, line: str, compile: Callable, checked: bool = False) -> str:
    """What one Promtail replace stage does to a line: every participating
    capture group of every match becomes the mask, except a group starting
    inside one already replaced (replace.go's previousInputEndIndex rule).
    `compile` is re2.compile in the tests, so a real RE2 judges the pattern.
    `checked`: the kit's verdict, where a group failing the rule's checksum
    is kept (and its match still ends where it ends)."""
    regex = compile(rule.pattern)
    check = CHECKSUMS[rule.checksum] if checked and rule.checksum else None
    pieces, last = [], 0
    for match in regex.finditer(line):
        for group in range(1, regex.groups + 1):
            start, end = match.span(group)
            if start >= last:  # also skips groups that did not participate (-1)
                if check is not None and not check(line[start:end]):
                    continue
                pieces += [line[last:start], rule.replacement]
                last = end
    return "".join(pieces) + line[last:]


def redact(line: str, compile: Callable) -> str:
    """Every rule in order, ungated; the gated stages must give the same
    result (tests/test_redaction.py)."""
    for rule in REDACTIONS:
        line = apply_rule(rule, line, compile)
    return line
