"""Alertmanager: the routing tree, receivers and inhibitions from settings,
credentials as mounted files, silences on a volume.

Written in the subset Alertmanager 0.25 (the Debian amtool that checks it)
and the deployed release both accept: `*_file` fields for every credential,
webhook URLs in the clear and their bearer token in a file.
"""

from __future__ import annotations

from stack import alerting, topology
from stack.settings.alerting import SEVERITIES, Receiver, Routing, SeverityRoutes, TeamRoute
from stack.components.service import replicas, service_spec
from stack.generated_yaml import render_yaml
from stack.settings import Settings, receiver_secret
from stack.spec import DataVolume, HttpProbe, Port, SecretFile, ServiceSpec

CONFIG_DIR = "/etc/alertmanager"
SECRETS_DIR = f"{CONFIG_DIR}/secrets"
DATA_DIR = "/alertmanager"
NULL_RECEIVER = "null"  # receives and sends nothing: "nowhere"
BUSINESS_HOURS = "business-hours"
GROUP_BY = ["alertname", "service", "gen_ai_provider_name"]
DOWN_ALERTS = "|".join(alerting.DOWN_ALERTS)
PROVIDER_SYMPTOMS = "|".join(alerting.PROVIDER_SYMPTOMS)
TITLE = '{{ template "gateway.title" . }}'
# The labels that say what an alert is about, whichever it carries: two alerts
# of one name are about the same thing when these are equal (a label an alert
# lacks is "" on both sides of an inhibition's `equal`).
SCOPE_LABELS = [
    "service", "instance", "gen_ai_provider_name", "namespace", "pod", "container",
    "persistentvolumeclaim", "statefulset", "deployment", "daemonset",
]

NOTIFICATION_TEMPLATE = """\
{{ define "gateway.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}{{ with .CommonLabels.service }} ({{ . }}){{ end }}
{{- end }}

{{ define "gateway.text" -}}
{{ range .Alerts -}}
*{{ .Annotations.summary }}* ({{ .Labels.severity }}, {{ .Labels.environment }})
{{ .Annotations.description }}
Runbook: {{ .Annotations.runbook_url }}
Source: {{ .GeneratorURL }}
{{ end -}}
{{- end }}
"""


def secret_path(receiver_name: str) -> str:
    return f"{SECRETS_DIR}/{receiver_name}"


def receiver_config(receiver: Receiver, heartbeat: bool = False) -> dict:
    """A receiver's Alertmanager block. The heartbeat's never sends resolved
    notifications: a dead man's switch counts any request as a sign of life,
    and the Watchdog resolving is exactly the moment Prometheus stopped."""
    credential = secret_path(receiver.name)
    if receiver.slack:
        config = {
            "api_url_file": credential,
            "channel": receiver.slack.channel,
            "send_resolved": not heartbeat,
            "title": TITLE,
            "text": '{{ template "gateway.text" . }}',
        }
        return {"name": receiver.name, "slack_configs": [config]}
    if receiver.pagerduty:
        config = {"routing_key_file": credential, "send_resolved": not heartbeat, "description": TITLE}
        return {"name": receiver.name, "pagerduty_configs": [config]}
    if receiver.email:
        email = receiver.email
        config = {"to": email.to, "from": email.from_, "smarthost": email.smarthost, "require_tls": email.require_tls}
        if email.auth_username:
            config |= {"auth_username": email.auth_username, "auth_password_file": credential}
        config |= {"send_resolved": not heartbeat, "headers": {"Subject": TITLE}}
        return {"name": receiver.name, "email_configs": [config]}
    webhook = receiver.webhook
    config = {"url": webhook.url, "send_resolved": not heartbeat}
    if webhook.bearer_token:
        config["http_config"] = {"authorization": {"type": "Bearer", "credentials_file": credential}}
    return {"name": receiver.name, "webhook_configs": [config]}


def _severity_routes(receivers_by_severity: dict[str, list[str]]) -> list[dict]:
    """One route per receiver; `continue` lets every receiver of a severity get it."""
    result = []
    for severity in SEVERITIES:
        receivers = receivers_by_severity[severity] or [NULL_RECEIVER]
        for i, receiver in enumerate(receivers):
            route = {"matchers": [f'severity="{severity}"'], "receiver": receiver}
            if severity == "info":
                # Tickets: delivered during business hours, held back otherwise.
                route["active_time_intervals"] = [BUSINESS_HOURS]
            if i < len(receivers) - 1:
                route["continue"] = True
            result.append(route)
    return result


def _receivers(routes: SeverityRoutes, fallback: SeverityRoutes | None = None) -> dict[str, list[str]]:
    return {s: getattr(routes, s) or (getattr(fallback, s) if fallback else []) for s in SEVERITIES}


def _team_routes(team: TeamRoute, routing: Routing) -> list[dict]:
    subtree = _severity_routes(_receivers(team, routing))
    routes = [{"matchers": [f'team="{team.team}"'], "routes": subtree}]
    if team.services:
        services = "|".join(team.services)
        routes.append({"matchers": [f'service=~"{services}"'], "routes": subtree})
    return routes


def _root_receiver(routing: Routing) -> str:
    """Alerts without a known severity still reach a person."""
    return (routing.warning or routing.critical or [NULL_RECEIVER])[0]


