"""Alertmanager, asked over its v2 API: running the rendered configuration,
its cluster ready, and the Watchdog handed to the heartbeat receiver.

What "Watchdog delivered" can honestly mean from inside the stack: the
Watchdog alert is active in Alertmanager and routed to the heartbeat receiver,
Alertmanager has attempted notifications on that receiver's integration and
counted no failure there (`alertmanager_notifications_total` and
`..._failed_total` on /metrics). Whether the dead man's switch service
outside received it, and would page when it stops, only that service can say.
The counters carry `receiver_name` only with
`--enable-feature=receiver-names-in-metrics` (0.28+); without it they count
per integration type (webhook, slack, ...), shared with other receivers of
the same type, and the reason says so.
"""

from __future__ import annotations

import urllib.parse

import yaml

from stack import alerting
from stack.components.alertmanager import CONFIG_DIR, render_alertmanager_config
from stack.settings import Settings
from stack.verify.alertmanager_config import differences
from stack.verify.client import CheckFailed, get_json, get_ok
from stack.verify.report import Check, Skipped, listed, poll

# The Watchdog reaches Alertmanager one evaluation after Prometheus starts and
# is sent at once (group_wait 0s): right after `make up`, allow that long.
WATCHDOG_WAIT_SECONDS = 20.0
INTEGRATIONS = ("webhook", "slack", "pagerduty", "email")


def _status(base: str) -> dict:
    return get_json(f"{base}/api/v2/status")


def check_config(settings: Settings, base: str) -> str:
    original = _status(base).get("config", {}).get("original")
    if not isinstance(original, str):
        raise CheckFailed(f"{base}/api/v2/status has no config.original")
    try:
        running = yaml.safe_load(original)
    except yaml.YAMLError as error:
        raise CheckFailed(f"config.original is not YAML: {str(error).splitlines()[0]}") from None
    rendered = yaml.safe_load(render_alertmanager_config(settings))
    found = differences(rendered, running, CONFIG_DIR)
    if found:
        raise CheckFailed(f"running config differs from the rendered one: {listed(found)}")
    return f"running config is the rendered one ({len(rendered['receivers'])} receivers, {len(rendered['route']['routes'])} routes)"


def check_cluster(base: str) -> str:
    cluster = _status(base).get("cluster", {})
    state = cluster.get("status")
    if state == "ready":
        return f"cluster ready ({len(cluster.get('peers') or [])} peers)"
    if state == "disabled":
        # The single-replica service turns gossip off (--cluster.listen-address=).
        return "clustering off (one replica), nothing to settle"
    raise CheckFailed(f"cluster status {state!r} (expected ready; settling lasts about a minute after start)")


def _integration(settings: Settings, receiver: str) -> str:
    config = next(r for r in yaml.safe_load(render_alertmanager_config(settings))["receivers"] if r["name"] == receiver)
    return next(kind for kind in INTEGRATIONS if config.get(f"{kind}_configs"))


def _counters(base: str, integration: str, receiver: str) -> tuple[float, float, str]:
    """(attempted, failed, what they count) from Alertmanager's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = get_ok(f"{base}/metrics").body.decode("utf-8", "replace")
    totals = {"alertmanager_notifications": 0.0, "alertmanager_notifications_failed": 0.0}
    per_receiver = False
    for family in text_string_to_metric_families(text):
        if family.name not in totals:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total") or sample.labels.get("integration") != integration:
                continue
            if "receiver_name" in sample.labels:
                per_receiver = True
                if sample.labels["receiver_name"] != receiver:
                    continue
            totals[family.name] += sample.value
    scope = f"receiver {receiver}" if per_receiver else f"every {integration} receiver (no receiver_name label)"
    return totals["alertmanager_notifications"], totals["alertmanager_notifications_failed"], scope


def check_watchdog(settings: Settings, base: str) -> str:
    heartbeat = settings.alerting.routing.heartbeat
    query = urllib.parse.urlencode({"filter": f'alertname="{alerting.WATCHDOG}"', "active": "true"})

    def routed() -> list[dict]:
        alerts = get_json(f"{base}/api/v2/alerts?{query}")
        return [a for a in alerts if a.get("status", {}).get("state") == "active"]

    active = poll(routed, WATCHDOG_WAIT_SECONDS, step=1)
    if not active:
        raise CheckFailed(f"no active {alerting.WATCHDOG} alert in Alertmanager: Prometheus's alerts do not arrive")
    receivers = sorted({r["name"] for a in active for r in a.get("receivers", [])})
    if heartbeat is None:
        raise Skipped(
            f"{alerting.WATCHDOG} active (receivers: {', '.join(receivers)}); no heartbeat receiver configured "
            "(alerting.routing.heartbeat), so there is no delivery to check"
        )
    if heartbeat not in receivers:
        raise CheckFailed(f"{alerting.WATCHDOG} active but routed to {', '.join(receivers) or 'nobody'}, not {heartbeat}")
    integration = _integration(settings, heartbeat)
    attempts = poll(lambda: _counters(base, integration, heartbeat)[0], WATCHDOG_WAIT_SECONDS, step=1)
    attempted, failed, scope = _counters(base, integration, heartbeat)
    if not attempts:
        raise CheckFailed(f"{alerting.WATCHDOG} routed to {heartbeat} but no {integration} notification attempted yet")
    if failed:
        raise CheckFailed(
            f"{failed:g} of {attempted:g} {integration} notifications failed since Alertmanager started ({scope}); "
            "see its log for the receiver's answer"
        )
    return f"{alerting.WATCHDOG} active, routed to {heartbeat}; {integration} notifications sent: {attempted:g}, failed: 0 ({scope})"


def checks(settings: Settings, urls: dict[str, str]) -> list[Check]:
    base = urls["alertmanager"]
    return [
        ("alertmanager config", lambda: check_config(settings, base)),
        ("alertmanager cluster", lambda: check_cluster(base)),
        ("watchdog heartbeat", lambda: check_watchdog(settings, base)),
    ]
