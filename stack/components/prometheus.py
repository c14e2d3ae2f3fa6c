"""Prometheus: scrapes itself, the other stack components and every gateway
service (each by its address on Docker, pod by pod on Kubernetes); evaluates
the rule files from alerts/; sends to Alertmanager."""

from __future__ import annotations

import re

from stack import topology
from stack.alerting import rule_files
from gateway_telemetry.redaction import re2_literal
from stack.components.alertmanager import alertmanager_addresses
from stack.components.cluster_metrics import cluster_api_access, cluster_jobs, cluster_outside_ports
from stack.components.service import replicas, service_spec
from stack.generated_yaml import render_yaml
from stack.settings import GatewayService, Settings
from stack.settings.secrets import REMOTE_WRITE_CREDENTIAL
from stack.spec import ApiAccess, DataVolume, HttpProbe, Port, SecretFile, ServiceSpec

CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"
# The remote-write bearer token or basic-auth password (remoteWriteCredential),
# mounted like Alertmanager's receiver credentials: the config names the file only.
REMOTE_WRITE_CREDENTIAL_FILE = f"{CONFIG_DIR}/secrets/remote-write-credential"

# Where each stack component serves its own metrics: (port name, path).
STACK_METRICS = {
    "prometheus": ("http", "/metrics"),
    "alertmanager": ("http", "/metrics"),
    "loki": ("http", "/metrics"),
    "promtail": ("http", "/metrics"),
    "jaeger": ("metrics", "/metrics"),
    "grafana": ("http", "/metrics"),
}
# Jaeger's spanmetrics exporter: a second endpoint of the jaeger service.
SPANMETRICS_JOB = "jaeger-spanmetrics"


def _scrape_job(settings: Settings, job: str, address: str, metrics_path: str, service: str = "") -> dict:
    return {
        "job_name": job,
        "metrics_path": metrics_path,
        "static_configs": [
            {
                "targets": [address],
                "labels": {"service": service or job, "environment": settings.environment, "cluster": settings.cluster},
            }
        ],
    }


# The gateway on Kubernetes (settings.kubernetes.gateway): the pods of one
# namespace carrying the selector's labels, each named by this label after its
# gatewayServices entry. Promtail finds them the same way (promtail.py).
# The stack's own components are found by their pods too (not their Service,
# which would show one pod per scrape): the pods the kubernetes target labels
# NAME_LABEL=<component> and INSTANCE_LABEL=topology.instance (its selector_labels).
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
# The stack's components whose pods run in topology.node_namespace: the
# DaemonSets (a spec with host paths, stack/targets/kubernetes/pods.py workload_kind).
NODE_AGENTS = frozenset({"promtail"})


def pod_label_meta(key: str) -> str:
    """The discovered label holding a pod's Kubernetes label `key`:
    __meta_kubernetes_pod_label_ + the key with each character outside
    [A-Za-z0-9_] replaced by '_' (Prometheus' strutil.SanitizeLabelName)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


def gateway_pod_sd_config(settings: Settings) -> dict:
    """One kubernetes_sd_configs entry (role pod) watching only the gateway's
    namespace, where the stack's Role grants `pods`, and only pods carrying
    the selector's labels (a label selector the API server applies). Every
    gateway job renders the same entry, so Prometheus runs one watch for all."""
    gateway = settings.kubernetes.gateway
    return {
        "role": "pod",
        "namespaces": {"names": [gateway.namespace]},
        "selectors": [{"role": "pod", "label": ",".join(f"{k}={v}" for k, v in gateway.selector.items())}],
    }


def gateway_pod_relabels(settings: Settings, services: list[str]) -> list[dict]:
    """Relabel rules keeping only pods of the gateway namespace that carry
    every selector label and a NAME_LABEL naming one of `services`; every
    other pod's targets are dropped. They state the rule again after the
    discovery's own filter, so a wider discovery never widens what is kept."""
    gateway = settings.kubernetes.gateway
    return [
        {"source_labels": ["__meta_kubernetes_namespace"], "regex": re2_literal(gateway.namespace), "action": "keep"},
        # Label values cannot hold ';' (the separator), so the joined values match only as a whole.
        {
            "source_labels": [pod_label_meta(key) for key in gateway.selector],
            "regex": ";".join(re2_literal(value) for value in gateway.selector.values()),
            "action": "keep",
        },
        {
            "source_labels": [pod_label_meta(NAME_LABEL)],
            "regex": "|".join(re2_literal(name) for name in services),
            "action": "keep",
        },
    ]


