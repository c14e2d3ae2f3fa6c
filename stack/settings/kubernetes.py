"""Kubernetes settings (`kubernetes`): where the stack goes on a cluster
(kubeconfig context, namespace), its volumes, Grafana's ingress, and where
the gateway's pods are, for Prometheus and Promtail to discover them."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from stack.settings.values import StrictModel, Switch, WholeNumber, accepts, matching, overridden
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


@accepts("a volume size such as '10Gi' (a whole number of Mi, Gi or Ti)")
def _check_quantity(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]*(Mi|Gi|Ti)", value):
        raise ValueError("expected a volume size such as '10Gi' (a whole number of Mi, Gi or Ti)")
    return value


Quantity = Annotated[str, AfterValidator(_check_quantity)]
_LABEL_KEY = r"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"


@accepts("Kubernetes labels, at least one")
def _check_selector(labels: dict[str, str]) -> dict[str, str]:
    if not labels:
        raise ValueError("expected at least one label, such as {app.kubernetes.io/part-of: ai-gateway}")
    for key, value in labels.items():
        if not re.fullmatch(_LABEL_KEY, key) or not re.fullmatch(_LABEL_VALUE, value):
            raise ValueError(f"expected Kubernetes label keys and values; {key}: {value!r} is not one")
    return labels


@accepts("Kubernetes annotations")
def _check_annotations(annotations: dict[str, str]) -> dict[str, str]:
    for key in annotations:
        if not re.fullmatch(_LABEL_KEY, key):
            raise ValueError(f"expected Kubernetes annotation keys such as 'eks.amazonaws.com/role-arn'; {key!r} is not one")
    return annotations


Annotations = Annotated[dict[str, str], AfterValidator(_check_annotations)]


class Ingress(StrictModel):
    """An Ingress in front of Grafana; the TLS certificate is a Secret already in the namespace."""

    enabled: Switch = False
    """Creates an Ingress in front of Grafana; its host then is Grafana's
    public URL, unless `publicUrls.grafana` is set."""
    class_name: Optional[DnsLabel63] = None
    """IngressClass of the Ingress; unset, the cluster's default class."""
    host: Optional[Hostname] = None
    """The name Grafana answers to; required when `enabled`."""
    tls_secret: Optional[DnsLabel63] = None
    """A TLS Secret already in the stack's namespace, serving `host`; without
    it the Ingress has no TLS and the public URL it gives Grafana is http."""

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
    """Namespace of the gateway's pods; the stack's pod discovery Roles live there."""
    create_namespace: Switch = False
    """Creates `namespace` with the stack (and keeps it on `pulumi destroy`),
    for a first deploy before the gateway's: the discovery Roles need it."""
    selector: Annotated[dict[str, str], AfterValidator(_check_selector)] = {"app.kubernetes.io/part-of": "ai-gateway"}
    """Labels every gateway pod carries; each such pod's `app.kubernetes.io/name`
    label then names its `gatewayServices` entry."""


@accepts("a CIDR block such as '169.254.20.10/32' or 'fd00::/8'")
def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError("expected a CIDR block such as '169.254.20.10/32' or 'fd00::/8'") from None
    return value


Cidr = Annotated[str, AfterValidator(_check_cidr)]


@accepts("Kubernetes labels")
def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    return _check_selector(labels) if labels else labels


class Dns(StrictModel):
    """Where the stack's pods resolve names, for the NetworkPolicies' DNS
    rule (UDP and TCP 53): the pods in `namespace` (those carrying
    `podSelector`'s labels, when given) and any `cidrs` outside the pod
    network, such as NodeLocal DNSCache's link-local 169.254.20.10/32 on
    the host network, on by default on some managed clusters."""

    namespace: DnsLabel63 = "kube-system"
    """Namespace of the cluster's DNS pods."""
    pod_selector: Annotated[dict[str, str], AfterValidator(_check_labels)] = {}
    """Labels of the DNS pods in `namespace`; empty, any pod there."""
    cidrs: list[Cidr] = []
    """Resolver addresses outside the pod network, such as NodeLocal
    DNSCache's `169.254.20.10/32` on the host network."""


# The stack's components (stack/versions.py), as the keys of per-component maps.
Component = Literal[COMPONENTS]  # type: ignore[valid-type]
# Small state, whatever `volumeSize` says: Alertmanager's silences and
# notification log, Grafana's SQLite (plugins, users, dashboards' state).
SMALL_VOLUMES = {"alertmanager": "1Gi", "grafana": "2Gi"}


