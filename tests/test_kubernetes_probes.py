"""Probes never kill an idle, healthy pod.

The kubelet restarts a container whose liveness (or startup) probe fails,
and a DaemonSet rollout waits for each new pod to be ready. So a liveness or
startup probe must ask an endpoint that answers whenever the process serves
at all: never one that waits on work to do, on peers, or on a replay
finishing; and a node agent's readiness must not wait on work either.

What each endpoint waits on is written out below from each component's
source at its pinned tag (the comments next to each ServiceSpec's probes
cite file and line); Promtail's depends on its rendered config.
"""

from __future__ import annotations

import pytest
import yaml
from test_kubernetes_target import ENVIRONMENTS, SECRETS, WITH_SECRETS, manifests, of_kind

REPLAY, PEERS, WORK, DATABASE = "a replay", "peers", "work to do", "the database"
WAITS_ON = {
    ("prometheus", "/-/ready"): {REPLAY},  # TSDB open (WAL replay) and config loaded
    ("prometheus", "/-/healthy"): set(),
    ("alertmanager", "/-/ready"): set(),  # static once the config is applied; gossip settle gates notifications only
    ("alertmanager", "/-/healthy"): set(),
    ("loki", "/ready"): {REPLAY, PEERS},  # modules starting (ingester WAL replay), unhealthy ring members
    ("loki", "/loki/api/v1/status/buildinfo"): set(),
    ("jaeger", "/status"): set(),  # 503 only while starting or stopping
    ("grafana", "/api/health"): {DATABASE},
    ("grafana", "/healthz"): set(),
    ("kube-state-metrics", "/healthz"): set(),  # static; /livez would ask the API server
    ("kube-state-metrics", "/readyz"): set(),  # its own registry has metrics
}
# The longest a healthy start takes until the liveness endpoint answers, in
# seconds: Grafana migrates its database before it serves HTTP; the others
# open their listener first and replay or join behind it.
SLOWEST_START = {"grafana": 600}
DEFAULT_SLOWEST_START = 60

VARIANTS = {"defaults": ({}, {}), "object store and receivers": (WITH_SECRETS, SECRETS)}


def waits_on(component: str, path: str, found: list[dict]) -> set[str]:
    if component == "promtail":
        assert path == "/ready", path
        config_map = next(m for m in of_kind(found, "ConfigMap").values() if m["metadata"]["name"].endswith("promtail-config"))
        server = yaml.safe_load(next(iter(config_map["data"].values())))["server"]
        # clients/pkg/promtail/server/server.go:104-107, 284-296: 500 until a file is tailed, unless turned off.
        return {WORK} if server.get("health_check_target", True) else set()
    return WAITS_ON[(component, path)]


def containers(found: list[dict]):
    for m in found:
        if m["kind"] in ("StatefulSet", "Deployment", "DaemonSet"):
            for container in m["spec"]["template"]["spec"]["containers"]:
                yield m["kind"], container


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_liveness_and_startup_never_wait_on_work_peers_or_a_replay(environment, variant):
    found = manifests(environment, *VARIANTS[variant])
    checked = set()
    for kind, container in containers(found):
        name = container["name"]
        for probe in ("livenessProbe", "startupProbe"):
            path = container[probe]["httpGet"]["path"]
            assert waits_on(name, path, found) == set(), f"{name}'s {probe} on {path} waits on {waits_on(name, path, found)}"
        ready = container["readinessProbe"]["httpGet"]["path"]
        if kind == "DaemonSet":  # a rollout waits for each node's new pod to be ready
            assert WORK not in waits_on(name, ready, found), f"{name} on a node with nothing to do is never ready"
        checked.add(name)
    assert checked == {"prometheus", "alertmanager", "loki", "promtail", "jaeger", "grafana", "kube-state-metrics"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_readiness_still_gates_traffic_on_what_serving_needs(environment):
    found = manifests(environment)
    ready = {c["name"]: c["readinessProbe"]["httpGet"]["path"] for _, c in containers(found)}
    assert ready["prometheus"] == "/-/ready" and ready["loki"] == "/ready" and ready["grafana"] == "/api/health"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_startup_budgets_cover_the_slowest_healthy_start(environment):
    for _, container in containers(manifests(environment)):
        startup = container["startupProbe"]
        budget = startup["periodSeconds"] * startup["failureThreshold"]
        assert budget >= SLOWEST_START.get(container["name"], DEFAULT_SLOWEST_START), container["name"]


def test_the_probe_table_would_catch_a_liveness_probe_on_a_ready_endpoint():
    found = manifests("staging")
    assert waits_on("prometheus", "/-/ready", found) == {REPLAY}
    assert waits_on("loki", "/ready", found) == {REPLAY, PEERS}
    assert waits_on("promtail", "/ready", found) == set()
