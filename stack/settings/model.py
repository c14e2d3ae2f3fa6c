"""The settings model: every key a stack sets and every default, once, plus
the checks that span several keys (`settings_problems`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic.alias_generators import to_camel

from gateway_telemetry.contract import KONG
from stack.settings.alerting import Alerting, ServiceSlo, Url, alerting_defaults, deep_merge, routing_problems
from stack.settings.demo import Demo, demo_problems
from stack.settings.errors import config_key
from stack.settings.kubernetes import Kubernetes
from stack.settings.partial import Failed
from stack.settings.remote_write import RemoteWrite, remote_write_problems
from stack.settings.storage import Logs, Traces
from stack.settings.values import (
    DnsLabel,
    Duration,
    DurationField,
    HostPort,
    ImageTag,
    IpAddress,
    MemoryBytes,
    Number,
    StrictModel,
    accepts,
    at_least,
    matching,
    overridden,
    repeated,
)
from stack.slis import service_slis, threshold_buckets
from stack.versions import COMPONENTS, DEFAULT_IMAGE_TAGS

ComponentName = Literal["prometheus", "alertmanager", "loki", "promtail", "jaeger", "grafana"]
assert set(ComponentName.__args__) == set(COMPONENTS)  # type: ignore[attr-defined]


class Retention(StrictModel):
    """How long each signal is kept; below a day nothing useful survives a weekend."""

    metrics: Annotated[DurationField, at_least("24h")] = Duration.parse("15d")
    """Prometheus TSDB retention (`--storage.tsdb.retention.time`). On Kubernetes
    Prometheus also deletes its oldest blocks once they fill 80% of its volume
    (`kubernetes.volumeSize`), whichever comes first; the SLO board reports over
    30 days, or over this when shorter."""
    logs: Annotated[DurationField, at_least("24h")] = Duration.parse("7d")
    """How long Loki keeps log lines, applied by its compactor (`retention_period`);
    `logs.streamRetention` sets other periods for chosen streams."""
    traces: Annotated[DurationField, at_least("24h")] = Duration.parse("3d")
    """How long spans are kept: Badger's span TTL. With Elasticsearch or OpenSearch
    (`traces.storage`) a daily `jaeger-es-index-cleaner` job deletes the daily
    indices older than this, in whole days rounded up (Kubernetes target only)."""


class PublicUrls(StrictModel):
    """Where people open each UI: every link the stack builds starts with
    one of these (an alert's source and silence links in every
    notification, Grafana's share and redirect links, LogQL alerts' links
    to Grafana Explore). Unset, stack.topology.public_url decides: on
    Docker the published address, on Kubernetes Grafana's Ingress host, else
    the in-cluster Service URL (which `prod` warns about)."""

    grafana: Optional[Url] = None
    """Where people open Grafana: its root URL (share and redirect links), the
    Explore links of LogQL alerts, and the runbook links while Grafana serves
    the runbooks (`alerting.runbookBaseUrl` unset)."""
    prometheus: Optional[Url] = None
    """Where people open Prometheus (`--web.external-url`): the Source link of
    every alert notification starts here."""
    alertmanager: Optional[Url] = None
    """Where people open Alertmanager (`--web.external-url`): the silence links
    and links back in every notification start here."""


class Resources(StrictModel):
    """A container's limits: memory in bytes (given as '512Mi'), CPUs as a fraction of cores."""

    memory: MemoryBytes = 512 * 2**20
    """Memory limit of the component's containers (on Kubernetes also their
    request); a container that goes above it is OOM-killed."""
    cpus: Annotated[Number, Field(ge=0.05, le=16)] = 0.5
    """CPU limit of the component's containers in cores (on Kubernetes also
    their request)."""


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

    name: DnsLabel
    """The service's job name and the `service` label of its metrics, log
    streams and alerts; `alerting.slos` and team routes refer to it. On
    Kubernetes, the `app.kubernetes.io/name` label its pods carry."""
    address: HostPort
    """On Docker, what Prometheus scrapes; its host is also the container (or
    compose service) name whose logs Promtail keeps. On Kubernetes only the
    port counts: each matching pod is scraped on its IP at that port."""
    metrics_path: Annotated[
        str, matching(r"/[A-Za-z0-9._~/-]*", "expected a URL path starting with '/' (letters, digits and . _ ~ / -)")
    ] = "/metrics"
    """Path Prometheus scrapes the service's metrics on; request log lines for
    it are dropped as scrape noise."""

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
    # Kong and the LLM API have no whole-request latency SLI (stack/slis.py).
    "intelligent-router": ServiceSlo(latency_threshold_seconds=1),
    "optimization-service": ServiceSlo(latency_threshold_seconds=1),
}


TARGETS = ("docker", "kubernetes")


@accepts("docker or kubernetes")
def _check_target(value: Any) -> str:
    if value not in TARGETS:
        raise ValueError("expected 'docker' (one host, for dev) or 'kubernetes' (a cluster, for staging and prod)")
    return value


