"""The Kong side of the contract: global plugins and settings Kong needs so
its metrics, traces and access logs match this stack.

Kong belongs to the gateway, not to this stack, so nothing here is deployed:
`python -m stack render` writes, for the gateway's deployment to apply,
kong/kong-telemetry.yml (declarative config, global plugins), kong/kong.env
(environment of the Kong container) and kong/ai-proxy-logging.yml (a decK
patch for the gateway's own AI Proxy plugins). All three need Kong 3.8 or
later (`MINIMUM_KONG_VERSION`).

Facts about Kong come from its source (github.com/Kong/kong at tags 3.7.1,
3.8.0 and 3.9.3, the last open-source release line) and the official image
(github.com/Kong/docker-kong); tests/test_kong.py records the schema field
names read there and checks every rendered key against them.
"""

from __future__ import annotations

from stack import topology
from stack.generated_yaml import render_yaml
from stack.settings import Settings

# The oldest Kong the rendered files work on. The prometheus plugin's
# `ai_metrics` and the opentelemetry plugin's `traces_endpoint` first appear in
# 3.8.0 (kong/plugins/{prometheus,opentelemetry}/schema.lua); Kong 3.7 refuses
# the file with "unknown field". Open-source Kong images stop at 3.9.x.
MINIMUM_KONG_VERSION = "3.8"
VERSION_FLOOR_NOTE = (
    f"Needs Kong {MINIMUM_KONG_VERSION} or later (checked against the plugin schemas of Kong 3.8.0 and 3.9.3;",
    "open-source Kong images stop at 3.9.x). Kong 3.7 and older refuse kong-telemetry.yml with",
    '"unknown field": the prometheus plugin\'s `ai_metrics` and the opentelemetry plugin\'s',
    "`traces_endpoint` are new in 3.8.0.",
)

# Kong's prometheus plugin enables NO metric group by default; each group and
# the contract metrics that need it.
METRIC_GROUPS = {
    "status_code_metrics": ("kong_http_requests_total",),
    "latency_metrics": ("kong_request_latency_ms", "kong_upstream_latency_ms", "kong_kong_latency_ms"),
    "bandwidth_metrics": ("kong_bandwidth_bytes",),
    "upstream_health_metrics": ("kong_upstream_target_health",),
    "ai_metrics": (
        "kong_ai_llm_requests_total",
        "kong_ai_llm_tokens_total",
        "kong_ai_llm_cost_total",
        "kong_ai_llm_provider_latency_ms",
    ),
}
# Where Kong's file-log JSON keeps the request path (read by Promtail).
LOG_PATH_FIELD = "request.uri"
# file-log's `trace_id` is an object, one key per propagation format Kong
# injected (kong/observability/tracing/propagation, 3.9): {"w3c": "<hex>"}.
# The formats whose id can be the full 128-bit trace id (32 lower-case hex),
# most reliable first: w3c, aws and gcp always are; b3 and jaeger are unless
# the request came with a 64-bit id; ot defaults to 64 bits. datadog's is a
# decimal 64-bit number, never a trace id Jaeger knows. Read by Promtail.
LOG_TRACE_ID_FORMATS = ("w3c", "aws", "gcp", "b3", "jaeger", "ot")
# Removed from every access-log line, whatever Kong's own serializer masks.
SENSITIVE_HEADERS = ("authorization", "proxy-authorization", "apikey", "x-api-key", "api-key", "cookie")


