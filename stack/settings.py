"""Typed, validated settings: the only module that reads Pulumi config.

Every default lives here once. `pulumi up` reads the stack's config through
`load_from_pulumi`; `python -m stack render|plan` read `Pulumi.<env>.yaml`
through `load_from_stack_file`. Both end in `parse_settings`, which reports
every problem at once, each naming the config key, the value given and what is
allowed, before any resource is created.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from stack.versions import COMPONENTS, DEFAULT_IMAGE_TAGS

PROJECT = "gateway-observability"

# Secrets are never part of Settings: they stay Pulumi secret Outputs (or a
# visible placeholder in `render`) and reach containers as mounted files.
SECRET_KEYS = {
    "grafanaAdminPassword": "Grafana admin password; generated (pulumi-random) when unset",
}


class SettingsError(Exception):
    """Every configuration problem found, one per line."""

    def __init__(self, problems: list[str], source: str):
        self.problems = problems
        self.source = source
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid configuration in {source} ({count}):\n{lines}")


# --- value types ------------------------------------------------------------

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


def _at_least(minimum: str, maximum: Optional[str] = None):
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

_DNS_LABEL = r"^[a-z]([a-z0-9-]{0,40}[a-z0-9])?$"


def _check_host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("expected host:port, e.g. 'unified-llm-api:8000' (port 1-65535)")
    return value


def _check_image_tag(value: str) -> str:
    if value == "latest" or not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", value):
        raise ValueError("expected an exact image tag such as 'v3.13.0' (never 'latest')")
    return value


def _check_bind_address(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("expected an IP address such as '127.0.0.1' or '0.0.0.0'") from None


# --- the model --------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


ComponentName = Literal["prometheus", "alertmanager", "loki", "promtail", "jaeger", "grafana"]
assert set(ComponentName.__args__) == set(COMPONENTS)  # type: ignore[attr-defined]


class Retention(_Model):
    """How long each signal is kept; below a day nothing useful survives a weekend."""

    metrics: Annotated[DurationField, _at_least("24h")] = Duration.parse("15d")
    logs: Annotated[DurationField, _at_least("24h")] = Duration.parse("7d")
    traces: Annotated[DurationField, _at_least("24h")] = Duration.parse("3d")


class Resources(_Model):
    memory: MemoryBytes = 512 * 2**20
    cpus: float = Field(default=0.5, ge=0.05, le=16)


DEFAULT_RESOURCES = {
    "prometheus": Resources(memory="2Gi", cpus=1.0),
    "alertmanager": Resources(memory="256Mi", cpus=0.25),
    "loki": Resources(memory="2Gi", cpus=1.0),
    "promtail": Resources(memory="256Mi", cpus=0.25),
    "jaeger": Resources(memory="1Gi", cpus=0.5),
    "grafana": Resources(memory="512Mi", cpus=0.5),
}


class GatewayService(_Model):
    """One gateway service Prometheus scrapes and Promtail tails."""

    name: Annotated[str, Field(pattern=_DNS_LABEL)]
    address: Annotated[str, AfterValidator(_check_host_port)]
    metrics_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")] = "/metrics"

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]


DEFAULT_GATEWAY_SERVICES = (
    # Kong serves /metrics on its Status API (KONG_STATUS_LISTEN), not the proxy port.
    GatewayService(name="kong", address="kong:8100"),
    GatewayService(name="unified-llm-api", address="unified-llm-api:8000"),
    GatewayService(name="intelligent-router", address="intelligent-router:8001"),
    GatewayService(name="optimization-service", address="optimization-service:8002"),
)


def _check_target(value: Any) -> str:
    if value != "docker":
        raise ValueError("expected 'docker' (the kubernetes target for staging and prod is not built yet)")
    return value


class Settings(_Model):
    target: Annotated[str, AfterValidator(_check_target)]
    environment: Annotated[str, Field(pattern=_DNS_LABEL)]
    cluster: Annotated[str, Field(pattern=_DNS_LABEL)] = "local"
    # Prefix of every container, volume and network name, and so of the
    # hostnames components use to reach each other.
    name_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")] = "obs"
    bind_address: Annotated[str, BeforeValidator(_check_bind_address)] = "127.0.0.1"
    gateway_network: Optional[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]] = None
    gateway_services: tuple[GatewayService, ...] = DEFAULT_GATEWAY_SERVICES
    images: dict[ComponentName, Annotated[str, AfterValidator(_check_image_tag)]] = {}
    retention: Retention = Retention()
    scrape_interval: Annotated[DurationField, _at_least("5s", "5m")] = Duration.parse("15s")
    scrape_timeout: Annotated[DurationField, _at_least("1s", "5m")] = Duration.parse("10s")
    evaluation_interval: Annotated[DurationField, _at_least("5s", "5m")] = Duration.parse("15s")
    resources: dict[ComponentName, Resources] = {}

    @field_validator("gateway_services")
    @classmethod
    def _unique_service_names(cls, services: tuple[GatewayService, ...]) -> tuple[GatewayService, ...]:
        names = [s.name for s in services]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"service names must be unique; repeated: {', '.join(duplicates)}")
        if not services:
            raise ValueError("expected at least one gateway service")
        return services

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> "Settings":
        if self.scrape_timeout > self.scrape_interval:
            raise ValueError(
                f"scrapeTimeout ({self.scrape_timeout}) must not exceed scrapeInterval ({self.scrape_interval})"
            )
        return self

    def image_tag(self, component: str) -> str:
        return self.images.get(component, DEFAULT_IMAGE_TAGS[component])

    def resources_for(self, component: str) -> Resources:
        return self.resources.get(component, DEFAULT_RESOURCES[component])


@dataclass(frozen=True)
class LoadedSettings:
    """Settings plus the secrets the stack was given.

    `secrets` maps a SECRET_KEYS key to a Pulumi secret Output under Pulumi, or
    to a visible placeholder string in `render`; unset secrets are absent.
    """

    settings: Settings
    secrets: Mapping[str, Any]


# --- parsing and error reporting -------------------------------------------


def secret_placeholder(key: str) -> str:
    return f"<secret {key}: set with pulumi config set --secret>"


def parse_settings(raw: Mapping[str, Any], stack: str, source: str) -> Settings:
    """Validate raw config (keys without the project prefix) into Settings."""
    values = {"environment": stack, **raw}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError([_describe(e) for e in error.errors()], source) from None


def _config_key(location: tuple) -> str:
    key = PROJECT + ":"
    for i, part in enumerate(location):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if i else "") + str(part)
    return key


def _allowed_keys(location: tuple) -> list[str]:
    model: Any = Settings
    for part in location[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if f.alias == part or n == part), None)
        annotation = field.annotation if field else None
        args = getattr(annotation, "__args__", ()) or ()
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is None:
        return []
    return sorted(f.alias or n for n, f in model.model_fields.items())


def _describe(error: Mapping[str, Any]) -> str:
    location = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    given = error.get("input")
    if location[-1:] == ("[key]",):  # a mapping key outside its Literal, e.g. images.bogus
        location = location[:-1]
        message = str(error["msg"]).replace("Input should be", "expected one of").replace(" or ", ", ")
        return f"{_config_key(location)}: unknown key; {message}"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(location)) or "none"
        return f"{_config_key(location)}: unknown key (given {given!r}); allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{_config_key(location)}: required but not set"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not location:  # model-level checks name their own keys
        return f"{PROJECT}: {message}"
    return f"{_config_key(location)}: given {given!r}; {message[0].lower()}{message[1:]}"


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _split_secrets(raw: Mapping[str, Any], is_secret, source: str) -> tuple[dict, list[str], list[str]]:
    plain, given_secrets, problems = {}, [], []
    for key, value in raw.items():
        if key in SECRET_KEYS:
            if not is_secret(key):
                problems.append(
                    f"{PROJECT}:{key}: given in plain text; set it with "
                    f"`pulumi config set --secret {key}` ({SECRET_KEYS[key]})"
                )
            given_secrets.append(key)
        else:
            plain[key] = value
    return plain, given_secrets, problems


def _load(raw: Mapping[str, Any], stack: str, source: str, is_secret) -> tuple[Settings, list[str]]:
    plain, given_secrets, problems = _split_secrets(raw, is_secret, source)
    try:
        settings = parse_settings(plain, stack, source)
    except SettingsError as error:
        problems += error.problems
    if problems:
        raise SettingsError(problems, source)
    return settings, given_secrets


def load_from_pulumi() -> LoadedSettings:
    """Read the running stack's config (under `pulumi up` or the SDK's mocks)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    # pulumi.Config cannot list keys, and unknown keys must be reported, so
    # read the same map the SDK reads: explicit config over PULUMI_CONFIG.
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = PROJECT + ":"
    raw = {k[len(prefix):]: _decode(v) for k, v in everything.items() if k.startswith(prefix)}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    stack = pulumi.get_stack()
    settings, given = _load(raw, stack, f"the config of stack '{stack}'", lambda k: prefix + k in secret_keys)
    config = pulumi.Config(PROJECT)
    return LoadedSettings(settings, {key: config.require_secret(key) for key in given})