@accepts("at least one")
def _at_least_one(services: tuple) -> tuple:
    if not services:
        raise ValueError("expected at least one gateway service")
    return services


class Settings(StrictModel):
    """Everything a stack is configured with, except its secrets (see stack.settings.secrets)."""

    target: Annotated[str, BeforeValidator(_check_target)]
    """Where the stack runs: `docker` (one host, for dev) or `kubernetes` (a
    cluster, for staging and prod). A key only the other target reads
    (`gatewayNetwork`, `bindAddress`, `demo` on Kubernetes; `kubernetes` and
    `logs.storage.workloadIdentity` on Docker) is refused, not ignored."""
    environment: DnsLabel
    """The `environment` label on every metric, log stream and alert; the
    stack's name when unset. It picks the alerting defaults (`dev` and
    `staging` are looser, any other gets prod's), and `prod` warns about
    settings unsafe in production."""
    cluster: DnsLabel = "local"
    """The `cluster` label on every metric and alert."""
    name_prefix: Annotated[
        str,
        matching(r"[a-z][a-z0-9-]{0,19}", "expected lower-case letters, digits and '-', starting with a letter, at most 20 characters"),
    ] = "obs"
    """Prefix of every container, volume and network name, and so of the
    hostnames components use to reach each other (`obs-loki`); with
    `environment`, the `app.kubernetes.io/instance` label (`obs-prod`) that
    tells two stacks in one namespace apart."""
    bind_address: IpAddress = "127.0.0.1"
    """Docker only: the host address the published ports listen on; `0.0.0.0`
    exposes the stack to the network."""
    public_urls: PublicUrls = PublicUrls()
    """Where people open each UI; every link in notifications, Grafana's share
    links and LogQL alerts' Explore links start here. Unset, the published
    address on Docker; on Kubernetes Grafana's Ingress host, else the
    in-cluster Service URL, which `prod` warns about."""
    gateway_network: Optional[
        Annotated[
            str,
            matching(
                r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                "expected a Docker network name: letters, digits, '_', '.' and '-', starting with a letter or digit, "
                "at most 64 characters",
            ),
        ]
    ] = None
    """Docker only: the gateway's Docker network (`docker network ls`), which
    every container of the stack joins (it is not created), so Prometheus
    reaches the services by name. The demo gateway runs on it when set."""
    gateway_services: Annotated[tuple[GatewayService, ...], AfterValidator(_at_least_one)] = DEFAULT_GATEWAY_SERVICES
    """The gateway's services Prometheus scrapes and Promtail tails, one
    scrape job each; their availability and SLO alerts are generated per
    entry. With `demo.enabled` the demo's four services must keep their entries."""
    images: dict[ComponentName, ImageTag] = {}
    """Overrides one component's pinned image tag (`stack/versions.py`); the
    image repository stays the pinned one."""
    retention: Retention = Retention()
    """How long each signal is kept."""
    scrape_interval: Annotated[DurationField, at_least("5s", "1m")] = Duration.parse("15s")
    """How often Prometheus scrapes every target (`global.scrape_interval`), and
    Grafana's minimum step for Prometheus queries. At most a minute: the rules'
    5m rate windows need several samples each."""
    scrape_timeout: Annotated[DurationField, at_least("1s", "1m")] = Duration.parse("10s")
    """How long one scrape may take (`global.scrape_timeout`); not above
    `scrapeInterval`."""
    evaluation_interval: Annotated[DurationField, at_least("5s", "1m")] = Duration.parse("15s")
    """How often Prometheus and Loki's ruler evaluate their recording and alert
    rules (`evaluation_interval`)."""
    resources: dict[ComponentName, Resources] = {}
    """Per component, its containers' memory and CPU limits (on Kubernetes
    requests equal limits). A key an entry leaves out keeps that component's
    default."""
    alerting: Alerting = Alerting()
    """Alert thresholds, SLO objectives, pending periods, runbook links, and
    where notifications go; the defaults differ per `environment`."""
    logs: Logs = Logs()
    """Where Loki keeps logs, per-stream retention, and Loki's ingestion and
    query limits."""
    traces: Traces = Traces()
    """Where Jaeger keeps spans."""
    demo: Demo = Demo()
    """Docker only: the instrumented demo gateway beside the stack."""
    kubernetes: Kubernetes = Kubernetes()
    """Kubernetes only: where the stack goes on the cluster, its volumes,
    placement, Grafana's Ingress, and where the gateway's pods run."""
    remote_write: Optional[RemoteWrite] = None
    """Off unless given: Prometheus also writes every sample to a long-term
    store (Mimir, Thanos Receive, any remote-write endpoint)."""

    @model_validator(mode="before")
    @classmethod
    def _environment_alerting_defaults(cls, values: Any) -> Any:
        if isinstance(values, dict) and isinstance(values.get("environment"), str):
            given = values.get("alerting", {})
            if isinstance(given, dict):
                values = {**values, "alerting": deep_merge(alerting_defaults(values["environment"]), given)}
        return values

    def slo_for(self, service: str) -> ServiceSlo:
        """The service's defaults, overridden by whatever the stack set explicitly."""
        return overridden(DEFAULT_SLOS.get(service, ServiceSlo()), self.alerting.slos.get(service))

    def image_tag(self, component: str) -> str:
        return self.images.get(component, DEFAULT_IMAGE_TAGS[component])

    def resources_for(self, component: str) -> Resources:
        """The component's defaults, overridden by the keys the stack set for it
        (`resources.prometheus.memory` alone keeps Prometheus' own CPU limit)."""
        return overridden(DEFAULT_RESOURCES[component], self.resources.get(component))


