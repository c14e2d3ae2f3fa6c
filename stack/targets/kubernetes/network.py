"""The NetworkPolicies' decisions: which component reaches which (FLOWS),
what the gateway and the Ingress reach, peers' own ports, and what each
component reaches outside the cluster (receivers, stores, the database, the
API server, the kubelets, DNS). tests/test_kubernetes_flows.py evaluates the
resulting policies as Kubernetes does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urlsplit

from stack.settings import Settings
from stack.settings.storage import IRSA_ROLE_ANNOTATION
from stack.spec import ServiceSpec
from stack.targets.kubernetes.labels import API_SERVER_PORTS


@dataclass(frozen=True)
class Flow:
    """`source` opens connections to `destination` on its ports named `ports`
    (topology.PORTS names); both are component names."""

    source: str
    destination: str
    ports: tuple[str, ...] = ("http",)


# The ports Prometheus scrapes on each component (its scrape config's targets).
SCRAPED_PORTS = {"jaeger": ("metrics", "spanmetrics")}
FLOWS = (
    Flow("promtail", "loki"),  # log push
    Flow("grafana", "prometheus"),
    Flow("grafana", "loki"),
    Flow("grafana", "jaeger", ("ui",)),  # the query API behind the UI port
    Flow("grafana", "alertmanager"),
    Flow("prometheus", "alertmanager"),
    Flow("loki", "alertmanager"),  # the ruler's alerts
    Flow("jaeger", "prometheus"),  # span metrics (SPM) read back
)
# What the gateway's pods push into the stack.
FROM_GATEWAY = {"jaeger": ("otlp-grpc", "otlp-http"), "loki": ("http",)}
# Reached from anywhere when it has an Ingress: the Ingress controller runs
# wherever the cluster put it. Without one, people open it through `kubectl
# port-forward`, which enters the pod's own network namespace: no policy
# applies to it, so nothing is opened.
FROM_ANYWHERE = {"grafana": ("http",)}
# Ports only a component's own pods use among themselves: port name ->
# protocols. Alertmanager's `cluster` port carries memberlist gossip, which
# runs over TCP and UDP. Loki's `memberlist` port carries its ring's gossip
# over TCP only (dskit's TCPTransport, kv/memberlist/tcp_transport.go, sends
# memberlist's "packets" over TCP too), and its `grpc` port the pods' own
# traffic: distributors push to every replica's ingester, queriers read them.
# Opened between the pods only when there is more than one; never on the
# ClusterIP Service (what the other components, the gateway and the Ingress
# reach), only on the headless one that names each pod.
PEER_PORTS = {
    "alertmanager": {"cluster": ("TCP", "UDP")},
    "loki": {"memberlist": ("TCP",), "grpc": ("TCP",)},
}


def _port(url: str, default_scheme: str = "https") -> int:
    parts = urlsplit(url if "://" in url else f"{default_scheme}://{url}")
    return parts.port or (443 if parts.scheme == "https" else 80)


def external_ports(settings: Settings, spec: ServiceSpec) -> set[int]:
    """TCP ports a component may reach outside the cluster (any address):
    receivers for Alertmanager, the object store for Loki, the search
    backend for Jaeger, the API server for whoever discovers through it,
    and the spec's own outside_ports."""
    ports: set[int] = set(API_SERVER_PORTS) if spec.api_access else set()
    if spec.name == "alertmanager":
        for receiver in settings.alerting.routing.receivers:
            if receiver.slack is not None or receiver.pagerduty is not None:
                ports.add(443)  # their HTTPS APIs
            if receiver.email is not None:
                ports.add(int(receiver.email.smarthost.rpartition(":")[2]))
            if receiver.webhook is not None:
                ports.add(_port(receiver.webhook.url))
    storage = settings.logs.storage
    if spec.name == "loki" and storage.is_object_store:
        ports.add(_port(storage.s3.endpoint) if storage.type == "s3" else 443)
        if storage.workload_identity is not None:
            ports.add(443)  # the cloud's token service (AWS STS, Google STS, Microsoft Entra ID)
    if spec.name == "jaeger" and settings.traces.search_backend is not None:
        ports.update(_port(url) for url in settings.traces.search_backend.server_urls)
    return ports | set(spec.outside_ports)


# Node-local endpoints a workload identity hands tokens out at: (CIDR, TCP
# port). EKS Pod Identity's agent, on IPv4 and IPv6 (AWS docs, "EKS Pod
# Identity agent"); the GKE metadata server, which on clusters with network
# policy also needs 169.254.169.252:988 (GKE docs, "Workload Identity
# Federation for GKE", restrictions). IRSA and Azure need none: their token is
# a projected file, exchanged over HTTPS.
EKS_POD_IDENTITY_AGENT = (("169.254.170.23/32", 80), ("fd00:ec2::23/128", 80))
GKE_METADATA_SERVER = (("169.254.169.254/32", 80), ("169.254.169.252/32", 988))


def identity_endpoints(settings: Settings, spec: ServiceSpec) -> tuple[tuple[str, int], ...]:
    """The node-local token endpoints Loki reaches when it uses a workload
    identity: on S3, Pod Identity's agent unless IRSA's role annotation is set."""
    storage = settings.logs.storage
    identity = storage.workload_identity
    if spec.name != "loki" or identity is None:
        return ()
    if storage.type == "s3" and IRSA_ROLE_ANNOTATION not in identity.service_account_annotations:
        return EKS_POD_IDENTITY_AGENT
    return GKE_METADATA_SERVER if storage.type == "gcs" else ()


def flows(services: Iterable[ServiceSpec]) -> list[Flow]:
    """FLOWS plus Prometheus scraping every component, among the components
    present; one Flow per (source, destination) with the ports of all."""
    present = {spec.name: spec for spec in services}
    scrapes = [Flow("prometheus", name, SCRAPED_PORTS.get(name, ("http",))) for name in present]
    merged: dict[tuple[str, str], tuple[str, ...]] = {}
    for f in (*FLOWS, *scrapes):
        if f.source in present and f.destination in present:
            known = merged.get((f.source, f.destination), ())
            merged[(f.source, f.destination)] = known + tuple(p for p in f.ports if p not in known)
    return [Flow(source, destination, ports) for (source, destination), ports in merged.items()]


def dns_egress(settings: Settings) -> dict:
    """The egress rule to the cluster's DNS (kubernetes.dns): its pods'
    namespace (and labels), and any address outside the pod network."""
    dns = settings.kubernetes.dns
    pods = {"namespace_selector": _namespace_peer(dns.namespace)}
    if dns.pod_selector:
        pods["pod_selector"] = {"match_labels": dict(dns.pod_selector)}
    peers = [pods, *({"ip_block": {"cidr": cidr}} for cidr in dns.cidrs)]
    return {"to": peers, "ports": [{"protocol": protocol, "port": 53} for protocol in ("UDP", "TCP")]}


def _namespace_peer(name: str) -> dict:
    return {"match_labels": {"kubernetes.io/metadata.name": name}}


def _tcp(numbers: Iterable[int]) -> list[dict]:
    return [{"protocol": "TCP", "port": n} for n in sorted(set(numbers))]