def load_from_stack_file(path: Path) -> LoadedSettings:
    """Read Pulumi.<stack>.yaml without Pulumi; secrets become placeholders."""
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError([f"cannot read {path}: {error}"], str(path)) from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise SettingsError([f"{path}: 'config' must be a mapping"], path.name)
    prefix = PROJECT + ":"
    raw = {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}

    def is_secret(key: str) -> bool:
        return isinstance(raw[key], dict) and set(raw[key]) == {"secure"}

    settings, given = _load(raw, stack, path.name, is_secret)
    return LoadedSettings(settings, {key: secret_placeholder(key) for key in given})


def stack_config(path: Path) -> dict[str, str]:
    """Pulumi.<stack>.yaml as the flat string map the Pulumi engine hands a program.

    Used by `plan` to run the real program under mocks; encrypted values
    become placeholders, so nothing is decrypted.
    """
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[key] = secret_placeholder(key.partition(":")[2])
        elif isinstance(value, (dict, list)):
            flat[key] = json.dumps(value)
        elif isinstance(value, bool):
            flat[key] = str(value).lower()
        else:
            flat[key] = str(value)
    return flat


def secure_keys(path: Path) -> list[str]:
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return [k for k, v in config.items() if isinstance(v, dict) and set(v) == {"secure"}]