# Stand in for required keys that failed, so the rest can still be checked.
STAND_INS = {"target": "docker", "environment": "unchecked"}


def _service_problems(settings: Settings, failed: Failed) -> list[str]:
    names = [s.name for s in settings.gateway_services]
    problems = []
    if repeated(names):
        problems.append(f"{config_key(('gatewayServices',))}: service names must be unique; repeated: {', '.join(repeated(names))}")
    if not failed.whole("gatewayServices"):
        # A service that failed validation is still one the operator defined.
        known = list(dict.fromkeys([*names, *sorted(failed.names("gatewayServices"))]))
        problems += [
            f"{config_key(('alerting', 'slos', name))}: no such gateway service (services: {', '.join(known)})"
            for name in settings.alerting.slos
            if name not in known
        ]
    for name in dict.fromkeys(names):
        problems += _slo_problems(name, settings.slo_for(name), settings.alerting.slos.get(name))
    return problems


def _slo_problems(service: str, slo: ServiceSlo, given: Optional[ServiceSlo]) -> list[str]:
    """Objectives set for an SLI the service does not have (they would do
    nothing), and thresholds that are not one of the SLI's histogram buckets."""
    slis = service_slis(service)
    problems = []
    for field in sorted(given.model_fields_set if given else ()):
        sli = field.removesuffix("_threshold_seconds")
        if sli not in slis:
            allowed = [to_camel(f) for f in ServiceSlo.model_fields if f.removesuffix("_threshold_seconds") in slis]
            problems.append(
                f"{config_key(('alerting', 'slos', service, to_camel(field)))}: {service} has no {sli} SLI (its SLIs: "
                f"{', '.join(slis)}); the keys it takes: {', '.join(allowed)}"
            )
    for sli in slis:
        threshold, buckets = slo.threshold_seconds(sli), threshold_buckets(service, sli)
        if threshold is not None and threshold not in buckets:
            problems.append(
                f"{config_key(('alerting', 'slos', service, to_camel(f'{sli}_threshold_seconds')))}: given {threshold:g}; must be one of "
                f"the SLI's histogram buckets so it is exact: {', '.join(f'{b:g}' for b in buckets)}"
            )
    return problems


def settings_problems(settings: Settings, failed: Failed) -> list[str]:
    """The problems that span several keys, found on the valid part of the settings.

    `failed` says which values failed validation (and were replaced by their
    defaults), so a comparison with a value the operator did not set is skipped."""
    problems = _service_problems(settings, failed)
    if not failed.touches("scrapeTimeout") and not failed.touches("scrapeInterval"):
        if settings.scrape_timeout > settings.scrape_interval:
            problems.append(
                f"{config_key(('scrapeTimeout',))}: given {settings.scrape_timeout}; must not exceed "
                f"scrapeInterval ({settings.scrape_interval})"
            )
    # A service that failed validation is still one the operator defined.
    defined = [*(s.name for s in settings.gateway_services), *failed.names("gatewayServices")]
    problems += demo_problems(settings.demo, defined, failed.whole("gatewayServices"))
    problems += _target_problems(settings, failed)
    problems += remote_write_problems(settings.remote_write, failed)
    return problems + routing_problems(settings.alerting.routing, failed)


# Keys only one target reads: given for the other, they would silently do nothing.
_TARGET_KEYS = {
    "docker": (("gatewayNetwork",), ("demo", "enabled"), ("bindAddress",)),
    "kubernetes": (("kubernetes",), ("logs", "storage", "workloadIdentity")),
}


def _target_problems(settings: Settings, failed: Failed) -> list[str]:
    if failed.touches("target"):
        return []
    problems = []
    for target, keys in _TARGET_KEYS.items():
        if target == settings.target:
            continue
        for key in keys:
            if _is_set(settings, key):
                problems.append(f"{config_key(key)}: only the {target} target reads it, and this stack's target is {settings.target}; remove it")
    return problems


def _is_set(settings: Settings, key: tuple[str, ...]) -> bool:
    """Whether the operator gave `key` (camelCase path) a value other than its default."""
    node: Any = settings
    for part in key:
        field = next((name for name, info in type(node).model_fields.items() if (info.alias or name) == part), None)
        if field is None or field not in node.model_fields_set:
            return False
        node = getattr(node, field)
    return not (isinstance(node, bool) and node is False)
