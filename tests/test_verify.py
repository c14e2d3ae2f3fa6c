"""`python -m stack verify`: against the real Prometheus and Alertmanager
(Debian's, started as test_live_alerting starts them, with every scrape target
reachable) and stand-ins speaking Loki's, Grafana's and Jaeger's documented
HTTP APIs (tests/standins). One live stack per module: the healthy run
comes first, then components are stopped one at a time."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import require_tool
from live import (
    get_json,
    start_alertmanager,
    start_prometheus,
    stop,
    until,
    wait_for,
    write_alertmanager_files,
    write_prometheus_files,
)
from standins import MetricsTarget, Webhooks
from standins.grafana import Grafana
from standins.jaeger import Jaeger
from standins.loki import Loki

from examples.gateway.run import free_ports
from stack.__main__ import main
from stack.components.alertmanager import CONFIG_DIR, render_alertmanager_config
from stack.components.grafana import render_datasources
from stack.components.loki import render_loki_config
from stack.settings import load_from_stack_file, parse_settings
from stack.verify import alertmanager as am_checks
from stack.verify import grafana as grafana_checks
from stack.verify import loki as loki_checks
from stack.verify.alertmanager_config import differences
from stack.verify.client import CheckFailed

BEARER = "verify-test-token"
PASSWORD = "verify-test-password"
CHECKS = [
    "prometheus targets",
    "prometheus rules",
    "prometheus config reload",
    "alertmanager config",
    "alertmanager cluster",
    "watchdog heartbeat",
    "loki ready",
    "loki retention",
    "loki canary log line",
    "grafana health",
    "grafana datasource prometheus",
    "grafana datasource loki",
    "grafana datasource jaeger",
    "grafana datasource alertmanager",
    "jaeger canary span",
]


def stack_file(folder: Path, gateway: str, hooks: str, warning: str = "chat") -> Path:
    """A stack file as an operator writes it: receivers are webhooks to the stand-in."""
    receivers = [
        {"name": name, "webhook": {"url": f"{hooks}/{name}", **({"bearerToken": True} if name == "heartbeat" else {})}}
        for name in ("pager", "chat", "heartbeat")
    ]
    prefix = "gateway-observability:"
    config = {
        "target": "docker",
        "scrapeInterval": "5s",
        "scrapeTimeout": "4s",
        "evaluationInterval": "5s",
        "gatewayServices": [{"name": "unified-llm-api", "address": gateway}],
        "alerting": {"routing": {"receivers": receivers, "critical": ["pager", "chat"], "warning": [warning], "heartbeat": "heartbeat"}},
        # As `pulumi config set --secret` writes it; verify never decrypts it.
        "receiverSecrets": {"heartbeat": {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBB"}},
    }
    path = folder / "Pulumi.vlive.yaml"
    path.write_text(yaml.safe_dump({"config": {prefix + k: v for k, v in config.items()}}))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    prometheus_bin, alertmanager_bin = require_tool("prometheus"), require_tool("prometheus-alertmanager")
    work = tmp_path_factory.mktemp("verify")
    metrics, hooks, jaeger = MetricsTarget().start(), Webhooks().start(), Jaeger().start()
    path = stack_file(work, metrics.address, hooks.url)
    settings = load_from_stack_file(path).settings
    loki = Loki(render_loki_config(settings)).start()
    prometheus_port, alertmanager_port = free_ports(2)
    prometheus_url, alertmanager_url = f"http://127.0.0.1:{prometheus_port}", f"http://127.0.0.1:{alertmanager_port}"
    grafana = Grafana(
        render_datasources(settings),
        {"prometheus": prometheus_url, "loki": loki.url, "jaeger": jaeger.url, "alertmanager": alertmanager_url},
        PASSWORD,
    ).start()
    # Every scrape job of the rendered config on a loopback address that answers.
    local = {
        "prometheus": f"127.0.0.1:{prometheus_port}",
        "alertmanager": f"127.0.0.1:{alertmanager_port}",
        "loki": loki.address,
        "promtail": metrics.address,
        "jaeger": jaeger.address,
        "jaeger-spanmetrics": jaeger.address,
        "grafana": grafana.address,
    }

    def to_loopback(config: dict) -> None:
        config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [local["alertmanager"]]
        for job in config["scrape_configs"]:
            if job["job_name"] in local:
                job["static_configs"][0]["targets"] = [local[job["job_name"]]]

    am_config = write_alertmanager_files(settings, work / "alertmanager", {"heartbeat": BEARER})
    prom_config = write_prometheus_files(settings, work / "prometheus", to_loopback)
    logs = {name: open(work / f"{name}.log", "w") for name in ("prometheus", "alertmanager")}
    processes = {
        "alertmanager": start_alertmanager(alertmanager_bin, am_config, alertmanager_port, logs["alertmanager"]),
        "prometheus": start_prometheus(prometheus_bin, prom_config, prometheus_port, logs["prometheus"]),
    }
    try:
        wait_for(f"{alertmanager_url}/-/ready")
        wait_for(f"{prometheus_url}/-/ready")

        # The healthy starting point, bounded: every target scraped and the
        # Watchdog delivered once (Prometheus re-sends alerts every 5s here).
        def all_up():
            targets = get_json(f"{prometheus_url}/api/v1/targets")["data"]["activeTargets"]
            return targets and all(t["health"] == "up" for t in targets)

        assert until(all_up, timeout=30), get_json(f"{prometheus_url}/api/v1/targets")
        assert until(lambda: [n for n in hooks.received if n["path"] == "heartbeat"], timeout=45), hooks.received
        urls = {
            "prometheus": prometheus_url,
            "alertmanager": alertmanager_url,
            "loki": loki.url,
            "grafana": grafana.url,
            "jaeger": jaeger.url,
            "jaeger-otlp": jaeger.url,
        }
        yield SimpleNamespace(
            path=path, settings=settings, urls=urls, processes=processes,
            loki=loki, grafana=grafana, jaeger=jaeger, hooks=hooks,
        )
    finally:
        stop(list(processes.values()))
        for server in (metrics, hooks, jaeger, loki, grafana):
            server.stop()
        for log in logs.values():
            log.close()


def verify(stack, capsys) -> tuple[int, dict[str, tuple[str, str]], str, str]:
    """Run the command as `make verify` does, on the live stack's addresses;
    (exit code, check name -> (status, reason), stdout, stderr)."""
    options = [f"--url={name}={url}" for name, url in stack.urls.items()]
    code = main(["verify", str(stack.path), *options])
    out, err = capsys.readouterr()
    lines = out.splitlines()
    results = {}
    for line in lines[:-1]:
        name = next((c for c in CHECKS if line.startswith(c + " ")), None)
        assert name, f"not a check line: {line!r}"
        status, _, reason = line[len(name):].strip().partition("  ")
        results[name] = (status.strip(), reason.strip())
    assert "Traceback" not in out + err
    return code, results, out, err


def test_every_check_is_ok_on_a_healthy_stack(stack, capsys, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    started = time.monotonic()
    code, results, out, _ = verify(stack, capsys)
    elapsed = time.monotonic() - started
    assert list(results) == CHECKS, out
    assert {name: status for name, (status, _) in results.items()} == {name: "ok" for name in CHECKS}, out
    assert code == 0
    assert out.splitlines()[-1] == f"{len(CHECKS)} ok: the stack works"
    assert elapsed < 30, f"a healthy stack took {elapsed:.1f}s"
    # The canaries really went through: the pushed line carries its trace id as
    # structured metadata, and the span is stored under the id it was found by.
    canary = [e for e in stack.loki.entries if e["labels"] == {"job": "stack-verify"}]
    assert len(canary) == 1 and canary[0]["metadata"]["trace_id"] in canary[0]["line"]
    trace_id = results["jaeger canary span"][1].split("trace id ")[1].split()[0]
    assert [service for service, _ in stack.jaeger.spans[trace_id]] == ["stack-verify"]
    # Alertmanager 0.25 counts notifications per integration only, and the line says so.
    assert results["watchdog heartbeat"][1].startswith("Watchdog active, routed to heartbeat; ")
    assert results["watchdog heartbeat"][1].endswith(", failed: 0 (every webhook receiver (no receiver_name label))")


def test_without_the_grafana_password_only_the_datasource_checks_fail(stack, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi CLI to ask
    code, results, out, _ = verify(stack, capsys)
    failed = {name for name, (status, _) in results.items() if status == "FAIL"}
    assert failed == {c for c in CHECKS if c.startswith("grafana datasource")}, out
    assert all("GRAFANA_ADMIN_PASSWORD is unset and the Pulumi CLI is not installed" in results[n][1] for n in failed)
    assert code == 1


def test_a_wrong_grafana_password_is_named_as_such(stack):
    with pytest.raises(CheckFailed, match="refused the admin credentials"):
        grafana_checks.check_datasource(stack.urls["grafana"], "loki", lambda: "not-the-password")


def test_a_stale_alertmanager_config_is_a_difference(stack, tmp_path):
    """The live Alertmanager runs the rendered config; settings that route
    warnings elsewhere no longer match it."""
    gateway = stack.settings.gateway_services[0].address
    hooks = stack.settings.alerting.routing.receiver("chat").webhook.url.rsplit("/", 1)[0]
    changed = load_from_stack_file(stack_file(tmp_path, gateway, hooks, warning="pager")).settings
    with pytest.raises(CheckFailed, match=r"route\.routes\[\d+\]\.receiver: rendered \"pager\", running \"chat\""):
        am_checks.check_config(changed, stack.urls["alertmanager"])


def test_loki_without_compactor_retention_fails(stack):
    config = yaml.safe_load(stack.loki.config)
    config["compactor"]["retention_enabled"] = False
    broken = Loki(yaml.safe_dump(config)).start()
    try:
        with pytest.raises(CheckFailed, match="retention_enabled is not true"):
            loki_checks.check_retention(stack.settings, broken.url)
    finally:
        broken.stop()


@pytest.mark.parametrize("component", ["loki", "grafana", "jaeger"])
def test_a_stopped_component_fails_its_checks(stack, capsys, monkeypatch, component):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    server = getattr(stack, component)
    server.stop()
    try:
        code, results, out, _ = verify(stack, capsys)
    finally:
        server.start()
    own = [name for name in CHECKS if name.startswith(component)]
    assert own and all(results[name][0] == "FAIL" for name in own), out
    assert all("connection refused" in results[name][1] for name in own), out
    assert results["alertmanager config"][0] == "ok"
    assert code == 1


def test_a_stopped_alertmanager_fails_its_checks(stack, capsys, monkeypatch):
    """Last in the module: Alertmanager's process is killed by its PID and stays down."""
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    process = stack.processes["alertmanager"]
    process.kill()
    process.wait(timeout=10)
    code, results, out, _ = verify(stack, capsys)
    for name in ("alertmanager config", "alertmanager cluster", "watchdog heartbeat"):
        assert results[name][0] == "FAIL" and results[name][1].startswith(f"connection refused at {stack.urls['alertmanager']}/api/v2/"), out
    assert results["grafana datasource alertmanager"][0] == "FAIL"
    assert results["loki ready"][0] == "ok"
    assert code == 1


