"""kube-state-metrics (Kubernetes only): the state of the cluster's objects
as metrics, so Prometheus sees a crash-looping, OOM-killed or missing pod of
the gateway or of the stack itself (stack/alerting/kubernetes.py).

Least privilege: it lists and watches only the kinds the alerts read, and
only in the stack's, the node agents' and the gateway's namespaces, through
one Role per namespace (no ClusterRole: `--namespaces` keeps it from
listing anything else). Facts from kubernetes/kube-state-metrics at v2.20.0:
flags `--resources`, `--namespaces`, `--port`, `--telemetry-port`
(pkg/options/options.go:162-188); `/healthz` on the metrics port answers 200
unconditionally, `/livez` asks the API server, `/readyz` on the telemetry
port answers once its own registry has metrics (pkg/app/server.go:72-75,
565-621); the image runs as nobody (65534) on distroless, read-only root
filesystem (examples/standard/deployment.yaml:43-52).
"""

from __future__ import annotations

from stack import topology
from stack.settings import Settings
from stack.spec import ApiAccess, HttpProbe, Port, ServiceSpec
from stack.versions import KUBE_STATE_METRICS_IMAGE

NAME = "kube-state-metrics"
# The kinds the alerts read, by API group (kube-state-metrics collector names).
RESOURCES = {"": ("pods", "persistentvolumeclaims"), "apps": ("statefulsets", "daemonsets", "deployments")}
MEMORY_BYTES = 256 * 2**20
CPUS = 0.1


def kube_state_metrics_service(settings: Settings) -> ServiceSpec:
    """kube-state-metrics' spec: RESOURCES of topology.watched_namespaces,
    one Role per namespace and API group, metrics on `http` (8080, which
    Prometheus scrapes), its own on `telemetry` (8081)."""
    port, telemetry = topology.port(NAME), topology.port(NAME, "telemetry")
    namespaces = topology.watched_namespaces(settings)
    return ServiceSpec(
        name=NAME,
        hostname=topology.hostname(settings, NAME),
        image=KUBE_STATE_METRICS_IMAGE,
        args=(
            f"--port={port}",
            f"--telemetry-port={telemetry}",
            f"--resources={','.join(r for group in RESOURCES.values() for r in group)}",
            f"--namespaces={','.join(namespaces)}",
        ),
        ports=(Port("http", port, published=False), Port("telemetry", telemetry, published=False)),
        readiness=HttpProbe(telemetry, "/readyz"),
        # Not /livez: it asks the API server, so an API server outage would restart it.
        liveness=HttpProbe(port, "/healthz"),
        memory_bytes=MEMORY_BYTES,
        cpus=CPUS,
        user="65534:65534",
        api_access=tuple(
            ApiAccess(resources, namespace, group) for namespace in namespaces for group, resources in RESOURCES.items()
        ),
    )
