"""Typed, validated settings: the only module that reads Pulumi config.

Every default lives here once. `pulumi up` reads the stack's config through
`load_from_pulumi`; `python -m stack render|plan` read `Pulumi.<env>.yaml`
through `load_from_stack_file`. Both end in `parse_settings`, which reports
every problem at once, each naming the config key, the value given and what is
allowed, before any resource is created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stack.alerting_settings import (
    Alerting,
    ServiceSlo,
    alerting_defaults,
    deep_merge,
)
from stack.catalog import KONG, latency_buckets_seconds
from stack.secret_settings import (  # noqa: F401  (stack.settings is the entry point others import)
    RECEIVER_SECRETS,
    SECRET_KEYS,
    all_leaves_encrypted,
    is_encrypted,
    receiver_secret,
    receiver_secret_problems,
    required_plain_secrets,
    secret_keys_needed,
    secret_placeholder,
    split_secrets,
)
from stack.settings_errors import PROJECT, SettingsError, describe
from stack.settings_types import (
    DNS_LABEL,
    Duration,
    DurationField,
    MemoryBytes,
    StrictModel,
    at_least,
    check_bind_address,
    check_host_port,
    check_image_tag,
    repeated,
)
from stack.storage_settings import Logs, Traces
from stack.versions import COMPONENTS, DEFAULT_IMAGE_TAGS

# --- the model --------------------------------------------------------------


ComponentName = Literal["prometheus", "alertmanager", "loki", "promtail", "jaeger", "grafana"]
assert set(ComponentName.__args__) == set(COMPONENTS)  # type: ignore[attr-defined]


class Retention(StrictModel):
    """How long each signal is kept; below a day nothing useful survives a weekend."""

    metrics: Annotated[DurationField, at_least("24h")] = Duration.parse("15d")
    logs: Annotated[DurationField, at_least("24h")] = Duration.parse("7d")
    traces: Annotated[DurationField, at_least("24h")] = Duration.parse("3d")


class Resources(StrictModel):
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


class GatewayService(StrictModel):
    """One gateway service Prometheus scrapes and Promtail tails."""

    name: Annotated[str, Field(pattern=DNS_LABEL)]
    address: Annotated[str, AfterValidator(check_host_port)]
    metrics_path: Annotated[str, Field(pattern=r"^/[A-Za-z0-9._~/-]*$")] = "/metrics"

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]


DEFAULT_GATEWAY_SERVICES = (
    # Kong serves /metrics on its Status API (KONG_STATUS_LISTEN), not the proxy port.
    GatewayService(name=KONG.name, address="kong:8100"),
    GatewayService(name="unified-llm-api", address="unified-llm-api:8000"),
    GatewayService(name="intelligent-router", address="intelligent-router:8001"),
    GatewayService(name="optimization-service", address="optimization-service:8002"),
)


DEFAULT_SLOS = {
    # Kong's and the LLM API's latency includes the provider's generation time.
    KONG.name: ServiceSlo(latency_threshold_seconds=30),
    "unified-llm-api": ServiceSlo(latency_threshold_seconds=30),
    "intelligent-router": ServiceSlo(latency_threshold_seconds=1),
    "optimization-service": ServiceSlo(latency_threshold_seconds=1),
}


def _check_target(value: Any) -> str:
    if value != "docker":
        raise ValueError("expected 'docker' (the kubernetes target for staging and prod is not built yet)")
    return value


class Settings(StrictModel):
    target: Annotated[str, AfterValidator(_check_target)]
    environment: Annotated[str, Field(pattern=DNS_LABEL)]
    cluster: Annotated[str, Field(pattern=DNS_LABEL)] = "local"
    # Prefix of every container, volume and network name, and so of the
    # hostnames components use to reach each other.
    name_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,19}$")] = "obs"
    bind_address: Annotated[str, BeforeValidator(check_bind_address)] = "127.0.0.1"
    gateway_network: Optional[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]] = None
    gateway_services: tuple[GatewayService, ...] = DEFAULT_GATEWAY_SERVICES
    images: dict[ComponentName, Annotated[str, AfterValidator(check_image_tag)]] = {}
    retention: Retention = Retention()
    # At most 1m: the rules' 5m rate windows need several samples each.
    scrape_interval: Annotated[DurationField, at_least("5s", "1m")] = Duration.parse("15s")
    scrape_timeout: Annotated[DurationField, at_least("1s", "1m")] = Duration.parse("10s")
    evaluation_interval: Annotated[DurationField, at_least("5s", "1m")] = Duration.parse("15s")
    resources: dict[ComponentName, Resources] = {}
    alerting: Alerting = Alerting()
    logs: Logs = Logs()
    traces: Traces = Traces()

    @model_validator(mode="before")
    @classmethod
    def _environment_alerting_defaults(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("environment"), str):
            given = values.get("alerting", {})
            if isinstance(given, dict):
                values = {**values, "alerting": deep_merge(alerting_defaults(values["environment"]), given)}
        return values

    @field_validator("gateway_services")
    @classmethod
    def _unique_service_names(cls, services: tuple[GatewayService, ...]) -> tuple[GatewayService, ...]:
        duplicates = repeated([s.name for s in services])
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

    @model_validator(mode="after")
    def _slos_name_services_and_buckets(self) -> "Settings":
        services = [s.name for s in self.gateway_services]
        problems = []
        for name in self.alerting.slos:
            if name not in services:
                problems.append(f"alerting.slos.{name}: no such gateway service (services: {', '.join(services)})")
        for name in services:
            threshold = self.slo_for(name).latency_threshold_seconds
            buckets = latency_buckets_seconds(name)
            if threshold not in buckets:
                problems.append(
                    f"alerting.slos.{name}.latencyThresholdSeconds: given {threshold:g}; must be one of the "
                    f"service's histogram buckets so the SLI is exact: {', '.join(f'{b:g}' for b in buckets)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def slo_for(self, service: str) -> ServiceSlo:
        """The service's defaults, overridden by whatever the stack set explicitly."""
        default = DEFAULT_SLOS.get(service, ServiceSlo())
        given = self.alerting.slos.get(service)
        if given is None:
            return default
        return default.model_copy(update={f: getattr(given, f) for f in given.model_fields_set})

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


