"""Promtail (end of life since 2026-03-02; Grafana Alloy is the successor):
ships the gateway's logs to Loki, tailing its containers through the Docker
API on Docker and its pods' log files on the node on Kubernetes, through one
pipeline."""

from __future__ import annotations

import json
import re

from stack import topology
from gateway_telemetry.contract import KONG, LOG_FIELDS
from stack.components.kong import LOG_PATH_FIELD as KONG_LOG_PATH_FIELD
from stack.components.kong import LOG_TRACE_ID_FORMATS as KONG_TRACE_ID_FORMATS
from stack.components.loki import PUSH_PATH as LOKI_PUSH_PATH
from stack.components.prometheus import NAME_LABEL, gateway_pod_relabels, gateway_pod_sd_config, pod_label_meta
from stack.components.service import service_spec
from stack.generated_yaml import render_yaml
from stack.log_shipping import LOKI_OUT_OF_ORDER_WINDOW, OLDER_THAN_LOKI_ACCEPTS
from gateway_telemetry.redaction import re2_literal, redaction_stages
from stack.settings import Settings
from stack.spec import ApiAccess, DataVolume, HostPath, HttpProbe, Port, ServiceSpec

CONFIG_DIR = "/etc/promtail"
DATA_DIR = "/var/lib/promtail"
# The only host path Promtail needs on Docker: docker_sd discovers containers
# and reads their logs through the Docker API (ContainerLogs in
# clients/pkg/promtail/targets/docker/target.go, Promtail 3.6.15), never from
# the json-file logs under /var/lib/docker/containers.
DOCKER_SOCKET = "/var/run/docker.sock"
# ... and on Kubernetes: the kubelet's log files, one folder per pod
# (<namespace>_<pod>_<uid>) and container, one file per container start
# (0.log, 1.log, ...), each line in the CRI logging format.
POD_LOGS = "/var/log/pods"


# The multiline stage keeps one buffer per label set (multiline.go keys it by
# the labels' fingerprint), so lines that must not share a buffer must differ
# in their labels when that stage runs: a container's stdout and stderr (a
# JSON line from one would land inside a traceback from the other) and the
# replicas of one service. `stream` stays a label (two values). What tells
# replicas apart only keys the buffers and is dropped before shipping
# (BUFFER_KEYS): on Docker the compose replica number (`docker compose
# --scale`, numbered 1, 2, ...), not the container id: the stage never
# forgets a label set (a goroutine each, for Promtail's lifetime), and a
# replica number outlives the container it numbers. On Kubernetes `filename`,
# which the file target puts on every line (tailer.go): one file per pod,
# container and start. Nothing steadier tells replicas apart there
# (Deployments name pods at random), so each new pod or container start costs
# one idle buffer until Promtail restarts.
COMPOSE_REPLICA = "__meta_docker_container_label_com_docker_compose_container_number"
REPLICA_LABEL = "replica"
FILENAME_LABEL = "filename"
BUFFER_KEYS = [REPLICA_LABEL, FILENAME_LABEL]


def _gateway_container_relabels(settings: Settings) -> list[dict]:
    """Keep only the gateway's containers and label each line with its
    service, its Docker log stream and (for the multiline stage only) its
    compose replica number.

    A container is the gateway service whose host it is, matched on its
    docker compose service name when it has one (compose names containers
    `<project>-<service>-1`), else on its container name.
    """
    hosts = "|".join(re2_literal(s.host) for s in settings.gateway_services)
    return [
        {"source_labels": ["__meta_docker_container_name"], "regex": "/(.*)", "target_label": "__gateway_host"},
        {
            "source_labels": ["__meta_docker_container_label_com_docker_compose_service"],
            "regex": "(.+)",
            "target_label": "__gateway_host",
        },
        # Only the gateway's own containers, never the rest of the host.
        {"source_labels": ["__gateway_host"], "regex": f"({hosts})", "action": "keep"},
        *(
            {
                "source_labels": ["__gateway_host"],
                "regex": re2_literal(service.host),
                "target_label": "service",
                "replacement": service.name,
            }
            for service in settings.gateway_services
        ),
        # The Docker target sets this per line ("stdout" or "stderr").
        {"source_labels": ["__meta_docker_container_log_stream"], "target_label": "stream"},
        {"source_labels": [COMPOSE_REPLICA], "target_label": REPLICA_LABEL},
    ]