# What file-log to /dev/stdout needs of the user Kong runs as. Sources: the
# file-log handler opens `path` in the nginx worker, at log time
# (kong/plugins/file-log/handler.lua); workers switch to `nginx_user`, default
# `kong kong`, only when the master runs as root (kong/templates/kong_defaults.lua,
# kong.conf.default); the official image runs as `USER kong`
# (Kong/docker-kong Dockerfile.deb); runc hands a container's stdio to the user
# the container runs as (libcontainer fixStdioPermissions); reports of the
# failure: Kong/kong#6778, #8067, #12129.
STDOUT_WORKER_USER_NOTE = (
    "file-log opens /dev/stdout in every nginx worker process, as the worker's user. The official",
    "Kong image runs Kong as its non-root `kong` user (USER kong), and the container runtime gives",
    "the container's stdout to the user the container runs as, so the workers can open it.",
    "Started as root (compose `user: root`, Kubernetes `runAsUser: 0`), the workers switch to",
    "`kong` (nginx_user; `nobody` where no `kong` user exists) while stdout stays root's: every",
    'request then logs "[file-log] failed to open the file: Permission denied" and its access-log',
    "line is lost. Run Kong as a non-root user: master and workers then share it.",
)
# Why each plugin is set as it is; written as comments above its entry in
# kong-telemetry.yml, for whoever applies the file.
PLUGIN_NOTES = {
    "prometheus": (
        "Every metric group on: Kong enables none by default. ai_metrics counts only requests whose",
        "ai-proxy plugin has logging.log_statistics: true (ai-proxy-logging.yml sets it).",
        "per_consumer off: one series per consumer would be unbounded cardinality.",
    ),
    "opentelemetry": (
        "OTLP/HTTP traces to Jaeger with W3C traceparent in and out, so Kong's span is the parent",
        "of the services' spans. Kong makes spans only with KONG_TRACING_INSTRUMENTATIONS (kong.env).",
    ),
    "file-log": (
        "One JSON line per request on stdout, where Promtail reads it; credential headers removed.",
        *STDOUT_WORKER_USER_NOTE,
    ),
}
# Set on every ai-proxy plugin of the gateway. log_statistics: Kong records the
# kong_ai_llm_* metrics and the `ai` object of a log line only for requests
# whose ai-proxy plugin has it (kong/llm/plugin/shared-filters/
# serialize-analytics.lua at 3.9.3, kong/llm/drivers/shared.lua at 3.8.0);
# false by default (kong/llm/schemas/init.lua). log_payloads: true would copy
# every prompt and completion - personal data - into the access log.
AI_PROXY_LOGGING = {"log_statistics": True, "log_payloads": False}
# A decK patch selector (JSONPath, `..` descends): the config of every
# ai-proxy plugin, global or nested under a service or route.
AI_PROXY_CONFIG_SELECTOR = "$..plugins[?(@.name=='ai-proxy')].config"
AI_PROXY_NOTES = (
    "A decK patch for the gateway's own AI Proxy plugins; apply it to the gateway's decK file",
    "(here kong.yaml) before syncing it:",
    "  deck file patch -s kong.yaml -o kong.patched.yaml ai-proxy-logging.yml",
    "It sets config.logging of every ai-proxy plugin, global or under a service or route; the",
    "record has exactly these two fields, so replacing it as a whole loses nothing.",
    "log_statistics: true - Kong fills the kong_ai_llm_* metrics (prometheus plugin, ai_metrics)",
    "and the `ai` object of each access-log line (model, token counts, cost, latency) only for",
    "requests whose ai-proxy plugin has it on; it is off by default.",
    "log_payloads: false - on, it would copy every prompt and completion (personal data) into",
    "the access log, and from there into Loki.",
    "Kong refuses log_statistics for model.provider anthropic with route_type llm/v1/completions:",
    "use llm/v1/chat there. kong_ai_llm_cost_total stays empty unless model.options.input_cost and",
    "model.options.output_cost are set. Without decK, set the same two fields under config.logging",
    "of each ai-proxy plugin (Admin API, KongPlugin resource).",
)


def _comment_lines(notes: tuple[str, ...], indent: str = "") -> str:
    return "".join(f"{indent}# {note}\n".replace("# \n", "#\n") for note in notes)


def _with_header_notes(text: str, notes: tuple[str, ...]) -> str:
    """Put `notes` as comments under the first line of `text` (its "Generated by" header)."""
    generated, _, body = text.partition("\n")
    return f"{generated}\n{_comment_lines(notes)}{body}"


def _with_plugin_notes(text: str, notes: dict[str, tuple[str, ...]]) -> str:
    """Put each plugin's notes, as comments, on the lines above its `- name: <plugin>` entry."""
    out = []
    for line in text.splitlines(keepends=True):
        item = line.lstrip(" ")
        name = item.removeprefix("- name: ").rstrip("\n") if item.startswith("- name: ") else None
        if name in notes:
            out.append(_comment_lines(notes[name], indent=line[: len(line) - len(item)]))
        out.append(line)
    return "".join(out)


