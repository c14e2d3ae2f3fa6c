"""Value types every settings model shares: durations, memory sizes, names and
addresses checked with a message in words, and the strict base model (unknown
keys are errors, camelCase keys only)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Optional, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.alias_generators import to_camel

Check = TypeVar("Check", bound=Callable[..., Any])


def accepts(words: str) -> Callable[[Check], Check]:
    """Decorator for a settings validator: what it accepts, in the operator's
    words ("host:port, e.g. 'unified-llm-api:8000' (port 1-65535)"). The
    settings reference (stack/reference_pages.py) reads it as the key's
    allowed values, and refuses to document a validator without it."""

    def mark(check: Check) -> Check:
        check.accepts = words  # type: ignore[attr-defined]
        return check

    return mark


# Digit runs are bounded: int() refuses strings above 4300 digits, and no
# setting needs more than a dozen.
_DURATION_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION_RE = re.compile("".join(f"(?:([0-9]{{1,9}}){unit})?" for unit, _ in _DURATION_UNITS))
# Go's time.Duration (Promtail, Alertmanager) overflows at about 292 years.
_LONGEST_DURATION_SECONDS = 100 * 365 * 86400


@dataclass(frozen=True, order=True)
class Duration:
    """A Prometheus-style duration ('30s', '15d', '1h30m'), whole seconds, at most 100y.

    `parse` raises ValueError with the accepted forms for anything else.
    """

    seconds: int

    @classmethod
    @accepts("a duration such as '30s', '5m', '24h' or '15d'")
    def parse(cls, value: Any) -> "Duration":
        if isinstance(value, Duration):
            return value
        match = _DURATION_RE.fullmatch(value.strip()) if isinstance(value, str) else None
        if not match or not any(match.groups()):
            raise ValueError("expected a duration such as '30s', '5m', '24h' or '15d'")
        total = sum(int(n) * unit for n, (_, unit) in zip(match.groups(), _DURATION_UNITS) if n)
        if total > _LONGEST_DURATION_SECONDS:
            raise ValueError("expected a duration of at most 100y")
        return cls(total)

    def prometheus(self) -> str:
        """Largest exact units, as Prometheus, Loki and Alertmanager write them."""
        rest, parts = self.seconds, []
        for suffix, unit in _DURATION_UNITS[2:]:  # no 'y' or 'w': days read best in every tool
            count, rest = divmod(rest, unit)
            if count:
                parts.append(f"{count}{suffix}")
        return "".join(parts) or "0s"

    def go(self) -> str:
        """Go's time.Duration has no day unit: hours, minutes, seconds."""
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n) or "0s"

    def __str__(self) -> str:
        return self.prometheus()


@dataclass(frozen=True)
class Accepts:
    """Annotated metadata for a key whose allowed values a check across keys
    decides (an SLO threshold must be one of its service's histogram bounds):
    the words the settings reference shows instead of the type's own. It
    checks nothing itself."""

    words: str


def at_least(minimum: str, maximum: Optional[str] = None) -> AfterValidator:
    """A check that a Duration lies in [minimum, maximum] (durations as text, e.g. '24h')."""
    low, high = Duration.parse(minimum), Duration.parse(maximum) if maximum else None
    words = f"a duration between {low} and {high}" if high else f"a duration of at least {low}"

    @accepts(words)
    def check(value: Duration) -> Duration:
        if value < low or (high and value > high):
            raise ValueError(f"expected {words.replace(' of at least', ' at least')}")
        return value

    return AfterValidator(check)


DurationField = Annotated[Duration, BeforeValidator(Duration.parse), PlainSerializer(str)]

_QUANTITY_RE = re.compile(r"([0-9]{1,6})(Ki|Mi|Gi|K|M|G)")
_QUANTITY_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


@accepts("a memory size such as '512Mi' or '2Gi', between 64Mi and 64Gi")
def _parse_memory(value: Any) -> int:
    match = _QUANTITY_RE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("expected a memory size such as '512Mi' or '2Gi'")
    size = int(match.group(1)) * _QUANTITY_FACTORS[match.group(2)]
    if not 64 * 2**20 <= size <= 64 * 2**30:
        raise ValueError("expected a memory size between 64Mi and 64Gi")
    return size