def test_nothing_up_is_one_clear_line(capsys):
    names = ("prometheus", "alertmanager", "loki", "grafana", "jaeger", "jaeger-otlp")
    ports = dict(zip(names, free_ports(len(names))))
    options = [f"--url={name}=http://127.0.0.1:{port}" for name, port in ports.items()]
    started = time.monotonic()
    code = main(["verify", "dev", *options])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("python -m stack verify: the dev stack is not up: connection refused at every endpoint (prometheus http://127.0.0.1:")
    assert err.rstrip().endswith("start it with `make up ENV=dev` (or point --url at where it runs)")
    assert time.monotonic() - started < 10


def test_a_bad_url_option_names_it_and_what_is_allowed(capsys):
    assert main(["verify", "dev", "--url", "prometheus"]) == 2
    assert capsys.readouterr().err == (
        "python -m stack verify: --url 'prometheus': expected NAME=URL with NAME one of "
        "prometheus, alertmanager, loki, grafana, jaeger, jaeger-otlp\n"
    )


# --- what Alertmanager 0.34 prints (no binary here: facts from its source) ---


def _as_034_prints(rendered: dict) -> dict:
    """The rendered config as v0.34's Config.String() shows it: defaults filled
    in, the webhook URL a secret, `url_file`/`timeout` added, templates resolved
    against the config folder, matchers requoted, durations in Go units."""
    running = yaml.safe_load(yaml.safe_dump(rendered))
    running["global"] = {"resolve_timeout": "5m", "http_config": {"follow_redirects": True, "enable_http2": True}}
    running["templates"] = [f"{CONFIG_DIR}/{t}" for t in rendered["templates"]]
    running["route"]["continue"] = False
    running["route"]["repeat_interval"] = "12h"
    for route in running["route"]["routes"]:
        route.setdefault("continue", False)
        route["matchers"] = [m.replace('="', ' = "') for m in route["matchers"]]
    for receiver in running["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            webhook.update({"url": "<secret>", "url_file": "", "max_alerts": 0, "timeout": 0})
            webhook.setdefault("http_config", {}).update({"follow_redirects": True, "enable_http2": True})
    return running


def test_what_alertmanager_rewrites_is_not_a_difference():
    settings = parse_settings(
        {
            "target": "docker",
            "alerting": {"routing": {"receivers": [{"name": "hook", "webhook": {"url": "http://x/h", "bearerToken": True}}], "warning": ["hook"], "heartbeat": "hook"}},
        },
        "prod",
        "test",
    )
    rendered = yaml.safe_load(render_alertmanager_config(settings))
    assert differences(rendered, _as_034_prints(rendered), CONFIG_DIR) == []


def test_a_route_alertmanager_has_but_the_render_lacks_is_a_difference():
    settings = parse_settings(
        {"target": "docker", "alerting": {"routing": {"receivers": [{"name": "hook", "webhook": {"url": "http://x/h"}}], "warning": ["hook"]}}},
        "prod",
        "test",
    )
    rendered = yaml.safe_load(render_alertmanager_config(settings))
    running = _as_034_prints(rendered)
    running["route"]["routes"][0]["continue"] = True
    running["route"]["routes"][1]["mute_time_intervals"] = ["business-hours"]
    running["receivers"][1]["webhook_configs"][0]["send_resolved"] = False
    assert differences(rendered, running, CONFIG_DIR) == [
        'route.routes[0].continue: not rendered, running has true',
        'route.routes[1].mute_time_intervals: not rendered, running has ["business-hours"]',
        "receivers[1].webhook_configs[0].send_resolved: rendered true, running false",
    ]