def _gateway_pod_relabels(settings: Settings) -> list[dict]:
    """Keep only the gateway's pods (prometheus.gateway_pod_relabels: the
    gateway namespace, the selector's labels, a NAME_LABEL naming a gateway
    service), label each line with that service, and point the file target at
    the container's log files. Every container of the pod is read: a sidecar
    writes under the pod's service too."""
    return [
        *gateway_pod_relabels(settings, [service.name for service in settings.gateway_services]),
        {"source_labels": [pod_label_meta(NAME_LABEL)], "target_label": "service"},
        # <uid>/<container> -> /var/log/pods/*<uid>/<container>/*.log, as in
        # Promtail's own Kubernetes config (docs/sources/send-data/promtail/installation.md).
        {
            "source_labels": ["__meta_kubernetes_pod_uid", "__meta_kubernetes_pod_container_name"],
            "separator": "/",
            "target_label": "__path__",
            "replacement": f"{POD_LOGS}/*$1/*.log",
        },
    ]


# Health checks and scrapes hit every service every few seconds: pure noise,
# dropped in every shape their path takes in the logs. Services log the route
# ("/health", "/health/", maybe with a query string); Kong logs the URI as the
# client sent it, query string included (request.uri is nginx's $request_uri,
# kong/pdk/log.lua). Only these endpoints at the root, and each service's own
# metrics path as configured, are probes: "/api/health" or "/v1/metrics-report"
# is an API call, "/healthcare" is another route, and a probe path inside a
# query string ("/v1/chat?next=/health") is kept too. A probe Kong proxies
# through a prefixed route ("/llm/health") is kept as well: from the URI alone
# it cannot be told from an API call.
PROBE_ENDPOINTS = ("health", "healthz", "ready", "readyz", "live", "livez", "metrics")


def probe_paths(settings: Settings) -> tuple[str, ...]:
    """The paths probes and scrapes hit, without a trailing slash, sorted:
    /<endpoint> for each PROBE_ENDPOINTS entry, and every gateway service's
    `metricsPath` (Prometheus scrapes it). One list for every source: a
    service's metrics path is dropped from any service's lines, since one
    service rarely serves another's scrape path as an API route."""
    paths = {f"/{endpoint}" for endpoint in PROBE_ENDPOINTS}
    paths |= {service.metrics_path.rstrip("/") or "/" for service in settings.gateway_services}
    return tuple(sorted(paths))


def probe_path_regex(settings: Settings) -> str:
    """The drop stages' expression: a probe path (probe_paths), then at most one
    trailing slash and any query string, and nothing else. RE2 syntax; Go's
    regexp, like re.escape, reads a backslash before punctuation as that character."""
    alternatives = "|".join(re.escape(path.rstrip("/")) for path in probe_paths(settings))
    return rf"^(?:{alternatives})/?(?:\?.*)?$"


# A new entry starts with a JSON object, a plain `LEVEL:` line (uvicorn), a
# bare traceback or an nginx error-log line (Kong's stderr); anything else
# (traceback frames) continues the entry above.
PLAIN_LEVEL = r"[A-Z]{3,8}"  # uvicorn's "ERROR:    Exception in ASGI application"
# Kong's stderr is nginx's error log: "2026/12/07 01:00:00 [error] 1#0: ..."
# (ngx_log.c err_levels: emerg, alert, crit, error, warn, notice, info, debug).
NGINX_TIME = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"
FIRST_LINE = "^(" + "|".join(
    (
        r"\{",
        PLAIN_LEVEL + r":\s",
        r"Traceback \(most recent call last\):",
        NGINX_TIME + r" \[",  # nginx error log
    )
) + ")"


PLAIN_LEVEL_REGEX = rf"^(?:(?P<plain_level>{PLAIN_LEVEL}):\s|{NGINX_TIME} \[(?P<nginx_level>[a-z]+)\])"
# The JSON level in lower case, else the plain-text one, else nginx's in the
# contract's words (warn is warning; crit, alert and emerg are critical;
# notice is info), else none.
LEVEL_TEMPLATE = (
    "{{ if .Value }}{{ ToLower .Value }}{{ else if .plain_level }}{{ ToLower .plain_level }}"
    '{{ else if .nginx_level }}{{ if regexMatch "^warn$" .nginx_level }}warning'
    '{{ else if regexMatch "^(crit|alert|emerg)$" .nginx_level }}critical'
    '{{ else if regexMatch "^notice$" .nginx_level }}info{{ else }}{{ .nginx_level }}{{ end }}{{ end }}'
)

