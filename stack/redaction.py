"""What never reaches Loki: API keys, tokens and personal data in gateway logs.

One ordered list, read by the Promtail pipeline (each rule becomes a
`replace` stage) and by Loki's leak-detector alert. Patterns are RE2 (Go's
regexp, which Promtail runs): no look-around, no backreferences. Each has
exactly one capture group: the part Promtail replaces.

Order matters: a JWT is replaced before the `Bearer` rule sees it, a URL's
password before the e-mail rule could mistake `pass@host.com` for an address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Redaction:
    name: str
    pattern: str
    what: str  # for the README

    @property
    def replacement(self) -> str:
        # No quote, backslash or space: a redacted JSON string stays valid JSON.
        return f"[REDACTED:{self.name}]"


# A value after `key=`/`key: `; never starts with "[" so redacted text is left alone.
_VALUE = r"""([^\s"'&,;}\[][^\s"'&,;}]{5,})"""

REDACTIONS = (
    Redaction("anthropic_key", r"(sk-ant-[A-Za-z0-9_-]{20,})", "Anthropic API keys (`sk-ant-...`)"),
    Redaction("openai_key", r"(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,})", "OpenAI API keys (`sk-...`, `sk-proj-...`)"),
    Redaction("aws_access_key", r"\b((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})\b", "AWS access key ids (`AKIA...`, `ASIA...`)"),
    Redaction(
        "aws_secret_key",
        r"""(?i)(?:aws_secret_access_key|aws_secret_key|secret_access_key)["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})""",
        "AWS secret access keys next to their key name",
    ),
    Redaction("google_api_key", r"(AIza[0-9A-Za-z_-]{35})", "Google API keys (`AIza...`)"),
    Redaction("jwt", r"(eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,})", "JSON Web Tokens"),
    Redaction("bearer_token", r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{8,})", "`Bearer` tokens"),
    Redaction(
        "secret_value",
        r"""(?i)(?:api[_-]?key|x-api-key|apikey|access[_-]?token|refresh[_-]?token|client[_-]?secret|secret[_-]?key|password|passwd)["']?\s*[:=]\s*["']?"""
        + _VALUE,
        "values of `api_key`, `x-api-key`, `apikey`, `access_token`, `client_secret`, `password`, ... (JSON, headers, query strings)",
    ),
    Redaction("url_password", r"://[^:/\s@\[]+:([^@/\s\[]+)@", "passwords in URLs (`scheme://user:password@host`)"),
    Redaction("email", r"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})", "e-mail addresses"),
    Redaction(
        "card_number",
        r"\b((?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6011|65\d{2})(?:[ -]?\d{4}){3}|3[47]\d{2}[ -]?\d{6}[ -]?\d{5})\b",
        "payment card numbers (Visa, Mastercard, Amex, Discover; with or without separators)",
    ),
    Redaction(
        "phone_number",
        r"(\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}|\(\d{3}\) ?\d{3}-\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b)",
        "phone numbers (international `+...`, `(555) 123-4567`, `555-123-4567`)",
    ),
)

# What the leak detector looks for in Loki: the distinctive shapes only, so
# a hit means redaction really failed (never a false alarm on redacted text).
LEAK_PATTERN = "|".join(
    (
        r"sk-(ant-|proj-)?[A-Za-z0-9_-]{20,}",
        r"(AKIA|ASIA)[A-Z0-9]{16}",
        r"AIza[0-9A-Za-z_-]{35}",
        r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
        r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}",
    )
)


def redact(line: str, compile: Callable) -> str:
    """What Promtail's replace stages do to a line: every match's capture
    group becomes the replacement, rule by rule. `compile` is re2.compile in
    the tests, so the patterns are judged by a real RE2."""
    for rule in REDACTIONS:
        regex = compile(rule.pattern)
        pieces, last = [], 0
        for match in regex.finditer(line):
            start, end = match.span(1)
            pieces += [line[last:start], rule.replacement]
            last = end
        line = "".join(pieces) + line[last:]
    return line
