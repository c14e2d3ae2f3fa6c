"""Kubernetes settings (`kubernetes`): where the stack goes on a cluster
(kubeconfig context, namespace), its volumes, Grafana's ingress, and where
the gateway's pods are, for Prometheus and Promtail to discover them."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from stack.settings.values import StrictModel, Switch, matching
from stack.versions import COMPONENTS

# RFC 1123 labels and subdomains, as Kubernetes checks names.
DnsLabel63 = Annotated[
    str,
    matching(
        r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
        "expected a Kubernetes name: lower-case letters, digits and '-', starting and ending with a letter or digit, "
        "at most 63 characters",
    ),
]
Hostname = Annotated[
    str,
    matching(
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+",
        "expected a DNS name such as 'grafana.example.com' (lower case)",
    ),
]


def _check_quantity(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*(Mi|Gi|Ti)", value):
        raise ValueError("expected a volume size such as '10Gi' (a whole number of Mi, Gi or Ti)")
    return value


Quantity = Annotated[str, AfterValidator(_check_quantity)]
_LABEL_KEY = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"


def _check_selector(labels: dict[str, str]) -> dict[str, str]:
    if not labels:
        raise ValueError("expected at least one label, such as {app.kubernetes.io/part-of: ai-gateway}")
    for key, value in labels.items():
        if not re.fullmatch(_LABEL_KEY, key) or not re.fullmatch(_LABEL_VALUE, value):
            raise ValueError(f"expected Kubernetes label keys and values; {key}: {value!r} is not one")
    return labels


def _check_annotations(annotations: dict[str, str]) -> dict[str, str]:
    for key in annotations:
        if not re.fullmatch(_LABEL_KEY, key):
            raise ValueError(f"expected Kubernetes annotation keys such as 'eks.amazonaws.com/role-arn'; {key!r} is not one")
    return annotations


Annotations = Annotated[dict[str, str], AfterValidator(_check_annotations)]


class Ingress(StrictModel):
    """An Ingress in front of Grafana; the TLS certificate is a Secret already in the namespace."""

    enabled: Switch = False
    class_name: Optional[DnsLabel63] = None
    host: Optional[Hostname] = None
    tls_secret: Optional[DnsLabel63] = None

    @model_validator(mode="after")
    def _enabled_needs_a_host(self) -> "Ingress":
        if self.enabled and self.host is None:
            raise ValueError("an enabled ingress needs a host, the name Grafana answers to (e.g. grafana.example.com)")
        return self


class GatewayPods(StrictModel):
    """Where the gateway's pods run: Prometheus scrapes, and Promtail reads,
    the pods of this namespace carrying these labels; each pod's
    `app.kubernetes.io/name` label names its gatewayServices entry."""

    namespace: DnsLabel63 = "ai-gateway"
    # Create this namespace with the stack (kept on `pulumi destroy`), for a
    # first deploy before the gateway exists: the discovery Roles live there.
    create_namespace: Switch = False
    selector: Annotated[dict[str, str], AfterValidator(_check_selector)] = {"app.kubernetes.io/part-of": "ai-gateway"}


def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError("expected a CIDR block such as '169.254.20.10/32' or 'fd00::/8'") from None
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    return _check_selector(labels) if labels else labels


class Dns(StrictModel):
    """Where the stack's pods resolve names, for the NetworkPolicies' DNS
    rule (UDP and TCP 53): the pods in `namespace` (those carrying
    `podSelector`'s labels, when given) and any `cidrs` outside the pod
    network, such as NodeLocal DNSCache's link-local 169.254.20.10/32 on
    the host network, on by default on some managed clusters."""

    namespace: DnsLabel63 = "kube-system"
    pod_selector: Annotated[dict[str, str], AfterValidator(_check_labels)] = {}
    cidrs: list[Cidr] = []


# The stack's components (stack/versions.py), as the keys of per-component maps.
Component = Literal[COMPONENTS]  # type: ignore[valid-type]
# Small state, whatever `volumeSize` says: Alertmanager's silences and
# notification log, Grafana's SQLite (plugins, users, dashboards' state).
SMALL_VOLUMES = {"alertmanager": "1Gi", "grafana": "2Gi"}


class Toleration(StrictModel):
    """A Kubernetes toleration (core/v1 Toleration)."""

    key: Optional[Annotated[str, matching(_LABEL_KEY, "expected a taint key such as 'dedicated' or 'nvidia.com/gpu'")]] = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: Optional[Annotated[str, matching(_LABEL_VALUE, "expected a taint value: letters, digits, '-', '_' and '.'")]] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None

    @model_validator(mode="after")
    def _equal_needs_a_key(self) -> "Toleration":
        if self.operator == "Equal" and self.key is None:
            raise ValueError("operator Equal needs a key (operator Exists without a key tolerates every taint)")
        return self


class Placement(StrictModel):
    """Where one component's pods may run and how they rank when the
    cluster is full: node labels they need, taints they tolerate, and a
    PriorityClass (already in the cluster)."""

    node_selector: Annotated[dict[str, str], AfterValidator(_check_labels)] = {}
    tolerations: list[Toleration] = []
    priority_class_name: Optional[DnsLabel63] = None


# The node agent goes wherever the gateway's pods may: every node, tainted
# pools included (as node agents such as node-exporter in kube-prometheus
# tolerate every taint); a pool without a gateway pod costs one idle pod.
DEFAULT_PLACEMENT = {"promtail": Placement(tolerations=[Toleration(operator="Exists")])}


class Kubernetes(StrictModel):
    """The kubernetes target's settings (staging and prod)."""

    # The kubeconfig context to deploy with; the current context when unset.
    context: Optional[Annotated[str, matching(r"\S{1,253}", "expected a kubeconfig context name")]] = None
    namespace: DnsLabel63 = "observability"
    # The cluster's default StorageClass when unset.
    storage_class: Optional[DnsLabel63] = None
    # The size of each stateful component's claim; `volumeSizes` overrides
    # it per component (SMALL_VOLUMES are small whatever this says).
    volume_size: Quantity = "10Gi"
    volume_sizes: dict[Component, Quantity] = {}
    # Per component: node selector, tolerations, priority class (DEFAULT_PLACEMENT otherwise).
    placement: dict[Component, Placement] = {}
    ingress: Ingress = Ingress()
    gateway: GatewayPods = GatewayPods()
    # `scalable` runs the components that have an HA mode of their own as
    # several replicas (stack/components/service.py SCALABLE_REPLICAS).
    profile: Literal["single", "scalable"] = "single"
    dns: Dns = Dns()
    # The TCP port of the database the secret grafanaDatabaseUrl names (its
    # host is secret, its port is not): Grafana's egress to it. 5432 is
    # PostgreSQL's; a MySQL database is 3306.
    grafana_database_port: Annotated[int, Field(ge=1, le=65535)] = 5432

    def volume_size_of(self, component: str) -> str:
        """The claim size of `component`'s volume (a Kubernetes quantity)."""
        return self.volume_sizes.get(component) or SMALL_VOLUMES.get(component) or self.volume_size

    def placement_of(self, component: str) -> Placement:
        return self.placement.get(component) or DEFAULT_PLACEMENT.get(component) or Placement()