# One trace id shape from every source: the services write `trace_id` as 32
# hex digits, Kong's file-log as an object keyed by propagation format. The
# json stage reads the first format Kong wrote (go-jmespath: a field of a
# string is null, `||` skips null and ""), else the value itself, which for an
# object of none of these formats is its JSON text; the template then keeps
# only a valid 128-bit id, in lower case, and drops anything else (an empty
# result deletes the key), so structured metadata never holds a half id, an
# object, or the all-zero id: W3C Trace Context and OpenTelemetry call it
# invalid (an unsampled or unset context logs it), and it names no trace.
TRACE_ID_PATH = " || ".join((*(f"trace_id.{f}" for f in KONG_TRACE_ID_FORMATS), "trace_id"))
TRACE_ID_TEMPLATE = (
    '{{ if regexMatch "^0{32}$" .Value }}'
    '{{ else if regexMatch "^[0-9a-fA-F]{32}$" .Value }}{{ ToLower .Value }}{{ end }}'
)


# Kong's file-log lines carry none of the contract's access-log fields at the
# top: no `level`, the status under `response.status` and the total latency
# under `latencies.request`, in ms (kong/pdk/log.lua serialize at Kong 3.9.3:
# `request = tonumber(var.request_time) * 1000`). So Kong's 5xx reached
# neither the error-log panels nor the error-log alert, and "slow requests"
# never showed Kong. Kong's JSON lines get them here: `level` from the
# status (5xx error, 4xx warning, else info), and the line itself gains
# `level`, `status`, `latency_ms` and `environment` (its trace id is already
# structured metadata). Kong's plain-text nginx lines (stderr) keep the
# level the shared stages gave them. The json stage stores numbers as
# float64 and templates see them through getString (strconv.FormatFloat
# 'f', -1: 502, 3.5), so the guards below only let a 3-digit status and a
# plain decimal latency into the JSON text.
KONG_FIELDS = {"kong_status": "response.status", "kong_latency_ms": "latencies.request"}
_KONG_STATUS = '{{ if .kong_status }}{{ if regexMatch "^[1-5][0-9][0-9]$" .kong_status }}'
KONG_LEVEL_TEMPLATE = (
    _KONG_STATUS
    + '{{ if regexMatch "^5" .kong_status }}error{{ else if regexMatch "^4" .kong_status }}warning{{ else }}info{{ end }}'
    + "{{ else if .Value }}{{ .Value }}{{ end }}{{ else if .Value }}{{ .Value }}{{ end }}"
)
KONG_LINE = "kong_line"


def kong_line_template(settings: Settings) -> str:
    """The Kong line with the contract's fields appended before its closing
    brace (`Entry` is the line: template.go). Empty, so the line stays as it
    is (output.go keeps the line when the source is missing; an empty
    template result deletes it), unless the line is a JSON object with a
    valid status. Kong never writes these keys itself."""
    return (
        _KONG_STATUS
        + r'{{ if regexMatch "\\}$" .Entry }}'
        + '{{ TrimSuffix .Entry "}" }},"level":"{{ .level }}","status":{{ .kong_status }}'
        + r'{{ if .kong_latency_ms }}{{ if regexMatch "^[0-9]+(\\.[0-9]+)?$" .kong_latency_ms }}'
        + ',"latency_ms":{{ .kong_latency_ms }}{{ end }}{{ end }}'
        + f',"environment":{json.dumps(settings.environment)}}}'
        + "{{ end }}{{ end }}{{ end }}"
    )


def kong_stages(settings: Settings) -> list[dict]:
    """One `match` stage for Kong's stream only (a label check for every
    other line): read KONG_FIELDS, set `level` from the status, rewrite the
    line with the contract's fields (`output`)."""
    return [
        {
            "match": {
                "selector": f"{{service={json.dumps(KONG.name)}}}",
                "stages": [
                    {"json": {"expressions": dict(KONG_FIELDS)}},
                    {"template": {"source": "level", "template": KONG_LEVEL_TEMPLATE}},
                    {"template": {"source": KONG_LINE, "template": kong_line_template(settings)}},
                    {"output": {"source": KONG_LINE}},
                ],
            }
        }
    ]