def _gateway_pod_job(settings: Settings, service: GatewayService) -> dict:
    """The Kubernetes twin of _scrape_job: the same job name, path and labels,
    with the service's pods as targets, each on the port of its `address`."""
    port = service.address.rpartition(":")[2]
    return {
        "job_name": service.name,
        "metrics_path": service.metrics_path,
        "kubernetes_sd_configs": [gateway_pod_sd_config(settings)],
        "relabel_configs": [
            *gateway_pod_relabels(settings, [service.name]),
            *pod_address_relabels(port),
            *_job_label_relabels(settings, service.name),
        ],
    }


def pod_address_relabels(port: int | str) -> list[dict]:
    """Relabel rules of a pod-role job: finished pods dropped, and the
    target's `__address__` set to the pod's IP on `port` ("[ip]:port" for an
    IPv6 IP)."""
    return [
        # A finished pod (a Job's, an evicted one) may keep its IP but answers nothing: not a target, not `up == 0`.
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Succeeded|Failed", "action": "drop"},
        # The pod's IP on the service's port, whatever ports its containers
        # declare: the role yields a target per declared port (or per
        # container without one), all rewritten to this one address, and a
        # scrape pool scrapes targets with equal labels once.
        {"source_labels": ["__meta_kubernetes_pod_ip"], "target_label": "__address__", "replacement": f"$1:{port}"},
        # An IPv6 pod IP takes brackets (net.JoinHostPort).
        {
            "source_labels": ["__meta_kubernetes_pod_ip"],
            "regex": "(.*:.*)",
            "target_label": "__address__",
            "replacement": f"[$1]:{port}",
        },
    ]


def _job_label_relabels(settings: Settings, service: str) -> list[dict]:
    """The labels _scrape_job gives its static targets, as relabel rules."""
    return [
        {"target_label": "service", "replacement": service},
        {"target_label": "environment", "replacement": settings.environment},
        {"target_label": "cluster", "replacement": settings.cluster},
    ]


def stack_namespace(settings: Settings, component: str) -> str:
    """The Kubernetes namespace where `component`'s pods run: the node
    namespace for NODE_AGENTS, the stack's namespace for the others."""
    return topology.node_namespace(settings) if component in NODE_AGENTS else settings.kubernetes.namespace


def stack_pod_sd_config(settings: Settings, namespace: str) -> dict:
    """One kubernetes_sd_configs entry (role pod) watching this stack's pods
    (INSTANCE_LABEL, a label selector the API server applies) in `namespace`.
    Every stack job of one namespace renders the same entry, and Prometheus'
    discovery manager runs one provider for equal entries: one watch for the
    stack's namespace, one for the node namespace."""
    return {
        "role": "pod",
        "namespaces": {"names": [namespace]},
        "selectors": [{"role": "pod", "label": f"{INSTANCE_LABEL}={topology.instance(settings)}"}],
    }


def _stack_pod_job(settings: Settings, job: str, component: str, port_name: str, metrics_path: str, service: str = "") -> dict:
    """The Kubernetes twin of _scrape_job for a stack component: the same job
    name, path and labels, with each of the component's pods as a target on
    its `port_name` port, so every replica (and every node's Promtail) is seen.

    `instance` is "<pod name>:<port>" (the pod's IP would change on each
    restart, and name no pod in `kubectl get pods`). No `pod` label: the
    Docker jobs have none and the rules and dashboards are shared, so
    `instance` alone tells the pods apart, as it tells containers apart there."""
    namespace = stack_namespace(settings, component)
    port = topology.port(component, port_name)
    return {
        "job_name": job,
        "metrics_path": metrics_path,
        "kubernetes_sd_configs": [stack_pod_sd_config(settings, namespace)],
        "relabel_configs": [
            # Again after the discovery's own filters, so a wider discovery never widens what is kept.
            {"source_labels": ["__meta_kubernetes_namespace"], "regex": re2_literal(namespace), "action": "keep"},
            # Label values cannot hold ';' (the separator), so the joined values match only as a whole.
            {
                "source_labels": [pod_label_meta(INSTANCE_LABEL), pod_label_meta(NAME_LABEL)],
                "regex": f"{re2_literal(topology.instance(settings))};{re2_literal(component)}",
                "action": "keep",
            },
            *pod_address_relabels(port),
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "instance", "replacement": f"$1:{port}"},
            *_job_label_relabels(settings, service or job),
        ],
    }