def render_kong_declarative(settings: Settings) -> str:
    """kong-telemetry.yml: Kong declarative config (format 3.0) with the
    prometheus, opentelemetry and file-log plugins as global plugins, the
    version floor in the header and each plugin's reasons above its entry.
    Field names follow the plugin schemas of Kong 3.8.0 and 3.9.3."""
    plugins = [
        {
            "name": "prometheus",
            "config": {
                **{group: True for group in METRIC_GROUPS},
                "per_consumer": False,
            },
        },
        {
            "name": "opentelemetry",
            "config": {
                "traces_endpoint": f"{topology.gateway_url(settings, 'jaeger', 'otlp-http')}/v1/traces",
                "resource_attributes": {"service.name": "kong", "deployment.environment": settings.environment},
                "propagation": {"extract": ["w3c"], "inject": ["w3c"], "default_format": "w3c"},
            },
        },
        {
            "name": "file-log",
            "config": {
                "path": "/dev/stdout",
                "reopen": False,
                "custom_fields_by_lua": {f"request.headers.{h}": "return nil" for h in SENSITIVE_HEADERS}
                | {"response.headers.set-cookie": "return nil"},
            },
        },
    ]
    text = render_yaml({"_format_version": "3.0", "plugins": plugins}, "stack/components/kong.py")
    return _with_header_notes(_with_plugin_notes(text, PLUGIN_NOTES), VERSION_FLOOR_NOTE)


def render_ai_proxy_logging_patch() -> str:
    """ai-proxy-logging.yml: a decK patch file (`deck file patch`, format 1.0,
    read by Kong/go-apiops patch/deckpatchfile.go) that sets `config.logging`
    of every ai-proxy plugin in the gateway's own decK file to
    `AI_PROXY_LOGGING`. Not a plugin of its own: an ai-proxy plugin needs the
    gateway's route type, model and credentials, which are not this stack's."""
    patch = {
        "_format_version": "1.0",
        "patches": [{"selectors": [AI_PROXY_CONFIG_SELECTOR], "values": {"logging": dict(AI_PROXY_LOGGING)}}],
    }
    return _with_header_notes(render_yaml(patch, "stack/components/kong.py"), (*VERSION_FLOOR_NOTE, "", *AI_PROXY_NOTES))


def kong_status_port(settings: Settings) -> int:
    """The port of Kong's Status API: the one Prometheus scrapes (gatewayServices.kong), else 8100."""
    kong = next((s for s in settings.gateway_services if s.name == "kong"), None)
    return int(kong.address.rpartition(":")[2]) if kong else 8100


def render_kong_env(settings: Settings) -> str:
    """kong.env: KONG_* variables for the gateway's Kong container (docker
    `env_file` syntax). Each names a kong.conf property of
    kong/templates/kong_defaults.lua at Kong 3.8.0 and 3.9.3."""
    lines = [
        "# Generated by stack/components/kong.py: environment for the gateway's Kong container.",
        _comment_lines(VERSION_FLOOR_NOTE).rstrip("\n"),
        "# Status API with /metrics, on the address Prometheus scrapes (gatewayServices.kong).",
        f"KONG_STATUS_LISTEN=0.0.0.0:{kong_status_port(settings)}",
        "# Kong creates no spans unless told to; sample everything, the services decide too.",
        "KONG_TRACING_INSTRUMENTATIONS=all",
        "KONG_TRACING_SAMPLING_RATE=1.0",
        "# file-log writes one JSON line per request; nginx's own access log would",
        "# interleave plain-text lines with them on stdout.",
        "KONG_PROXY_ACCESS_LOG=off",
        "KONG_ADMIN_ACCESS_LOG=off",
    ]
    return "\n".join(lines) + "\n"


def kong_files(settings: Settings) -> dict[str, str]:
    """Rendered path -> text of everything the gateway's Kong needs from this stack."""
    return {
        "kong/kong-telemetry.yml": render_kong_declarative(settings),
        "kong/kong.env": render_kong_env(settings),
        "kong/ai-proxy-logging.yml": render_ai_proxy_logging_patch(),
    }
