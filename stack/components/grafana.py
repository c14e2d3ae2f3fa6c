"""Grafana: datasources with fixed UIDs and the dashboards built by
dashboards/ (as code, from the settings), provisioned from files, with the
runbooks of docs/runbooks as dashboards of their own folder when Grafana
serves them (stack/runbooks.py); admin
password from a mounted secret file; SQLite on its volume, or an external
database whose URL (a secret: it holds a password) is a mounted file too."""

from __future__ import annotations

from dashboards import render_dashboards
from dashboards.board import DATASOURCE_NAMES, DATASOURCE_UIDS
from dashboards.runbooks import render_runbook_dashboards
from stack import topology
from stack.runbooks import GRAFANA_FOLDER, served_by_grafana
from stack.components.service import replicas, service_spec
from stack.generated_yaml import render_yaml
from stack.settings import Settings
from stack.settings.secrets import GRAFANA_DATABASE_URL
from stack.spec import DataVolume, HttpProbe, Port, SecretFile, ServiceSpec

PROVISIONING_DIR = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
# Beside DASHBOARDS_DIR, not under it: Grafana's file provider reads a
# folder's subfolders too, which would provision every runbook twice.
RUNBOOK_DASHBOARDS_DIR = "/etc/grafana/runbooks"
DATA_DIR = "/var/lib/grafana"
ADMIN_USER = "admin"
ADMIN_PASSWORD_FILE = "/run/secrets/grafana-admin-password"
DATABASE_URL_FILE = "/run/secrets/grafana-database-url"


# Schema migrations on an upgrade run before Grafana serves HTTP; on a large
# external database they take minutes (the Grafana chart's liveness waits
# 60 s, then tolerates 10 failures of 30 s: about 6 minutes).
GRAFANA_MIGRATION_SECONDS = 600


def provisioning_escape(text: str) -> str:
    """Grafana expands $VAR and ${VAR} in provisioning files; $$ is a literal $."""
    return text.replace("$", "$$")


# Logs of a trace: every service's lines carrying its trace id (structured metadata).
TRACE_LOGS_QUERY = '{environment="%s"} | trace_id="${__trace.traceId}"'
# Span metrics (Jaeger SPM) for the span's service; $__tags becomes service_name="...".
TRACE_METRIC_QUERIES = {
    "Request rate": "sum(rate(traces_span_metrics_calls_total{$__tags}[5m]))",
    "Error rate": 'sum(rate(traces_span_metrics_calls_total{$__tags, status_code="STATUS_CODE_ERROR"}[5m]))',
    "p95 latency (ms)": "histogram_quantile(0.95, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{$__tags}[5m])))",
}
# Log lines that are not JSON with metadata still link when they carry the id.
TRACE_ID_IN_LINE = r'"trace_id":\s*"([0-9a-f]{32})"'


def correlations(settings: Settings) -> dict[str, dict]:
    """jsonData links between datasources, before provisioning escapes."""
    to_jaeger = {"datasourceUid": DATASOURCE_UIDS["jaeger"], "urlDisplayLabel": "Open trace in Jaeger"}
    jaeger_link = {**to_jaeger, "url": "${__value.raw}"}
    return {
        "prometheus": {"exemplarTraceIdDestinations": [{"name": "trace_id", **to_jaeger}]},
        "loki": {
            "derivedFields": [
                {"name": "trace_id", "matcherType": "label", "matcherRegex": "trace_id", **jaeger_link},
                {"name": "trace_id in line", "matcherType": "regex", "matcherRegex": TRACE_ID_IN_LINE, **jaeger_link},
            ]
        },
        "jaeger": {
            "tracesToLogsV2": {
                "datasourceUid": DATASOURCE_UIDS["loki"],
                "spanStartTimeShift": "-5m",
                "spanEndTimeShift": "5m",
                "customQuery": True,
                "query": TRACE_LOGS_QUERY % settings.environment,
            },
            "tracesToMetrics": {
                "datasourceUid": DATASOURCE_UIDS["prometheus"],
                "spanStartTimeShift": "-10m",
                "spanEndTimeShift": "10m",
                "tags": [{"key": "service.name", "value": "service_name"}],
                "queries": [{"name": name, "query": query} for name, query in TRACE_METRIC_QUERIES.items()],
            },
            "nodeGraph": {"enabled": True},
        },
    }


