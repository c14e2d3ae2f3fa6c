"""Alerts on the observability stack itself: if it is broken, nothing else pages.

Names follow the upstream mixins (prometheus, alertmanager, loki, promtail)
where they exist.
"""

from __future__ import annotations

from stack import alert_names as names
from stack.alerting.rule import alert
from stack.log_shipping import LOKI_OUT_OF_ORDER_WINDOW, OLDER_THAN_LOKI_ACCEPTS
from stack.settings import Settings

# component -> (severity when down, what is lost); its alert is named in
# stack.alert_names.COMPONENT_DOWN.
DOWN_SEVERITY = {
    "alertmanager": ("critical", "no alert reaches anyone"),
    "loki": ("critical", "gateway logs are not stored and LogQL alerts do not run"),
    "promtail": ("warning", "gateway logs are not shipped (they resume from the positions file)"),
    "jaeger": ("warning", "traces are dropped"),
    "grafana": ("warning", "dashboards are unavailable"),
}


def watchdog(settings: Settings) -> dict:
    return alert(
        settings,
        names.WATCHDOG,
        "vector(1)",
        severity="info",
        summary="An alert that always fires, to prove the alerting pipeline works.",
        description=(
            "Always firing. Routed to the heartbeat receiver (a dead man's switch): "
            "if it stops arriving, Prometheus or Alertmanager is broken."
        ),
    )


# Components whose replicas work as one (Alertmanager's gossip cluster, Loki's
# ring with replication factor 3): one replica down loses nothing, half or
# more loses quorum. Their page is for that (as the Alertmanager mixin's
# AlertmanagerClusterDown); a replica missing is KubeStatefulSetReplicasMismatch's
# warning. Every other component pages, at its severity, for any instance down
# (one node's Promtail down loses that node's logs).
QUORUM = frozenset({"alertmanager", "loki"})


def _quorum_lost(component: str) -> str:
    up = f'up{{job="{component}"}}'
    return f"count without (instance) ({up} == 0) / count without (instance) ({up}) >= 0.5"


def _down_expression(component: str) -> str:
    up = f'up{{job="{component}"}}'
    if component in QUORUM:
        return f"{_quorum_lost(component)} or absent({up})"
    return f"{up} == 0 or absent({up})"


def instance_down_alerts(settings: Settings) -> list[dict]:
    """One replica of a replicated component down while the others serve: a
    warning (the down alert pages once quorum is lost, and then this one
    stands aside). A Prometheus replica down is seen by the other replica;
    the last one down is the Watchdog falling silent."""
    rules = []
    for component, name in names.INSTANCE_DOWN.items():
        expr = f'up{{job="{component}"}} == 0'
        if component in QUORUM:
            expr += f" unless on (environment, job) ({_quorum_lost(component)})"
        rules.append(
            alert(
                settings,
                name,
                expr,
                for_="5m",
                severity="warning",
                labels={"service": component},
                summary=f"A replica of {component} is down; the others still serve.",
                description=f"{component} at {{{{ $labels.instance }}}} has not answered Prometheus for {{pending}}.",
            )
        )
    return rules


def component_down_alerts(settings: Settings) -> list[dict]:
    return [
        alert(
            settings,
            names.COMPONENT_DOWN[component],
            _down_expression(component),
            for_="5m",
            severity=severity,
            # absent() keeps only the job label; routing and inhibition need the service.
            labels={"service": component},
            summary=f"{component.capitalize()} is down.",
            description=(
                f"Half or more of {component}'s instances (or all) have not answered Prometheus for {{pending}}: {lost}."
                if component in QUORUM
                else f"Prometheus has not scraped {component} for {{pending}}: {lost}."
            ),
        )
        for component, (severity, lost) in DOWN_SEVERITY.items()
    ]