def pipeline_stages(settings: Settings) -> list[dict]:
    """Promtail's pipeline for the gateway's lines, the same on every target
    (after its FRONT_STAGES). Order matters: join tracebacks (a buffer per
    stream), redact the raw line, then parse, label and drop noise
    (probe_path_regex: the settings name the metrics paths).

    Each stage and option is one Promtail 3.6.15 registers and reads the
    way used here (grafana/loki v3.6.15, clients/pkg/logentry/):
    - multiline: `firstline`, `max_wait_time` (time.ParseDuration),
      `max_lines` (stages/multiline.go:34-37, 52);
    - match selectors: logql/expr.y, the grammar of logql/parser.go (no
      `or`); `|=`/`!=` are bytes.Contains, `|~`/`!~` an unanchored
      regexp.Compile (logql/ast.go:51-77);
    - json: each expression is compiled as JMESPath at start-up
      (stages/json.go:54; go-jmespath, `||` and dotted fields only here);
      numbers come out as float64 (json.go processEntry);
    - template: Go text/template with sprig's TxtFuncMap plus Promtail's
      ToLower, TrimSuffix, ... (stages/template.go:28-56; sprig's
      regexMatch is regexp.MatchString, sprig/v3 regex.go:7); `.Value` is
      the source, `.Entry` the line, an empty result deletes the key
      (template.go:123-143);
    - drop: `source`, `expression`, `older_than` (time.ParseDuration),
      `drop_counter_reason` (stages/drop.go:43-69);
    - timestamp: `RFC3339Nano` is time.RFC3339Nano (stages/util.go:65-67),
      `action_on_failure` skip or fudge (stages/timestamp.go:28-37);
    - output, static_labels, labeldrop, labels, structured_metadata:
      stages/stage.go New.
    The real Promtail 3.6.15 has loaded the rendered file of every
    environment; tests/test_promtail_config.py holds every variant to the
    harness written from these files.
    """
    probes = probe_path_regex(settings)
    metadata = [f.name for f in LOG_FIELDS if f.stored_as == "metadata"]
    labelled = [f.name for f in LOG_FIELDS if f.stored_as == "label"]
    return [
        {"multiline": {"firstline": FIRST_LINE, "max_wait_time": "3s", "max_lines": 500}},
        *redaction_stages(),
        {
            "json": {
                "expressions": {
                    **{name: name for name in dict.fromkeys(("timestamp", "path", *labelled, *metadata))},
                    # Kong's file-log writes its own shape.
                    "kong_path": KONG_LOG_PATH_FIELD,
                    "trace_id": TRACE_ID_PATH,
                }
            }
        },
        # Plain-text lines (uvicorn's "ERROR:    ...", nginx's "... [error] ...") still get a level.
        {"regex": {"expression": PLAIN_LEVEL_REGEX}},
        {"template": {"source": "level", "template": LEVEL_TEMPLATE}},
        {"template": {"source": "trace_id", "template": TRACE_ID_TEMPLATE}},
        {"match": {"selector": '{service=~".+"} |~ "^Traceback"', "stages": [{"static_labels": {"level": "error"}}]}},
        {"drop": {"source": "path", "expression": probes, "drop_counter_reason": "health_check"}},
        {"drop": {"source": "kong_path", "expression": probes, "drop_counter_reason": "health_check"}},
        *kong_stages(settings),
        {"labeldrop": BUFFER_KEYS},
        {"labels": {name: None for name in labelled}},
        {"structured_metadata": {name: None for name in metadata}},
        # The log's own time, not the time Promtail read it; the runtime's (Docker's, the CRI line's) when absent.
        {"timestamp": {"source": "timestamp", "format": "RFC3339Nano", "action_on_failure": "skip"}},
    ]


# What turns what a target reads into the pipeline's lines: docker_sd hands
# over each line as the container wrote it, its stream as a discovered label
# (relabelled to `stream`); the kubelet's files hold CRI lines
# ("<RFC3339Nano time> <stdout|stderr> <F|P> <line>"), which the `cri` stage
# takes apart: it sets the `stream` label and the entry's time, keeps the line,
# and joins a line the runtime split into partial (P) ones, per file.
FRONT_STAGES = {"docker": [], "kubernetes": [{"cri": {}}]}
# What follows the shared pipeline. On Kubernetes Promtail's positions live in
# its pod (an emptyDir: a node path would have to be root's), so a replaced
# pod (a rollout, a drain) reads the node's current log files from the start
# again. Loki refuses, as a failed push Promtail counts as dropped, any entry
# more than LOKI_OUT_OF_ORDER_WINDOW behind its stream's newest; such lines
# were shipped before, so they are dropped here first (counted apart, in
# logentry_dropped_lines_total) and a rollout raises no alert. The newer ones
# are sent again and Loki's queries return them once (identical time and line).
# The stage measures age from the wall clock, not from the stream's newest
# line: a Promtail over an hour behind drops lines Loki might still have
# taken, which PromtailFallingBehind reports.
BACK_STAGES = {
    "docker": [],
    "kubernetes": [{"drop": {"older_than": LOKI_OUT_OF_ORDER_WINDOW, "drop_counter_reason": OLDER_THAN_LOKI_ACCEPTS}}],
}
# A Promtail on Kubernetes runs as this user, not root. The kubelet's log
# files are root:root 0640 in 0755 folders (containerd's CRI
# CreateContainerLoggers, CRI-O's conmon), so the root group (a supplementary
# group, not the process's own) is all it needs to read them.
KUBERNETES_USER = "10001:10001"
LOG_READER_GROUPS = (0,)


