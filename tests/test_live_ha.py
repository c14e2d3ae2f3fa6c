"""The scalable profile on 127.0.0.1: two Prometheus (Debian's) and three
clustered Alertmanagers (Debian's) run the rendered configuration and the
rendered Alertmanager flags; both Prometheus send the always-firing Watchdog
to every peer, and its receiver is notified once, not once per copy.

Only addresses and paths change from what `pulumi up` deploys: pod names
become 127.0.0.1 ports, $(POD_IP) is 127.0.0.1, /etc paths a temporary
folder. Debian's Prometheus 2.42 needs two things the pinned 3.x does not:
`--enable-feature=expand-external-labels` (on by default since 3.0) and no
kubernetes_sd_configs (built without it; the gateway jobs lose their
discovery here and scrape nothing)."""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request

import pytest
import yaml
from conftest import require_tool
from live import get_json, post_json, stop, until, wait_for, write_alertmanager_files, write_prometheus_files
from standins import Webhooks

from examples.gateway.run import free_ports
from stack import topology
from stack.components.alertmanager import alertmanager_service
from stack.components.prometheus import prometheus_service
from stack.components.service import replicas
from stack.settings import parse_settings

# Alertmanager's --cluster.peer-timeout default (0.25 and 0.34): the peer at
# position n of the cluster waits n times this before notifying, and notifies
# only if the gossiped notification log shows no other peer did.
PEER_TIMEOUT = 15


def local_args(args: tuple[str, ...], addresses: dict[str, str], paths: dict[str, str]) -> list[str]:
    """Rendered flags with Kubernetes' $(POD_IP) expanded to 127.0.0.1, then
    each flag value that is a rendered address or path replaced by its local one."""
    result = []
    for arg in args:
        flag, equals, value = arg.replace("$(POD_IP)", "127.0.0.1").partition("=")
        result.append(f"{flag}={addresses.get(value, paths.get(value, value))}" if equals else flag)
    return result


