"""What Prometheus scrapes of the cluster itself (Kubernetes only): the
objects' state from kube-state-metrics, and each node's kubelet (volume
usage) and cAdvisor (CPU throttling, memory, OOM events), for the alerts in
stack/alerting/kubernetes.py.

Job names are the kubernetes-mixin's selectors (job="kube-state-metrics",
"kubelet", "cadvisor": kubernetes-mixin config.libsonnet:36-38 at
version-1.5.6), so its expressions read as upstream's. The kubelet is
scraped directly on its secure port with Prometheus' ServiceAccount token,
as Prometheus' own example does (documentation/examples/
prometheus-kubernetes.yml at v3.14.0, jobs kubernetes-nodes and
kubernetes-cadvisor); its serving certificate is often self-signed, so it is
not verified, as kube-prometheus' kubelet ServiceMonitor does
(insecureSkipVerify). The kubelet authorises /metrics and /metrics/cadvisor
as the `nodes/metrics` subresource (kubernetes pkg/kubelet/server/auth.go),
so that is all Prometheus gets besides listing nodes.
"""

from __future__ import annotations

from stack import topology
from stack.components.kube_state_metrics import NAME as KUBE_STATE_METRICS
from stack.settings import Settings
from stack.spec import ApiAccess

KUBELET_PORT = 10250
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
# Of cAdvisor's and the kubelet's many series, the ones the alerts read;
# the rest would be most of the stack's samples.
CADVISOR_KEEP = (
    "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_memory_working_set_bytes",
    "container_oom_events_total",
)
KUBELET_KEEP = (
    "kubelet_volume_stats_available_bytes",
    "kubelet_volume_stats_capacity_bytes",
    "kubelet_volume_stats_used_bytes",
    "kubelet_volume_stats_inodes",
    "kubelet_volume_stats_inodes_free",
    "kubelet_volume_stats_inodes_used",
)


def cluster_outside_ports(settings: Settings) -> tuple[int, ...]:
    """What the kubelet jobs reach outside the pod network: each node's kubelet, on the node's own address."""
    return (KUBELET_PORT,) if settings.target == "kubernetes" else ()


def cluster_api_access() -> tuple[ApiAccess, ...]:
    """Prometheus' cluster-wide access for the kubelet jobs: node discovery and `nodes/metrics`."""
    return (ApiAccess(("nodes", "nodes/metrics")),)


def _labels(settings: Settings) -> list[dict]:
    return [
        {"target_label": "environment", "replacement": settings.environment},
        {"target_label": "cluster", "replacement": settings.cluster},
    ]


def _node_job(settings: Settings, job: str, path: str, keep: tuple[str, ...]) -> dict:
    namespaces = "|".join(topology.watched_namespaces(settings))
    return {
        "job_name": job,
        "scheme": "https",
        "metrics_path": path,
        "tls_config": {"ca_file": f"{SERVICE_ACCOUNT}/ca.crt", "insecure_skip_verify": True},
        "authorization": {"credentials_file": f"{SERVICE_ACCOUNT}/token"},
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "instance"},
            *_labels(settings),
        ],
        # Only the stack's and the gateway's namespaces, and only what the alerts read.
        "metric_relabel_configs": [
            {"source_labels": ["__name__"], "regex": "|".join(keep), "action": "keep"},
            {"source_labels": ["namespace"], "regex": namespaces, "action": "keep"},
        ],
    }


def cluster_jobs(settings: Settings) -> list[dict]:
    """The kube-state-metrics, kubelet and cadvisor jobs; none off Kubernetes."""
    if settings.target != "kubernetes":
        return []
    return [
        {
            "job_name": KUBE_STATE_METRICS,
            # Its series describe other objects: keep their namespace and pod labels.
            "honor_labels": True,
            "static_configs": [{"targets": [topology.address(settings, KUBE_STATE_METRICS)]}],
            "relabel_configs": _labels(settings),
        },
        _node_job(settings, "kubelet", "/metrics", KUBELET_KEEP),
        _node_job(settings, "cadvisor", "/metrics/cadvisor", CADVISOR_KEEP),
    ]
