"""Every flow the settings and rendered files imply is admitted by the
NetworkPolicies, and nothing else is.

The policies are evaluated as Kubernetes does (networking.k8s.io/v1): a pod
selected by a policy of a direction is isolated in that direction and
admits only what the union of those policies' rules admits; a connection
needs the source's egress and the destination's ingress; a peer is a
podSelector (in the policy's namespace unless a namespaceSelector is
given), a namespaceSelector, or an ipBlock; a rule without peers or ports
admits any. Pods are the plan's workloads plus the gateway's (Kong and the
services, as the selector and gatewayServices describe them).

The expected flows are derived, not listed: every stack Service a pod reads
in its files, arguments or environment (tests/test_kubernetes_addresses.py
resolves them), every endpoint the stack hands the gateway (its outputs),
the Ingress' backend, each replicated component's own ring (Loki's
instance_addr and gRPC port), Prometheus' scrapes, and, outside the
cluster, the receivers', stores', database's and API server's ports and
the configured DNS.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import yaml
from test_kubernetes_addresses import Cluster, addresses
from test_kubernetes_target import INGRESS, SECRETS, WITH_SECRETS, manifests, planned

from stack import topology
from stack.settings.secrets import GRAFANA_DATABASE_URL

NODE_LOCAL_DNS = "169.254.20.10/32"
VARIANTS = {
    "staging defaults": ("staging", {}, {}),
    "prod defaults": ("prod", {}, {}),
    "prod as operators run it": (
        "prod",
        {
            **WITH_SECRETS,
            "kubernetes": {"ingress": INGRESS, "dns": {"podSelector": {"k8s-app": "kube-dns"}, "cidrs": [NODE_LOCAL_DNS]}, "grafanaDatabasePort": 3306},
            "traces": {"storage": "elasticsearch", "elasticsearch": {"serverUrls": ["https://es.internal:9200"], "indexPrefix": "gw"}},
        },
        {**SECRETS, GRAFANA_DATABASE_URL: "mysql://grafana:pw@db.internal:3306/grafana"},
    ),
}


@dataclass(frozen=True)
class Pod:
    workload: str
    namespace: str
    labels: tuple  # sorted (key, value) pairs
    ports: tuple  # (number, protocol, name)

    def label_map(self) -> dict:
        return dict(self.labels)


@dataclass(frozen=True)
class Outside:
    """An address outside the pod network."""

    ip: str = "203.0.113.10"


@dataclass
class Plan:
    found: list
    settings: object
    pods: list = field(default_factory=list)
    namespaces: dict = field(default_factory=dict)  # name -> labels

    def __post_init__(self):
        self.namespaces = {m["metadata"]["name"]: m["metadata"].get("labels", {}) for m in self.found if m["kind"] == "Namespace"}
        for m in self.found:
            if m["kind"] in ("StatefulSet", "Deployment", "DaemonSet"):
                template = m["spec"]["template"]
                ports = tuple(
                    (p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
                    for c in template["spec"]["containers"]
                    for p in c.get("ports", [])
                )
                labels = tuple(sorted(template["metadata"]["labels"].items()))
                self.pods.append(Pod(m["metadata"]["name"], m["metadata"]["namespace"], labels, ports))
        gateway = self.settings.kubernetes.gateway
        self.namespaces.setdefault(gateway.namespace, {})
        for service in self.settings.gateway_services:
            port = int(service.address.rpartition(":")[2])
            labels = tuple(sorted({**gateway.selector, "app.kubernetes.io/name": service.name}.items()))
            self.pods.append(Pod(f"gateway/{service.name}", gateway.namespace, labels, ((port, "TCP", "http"),)))
        self.policies = [m for m in self.found if m["kind"] == "NetworkPolicy"]
        if any(m["kind"] == "Ingress" for m in self.found):
            # The cluster's Ingress controller, in a namespace of its own.
            self.namespaces.setdefault("ingress-nginx", {})
            self.pods.append(Pod("ingress-controller", "ingress-nginx", (("app.kubernetes.io/name", "ingress-nginx"),), ()))

    def ours(self, pod: Pod) -> bool:
        """Whether the stack's policies govern `pod` (its namespace is one of the stack's)."""
        return any(p["metadata"]["namespace"] == pod.namespace for p in self.policies)

    def pod(self, workload: str) -> Pod:
        return next(p for p in self.pods if p.workload == workload)

    # --- NetworkPolicy semantics ------------------------------------------------

    def _selects(self, selector: dict, labels: dict) -> bool:
        assert set(selector) <= {"matchLabels"}, selector  # matchExpressions: teach this evaluator first
        return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())

    def _peer_matches(self, peer: dict, policy_namespace: str, other) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            if not isinstance(other, Outside):
                return False  # pod IPs are never in the blocks these policies name
            inside = ipaddress.ip_address(other.ip) in ipaddress.ip_network(block["cidr"])
            return inside and not any(ipaddress.ip_address(other.ip) in ipaddress.ip_network(e) for e in block.get("except", []))
        if isinstance(other, Outside):
            return False
        namespace_ok = (
            self._selects(peer["namespaceSelector"], {**self.namespaces[other.namespace], "kubernetes.io/metadata.name": other.namespace})
            if "namespaceSelector" in peer
            else other.namespace == policy_namespace
        )
        return namespace_ok and self._selects(peer.get("podSelector", {}), other.label_map())

    def _port_matches(self, rule_ports: list | None, number: int, protocol: str, target) -> bool:
        if not rule_ports:
            return True
        names = {name for n, p, name in target.ports if n == number} if isinstance(target, Pod) else set()
        return any(p.get("protocol", "TCP") == protocol and p.get("port") in (number, *names) for p in rule_ports)

    def selecting(self, pod: Pod, direction: str) -> list[dict]:
        """The policies that isolate `pod` in `direction` ("Ingress" or "Egress")."""
        return [
            p for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace and direction in p["spec"]["policyTypes"] and self._selects(p["spec"]["podSelector"], pod.label_map())
        ]

    def _admits(self, pod: Pod, direction: str, other, number: int, protocol: str, target) -> bool:
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        selecting = self.selecting(pod, direction)
        if not selecting:
            return True
        return any(
            (not rule.get(peers_key) or any(self._peer_matches(peer, policy["metadata"]["namespace"], other) for peer in rule[peers_key]))
            and self._port_matches(rule.get("ports"), number, protocol, target)
            for policy in selecting
            for rule in policy["spec"].get(key, [])
        )

    def admits(self, source, destination, number: int, protocol: str = "TCP") -> bool:
        egress = self._admits(source, "Egress", destination, number, protocol, destination) if isinstance(source, Pod) else True
        ingress = self._admits(destination, "Ingress", source, number, protocol, destination) if isinstance(destination, Pod) else True
        return egress and ingress


def _service_pods(plan: Plan, cluster: Cluster, namespace: str, name: str, port: int | None) -> list[tuple[Pod, int]]:
    """The pods (and their container port) behind Service `name`, following ExternalName aliases."""
    spec = cluster.services[(namespace, name)]
    if spec.get("type") == "ExternalName":
        target = spec["externalName"].split(".")
        return _service_pods(plan, cluster, target[1], target[0], port)
    result = []
    for service_port in spec["ports"]:
        if port is not None and service_port["port"] != port:
            continue
        for pod in plan.pods:
            if pod.namespace == namespace and all(pod.label_map().get(k) == v for k, v in spec["selector"].items()):
                target = service_port.get("targetPort", service_port["port"])
                numbers = [n for n, _, pname in pod.ports if pname == target or n == target]
                result += [(pod, n) for n in numbers]
    return result


def _readers_of(plan: Plan, where: str, reader_namespace: str) -> list[Pod]:
    if where.startswith("Kong's"):
        return [plan.pod("gateway/kong")]
    if where.startswith("ConfigMap"):
        config_map = where.split()[1].split("/")[1]
        workloads = [
            m["metadata"]["name"] for m in plan.found if m["kind"] in ("StatefulSet", "Deployment", "DaemonSet")
            and any(v.get("configMap", {}).get("name") == config_map for v in m["spec"]["template"]["spec"].get("volumes", []))
        ]
        return [p for p in plan.pods if p.workload in workloads and p.namespace == reader_namespace]
    return [plan.pod(where.split()[1])]


def _resolve(plan: Plan, cluster: Cluster, host: str, reader: str, port: int | None) -> list[tuple[Pod, int]]:
    """The pods a name reaches from namespace `reader` (the forms Cluster.resolve accepts)."""
    labels = host.split(".")
    for suffix in (["svc", "cluster", "local"], ["svc"]):
        if labels[-len(suffix):] == suffix:
            labels = labels[: -len(suffix)]
            break
    if len(labels) >= 2 and labels[0] in cluster.pods.get((labels[2] if len(labels) == 3 else reader, labels[1]), ()):
        return _service_pods(plan, cluster, labels[2] if len(labels) == 3 else reader, labels[1], port)  # <pod>.<headless>
    return _service_pods(plan, cluster, labels[1] if len(labels) == 2 else reader, labels[0], port)


def expected_in_cluster(plan: Plan, target) -> set[tuple[str, str, int]]:
    """(source workload, destination workload, container port) the files, outputs, Ingress, rings and scrapes imply."""
    cluster = Cluster(plan.found)
    flows = set()
    # Links for people (external URLs, Grafana's root URL, the ruler's Explore
    # links) name a Service but open no connection from the pod that holds them.
    links = {urlsplit(topology.public_url(plan.settings, c)).netloc for c in topology.PUBLIC_COMPONENTS}
    for reader, where, host, port in addresses(plan.found, plan.settings):
        if f"{host}:{port}" in links:
            continue
        for source in _readers_of(plan, where, reader):
            for destination, number in _resolve(plan, cluster, host, reader, port):
                flows.add((source.workload, destination.workload, number))
    # What the stack hands the gateway's services (outputs): OTLP and Loki's push API.
    for key in ("otlpGrpcEndpoint", "otlpHttpEndpoint", "lokiPushUrl"):
        url = urlsplit(target.endpoints[key])
        host, namespace = url.hostname.split(".")[:2]
        for destination, number in _service_pods(plan, cluster, namespace, host, url.port):
            flows |= {(pod.workload, destination.workload, number) for pod in plan.pods if pod.workload.startswith("gateway/")}
    # An Ingress' backend is reached from wherever the cluster runs its Ingress controller.
    for ingress in (m for m in plan.found if m["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                for destination, number in _service_pods(plan, cluster, ingress["metadata"]["namespace"], backend["name"], None):
                    if number == next(n for n, _, name in destination.ports if name == backend["port"]["name"]):
                        # The controller's namespace is unknown: every pod whose own egress is open may reach it.
                        flows |= {(s.workload, destination.workload, number) for s in plan.pods if not plan.selecting(s, "Egress")}
    # Each Loki replica reaches the others' gRPC port (the ring advertises instance_addr:grpc_listen_port).
    loki = yaml.safe_load(next(m["data"] for m in plan.found if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("loki-config"))["etc_loki_loki.yaml"])
    if "instance_addr" in loki["common"]:
        flows.add(("obs-loki", "obs-loki", loki["server"]["grpc_listen_port"]))
        flows.add(("obs-loki", "obs-loki", loki["memberlist"]["bind_port"]))
    # Prometheus scrapes every stack pod on its metrics ports and every gateway pod on its own
    # (tests/test_kubernetes_self_scrape.py and test_kubernetes_discovery.py prove the discovery).
    scraped = {"obs-jaeger": {8888, 8889}}
    for pod in plan.pods:
        if pod.workload.startswith("gateway/"):
            flows.add(("obs-prometheus", pod.workload, pod.ports[0][0]))
        else:
            default = {n for n, _, name in pod.ports if name == "http"}
            flows |= {("obs-prometheus", pod.workload, n) for n in scraped.get(pod.workload, default)}
    return flows


def expected_outside(plan: Plan) -> dict[str, set[int]]:
    """Workload -> TCP ports it reaches outside the cluster, from the settings."""
    settings = plan.settings
    outside: dict[str, set[int]] = {}
    routing = settings.alerting.routing
    for receiver in routing.receivers:
        if receiver.email:
            port = int(receiver.email.smarthost.rpartition(":")[2])
        elif receiver.webhook:
            port = urlsplit(receiver.webhook.url).port or (443 if receiver.webhook.url.startswith("https") else 80)
        else:
            port = 443  # Slack's and PagerDuty's HTTPS APIs
        outside.setdefault("obs-alertmanager", set()).add(port)
    storage = settings.logs.storage
    if storage.is_object_store:
        outside.setdefault("obs-loki", set()).add(urlsplit(storage.s3.endpoint if "//" in storage.s3.endpoint else f"https://{storage.s3.endpoint}").port or 443)
    if settings.traces.search_backend is not None:
        outside.setdefault("obs-jaeger", set()).update(urlsplit(u).port or 443 for u in settings.traces.search_backend.server_urls)
    if any(m["kind"] == "StatefulSet" and m["metadata"]["name"] == "obs-grafana" and "GF_DATABASE_URL__FILE" in str(m["spec"]) for m in plan.found):
        outside.setdefault("obs-grafana", set()).add(settings.kubernetes.grafana_database_port)
    for m in plan.found:  # who reads the API server (a token mounted): discovery, kube-state-metrics
        if m["kind"] in ("StatefulSet", "Deployment", "DaemonSet") and m["spec"]["template"]["spec"].get("automountServiceAccountToken"):
            outside.setdefault(m["metadata"]["name"], set()).update({443, 6443})
    # Prometheus reads every node's kubelet (its scrape config's node role, on the kubelet's port).
    prometheus = yaml.safe_load(next(m["data"] for m in plan.found if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("prometheus-config"))["etc_prometheus_prometheus.yml"])
    if any(sd.get("role") == "node" for job in prometheus["scrape_configs"] for sd in job.get("kubernetes_sd_configs", [])):
        outside["obs-prometheus"].add(10250)
    return outside


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request):
    environment, config, secrets = VARIANTS[request.param]
    _, target = planned(environment, config, secrets)
    return Plan(manifests(environment, config, secrets), target.settings), target


def test_every_implied_flow_inside_the_cluster_is_admitted(variant):
    plan, target = variant
    expected = expected_in_cluster(plan, target)
    assert len(expected) >= 15
    blocked = [f for f in sorted(expected) if not plan.admits(plan.pod(f[0]), plan.pod(f[1]), f[2])]
    assert not blocked, blocked


def test_no_other_flow_inside_the_cluster_is_admitted(variant):
    plan, target = variant
    expected = expected_in_cluster(plan, target)
    extra = sorted(
        (source.workload, destination.workload, number)
        for source in plan.pods
        for destination in plan.pods
        for number, protocol, _ in destination.ports
        if plan.ours(source) or plan.ours(destination)
        if plan.admits(source, destination, number, protocol) and (source.workload, destination.workload, number) not in expected
    )
    assert not extra, extra


def test_outside_the_cluster_each_component_reaches_exactly_its_ports(variant):
    plan, _ = variant
    expected = expected_outside(plan)
    for pod in filter(plan.ours, plan.pods):
        # Every privileged port and the usual ones above (databases, API servers, search, mail, proxies).
        candidates = (*range(1, 1025), 3306, 5432, 6443, 9200, 8080, 8443, 10250)
        reached = {port for port in candidates if port != 53 and plan.admits(pod, Outside(), port)}
        assert reached == expected.get(pod.workload, set()), pod.workload


def test_dns_is_reached_where_the_settings_say(variant):
    plan, _ = variant
    dns = plan.settings.kubernetes.dns
    resolver = Pod("dns", dns.namespace, tuple(sorted({"k8s-app": "kube-dns", **dns.pod_selector}.items())), ((53, "UDP", "dns"),))
    plan.namespaces.setdefault(dns.namespace, {})
    node_local = any(ipaddress.ip_address("169.254.20.10") in ipaddress.ip_network(c) for c in dns.cidrs)
    for pod in filter(plan.ours, plan.pods):
        assert plan.admits(pod, resolver, 53, "UDP") and plan.admits(pod, resolver, 53, "TCP"), pod.workload
        assert plan.admits(pod, Outside("169.254.20.10"), 53, "UDP") is node_local, pod.workload
