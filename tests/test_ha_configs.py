"""The kubernetes target's scalable profile: a Prometheus HA pair and a
three-peer Alertmanager cluster, rendered only where replicas > 1.

- Prometheus: a `replica` external label from the pod's name (POD_NAME),
  dropped again from alerts so both replicas send the same alert, and every
  Alertmanager pod as a target (not the load-balanced Service).
- Alertmanager: gossip on the `cluster` port, every pod as a peer, the pod IP
  advertised.
- Loki's ruler: every Alertmanager pod, as a comma-separated URL list.

The single profile differs from the scalable one only in the HA keys (the
tests below). tests/test_live_ha.py runs the rendered configuration with
the real programs.
"""

from __future__ import annotations

import subprocess

import yaml
from conftest import require_tool
from test_kubernetes_discovery import check_prometheus_files

from stack.components.alertmanager import alertmanager_service
from stack.components.loki import render_loki_config
from stack.components.prometheus import prometheus_service, render_prometheus_config
from stack.settings import parse_settings

SCALABLE = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}}, "prod", "t")
SINGLE = parse_settings({"target": "kubernetes"}, "prod", "t")
AM_PODS = [f"obs-alertmanager-{i}.obs-alertmanager-headless" for i in range(3)]


def test_prometheus_replicas_carry_their_pod_name_and_drop_it_from_alerts():
    config = yaml.safe_load(render_prometheus_config(SCALABLE))
    assert prometheus_service(SCALABLE).replicas == 2
    assert config["global"]["external_labels"] == {"environment": "prod", "cluster": "local", "replica": "${POD_NAME}"}
    assert config["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]


def test_prometheus_sends_to_every_alertmanager_pod_not_the_service():
    config = yaml.safe_load(render_prometheus_config(SCALABLE))
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": [f"{pod}:9093" for pod in AM_PODS]}]}]


def test_the_scalable_prometheus_config_differs_from_the_single_one_only_in_the_ha_keys():
    single, scalable = (yaml.safe_load(render_prometheus_config(s)) for s in (SINGLE, SCALABLE))
    del scalable["global"]["external_labels"]["replica"], scalable["alerting"]["alert_relabel_configs"]
    scalable["alerting"]["alertmanagers"] = single["alerting"]["alertmanagers"]
    assert scalable == single


def test_alertmanager_pods_gossip_with_every_peer_on_the_unpublished_cluster_port():
    spec = alertmanager_service(SCALABLE)
    assert spec.replicas == 3
    cluster = [arg for arg in spec.args if arg.startswith("--cluster.")]
    assert cluster == [
        "--cluster.listen-address=0.0.0.0:9094",
        *(f"--cluster.peer={pod}:9094" for pod in AM_PODS),
        # The kubernetes target sets POD_IP from status.podIP; Kubernetes expands $(VAR) in args.
        "--cluster.advertise-address=$(POD_IP):9094",
    ]
    assert [(p.name, p.number, p.published) for p in spec.ports] == [("http", 9093, True), ("cluster", 9094, False)]


def test_loki_ruler_sends_to_every_alertmanager_pod():
    ruler = yaml.safe_load(render_loki_config(SCALABLE))["ruler"]
    # Loki splits the value on ',' and makes each URL a notifier group of its own.
    assert ruler["alertmanager_url"].split(",") == [f"http://{pod}:9093" for pod in AM_PODS]


def test_the_single_profile_keeps_one_alertmanager_without_gossip():
    spec = alertmanager_service(SINGLE)
    assert spec.replicas == 1 and [p.name for p in spec.ports] == ["http"]
    assert [arg for arg in spec.args if arg.startswith("--cluster.")] == ["--cluster.listen-address="]
    config = yaml.safe_load(render_prometheus_config(SINGLE))
    assert "replica" not in config["global"]["external_labels"] and "alert_relabel_configs" not in config["alerting"]
    assert yaml.safe_load(render_loki_config(SINGLE))["ruler"]["alertmanager_url"] == "http://obs-alertmanager:9093"


def test_every_rendered_alertmanager_flag_exists_in_debians_alertmanager():
    # 0.25 (Debian); the pinned v0.34 has the same cluster flags (cmd/alertmanager/main.go).
    usage = subprocess.run([require_tool("prometheus-alertmanager"), "--help"], capture_output=True, text=True, timeout=30)
    flags = {arg.split("=", 1)[0] for arg in alertmanager_service(SCALABLE).args}
    assert {flag for flag in flags if f"{flag}=" not in usage.stdout + usage.stderr} == set()


def test_promtool_accepts_the_scalable_prometheus_config(tmp_path):
    check_prometheus_files(SCALABLE, tmp_path)
