"""Value types every settings model shares: durations, memory sizes, checked
strings, and the strict base model (unknown keys are errors)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

_DURATION_UNITS = (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION_RE = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True, order=True)
class Duration:
    """A Prometheus-style duration ('30s', '15d', '1h30m'), whole seconds."""

    seconds: int

    @classmethod
    def parse(cls, value: Any) -> "Duration":
        if isinstance(value, Duration):
            return value
        text = str(value).strip()
        match = _DURATION_RE.match(text) if isinstance(value, str) else None
        if not text or not match or not any(match.groups()):
            raise ValueError("expected a duration such as '30s', '5m', '24h' or '15d'")
        total = sum(int(n) * unit for n, (_, unit) in zip(match.groups(), _DURATION_UNITS) if n)
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


def at_least(minimum: str, maximum: Optional[str] = None):
    low, high = Duration.parse(minimum), Duration.parse(maximum) if maximum else None

    def check(value: Duration) -> Duration:
        if value < low or (high and value > high):
            bound = f"between {low} and {high}" if high else f"at least {low}"
            raise ValueError(f"expected a duration {bound}")
        return value

    return AfterValidator(check)


DurationField = Annotated[Duration, BeforeValidator(Duration.parse), PlainSerializer(str)]

_QUANTITY_RE = re.compile(r"^(\d+)(Ki|Mi|Gi|K|M|G)$")
_QUANTITY_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}


def _parse_memory(value: Any) -> int:
    match = _QUANTITY_RE.match(value) if isinstance(value, str) else None
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

DNS_LABEL = r"^[a-z]([a-z0-9-]{0,40}[a-z0-9])?$"


def check_host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 'unified-llm-api:8000' (port 1-65535)")
    return value


def check_image_tag(value: str) -> str:
    if value == "latest" or not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", value):
        raise ValueError("expected an exact image tag such as 'v3.13.0' (never 'latest')")
    return value


def check_bind_address(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("expected an IP address such as '127.0.0.1' or '0.0.0.0'") from None


def repeated(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    return sorted({n for n in names if names.count(n) > 1})


class StrictModel(BaseModel):
    """Config keys in camelCase; unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)