def _stack_jobs(settings: Settings) -> list[dict]:
    """One job per STACK_METRICS entry and the span metrics job: static
    targets (container names) on Docker, the components' pods on Kubernetes."""
    endpoints = [(component, component, port_name, path, "") for component, (port_name, path) in STACK_METRICS.items()]
    endpoints.append((SPANMETRICS_JOB, "jaeger", "spanmetrics", "/metrics", "jaeger"))
    if settings.target == "kubernetes":
        return [_stack_pod_job(settings, *endpoint) for endpoint in endpoints]
    return [
        _scrape_job(settings, job, topology.address(settings, component, port_name), path, service)
        for job, component, port_name, path, service in endpoints
    ]


def _gateway_jobs(settings: Settings) -> list[dict]:
    if settings.target == "kubernetes":
        return [_gateway_pod_job(settings, service) for service in settings.gateway_services]
    return [_scrape_job(settings, s.name, s.address, s.metrics_path) for s in settings.gateway_services]


# The external label telling the replicas of an HA pair apart (scalable
# profile): each pod's name, from the POD_NAME variable the kubernetes target
# sets from metadata.name. Prometheus 3 expands ${VAR} in external label
# values (2.x needed --enable-feature=expand-external-labels).
REPLICA_LABEL = "replica"
REPLICA_VALUE = "${POD_NAME}"


def _alerting(settings: Settings) -> dict:
    """The `alerting` block: every alert to every Alertmanager peer; with
    several Prometheus replicas the replica label is dropped from alerts, so
    both replicas send the same alert and Alertmanager keeps one."""
    alerting = {"alertmanagers": [{"static_configs": [{"targets": alertmanager_addresses(settings)}]}]}
    if replicas(settings, "prometheus") > 1:
        alerting = {"alert_relabel_configs": [{"action": "labeldrop", "regex": REPLICA_LABEL}], **alerting}
    return alerting


def _external_labels(settings: Settings) -> dict:
    labels = {"environment": settings.environment, "cluster": settings.cluster}
    if replicas(settings, "prometheus") > 1:
        labels[REPLICA_LABEL] = REPLICA_VALUE
    return labels


def _remote_write(settings: Settings) -> list[dict]:
    """The `remote_write` list: one endpoint, or none when remoteWrite is not
    set. The credential is named by file (`credentials_file`,
    `password_file`), never written into the config."""
    remote = settings.remote_write
    if remote is None:
        return []
    endpoint: dict = {"url": remote.url}
    if remote.headers:
        endpoint["headers"] = dict(remote.headers)
    if remote.auth == "bearer":
        endpoint["authorization"] = {"type": "Bearer", "credentials_file": REMOTE_WRITE_CREDENTIAL_FILE}
    elif remote.auth == "basic":
        endpoint["basic_auth"] = {"username": remote.username, "password_file": REMOTE_WRITE_CREDENTIAL_FILE}
    queue = {
        field: value
        for field, value in (("capacity", remote.queue.capacity), ("max_samples_per_send", remote.queue.max_samples_per_send))
        if value is not None
    }
    if queue:
        endpoint["queue_config"] = queue
    return [endpoint]


def render_prometheus_config(settings: Settings) -> str:
    config = {
        "global": {
            "scrape_interval": str(settings.scrape_interval),
            "scrape_timeout": str(settings.scrape_timeout),
            "evaluation_interval": str(settings.evaluation_interval),
            "external_labels": _external_labels(settings),
        },
        "alerting": _alerting(settings),
        # Relative to this file, so promtool resolves them in a rendered tree too.
        "rule_files": ["rules/*.yml"],
        "scrape_configs": _stack_jobs(settings) + cluster_jobs(settings) + _gateway_jobs(settings),
    }
    remote_write = _remote_write(settings)
    if remote_write:
        config["remote_write"] = remote_write
    return render_yaml(config, "stack/components/prometheus.py")


def _remote_write_secret_files(settings: Settings) -> tuple[SecretFile, ...]:
    remote = settings.remote_write
    if remote is None or not remote.needs_credential:
        return ()
    return (SecretFile(REMOTE_WRITE_CREDENTIAL, REMOTE_WRITE_CREDENTIAL_FILE),)