def render_alertmanager_config(settings: Settings) -> str:
    routing = settings.alerting.routing
    hours = routing.business_hours
    heartbeat = {
        "matchers": [f'alertname="{alerting.WATCHDOG}"'],
        "receiver": routing.heartbeat or NULL_RECEIVER,
        "group_wait": "0s",
        # A group is flushed every group_interval, so the repeat can be no sooner.
        "group_interval": routing.heartbeat_interval.prometheus(),
        "repeat_interval": routing.heartbeat_interval.prometheus(),
    }
    routes = [heartbeat]
    for team in routing.teams:
        routes += _team_routes(team, routing)
    routes += _severity_routes(_receivers(routing))
    config = {
        "route": {
            "receiver": _root_receiver(routing),
            "group_by": GROUP_BY,
            "group_wait": routing.group_wait.prometheus(),
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity=~"warning|info"'],
                # The same alert about the same thing: one volume's critical never hides another's warning.
                "equal": ["alertname", *SCOPE_LABELS],
            },
            # A down target mutes only what is about that same target; a whole
            # service absent mutes everything about the service. Never a
            # per-instance source over a service-wide alert: one Kong pod of
            # three down must not hide Kong's error rate or its SLO burn.
            {
                "source_matchers": [f'alertname=~"{DOWN_ALERTS}"', 'instance!=""'],
                "target_matchers": [f'alertname!~"{DOWN_ALERTS}"'],
                "equal": ["service", "instance"],
            },
            {
                "source_matchers": [f'alertname=~"{DOWN_ALERTS}"', 'instance=""'],
                "target_matchers": [f'alertname!~"{DOWN_ALERTS}"'],
                "equal": ["service"],
            },
            {
                "source_matchers": [f'alertname="{alerting.PROVIDER_DOWN}"'],
                "target_matchers": [f'alertname=~"{PROVIDER_SYMPTOMS}"'],
                "equal": ["service", "gen_ai_provider_name"],
            },
        ],
        "time_intervals": [
            {
                "name": BUSINESS_HOURS,
                "time_intervals": [
                    {
                        "weekdays": [hours.weekdays],
                        "times": [{"start_time": hours.start, "end_time": hours.end}],
                        "location": hours.location,
                    }
                ],
            }
        ],
        "receivers": [{"name": NULL_RECEIVER}]
        + [receiver_config(r, heartbeat=r.name == routing.heartbeat) for r in routing.receivers],
        "templates": ["templates/*.tmpl"],
    }
    return render_yaml(config, "stack/components/alertmanager.py")


def alertmanager_addresses(settings: Settings) -> list[str]:
    """host:port of every Alertmanager an alert must reach: the Service with
    one replica; every pod when clustered, since peers deduplicate only what
    each of them received (Alertmanager's HA docs: do not load-balance
    between the senders and Alertmanager)."""
    peers = replicas(settings, "alertmanager")
    if peers == 1:
        return [topology.address(settings, "alertmanager")]
    return topology.peer_addresses(settings, "alertmanager", peers, "http")


def cluster_args(settings: Settings) -> tuple[str, ...]:
    """The gossip flags (Alertmanager 0.25 to 0.34 alike). One replica: an
    empty listen address turns clustering off. Several (scalable profile):
    every pod joins every pod by its stable StatefulSet name, and advertises
    its pod IP, which the kubernetes target passes as POD_IP (Kubernetes
    expands $(VAR) in container args); the peers share silences and the
    notification log, so an alert every peer receives is notified once."""
    peers = replicas(settings, "alertmanager")
    if peers == 1:
        return ("--cluster.listen-address=",)
    port = topology.port("alertmanager", "cluster")
    return (
        f"--cluster.listen-address=0.0.0.0:{port}",
        *(f"--cluster.peer={peer}" for peer in topology.peer_addresses(settings, "alertmanager", peers, "cluster")),
        f"--cluster.advertise-address=$(POD_IP):{port}",
    )


def alertmanager_service(settings: Settings) -> ServiceSpec:
    receivers = settings.alerting.routing.receivers
    ports = (Port("http", topology.port("alertmanager")),)
    if replicas(settings, "alertmanager") > 1:
        # Memberlist gossip between the pods only: never published (the kubernetes target opens it to the peers, TCP and UDP).
        ports += (Port("cluster", topology.port("alertmanager", "cluster"), published=False),)
    return service_spec(
        settings,
        "alertmanager",
        args=(
            f"--config.file={CONFIG_DIR}/alertmanager.yml",
            # Silences and the notification log live here: losing them re-pages on-call.
            f"--storage.path={DATA_DIR}",
            # Every notification's links back (Slack's title link, PagerDuty's client URL, silences).
            f"--web.external-url={topology.public_url(settings, 'alertmanager')}",
            *cluster_args(settings),
        ),
        ports=ports,
        # Both answer 200 once the config is applied; neither waits for the
        # gossip to settle, which gates only the notification pipeline
        # (alertmanager v0.34.0 httpserver/httpserver.go:41-54,
        # notify/cluster_stages.go:33-40). Liveness on /-/healthy, as
        # prometheus-operator (pkg/alertmanager/statefulset.go:361-395).
        readiness=HttpProbe(topology.port("alertmanager"), "/-/ready"),
        liveness=HttpProbe(topology.port("alertmanager"), "/-/healthy"),
        files={
            f"{CONFIG_DIR}/alertmanager.yml": render_alertmanager_config(settings),
            f"{CONFIG_DIR}/templates/gateway.tmpl": NOTIFICATION_TEMPLATE,
        },
        secret_files=tuple(
            SecretFile(receiver_secret(r.name), secret_path(r.name)) for r in receivers if r.needs_secret
        ),
        volumes=(DataVolume("data", DATA_DIR),),
        user="65534:65534",
    )
