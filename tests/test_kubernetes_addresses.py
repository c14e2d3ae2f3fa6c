"""Every address the stack hands out resolves from where it is read.

On Kubernetes a short name (`obs-jaeger`) resolves only in the namespace
that holds that Service; a pod in another namespace needs `name.namespace`
or longer. So every URL and host:port naming one of the stack's Services,
in every rendered file (a ConfigMap is read in its own namespace; Kong's
files in the gateway's namespace) and in every pod's environment, is
resolved here by the cluster's DNS rules from its reader's namespace: the
resolver search path `<ns>.svc.cluster.local`, `svc.cluster.local`,
`cluster.local` (kubelet's resolv.conf for ClusterFirst pods), StatefulSet
pods as `<pod>.<headless service>` (a pod's hostname and subdomain), and
ExternalName aliases followed to their target. The port must be one the
Service exposes.
"""

from __future__ import annotations

import re

import pytest
from test_kubernetes_target import ENVIRONMENTS, INGRESS, SECRETS, WITH_SECRETS, manifests, planned

from stack.components.kong import kong_files

CLUSTER_DOMAIN = "cluster.local"
VARIANTS = {
    "defaults": ({}, {}),
    "ingress and receivers": ({"kubernetes": {"ingress": INGRESS}, **WITH_SECRETS}, SECRETS),
}


class Cluster:
    """The Services, headless Services and StatefulSets of a plan."""

    def __init__(self, found: list[dict]):
        self.services = {(m["metadata"]["namespace"], m["metadata"]["name"]): m["spec"] for m in found if m["kind"] == "Service"}
        self.pods = {}  # (namespace, headless service) -> pod names
        for m in found:
            if m["kind"] == "StatefulSet":
                name, spec = m["metadata"]["name"], m["spec"]
                self.pods[(m["metadata"]["namespace"], spec["serviceName"])] = {f"{name}-{i}" for i in range(spec.get("replicas", 1))}

    def _ports(self, namespace: str, name: str, depth: int = 0) -> set[int] | None:
        spec = self.services.get((namespace, name))
        if spec is None:
            return None
        if spec.get("type") == "ExternalName":
            target = spec["externalName"].split(".")
            assert depth < 3 and target[2:] == ["svc", *CLUSTER_DOMAIN.split(".")], spec["externalName"]
            return self._ports(target[1], target[0], depth + 1)
        return {p["port"] for p in spec.get("ports", [])}

    def resolve(self, host: str, reader: str) -> set[int] | None:
        """The ports served at `host` for a pod in namespace `reader`, or None if the name does not resolve."""
        labels = host.split(".")
        qualified = next(
            (labels[: -len(suffix)] for suffix in (["svc", *CLUSTER_DOMAIN.split(".")], ["svc"]) if labels[-len(suffix):] == suffix),
            None,
        )
        if qualified is not None:  # <service>.<namespace>.svc[.cluster.local] or <pod>.<headless>.<namespace>.svc...
            if len(qualified) == 2:
                return self._ports(qualified[1], qualified[0])
            if len(qualified) == 3 and qualified[0] in self.pods.get((qualified[2], qualified[1]), ()):
                return self._ports(qualified[2], qualified[1])
            return None
        if len(labels) == 1:  # <service>, through <reader>.svc.cluster.local
            return self._ports(reader, labels[0])
        if len(labels) == 2:  # <pod>.<headless> in the reader's namespace first, then <service>.<namespace>
            if labels[0] in self.pods.get((reader, labels[1]), ()):
                return self._ports(reader, labels[1])
            return self._ports(labels[1], labels[0])
        if len(labels) == 3 and labels[0] in self.pods.get((labels[2], labels[1]), ()):  # <pod>.<headless>.<namespace>
            return self._ports(labels[2], labels[1])
        return None


def _readers(found: list[dict], settings) -> list[tuple[str, str, str]]:
    """(reader namespace, where, text) for every ConfigMap file, every env var, and Kong's files."""
    texts = []
    for m in found:
        namespace = m["metadata"].get("namespace", "")
        if m["kind"] == "ConfigMap":
            texts += [(namespace, f"ConfigMap {namespace}/{m['metadata']['name']} {key}", value) for key, value in m.get("data", {}).items()]
        if m["kind"] in ("StatefulSet", "Deployment", "DaemonSet"):
            for container in m["spec"]["template"]["spec"]["containers"]:
                for var in container.get("env", []):
                    if "value" in var:
                        texts.append((namespace, f"{m['kind']} {m['metadata']['name']} env {var['name']}", var["value"]))
                for arg in container.get("args", []):
                    texts.append((namespace, f"{m['kind']} {m['metadata']['name']} arg", arg))
    gateway = settings.kubernetes.gateway.namespace
    texts += [(gateway, f"Kong's {path} (applied by the gateway)", text) for path, text in kong_files(settings).items()]
    return texts


def addresses(found: list[dict], settings) -> list[tuple[str, str, str, int | None]]:
    """(reader namespace, where, host, port) for every mention of one of the stack's Service names."""
    names = sorted({name for _, name in Cluster(found).services}, key=len, reverse=True)
    mention = re.compile(r"(?<![A-Za-z0-9.-])((?:%s)(?:-[0-9]+)?(?:\.[a-z0-9-]+)*)(?::([0-9]+))?(?![A-Za-z0-9-])" % "|".join(map(re.escape, names)))
    found_addresses = []
    for reader, where, text in _readers(found, settings):
        for match in mention.finditer(text):
            found_addresses.append((reader, where, match.group(1), int(match.group(2)) if match.group(2) else None))
    return found_addresses


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_address_resolves_from_the_namespace_that_reads_it(environment, variant):
    config, secrets = VARIANTS[variant]
    found = manifests(environment, config, secrets)
    _, target = planned(environment, config, secrets)
    cluster = Cluster(found)
    checked = addresses(found, target.settings)
    # The stack's own files, the node agents' and Kong's are all among those checked.
    readers = {reader for reader, *_ in checked}
    assert readers == {target.settings.kubernetes.namespace, f"{target.settings.kubernetes.namespace}-node", target.settings.kubernetes.gateway.namespace}
    assert len(checked) >= 8, checked
    broken = []
    for reader, where, host, port in checked:
        ports = cluster.resolve(host, reader)
        if ports is None or (port is not None and port not in ports):
            broken.append(f"{where}: {host}:{port} from namespace {reader}")
    assert not broken, "\n".join(broken)


def test_the_resolver_follows_kubernetes_dns_rules():
    found = manifests("prod")
    cluster = Cluster(found)
    namespace = "observability"  # the stack's (the node namespace holds aliases of the same names)
    assert cluster.resolve("obs-prometheus", namespace) == {9090}
    assert cluster.resolve("obs-prometheus", "ai-gateway") is None  # a short name from another namespace
    assert cluster.resolve(f"obs-prometheus.{namespace}", "ai-gateway") == {9090}
    assert cluster.resolve(f"obs-prometheus.{namespace}.svc", "ai-gateway") == {9090}
    assert cluster.resolve(f"obs-prometheus.{namespace}.svc.cluster.local", "ai-gateway") == {9090}
    assert 9093 in cluster.resolve("obs-alertmanager-2.obs-alertmanager-headless", namespace)
    assert cluster.resolve("obs-alertmanager-3.obs-alertmanager-headless", namespace) is None  # three replicas: 0 to 2
    assert 3100 in cluster.resolve("obs-loki", f"{namespace}-node")  # through the node namespace's alias
    assert cluster.resolve("obs-loki-0.obs-loki-headless", "ai-gateway") is None