def pipeline_alerts(settings: Settings) -> list[dict]:
    return [
        alert(
            settings,
            names.PROMETHEUS_RULE_FAILURES,
            'increase(prometheus_rule_evaluation_failures_total{job="prometheus"}[5m]) > 0',
            for_="15m",
            severity="critical",
            summary="Prometheus is failing to evaluate rules.",
            description=(
                "{{ $value | humanize }} evaluations of rule group {{ $labels.rule_group }} failed in 5 minutes: "
                "alerts in it may not fire."
            ),
        ),
        alert(
            settings,
            names.PROMETHEUS_BAD_CONFIG,
            'max_over_time(prometheus_config_last_reload_successful{job="prometheus"}[5m]) == 0',
            for_="10m",
            severity="critical",
            summary="Prometheus failed to reload its configuration.",
            description="The last configuration reload of {{ $labels.instance }} failed; it runs on the old one.",
        ),
        alert(
            settings,
            names.ALERTMANAGER_FAILED_TO_SEND_ALERTS,
            'rate(alertmanager_notifications_failed_total{job="alertmanager"}[5m])'
            ' / ignoring (reason) group_left rate(alertmanager_notifications_total{job="alertmanager"}[5m]) > 0.01',
            for_="5m",
            severity="warning",
            summary="Alertmanager is failing to send notifications.",
            description=(
                "{{ $value | humanizePercentage }} of notifications to {{ $labels.integration }} failed "
                "(reason {{ $labels.reason }})."
            ),
        ),
        alert(
            settings,
            names.PROMETHEUS_NOT_CONNECTED_TO_ALERTMANAGERS,
            # The prometheus-mixin's rule (prometheus-mixin/alerts.libsonnet).
            'max_over_time(prometheus_notifications_alertmanagers_discovered{job="prometheus"}[5m]) < 1',
            for_="10m",
            severity="warning",
            summary="A Prometheus is not connected to any Alertmanager.",
            description=(
                "{{ $labels.instance }} has found no Alertmanager to send to for {pending}: its alerts reach "
                "no one (another replica, or the Watchdog falling silent, says so)."
            ),
        ),
        alert(
            settings,
            names.ALERTMANAGER_MEMBERS_INCONSISTENT,
            # The alertmanager-mixin's rule; a warning here: peers that
            # disagree may notify twice, they lose nothing.
            'max_over_time(alertmanager_cluster_members{job="alertmanager"}[5m])'
            " < on (environment, job) group_left count by (environment, job)"
            ' (max_over_time(alertmanager_cluster_members{job="alertmanager"}[5m]))',
            for_="15m",
            severity="warning",
            summary="Alertmanager cluster members disagree about the cluster's size.",
            description=(
                "{{ $labels.instance }} sees {{ $value }} members, fewer than the cluster has: peers that cannot "
                "gossip may send the same notification twice, or miss each other's silences."
            ),
        ),
        alert(
            settings,
            names.LOKI_REQUEST_ERRORS,
            '100 * sum by (service, route) (rate(loki_request_duration_seconds_count{job="loki", status_code=~"5.."}[5m]))'
            ' / sum by (service, route) (rate(loki_request_duration_seconds_count{job="loki"}[5m])) > 10',
            for_="15m",
            severity="critical",
            summary="Loki is answering requests with errors.",
            description="{{ printf \"%.1f\" $value }}% of Loki requests to {{ $labels.route }} fail.",
        ),
        alert(
            settings,
            names.PROMTAIL_REQUESTS_ERRORS,
            "100 * sum by (service, host) "
            # Promtail records status_code="-1" when Loki cannot be reached at all.
            '(rate(promtail_request_duration_seconds_count{job="promtail", status_code=~"5..|-1"}[5m]))'
            ' / sum by (service, host) (rate(promtail_request_duration_seconds_count{job="promtail"}[5m])) > 10',
            for_="15m",
            severity="critical",
            summary="Promtail fails to send log lines to Loki.",
            description="{{ printf \"%.1f\" $value }}% of Promtail pushes to {{ $labels.host }} fail.",
        ),
        alert(
            settings,
            names.PROMTAIL_DROPPING_ENTRIES,
            'sum by (service, reason) (increase(promtail_dropped_entries_total{job="promtail"}[10m])) > 0',
            for_="5m",
            severity="warning",
            summary="Promtail is dropping log lines.",
            description="Promtail dropped {{ $value | humanize }} log lines in 10 minutes ({{ $labels.reason }}); they are lost.",
        ),
        alert(
            settings,
            names.PROMTAIL_FALLING_BEHIND,
            # Only on Kubernetes does the pipeline drop lines by age
            # (promtail.BACK_STAGES). A new pod does so on purpose while it
            # re-reads the node's files; a pod up for 15 minutes does so only
            # when it reads lines over an hour old: it has fallen behind.
            f'sum by (service, instance) (increase(logentry_dropped_lines_total{{job="promtail", reason="{OLDER_THAN_LOKI_ACCEPTS}"}}[10m])) > 0'
            ' and on (instance) (time() - process_start_time_seconds{job="promtail"}) > 900',
            for_="5m",
            severity="warning",
            summary="Promtail has fallen more than an hour behind its log files.",
            description=(
                "Promtail on {{ $labels.instance }} dropped {{ $value | humanize }} log lines in 10 minutes that were "
                f"older than Loki accepts ({LOKI_OUT_OF_ORDER_WINDOW}); they are lost."
            ),
        ),
        alert(
            settings,
            names.JAEGER_EXPORTER_SEND_FAILURES,
            'sum by (service, exporter) (rate(otelcol_exporter_send_failed_spans_total{job="jaeger"}[5m])) > 0',
            for_="10m",
            severity="warning",
            summary="Jaeger fails to write spans to storage.",
            description="Exporter {{ $labels.exporter }} fails to store {{ $value | humanize }} spans/s; those traces are lost.",
        ),
    ]


def stack_alert_groups(settings: Settings) -> list[dict]:
    return [
        {"name": "stack-meta.alerts", "rules": [watchdog(settings)]},
        {"name": "stack-pipeline.alerts", "rules": pipeline_alerts(settings)},
        {"name": "stack-components.alerts", "rules": component_down_alerts(settings) + instance_down_alerts(settings)},
    ]
