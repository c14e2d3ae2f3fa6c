"""Where every component listens and how the others reach it: the one place
cross-component addresses are computed, so no URL is typed twice."""

from __future__ import annotations

from stack.settings import Settings

PORTS = {
    "prometheus": {"http": 9090},
    "alertmanager": {"http": 9093, "cluster": 9094},
    "loki": {"http": 3100, "grpc": 9095, "memberlist": 7946},
    "promtail": {"http": 9080},
    "jaeger": {"ui": 16686, "otlp-grpc": 4317, "otlp-http": 4318, "metrics": 8888, "spanmetrics": 8889, "health": 13133},
    "grafana": {"http": 3000},
    # Kubernetes only (stack/components/kube_state_metrics.py).
    "kube-state-metrics": {"http": 8080, "telemetry": 8081},
}


def hostname(settings: Settings, component: str) -> str:
    """Container name on Docker and Service name on Kubernetes."""
    return f"{settings.name_prefix}-{component}"


def port(component: str, name: str = "http") -> int:
    return PORTS[component][name]


def address(settings: Settings, component: str, port_name: str = "http") -> str:
    return f"{hostname(settings, component)}:{port(component, port_name)}"


def url(settings: Settings, component: str, port_name: str = "http") -> str:
    return f"http://{address(settings, component, port_name)}"


def gateway_url(settings: Settings, component: str, port_name: str = "http") -> str:
    """The URL the gateway's Kong and services use to reach `component`. On
    Docker they share the stack's network, so it is url(). On Kubernetes
    they run in `kubernetes.gateway.namespace`, where the stack's short
    Service names do not resolve: `<hostname>.<namespace>.svc` does from any
    namespace (the pod resolver's search path adds the cluster domain)."""
    if settings.target != "kubernetes":
        return url(settings, component, port_name)
    host = f"{hostname(settings, component)}.{settings.kubernetes.namespace}.svc"
    return f"http://{host}:{port(component, port_name)}"


def peer_addresses(settings: Settings, component: str, replicas: int, port_name: str = "http") -> list[str]:
    """host:port of each pod of a replicated component: a StatefulSet's pods
    are `<hostname>-<i>`, resolvable through its headless Service
    `<hostname>-headless` (stack/targets/kubernetes/)."""
    host = hostname(settings, component)
    return [f"{host}-{i}.{host}-headless:{port(component, port_name)}" for i in range(replicas)]


def published_url(settings: Settings, component: str, port_name: str = "http") -> str:
    """The address an operator opens on the host running the dev stack."""
    host = settings.bind_address if settings.bind_address not in ("0.0.0.0", "::") else "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port(component, port_name)}"


PUBLIC_COMPONENTS = ("grafana", "prometheus", "alertmanager")


def public_url(settings: Settings, component: str) -> str:
    """The URL a person opens `component` at (one of PUBLIC_COMPONENTS),
    without a trailing slash: `publicUrls.<component>` when set; else on
    Docker the published address; on Kubernetes, for Grafana, its Ingress
    host (https when the Ingress has a TLS secret); else the in-cluster
    Service URL, which only a browser inside the cluster network opens
    (stack.settings.unsafe_for_prod warns about it on prod)."""
    given = getattr(settings.public_urls, component)
    if given:
        return given.rstrip("/")
    if settings.target != "kubernetes":
        return published_url(settings, component)
    ingress = settings.kubernetes.ingress
    if component == "grafana" and ingress.enabled:
        return f"{'https' if ingress.tls_secret else 'http'}://{ingress.host}"
    return gateway_url(settings, component)


def public_url_is_in_cluster(settings: Settings, component: str) -> bool:
    """Whether public_url falls back to the in-cluster Service URL."""
    return settings.target == "kubernetes" and public_url(settings, component) == gateway_url(settings, component)


def instance(settings: Settings) -> str:
    """The `app.kubernetes.io/instance` label value of this stack's objects
    ('obs-prod'): what tells two stacks sharing one namespace apart."""
    return f"{settings.name_prefix}-{settings.environment}"


def watched_namespaces(settings: Settings) -> tuple[str, ...]:
    """The namespaces whose objects the stack watches on Kubernetes (the
    stack's, the node agents' and the gateway's, each once): what
    kube-state-metrics lists and the cluster alerts and cAdvisor series keep."""
    namespaces = [settings.kubernetes.namespace, node_namespace(settings), settings.kubernetes.gateway.namespace]
    return tuple(dict.fromkeys(namespaces))


def node_namespace(settings: Settings) -> str:
    """The Kubernetes namespace of the node agents (Promtail's DaemonSet),
    `<kubernetes.namespace>-node`: they need hostPath volumes, which only a
    namespace enforcing the `privileged` Pod Security level admits, so they
    live apart from the `restricted` one of every other component."""
    return f"{settings.kubernetes.namespace}-node"