def _format_memory(size: int) -> str:
    for suffix in ("Gi", "Mi", "Ki"):
        if size % _QUANTITY_FACTORS[suffix] == 0:
            return f"{size // _QUANTITY_FACTORS[suffix]}{suffix}"
    return str(size)


MemoryBytes = Annotated[int, BeforeValidator(_parse_memory), PlainSerializer(_format_memory)]


@accepts("")  # refuses true and false; the number type says the rest
def _not_true_or_false(value: Any, as_number: ValidatorFunctionWrapHandler) -> Any:
    # pydantic would read true as 1: a switch where a number belongs is a mistake.
    # Numbers as text stay accepted: `pulumi config set --path` stores 0.5 as '0.5'.
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return as_number(value)


Number = Annotated[float, WrapValidator(_not_true_or_false)]
WholeNumber = Annotated[int, WrapValidator(_not_true_or_false)]


@accepts("true or false")
def _true_or_false(value: Any) -> bool:
    # pydantic alone would read 'yes', 'on', 'y', 1 and 0 as a switch too: in a
    # switch each is more likely a typo than a decision. 'true' and 'false' as
    # text stay accepted: that is what a hand-quoted YAML value looks like.
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("expected true or false")


Switch = Annotated[bool, BeforeValidator(_true_or_false)]


def matching(pattern: str, words: str) -> AfterValidator:
    """A check that text fully matches `pattern`; on a mismatch the operator reads `words`
    (what is expected, starting with 'expected'), never the pattern."""
    compiled = re.compile(pattern)

    @accepts(words.removeprefix("expected "))
    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(words)
        return value

    return AfterValidator(check)


# At most 42 characters: with the name prefix and a suffix, container and
# volume names stay within Docker's and Kubernetes' 63-character labels.
DnsLabel = Annotated[
    str,
    matching(
        r"[a-z]([a-z0-9-]{0,40}[a-z0-9])?",
        "expected a lower-case DNS label: lower-case letters, digits and '-', starting with a letter, "
        "not ending with '-', at most 42 characters",
    ),
]

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


@accepts("host:port such as 'unified-llm-api:8000' or 'smtp.example.com:587' (port 1-65535)")
def _host_port(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not _HOST.fullmatch(host) or not re.fullmatch("[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 'unified-llm-api:8000' (port 1-65535)")
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]


@accepts("an exact image tag such as 'v3.13.0' (never 'latest')")
def _image_tag(value: str) -> str:
    if value == "latest" or not re.fullmatch("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", value):
        raise ValueError("expected an exact image tag such as 'v3.13.0' (never 'latest')")
    return value


ImageTag = Annotated[str, AfterValidator(_image_tag)]


@accepts("an IP address such as '127.0.0.1' or '0.0.0.0'")
def _ip_address(value: Any) -> str:
    # Only text: ipaddress would also turn a number (or true) into an address.
    try:
        return str(ipaddress.ip_address(value if isinstance(value, str) else ""))
    except ValueError:
        raise ValueError("expected an IP address such as '127.0.0.1' or '0.0.0.0'") from None


IpAddress = Annotated[str, BeforeValidator(_ip_address)]


Model = TypeVar("Model", bound=BaseModel)


def overridden(default: Model, given: Optional[BaseModel]) -> Model:
    """`default` with the fields `given` set explicitly in their place: an
    entry such as `resources.prometheus: {memory: 4Gi}` keeps Prometheus' own
    CPU limit."""
    if given is None:
        return default
    return default.model_copy(update={name: getattr(given, name) for name in given.model_fields_set})


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted({n for n in names if names.count(n) > 1})


class StrictModel(BaseModel):
    """Config keys in camelCase; unknown keys are errors, not silently ignored;
    infinities and NaN are refused. Python code may build models by field name,
    config is read by alias only (`parse_settings` passes by_name=False)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        allow_inf_nan=False,
        # A field's docstring is its description: the settings reference prints it.
        use_attribute_docstrings=True,
    )
