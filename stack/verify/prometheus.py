"""Prometheus, asked over its HTTP API (/api/v1, stable since 2.x): every
target of the rendered scrape config up, every rendered rule group loaded with
no rule in error, and the last configuration (re)load successful."""

from __future__ import annotations

import time

import yaml

from stack.alerting import rule_files
from stack.components.prometheus import render_prometheus_config
from stack.settings import Settings
from stack.verify.client import CheckFailed, get_json
from stack.verify.report import Check, listed

# A target Prometheus has not scraped yet is "unknown"; right after `make up`
# that lasts one scrape interval. Wait that long (bounded), then judge.
MAX_UNSCRAPED_WAIT_SECONDS = 20.0

def _data(url: str) -> dict:
    answer = get_json(url)
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise CheckFailed(f"{url} did not answer success: {str(answer)[:120]}")
    return answer["data"]


def check_targets(settings: Settings, base: str) -> str:
    expected = [job["job_name"] for job in yaml.safe_load(render_prometheus_config(settings))["scrape_configs"]]
    url = f"{base}/api/v1/targets?state=active"
    deadline = time.monotonic() + min(2 * settings.scrape_interval.seconds, MAX_UNSCRAPED_WAIT_SECONDS)
    while True:
        targets = _data(url)["activeTargets"]
        if not any(t["health"] == "unknown" for t in targets) or time.monotonic() >= deadline:
            break
        time.sleep(1)
    jobs = {t["labels"].get("job") for t in targets}
    missing = [job for job in expected if job not in jobs]
    if missing:
        raise CheckFailed(f"jobs of the rendered config with no target: {', '.join(missing)} (is the running config the rendered one?)")
    down = [
        f"{t['labels'].get('job')} {t['scrapeUrl']}: {t.get('lastError') or t['health']}" for t in targets if t["health"] != "up"
    ]
    if down:
        raise CheckFailed(f"{len(down)} of {len(targets)} targets not up: {listed(down)}")
    return f"{len(targets)} targets up in {len(jobs)} jobs"


def check_rules(settings: Settings, base: str) -> str:
    expected = [g["name"] for text in rule_files(settings).values() for g in yaml.safe_load(text)["groups"]]
    groups = _data(f"{base}/api/v1/rules")["groups"]
    loaded = {g["name"] for g in groups}
    missing = [name for name in expected if name not in loaded]
    if missing:
        raise CheckFailed(f"{len(missing)} rendered rule groups not loaded: {listed(missing)}")
    broken = [
        f"{g['name']}/{r.get('name')}: {r.get('lastError') or r.get('health')}"
        for g in groups
        for r in g["rules"]
        if r.get("health") == "err"
    ]
    if broken:
        raise CheckFailed(f"{len(broken)} rules failing: {listed(broken)}")
    count = sum(len(g["rules"]) for g in groups)
    return f"{len(groups)} groups, {count} rules, none in error"


def check_config_reload(base: str) -> str:
    info = _data(f"{base}/api/v1/status/runtimeinfo")
    if info.get("reloadConfigSuccess") is not True:
        raise CheckFailed(f"the last configuration reload failed (at {info.get('lastConfigTime', '?')}); see Prometheus's log")
    return f"configuration loaded at {info.get('lastConfigTime', '?')}"


def checks(settings: Settings, urls: dict[str, str]) -> list[Check]:
    base = urls["prometheus"]
    return [
        ("prometheus targets", lambda: check_targets(settings, base)),
        ("prometheus rules", lambda: check_rules(settings, base)),
        ("prometheus config reload", lambda: check_config_reload(base)),
    ]