def _scrape_config(settings: Settings) -> dict:
    """The one job: its discovery and relabelling for the target, then the
    target's front stages, the shared pipeline_stages and its back stages."""
    if settings.target == "kubernetes":
        discovery = {
            "job_name": "gateway-pods",
            # Promtail adds `spec.nodeName=$HOSTNAME` to this selector itself
            # (filetargetmanager.go fulfillKubePodSelector): each Promtail
            # lists only its own node's pods, whose files it can read.
            "kubernetes_sd_configs": [gateway_pod_sd_config(settings)],
            "relabel_configs": _gateway_pod_relabels(settings),
        }
    else:
        discovery = {
            "job_name": "gateway-containers",
            "docker_sd_configs": [{"host": f"unix://{DOCKER_SOCKET}", "refresh_interval": "5s"}],
            "relabel_configs": _gateway_container_relabels(settings),
        }
    stages = [*FRONT_STAGES[settings.target], *pipeline_stages(settings), *BACK_STAGES[settings.target]]
    return {**discovery, "pipeline_stages": stages}


def render_promtail_config(settings: Settings) -> str:
    config = {
        "server": {
            "http_listen_port": topology.port("promtail"),
            "grpc_listen_port": 0,
            "log_level": "info",
            # With the default (true), /ready answers 500 "Unable to find any
            # logs to tail" until a file is open (clients/pkg/promtail/server/
            # server.go:104-107, 284-296; file/filetarget.go:157): on a node
            # with no gateway pod, or before the gateway is deployed, the
            # kubelet would restart Promtail forever and a DaemonSet rollout
            # would never finish. Whether it ships is what its metrics and
            # alerts say (PromtailRequestsErrors, PromtailDroppingEntries).
            "health_check_target": False,
        },
        # On the volume: a restarted Promtail resumes where it stopped instead of re-sending
        # (on Kubernetes the pod's: see BACK_STAGES).
        "positions": {"filename": f"{DATA_DIR}/positions.yaml"},
        "clients": [
            {
                "url": f"{topology.url(settings, 'loki')}{LOKI_PUSH_PATH}",
                "external_labels": {"environment": settings.environment},
            }
        ],
        "scrape_configs": [_scrape_config(settings)],
    }
    return render_yaml(config, "stack/components/promtail.py")


# The image has bash but neither wget nor curl (removed upstream on purpose).
_READY_OVER_DEV_TCP = (
    "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& head -n 1 <&3 | grep -q ' 200 '"
)


def promtail_service(settings: Settings) -> ServiceSpec:
    port = topology.port("promtail")
    kubernetes = settings.target == "kubernetes"
    return service_spec(
        settings,
        "promtail",
        args=(f"-config.file={CONFIG_DIR}/promtail.yaml",),
        ports=(Port("http", port, published=False),),
        readiness=HttpProbe(port, "/ready"),
        files={f"{CONFIG_DIR}/promtail.yaml": render_promtail_config(settings)},
        volumes=(DataVolume("positions", DATA_DIR),),
        host_paths=(HostPath(POD_LOGS, POD_LOGS),) if kubernetes else (HostPath(DOCKER_SOCKET, DOCKER_SOCKET),),
        # The Docker socket is root's (the image runs as root already); see KUBERNETES_USER.
        user=KUBERNETES_USER if kubernetes else "0:0",
        supplemental_groups=LOG_READER_GROUPS if kubernetes else (),
        # The pod role lists and watches pods only.
        api_access=(ApiAccess(("pods",), settings.kubernetes.gateway.namespace),) if kubernetes else (),
        health_command=("bash", "-c", _READY_OVER_DEV_TCP.format(port=port)),
    )