def parse_settings(raw: Mapping[str, Any], stack: str, source: str) -> Settings:
    """Validate raw config (keys without the project prefix) into Settings."""
    values = {"environment": stack, **raw}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise SettingsError([describe(Settings, e) for e in error.errors()], source) from None


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _load(raw: Mapping[str, Any], stack: str, source: str, is_secret) -> tuple[Settings, dict[str, Any]]:
    plain, given, problems = split_secrets(raw, is_secret)
    try:
        settings = parse_settings(plain, stack, source)
        problems += receiver_secret_problems(settings, given.get(RECEIVER_SECRETS))
        problems += [
            f"{PROJECT}:{key}: required because {why}; set it with `pulumi config set --secret {key} ...`"
            for key, why in required_plain_secrets(settings).items()
            if key not in given
        ]
    except SettingsError as error:
        problems += error.problems
    if problems:
        raise SettingsError(problems, source)
    return settings, given


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
    by_receiver = config.require_secret_object(RECEIVER_SECRETS) if RECEIVER_SECRETS in given else None
    secrets: dict[str, Any] = {}
    for key in secret_keys_needed(settings, given):
        receiver = key.removeprefix(RECEIVER_SECRETS + ".")
        if receiver == key:
            secrets[key] = config.require_secret(key)
        else:
            secrets[key] = by_receiver.apply(lambda d, n=receiver: str(d[n]))
    return LoadedSettings(settings, secrets)


def _read_stack_file(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SettingsError([f"cannot read {path}: {error}"], path.name) from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config or {}, dict):
        raise SettingsError([f"{path.name}: 'config' must be a mapping"], path.name)
    return config or {}


def load_from_stack_file(path: Path) -> LoadedSettings:
    """Read Pulumi.<stack>.yaml without Pulumi; secrets become placeholders."""
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    prefix = PROJECT + ":"
    raw = {k[len(prefix):]: v for k, v in _read_stack_file(path).items() if k.startswith(prefix)}
    settings, given = _load(raw, stack, path.name, lambda key: all_leaves_encrypted(raw[key]))
    return LoadedSettings(settings, {key: secret_placeholder(key) for key in secret_keys_needed(settings, given)})


def _with_placeholders(value: Any, key: str) -> Any:
    if is_encrypted(value):
        return secret_placeholder(key)
    if isinstance(value, dict):
        return {k: _with_placeholders(v, f"{key}.{k}") for k, v in value.items()}
    return value


def stack_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """Pulumi.<stack>.yaml as the engine hands it to a program: a flat string
    map and the keys holding secrets. Used by `plan` to run the real program
    under mocks; encrypted values become placeholders, nothing is decrypted."""
    flat, secret_keys = {}, []
    for key, value in _read_stack_file(path).items():
        if all_leaves_encrypted(value):
            secret_keys.append(key)
        value = _with_placeholders(value, key.partition(":")[2])
        if isinstance(value, (dict, list)):
            flat[key] = json.dumps(value)
        elif isinstance(value, bool):
            flat[key] = str(value).lower()
        else:
            flat[key] = str(value)
    return flat, secret_keys