def _escaped(value):
    if isinstance(value, str):
        return provisioning_escape(value)
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def render_datasources(settings: Settings) -> str:
    """The datasources, each by its fixed UID and name (dashboards.board),
    at the URL Grafana reaches it by: the component's container on Docker,
    its Service in Grafana's own namespace on Kubernetes."""
    links = _escaped(correlations(settings))
    # Rule sources of the alert lists (dashboards.board.alert_list): Grafana
    # reads a Prometheus or Loki datasource's rules unless jsonData.manageAlerts
    # is false, and Grafana's [unified_alerting] default_manage_alerts_ui_toggle
    # may change that default: said here, so the boards' alert lists always
    # show the rules of both, Loki's ruler (its API is on) included.
    rule_source = {"manageAlerts": True}
    datasources = [
        {
            "name": DATASOURCE_NAMES["prometheus"],
            "uid": DATASOURCE_UIDS["prometheus"],
            "type": "prometheus",
            "access": "proxy",
            "url": topology.url(settings, "prometheus"),
            "isDefault": True,
            "editable": False,
            "jsonData": {"httpMethod": "POST", "timeInterval": str(settings.scrape_interval), **rule_source, **links["prometheus"]},
        },
        {
            "name": DATASOURCE_NAMES["loki"],
            "uid": DATASOURCE_UIDS["loki"],
            "type": "loki",
            "access": "proxy",
            "url": topology.url(settings, "loki"),
            "editable": False,
            "jsonData": {"maxLines": 1000, **rule_source, **links["loki"]},
        },
        {
            "name": DATASOURCE_NAMES["jaeger"],
            "uid": DATASOURCE_UIDS["jaeger"],
            "type": "jaeger",
            "access": "proxy",
            "url": topology.url(settings, "jaeger", "ui"),
            "editable": False,
            "jsonData": links["jaeger"],
        },
        {
            # What Alertmanager holds, in Grafana's alerting pages (alert
            # groups, silences), which the alert lists link to by this name.
            # One URL per datasource (Grafana's docs provision `url:
            # http://localhost:9093`, "your Alertmanager instance"): the
            # Service, not one peer's pod. Every peer receives every alert
            # (Prometheus and Loki's ruler send to each: alertmanager_addresses)
            # and the peers gossip silences, so any ready peer answers alike,
            # and the Service still answers while one peer is down.
            "name": DATASOURCE_NAMES["alertmanager"],
            "uid": DATASOURCE_UIDS["alertmanager"],
            "type": "alertmanager",
            "access": "proxy",
            "url": topology.url(settings, "alertmanager"),
            "editable": False,
            # Prometheus' Alertmanager (read-only configuration in Grafana); Grafana's own alerts stay in Grafana.
            "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
        },
    ]
    return render_yaml({"apiVersion": 1, "datasources": datasources}, "stack/components/grafana.py")


def _file_provider(name: str, folder: str, path: str) -> dict:
    return {
        "name": name,
        "folder": folder,
        "type": "file",
        # Dashboards are code: edits in the UI would be lost on the next deploy.
        "disableDeletion": True,
        "allowUiUpdates": False,
        "updateIntervalSeconds": 60,
        "options": {"path": path, "foldersFromFilesStructure": False},
    }


def render_dashboard_provider(runbooks: bool = False) -> str:
    """The dashboard providers: the boards in the *AI Gateway* folder and,
    with `runbooks`, the runbook dashboards in the GRAFANA_FOLDER folder."""
    providers = [_file_provider("gateway-observability", "AI Gateway", DASHBOARDS_DIR)]
    if runbooks:
        providers.append(_file_provider("gateway-observability-runbooks", GRAFANA_FOLDER, RUNBOOK_DASHBOARDS_DIR))
    return render_yaml({"apiVersion": 1, "providers": providers}, "stack/components/grafana.py")


def database_env(external_database: bool) -> dict[str, str]:
    """Grafana's `[database] url` from the mounted secret file, or nothing (SQLite
    in DATA_DIR). The image's entrypoint reads any GF_<SECTION>_<KEY>__FILE into
    GF_<SECTION>_<KEY>, as for the admin password; the URL names its type."""
    return {"GF_DATABASE_URL__FILE": DATABASE_URL_FILE} if external_database else {}


def grafana_service(settings: Settings, external_database: bool = False) -> ServiceSpec:
    """Grafana's spec. `external_database`: the secret grafanaDatabaseUrl is
    given, so Grafana keeps its state there (and may run several replicas)
    instead of in SQLite on its data volume."""
    runbooks = render_runbook_dashboards(settings) if served_by_grafana(settings) else {}
    files = {
        f"{PROVISIONING_DIR}/datasources/datasources.yaml": render_datasources(settings),
        f"{PROVISIONING_DIR}/dashboards/dashboards.yaml": render_dashboard_provider(bool(runbooks)),
    }
    files.update({f"{DASHBOARDS_DIR}/{name}": text for name, text in render_dashboards(settings).items()})
    files.update({f"{RUNBOOK_DASHBOARDS_DIR}/{name}": text for name, text in runbooks.items()})
    secret_files = (SecretFile("grafanaAdminPassword", ADMIN_PASSWORD_FILE),)
    if external_database:
        secret_files += (SecretFile(GRAFANA_DATABASE_URL, DATABASE_URL_FILE),)
    return service_spec(
        settings,
        "grafana",
        args=(),
        ports=(Port("http", topology.port("grafana")),),
        # /api/health runs `SELECT 1` on the database (503 when it fails);
        # /healthz answers 200 unconditionally (grafana pkg/api/health.go,
        # pkg/api/http_server.go). A database outage must not restart every
        # replica, so liveness is /healthz. Its listener may open only after
        # the database migrations of an upgrade: those get a start budget.
        readiness=HttpProbe(topology.port("grafana"), "/api/health"),
        liveness=HttpProbe(topology.port("grafana"), "/healthz"),
        startup_seconds=GRAFANA_MIGRATION_SECONDS,
        # Its external database: the host is secret, the port is not (kubernetes.grafanaDatabasePort).
        outside_ports=(settings.kubernetes.grafana_database_port,) if external_database else (),
        files=files,
        secret_files=secret_files,
        env={
            "GF_SECURITY_ADMIN_USER": ADMIN_USER,
            "GF_SECURITY_ADMIN_PASSWORD__FILE": ADMIN_PASSWORD_FILE,
            **database_env(external_database),
            "GF_AUTH_ANONYMOUS_ENABLED": "false",
            "GF_USERS_ALLOW_SIGN_UP": "false",
            # Share links, redirects and links in Grafana's own notifications.
            "GF_SERVER_ROOT_URL": topology.public_url(settings, "grafana"),
            "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
            # The hosts it would phone home to are unreachable from most gateway networks.
            "GF_ANALYTICS_REPORTING_ENABLED": "false",
            "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
        },
        # The volume still holds plugins and, without an external database, SQLite.
        volumes=(DataVolume("data", DATA_DIR),),
        user="472:0",
        replicas=replicas(settings, "grafana", external_database),
    )
