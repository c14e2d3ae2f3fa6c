"""Loki's HA monolithic mode in the kubernetes target's scalable profile:
three `-target=all` replicas on one S3 bucket, a memberlist ring and
replication factor 3. Filesystem storage cannot be shared, so Loki on it stays
one replica (and today's config) even in the scalable profile; dev and staging
are pinned by the digests in tests/test_ha_configs.py.

Loki's own config checker is not packaged here, so the rendered HA keys are
asserted exactly; their names were read from the yaml tags of Loki's config
structs at v3.7.6 (pkg/loki/common, pkg/util/ring, dskit's kv and
kv/memberlist), the newest 3.7 source at hand for the pinned 3.7.8.
"""

from __future__ import annotations


import yaml
from test_kubernetes_target import SECRETS, manifests, of_kind, workloads

from stack.components.loki import loki_service, render_loki_config
from stack.settings import parse_settings

S3 = {"type": "s3", "s3": {"endpoint": "s3.eu-west-1.amazonaws.com", "bucket": "gateway-logs"}}
SCALABLE_S3 = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}, "logs": {"storage": S3}}, "prod", "t")
SINGLE_S3 = parse_settings({"target": "kubernetes", "logs": {"storage": S3}}, "prod", "t")
SCALABLE_FS = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}}, "prod", "t")
SINGLE_FS = parse_settings({"target": "kubernetes"}, "prod", "t")
LOKI_PODS = [f"obs-loki-{i}.obs-loki-headless" for i in range(3)]
# Loki's keys the HA mode adds or changes, and nothing else.
HA_COMMON = {"replication_factor": 3, "ring": {"kvstore": {"store": "memberlist"}}, "instance_addr": "${POD_IP}"}
HA_MEMBERLIST = {"bind_port": 7946, "join_members": [f"{pod}:7946" for pod in LOKI_PODS]}
SINGLE_COMMON = {"replication_factor": 1, "ring": {"kvstore": {"store": "inmemory"}}}


def loki_config(settings) -> dict:
    return yaml.safe_load(render_loki_config(settings))


def without_ruler_targets(config: dict) -> dict:
    """The config without the ruler's Alertmanager URLs, which follow
    Alertmanager's replicas (every pod when clustered), not Loki's."""
    del config["ruler"]["alertmanager_url"]
    return config


def test_scalable_on_s3_runs_three_replicas_in_one_memberlist_ring():
    spec = loki_service(SCALABLE_S3)
    assert spec.replicas == 3
    config = loki_config(SCALABLE_S3)
    assert {k: config["common"][k] for k in HA_COMMON} == HA_COMMON
    assert config["memberlist"] == HA_MEMBERLIST
    # The S3 keys still come from the environment, so -config.expand-env stays (it expands ${POD_IP} too).
    assert "-config.expand-env=true" in spec.args
    assert [(p.name, p.number, p.published) for p in spec.ports] == [("http", 3100, True), ("grpc", 9095, False), ("memberlist", 7946, False)]


def test_the_ha_config_differs_from_the_single_one_only_in_the_ha_keys():
    single, scalable = (without_ruler_targets(loki_config(s)) for s in (SINGLE_S3, SCALABLE_S3))
    assert {k: single["common"][k] for k in SINGLE_COMMON} == SINGLE_COMMON
    del scalable["memberlist"], scalable["common"]["instance_addr"]
    scalable["common"].update(SINGLE_COMMON)
    assert scalable["ruler"].pop("enable_sharding") is True
    assert scalable == single


def test_each_rule_group_is_evaluated_by_one_replica():
    """Without sharding every replica evaluates every group: three times the
    rule load and the leak scan. With it, the ruler ring (the common one,
    over memberlist) gives each group to one replica."""
    assert loki_config(SCALABLE_S3)["ruler"]["enable_sharding"] is True
    assert "enable_sharding" not in loki_config(SINGLE_S3)["ruler"]


def test_scalable_on_filesystem_keeps_one_loki_and_todays_config():
    spec = loki_service(SCALABLE_FS)
    assert spec.replicas == 1
    assert [p.name for p in spec.ports] == ["http", "grpc"]
    config = loki_config(SCALABLE_FS)
    assert "memberlist" not in config and {k: config["common"][k] for k in SINGLE_COMMON} == SINGLE_COMMON
    assert "instance_addr" not in config["common"]
    assert without_ruler_targets(config) == without_ruler_targets(loki_config(SINGLE_FS))


def test_the_loki_pods_gossip_and_talk_grpc_among_themselves_only():
    secrets = {k: v for k, v in SECRETS.items() if k != "receiverSecrets"}  # no receiver here needs one
    found = manifests("prod", {"logs": {"storage": S3}, "kubernetes": {"profile": "scalable"}}, secrets)
    statefulset = workloads(found)["loki"]
    assert statefulset["kind"] == "StatefulSet" and statefulset["spec"]["replicas"] == 3
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in container["env"]
    assert ("memberlist", "TCP", 7946) in {(p["name"], p["protocol"], p["containerPort"]) for p in container["ports"]}
    services = of_kind(found, "Service")
    # Peers only: the ClusterIP Service that Grafana, Promtail and the gateway reach keeps just HTTP.
    assert {p["port"] for p in services["observability/obs-loki"]["spec"]["ports"]} == {3100}
    headless = services["observability/obs-loki-headless"]["spec"]
    assert {(p["name"], p["protocol"], p["port"]) for p in headless["ports"]} == {
        ("http", "TCP", 3100),
        ("grpc", "TCP", 9095),
        ("memberlist", "TCP", 7946),
    }
    assert headless["publishNotReadyAddresses"] is True  # peers resolve each other while starting
    policy = of_kind(found, "NetworkPolicy")["observability/obs-loki"]["spec"]
    own_pods = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "loki", "app.kubernetes.io/instance": "obs-prod"}}}]
    peer = {("TCP", 7946), ("TCP", 9095)}  # dskit's memberlist transport is TCP only: no UDP
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = [r for r in policy[direction] if {(p["protocol"], p["port"]) for p in r["ports"]} & peer]
        assert [(r[key], {(p["protocol"], p["port"]) for p in r["ports"]}) for r in rules] == [(own_pods, peer)], direction


def test_staging_loki_has_no_peer_rule():
    policy = of_kind(manifests("staging"), "NetworkPolicy")["observability/obs-loki"]["spec"]
    assert all(p["port"] not in (7946, 9095) for rule in policy["ingress"] + policy["egress"] for p in rule["ports"])
