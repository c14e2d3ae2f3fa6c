"""What every component's ServiceSpec shares: name, hostname, pinned image and
resource limits, all derived from settings the same way."""

from __future__ import annotations

from stack import topology
from stack.settings import Settings
from stack.spec import HttpProbe, ServiceSpec
from stack.versions import image_reference


def wget_probe(probe: HttpProbe) -> tuple[str, ...]:
    """The health command for images with busybox or alpine wget."""
    return ("wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{probe.port}{probe.path}")


# Replicas in the kubernetes target's `scalable` profile, on each component's
# own HA mode: a Prometheus pair (identical scrapes, told apart by a `replica`
# external label that alerts drop, so Alertmanager deduplicates them) and a
# three-peer Alertmanager cluster (gossiped silences and notification log).
SCALABLE_REPLICAS = {"prometheus": 2, "alertmanager": 3}
# Loki's HA monolithic mode in the scalable profile: three single binaries on
# one object store, a memberlist ring, replication factor 3. Not in
# SCALABLE_REPLICAS because it depends on the storage too (`replicas`).
LOKI_SCALABLE_REPLICAS = 3
# Two stateless Grafana servers on one external database (sessions, users and
# alert state live there); not in SCALABLE_REPLICAS because SQLite cannot be shared.
GRAFANA_SCALABLE_REPLICAS = 2


def replicas(settings: Settings, component: str, external_database: bool = False) -> int:
    """How many pods run `component`: more than one only on Kubernetes in the
    scalable profile (SCALABLE_REPLICAS), and only where the replicas can
    share their state. Loki's replicas must share their chunks and index: a
    filesystem store lives on one pod's volume, so Loki runs
    LOKI_SCALABLE_REPLICAS only on object storage (`logs.storage.type` s3, gcs or azure).
    Grafana's replicas must share its database: SQLite on a volume cannot be,
    so Grafana runs GRAFANA_SCALABLE_REPLICAS only when `external_database`
    (the secret grafanaDatabaseUrl is given); other components ignore it."""
    if settings.target != "kubernetes" or settings.kubernetes.profile != "scalable":
        return 1
    if component == "loki":
        return LOKI_SCALABLE_REPLICAS if settings.logs.storage.is_object_store else 1
    if component == "grafana":
        return GRAFANA_SCALABLE_REPLICAS if external_database else 1
    return SCALABLE_REPLICAS.get(component, 1)


def service_spec(settings: Settings, component: str, **fields) -> ServiceSpec:
    resources = settings.resources_for(component)
    fields.setdefault("replicas", replicas(settings, component))
    fields.setdefault("health_command", wget_probe(fields["readiness"]))
    return ServiceSpec(
        name=component,
        hostname=topology.hostname(settings, component),
        image=image_reference(component, settings.image_tag(component)),
        memory_bytes=resources.memory,
        cpus=resources.cpus,
        **fields,
    )