class Toleration(StrictModel):
    """A Kubernetes toleration (core/v1 Toleration)."""

    key: Optional[Annotated[str, matching(_LABEL_KEY, "expected a taint key such as 'dedicated' or 'nvidia.com/gpu'")]] = None
    """Taint key tolerated; required with `operator: Equal`. Unset with
    `operator: Exists`, every taint is tolerated."""
    operator: Literal["Exists", "Equal"] = "Equal"
    """`Equal` tolerates the taint with `value`; `Exists` any value of `key`."""
    value: Optional[Annotated[str, matching(_LABEL_VALUE, "expected a taint value: letters, digits, '-', '_' and '.'")]] = None
    """Taint value tolerated, with `operator: Equal`."""
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None
    """Taint effect tolerated; unset, every effect."""

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
    """Node labels the component's pods need (`nodeSelector`)."""
    tolerations: list[Toleration] = []
    """Taints the component's pods tolerate."""
    priority_class_name: Optional[DnsLabel63] = None
    """PriorityClass of the component's pods; it must already exist in the cluster."""


# The node agent goes wherever the gateway's pods may: every node, tainted
# pools included (as node agents such as node-exporter in kube-prometheus
# tolerate every taint); a pool without a gateway pod costs one idle pod.
DEFAULT_PLACEMENT = {"promtail": Placement(tolerations=[Toleration(operator="Exists")])}


class Kubernetes(StrictModel):
    """The kubernetes target's settings (staging and prod)."""

    context: Optional[Annotated[str, matching(r"\S{1,253}", "expected a kubeconfig context name")]] = None
    """The kubeconfig context to deploy with; unset, the kubeconfig's current context."""
    namespace: DnsLabel63 = "observability"
    """Namespace of the stack, created with the Pod Security `restricted`
    labels; Promtail's DaemonSet runs in `<namespace>-node`, at the
    `privileged` level its host log volumes need."""
    storage_class: Optional[DnsLabel63] = None
    """StorageClass of every persistent volume claim; unset, the cluster's default."""
    volume_size: Quantity = "10Gi"
    """Size of each stateful component's volume claim but Alertmanager's (1Gi)
    and Grafana's (2Gi), whose state is small; `volumeSizes` overrides it per
    component. Prometheus deletes its oldest blocks once they fill 80% of its
    claim, whatever `retention.metrics` says."""
    volume_sizes: dict[Component, Quantity] = {}
    """Per component, its volume claim's size, in place of `volumeSize` (or of
    Alertmanager's and Grafana's small ones)."""
    placement: dict[Component, Placement] = {}
    """Per component, where its pods may run: node selector, tolerations,
    PriorityClass. A key an entry leaves out keeps that component's default:
    Promtail tolerates every taint unless its entry sets `tolerations` (it must
    run on every node the gateway's pods may)."""
    ingress: Ingress = Ingress()
    """An Ingress in front of Grafana."""
    gateway: GatewayPods = GatewayPods()
    """Where the gateway's pods run and the labels they carry: Prometheus
    scrapes and Promtail reads those pods."""
    profile: Literal["single", "scalable"] = "single"
    """`scalable` runs the components that have an HA mode as several replicas:
    two Prometheus, three Alertmanagers, three Loki (object storage only), two
    Grafana (with the `grafanaDatabaseUrl` secret only). `single` runs one of
    each, which `prod` warns about."""
    dns: Dns = Dns()
    """Where pods resolve names: the NetworkPolicies' DNS egress rule (UDP and
    TCP 53) allows these pods and addresses."""
    grafana_database_port: Annotated[WholeNumber, Field(ge=1, le=65535)] = 5432
    """TCP port of the database the `grafanaDatabaseUrl` secret names (its host
    is secret, its port is not), for Grafana's egress NetworkPolicy: 5432 is
    PostgreSQL's, 3306 MySQL's. Read only with that secret."""

    def volume_size_of(self, component: str) -> str:
        """The claim size of `component`'s volume (a Kubernetes quantity)."""
        return self.volume_sizes.get(component) or SMALL_VOLUMES.get(component) or self.volume_size

    def placement_of(self, component: str) -> Placement:
        """The component's default placement, overridden by the keys its entry sets."""
        return overridden(DEFAULT_PLACEMENT.get(component, Placement()), self.placement.get(component))