def prometheus_service(settings: Settings) -> ServiceSpec:
    files = {f"{CONFIG_DIR}/prometheus.yml": render_prometheus_config(settings)}
    files.update({f"{CONFIG_DIR}/rules/{name}": text for name, text in rule_files(settings).items()})
    return service_spec(
        settings,
        "prometheus",
        args=(
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={settings.retention.metrics}",
            *retention_size_args(settings),
            # Each alert's generatorURL: the "Source" link of every notification.
            f"--web.external-url={topology.public_url(settings, 'prometheus')}",
            *lifecycle_args(settings),
            # A flag, not a config field, so Debian's promtool 2.42 can check the config.
            "--enable-feature=exemplar-storage",
        ),
        ports=(Port("http", topology.port("prometheus")),),
        # /-/ready answers 503 until the TSDB is open (WAL replayed: minutes to
        # tens of minutes on a large volume after an OOM kill) and the config
        # loaded; /-/healthy answers 200 as soon as the web server runs, which
        # it does before the replay (prometheus v3.14.0 web/web.go:608-621,
        # cmd/prometheus/main.go:1438-1510, 1584). So no probe ever kills a
        # replay, however long; prometheus-operator's own comment says the
        # same of the two endpoints (pkg/prometheus/promcfg.go:1369-1375).
        readiness=HttpProbe(topology.port("prometheus"), "/-/ready"),
        liveness=HttpProbe(topology.port("prometheus"), "/-/healthy"),
        files=files,
        secret_files=_remote_write_secret_files(settings),
        volumes=(DataVolume("data", DATA_DIR),),
        user="65534:65534",
        api_access=_api_access(settings),
        # A Prometheus pair scrapes at different instants: Grafana reading
        # both through one plain Service would flip a stat between them on
        # every refresh. kube-prometheus' prometheus-k8s Service does the same
        # (components/prometheus.libsonnet: sessionAffinity 'ClientIP').
        sticky_clients=replicas(settings, "prometheus") > 1,
        outside_ports=cluster_outside_ports(settings),
    )


# The share of its volume Prometheus may fill before it deletes the oldest
# blocks. The size counts blocks, WAL and head chunks, but only blocks are
# deleted, in whole, and a compaction writes its new block before it removes
# the old ones (prometheus docs/storage.md, "Local storage"): without room to
# spare the volume fills before retention frees any. kube-prometheus-stack
# leaves retentionSize to the operator; 80% keeps that room.
RETENTION_SHARE_OF_VOLUME = 0.8
_QUANTITY_UNITS = {"Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def retention_size_args(settings: Settings) -> tuple[str, ...]:
    """`--storage.tsdb.retention.size` on Kubernetes, where the volume has a
    size (kubernetes.volume_size_of): RETENTION_SHARE_OF_VOLUME of it, in
    Prometheus' base-2 units (units.ParseBase2Bytes: 1MB = 2^20 bytes).
    Docker volumes have no size: retention by time only."""
    if settings.target != "kubernetes":
        return ()
    quantity = settings.kubernetes.volume_size_of("prometheus")
    volume_bytes = int(quantity[:-2]) * _QUANTITY_UNITS[quantity[-2:]]
    return (f"--storage.tsdb.retention.size={int(volume_bytes * RETENTION_SHARE_OF_VOLUME) // 2**20}MB",)


def lifecycle_args(settings: Settings) -> tuple[str, ...]:
    """`--web.enable-lifecycle` lets anyone who reaches Prometheus reload or
    shut it down (POST /-/reload, /-/quit: no authentication). On Docker it
    is published on the bind address only, and `curl -X POST .../-/reload`
    applies a new config without losing the head block; on Kubernetes every
    pod that may reach it could, and a changed config rolls the pods
    instead (checksum/config), so it stays off there."""
    return ("--web.enable-lifecycle",) if settings.target == "docker" else ()


def _api_access(settings: Settings) -> tuple[ApiAccess, ...]:
    """Read access to pods in each namespace Prometheus discovers: the
    gateway's, the stack's and the node namespace, each once (one Role each)."""
    if settings.target != "kubernetes":
        return ()
    stack = (stack_namespace(settings, component) for component in STACK_METRICS)
    namespaces = dict.fromkeys([settings.kubernetes.gateway.namespace, *stack])
    # The pod role lists and watches pods only (no nodes or namespaces: no attach_metadata);
    # the kubelet jobs list nodes and read their metrics (cluster_metrics.py).
    return (*(ApiAccess(("pods",), namespace) for namespace in namespaces), *cluster_api_access())