def metric(url: str, name: str, **labels: str) -> float:
    """Sum of a counter's samples on a /metrics page whose labels include `labels`."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("prometheus-alertmanager")
    work = tmp_path_factory.mktemp("live-ha")
    hooks = Webhooks().start()
    settings = parse_settings(
        {
            "target": "kubernetes",
            "kubernetes": {"profile": "scalable"},
            "scrapeInterval": "5s",
            "scrapeTimeout": "4s",
            "evaluationInterval": "5s",
            "alerting": {"routing": {"receivers": [{"name": "heartbeat", "webhook": {"url": f"{hooks.url}/heartbeat"}}], "heartbeat": "heartbeat"}},
        },
        "live-ha",
        "test_live_ha",
    )
    am_count, prom_count = replicas(settings, "alertmanager"), replicas(settings, "prometheus")
    assert (am_count, prom_count) == (3, 2)
    ports = free_ports(2 * am_count + prom_count)
    web, gossip, prom_ports = ports[:am_count], ports[am_count : 2 * am_count], ports[2 * am_count :]
    am_http = topology.peer_addresses(settings, "alertmanager", am_count, "http")
    am_cluster = topology.peer_addresses(settings, "alertmanager", am_count, "cluster")

    def to_local(config: dict) -> None:
        (alertmanagers,) = config["alerting"]["alertmanagers"]
        assert alertmanagers["static_configs"][0]["targets"] == am_http
        alertmanagers["static_configs"][0]["targets"] = [f"127.0.0.1:{p}" for p in web]
        for job in config["scrape_configs"]:
            job.pop("kubernetes_sd_configs", None)  # Debian's 2.42: see the module docstring

    logs, processes = [], []

    def start(command: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(work / f"{name}.log", "w")
        logs.append(log)
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        processes.append(process)
        return process

    am_spec, prom_spec = alertmanager_service(settings), prometheus_service(settings)
    alertmanagers = []
    try:
        for i in range(am_count):
            folder = work / f"alertmanager-{i}"
            config = write_alertmanager_files(settings, folder, {})
            addresses = {
                **{peer: f"127.0.0.1:{port}" for peer, port in zip(am_cluster, gossip)},
                # This pod's own listen and advertised addresses.
                f"0.0.0.0:{topology.port('alertmanager', 'cluster')}": f"127.0.0.1:{gossip[i]}",
                f"127.0.0.1:{topology.port('alertmanager', 'cluster')}": f"127.0.0.1:{gossip[i]}",
            }
            paths = {"/etc/alertmanager/alertmanager.yml": str(config), "/alertmanager": str(folder / "data")}
            args = local_args(am_spec.args, addresses, paths)
            alertmanagers.append(start([alertmanager_bin, *args, f"--web.listen-address=127.0.0.1:{web[i]}"], f"alertmanager-{i}"))
        am_urls = [f"http://127.0.0.1:{p}" for p in web]
        for url in am_urls:
            wait_for(f"{url}/-/ready")
        prom_urls = []
        for i in range(prom_count):
            folder = work / f"prometheus-{i}"
            config = write_prometheus_files(settings, folder, to_local)
            paths = {"/etc/prometheus/prometheus.yml": str(config), "/prometheus": str(folder / "data")}
            args = local_args(prom_spec.args, {}, paths)
            pod = f"{topology.hostname(settings, 'prometheus')}-{i}"  # the StatefulSet's pod name
            command = [
                prometheus_bin,
                *args,
                f"--web.listen-address=127.0.0.1:{prom_ports[i]}",
                "--enable-feature=expand-external-labels",  # Debian's 2.42 only: see the module docstring
                # Test speed only (as live.start_prometheus): an alert fired before the
                # Alertmanagers were discovered is re-sent after 5s, not a minute.
                "--rules.alert.resend-delay=5s",
            ]
            start(command, f"prometheus-{i}", env={"POD_NAME": pod})
            prom_urls.append(f"http://127.0.0.1:{prom_ports[i]}")
        for url in prom_urls:
            wait_for(f"{url}/-/ready")
        yield {
            "settings": settings,
            "alertmanagers": am_urls,
            "am_processes": alertmanagers,
            "gossip": [f"127.0.0.1:{p}" for p in gossip],
            "prometheus": prom_urls,
            "hooks": hooks,
            "work": work,
        }
    finally:
        stop(processes)
        hooks.stop()
        for log in logs:
            log.close()


def watchdog_notifications(hooks: Webhooks) -> list[dict]:
    return [n for n in hooks.received if n["path"] == "heartbeat" and n["groupLabels"].get("alertname") == "Watchdog"]


def test_the_three_alertmanagers_form_one_cluster(ha):
    def clustered():
        statuses = [get_json(f"{url}/api/v2/status")["cluster"] for url in ha["alertmanagers"]]
        return statuses if all(s["status"] == "ready" and len(s.get("peers") or []) == 3 for s in statuses) else None

    statuses = until(clustered, timeout=30)
    assert statuses, [get_json(f"{url}/api/v2/status")["cluster"] for url in ha["alertmanagers"]]
    for status in statuses:
        assert sorted(peer["address"] for peer in status["peers"]) == sorted(ha["gossip"])


def test_each_prometheus_names_its_replica_from_the_pod_name(ha):
    for i, url in enumerate(ha["prometheus"]):
        config = yaml.safe_load(get_json(f"{url}/api/v1/status/config")["data"]["yaml"])
        assert config["global"]["external_labels"]["replica"] == f"obs-prometheus-{i}"


def test_both_prometheus_send_the_watchdog_to_every_alertmanager_without_the_replica_label(ha):
    def sent_everywhere():
        return all(
            metric(prom, "prometheus_notifications_sent_total", alertmanager=f"{am}/api/v2/alerts") > 0
            for prom in ha["prometheus"]
            for am in ha["alertmanagers"]
        )

    assert until(sent_everywhere, timeout=30), [
        (prom, metric(prom, "prometheus_notifications_sent_total")) for prom in ha["prometheus"]
    ]
    for am in ha["alertmanagers"]:
        watchdogs = [a for a in get_json(f"{am}/api/v2/alerts") if a["labels"]["alertname"] == "Watchdog"]
        # Both replicas' copies are one alert: the same labels, no `replica`.
        assert len(watchdogs) == 1
        assert watchdogs[0]["labels"] == {"alertname": "Watchdog", "severity": "info", "environment": "live-ha", "cluster": "local"}
        # Each peer received it from both Prometheus.
        assert metric(am, "alertmanager_alerts_received_total", status="firing") >= 2


def test_the_watchdog_group_is_notified_once_by_the_cluster(ha):
    assert until(lambda: watchdog_notifications(ha["hooks"]), timeout=30), ha["hooks"].received
    first = time.monotonic()
    # The third peer waits 2 * PEER_TIMEOUT before it would notify; a duplicate arrives by then.
    time.sleep(max(0.0, first + 2 * PEER_TIMEOUT + 5 - time.monotonic()))
    notifications = watchdog_notifications(ha["hooks"])
    assert len(notifications) == 1, [(n["receiver"], n["groupKey"]) for n in notifications]
    senders = [metric(am, "alertmanager_notifications_total", integration="webhook") for am in ha["alertmanagers"]]
    assert sorted(senders) == [0, 0, 1], senders


def test_delivery_survives_the_loss_of_the_peer_that_notified(ha):
    senders = [metric(am, "alertmanager_notifications_total", integration="webhook") for am in ha["alertmanagers"]]
    notifier = senders.index(1)
    # Killed, as a lost node: no graceful leave, the others must find it gone.
    ha["am_processes"][notifier].kill()
    ha["am_processes"][notifier].wait(timeout=10)
    survivors = [am for i, am in enumerate(ha["alertmanagers"]) if i != notifier]
    # A new group under the same route, sent as Prometheus sends: to every peer, the stopped one refusing.
    alert = [{"labels": {"alertname": "Watchdog", "severity": "info", "service": "peer-loss"}, "annotations": {"summary": "live."}}]
    for am in survivors:
        post_json(f"{am}/api/v2/alerts", alert)

    def delivered():
        return [n for n in watchdog_notifications(ha["hooks"]) if n["groupLabels"].get("service") == "peer-loss"]

    # Two survivors: at worst the stopped peer still counts for a while, and the second survivor waits 2 peer timeouts.
    assert until(delivered, timeout=2 * PEER_TIMEOUT + 10), [(n["groupLabels"]) for n in ha["hooks"].received]
