"""Incidents whose history is too long to play live (a slow burn over days,
a week-over-week regression): promtool evaluates the rendered production
rules over written series, at production timings, and what fires is then
routed by the real Alertmanager with the drill's routing.

Per scenario, one `promtool test rules` run asks, at every step from the
fault to the horizon, for each expected alert, and at the horizon for every
alert the rules define, that nothing fires; each failure it reports is an
alert that did fire, with its labels (the output of promtool's unit tests,
cmd/promtool/unittest.go). The first failing step of an expected alert is
its firing time; the alerts firing at the horizon go to Alertmanager.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from gameday.harness import Page
from live import post_json

from stack.alert_names import WATCHDOG
from stack.alerting import reference_settings, rule_files, rule_groups
from stack.settings import Duration, Settings

TARGET = {"environment": "prod", "cluster": "local"}


def labels(metric: str, **extra: str) -> str:
    """A series selector as promtool's input_series takes it."""
    return metric + "{" + ", ".join(f'{k}="{v}"' for k, v in extra.items()) + "}"


def counter(*segments: tuple[float, int]) -> str:
    """promtool's expanding notation for a counter that grows by `per_step`
    for `steps` steps, segment after segment, without a reset."""
    parts, value = [], 0.0
    for per_step, steps in segments:
        parts.append(f"{value:g}+{per_step:g}x{steps}")
        value += per_step * (steps + 1)
    return " ".join(parts)


def target(job: str) -> dict[str, str]:
    return {"job": job, "service": job, "instance": f"{job}:9000", **TARGET}


def healthy_background(settings: Settings, steps: int) -> list[tuple[str, str]]:
    """What a healthy stack has whatever the incident: every target up, and
    the series the SLOs read (their absence is an alert of its own)."""
    jobs = [s.name for s in settings.gateway_services] + ["alertmanager", "loki", "promtail", "jaeger", "grafana"]
    series = [(labels("up", **target(job)), f"1x{steps}") for job in jobs]
    # Kong stays under the traffic floor (20 requests per 5 min): a replay
    # sampled every 5 minutes cannot show GatewayRouterStalled's one-minute
    # window of decisions, so that alert is played live, not here.
    kong = dict(target("kong"), exported_service="llm", route="llm", workspace="default", code="200", source="service")
    series.append((labels("kong_http_requests_total", **kong), counter((20, steps))))
    for service in ("unified-llm-api", "intelligent-router", "optimization-service"):
        ok = dict(target(service), http_request_method="POST", http_route="/v1/x", http_response_status_code="200", error_type="")
        series.append((labels("http_server_request_duration_seconds_count", **ok), counter((600, steps))))
        if service != "unified-llm-api":  # a latency SLI: every request within its 1 s threshold
            series += [(labels("http_server_request_duration_seconds_bucket", **ok, le=le), counter((600, steps))) for le in ("1", "+Inf")]
    decisions = dict(target("intelligent-router"), gen_ai_provider_name="openai", gen_ai_request_model="gpt-4o", reason="cost")
    series.append((labels("gateway_router_decisions_total", **decisions), counter((600, steps))))
    return series


@dataclass(frozen=True)
class SyntheticScenario:
    """key, incident and expected as LiveScenario's; `series(steps)` gives the
    input series (selector, values) at one sample per `interval`, over `steps`
    steps; the fault begins at `fault_at`, promtool looks every `step` until `horizon`."""

    key: str
    incident: str
    expected: frozenset[Page]
    series: object  # Callable[[int], list[tuple[str, str]]]
    interval: str
    fault_at: str
    horizon: str
    step: str


@dataclass
class Fired:
    """What promtool saw fire: alert labels at the horizon, and each expected alert's first firing time (s)."""

    at_horizon: list[dict[str, str]]
    first: dict[str, float]
    output: str


_FAILURE = re.compile(r"alertname: (\S+), time: (\S+), \n\s+exp:\[.*?\],? \n\s+got:\[(.*?)\n\s+\]", re.S)
_LABELS = re.compile(r"Labels:\{(.*?)\}\n")
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def evaluate(promtool: str, settings: Settings, scenario: SyntheticScenario, work: Path) -> Fired:
    """Run promtool over the scenario (see the module docstring)."""
    folder = work / scenario.key
    folder.mkdir(parents=True)
    for name, text in rule_files(settings).items():
        (folder / name).write_text(text)
    groups = [g["name"] for groups in rule_groups(settings).values() for g in groups]
    alert_names = sorted({r["alert"] for gs in rule_groups(settings).values() for g in gs for r in g["rules"] if "alert" in r} - {WATCHDOG})
    interval, fault, horizon, step = (Duration.parse(x).seconds for x in (scenario.interval, scenario.fault_at, scenario.horizon, scenario.step))
    steps = horizon // interval + 1
    checks = [{"eval_time": f"{horizon}s", "alertname": name, "exp_alerts": []} for name in alert_names]
    expected_names = sorted({p.alertname for p in scenario.expected})
    checks += [
        {"eval_time": f"{t}s", "alertname": name, "exp_alerts": []}
        for name in expected_names
        for t in range(fault, horizon, step)
    ]
    test = {
        "rule_files": sorted(rule_files(settings)),
        # One evaluation per sample: a 5m rate window then always holds two
        # (promtool 2.x selects [t-5m, t]); fewer evaluations keep days of history quick.
        "evaluation_interval": scenario.interval,
        # Recording rules before the alerts that read them (groups in file order, recording first).
        "group_eval_order": sorted(groups, key=lambda g: not g.endswith(".rules")),
        "tests": [{"interval": scenario.interval, "input_series": [{"series": s, "values": v} for s, v in scenario.series(steps)], "alert_rule_test": checks}],
    }
    (folder / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=folder, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    if "FAILED" not in output and result.returncode != 0:
        raise RuntimeError(f"promtool could not run {scenario.key}:\n{output}")
    at_horizon, first = [], {}
    for alertname, time_text, got in _FAILURE.findall(output):
        seconds = Duration.parse(time_text).seconds
        if seconds == horizon:
            at_horizon += [dict(_PAIR.findall(found)) for found in _LABELS.findall(got + "\n")]
        elif alertname in expected_names:
            first[alertname] = min(first.get(alertname, seconds), seconds)
    return Fired(at_horizon, {name: t - fault for name, t in first.items()}, output)


def post_alerts(alertmanager: str, fired: list[dict[str, str]]) -> None:
    """Hand what fired to the real Alertmanager, as Prometheus would (firing for the next 5 minutes)."""
    now = datetime.now(timezone.utc)
    body = [{"labels": labels_, "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()} for labels_ in fired]
    post_json(f"{alertmanager}/api/v2/alerts", body)


def production_settings() -> Settings:
    """The production rules (the committed reference), at production timings."""
    return reference_settings()
