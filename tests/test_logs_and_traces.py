"""Logs and traces: the Promtail pipeline on real gateway log lines, every
LogQL expression through Grafana's LogQL grammar, every regex through RE2,
Loki retention and limits, Grafana's log-trace-metric links, the Kong side."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import subprocess
from pathlib import PurePosixPath
import sys

import promql_parser
import pytest
import re2
import yaml
from conftest import ROOT, require_tool, tool_missing
from promtail_pipeline import GoTemplate, Pipeline, Selector, docker_entry_labels, run_pipeline, run_stream

from gateway_telemetry import contract
from gateway_telemetry.redaction import redaction_stages
from stack import topology
from stack.alerting import loki_rule_files
from stack.components.grafana import DATASOURCE_UIDS, correlations, render_datasources
from stack.components.jaeger import jaeger_service, render_jaeger_config
from stack.components.kong import METRIC_GROUPS, SENSITIVE_HEADERS, render_kong_declarative, render_kong_env
from stack.components.kong import LOG_TRACE_ID_FORMATS
from stack.components.loki import loki_service, render_loki_config
from stack.components.prometheus import render_prometheus_config
from stack.components.promtail import (
    FIRST_LINE,
    PROBE_ENDPOINTS,
    pipeline_stages,
    probe_path_regex,
    probe_paths,
    promtail_service,
    render_promtail_config,
)
from stack.settings import SettingsError, parse_settings

LOGQL_CHECKER = ROOT / "tests" / "logql"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def logql_errors(expressions: list[str]) -> list[list[dict]]:
    """Parse with @grafana/lezer-logql (tests/logql); CI fails if it is missing."""
    node = require_tool("node")
    if not (LOGQL_CHECKER / "node_modules" / "@grafana" / "lezer-logql").is_dir():
        tool_missing("tests/logql/node_modules is missing (run `make tools`)")
    result = subprocess.run(
        [node, "check.mjs"], cwd=LOGQL_CHECKER, input=json.dumps(expressions), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def grafana_unescape(text: str) -> str:
    return text.replace("$$", "$")


def substitute_grafana_variables(text: str) -> str:
    return (
        text.replace("${__trace.traceId}", TRACE_ID)
        .replace("${__value.raw}", TRACE_ID)
        .replace("$__tags", 'service_name="unified-llm-api"')
    )


@pytest.fixture
def prod():
    return parse_settings({"target": "docker"}, "prod", "test")


# Every default: the four gateway services, each scraped at /metrics.
DEFAULTS = parse_settings({"target": "docker"}, "prod", "test")


# --- Promtail -----------------------------------------------------------------

GATEWAY_LINE = {
    "timestamp": "2026-11-22T08:01:55.123456Z",
    "level": "ERROR",
    "service": "unified-llm-api",
    "message": "provider call failed for key sk-proj-Ab3dEf5GhIjKlMnOpQrStUvWx, user jane.doe@example.com",
    "request_id": "3f2b8c1e-9a4d-4e6f-b1c2-7d8e9f0a1b2c",
    "trace_id": TRACE_ID,
    "span_id": "00f067aa0ba902b7",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "status": 502,
    "latency_ms": 1532.7,
    "input_tokens": 1234,
    "output_tokens": 0,
    "cost_usd": 0.0042,
    "error_type": "APITimeoutError",
    "path": "/v1/chat/completions",
}


@pytest.mark.parametrize("service", ["unified-llm-api", "intelligent-router", "optimization-service", "kong"])
def test_a_gateway_json_line_is_parsed_labelled_and_redacted(service):
    line = json.dumps({**GATEWAY_LINE, "service": service})
    entry = run_pipeline(pipeline_stages(DEFAULTS), line, {"service": service, "environment": "prod"})
    assert entry.dropped is None
    assert entry.labels == {"service": service, "environment": "prod", "level": "error", "provider": "openai"}
    assert entry.metadata == {
        "request_id": GATEWAY_LINE["request_id"],
        "trace_id": TRACE_ID,
        "span_id": "00f067aa0ba902b7",
        "model": "gpt-4o-mini",
    }
    assert entry.timestamp.isoformat() == "2026-11-22T08:01:55.123456+00:00"
    assert "sk-proj-" not in entry.line and "jane.doe@example.com" not in entry.line
    assert "[REDACTED:openai_key]" in entry.line and "[REDACTED:email]" in entry.line
    assert json.loads(entry.line)["latency_ms"] == 1532.7  # still valid JSON, fields intact


def _all_stages(stages: list[dict]):
    for stage in stages:
        yield stage
        if "match" in stage:
            yield from _all_stages(stage["match"].get("stages", []))


def test_only_the_contracts_low_cardinality_labels_reach_loki(prod):
    config = yaml.safe_load(render_promtail_config(prod))
    job = config["scrape_configs"][0]
    stages = list(_all_stages(job["pipeline_stages"]))
    relabelled = {r["target_label"] for r in job["relabel_configs"] if not r.get("target_label", "__").startswith("__")}
    dropped = {name for s in stages for name in s.get("labeldrop", [])}
    set_by_stages = {name for s in stages for kind in ("labels", "static_labels") for name in s.get(kind, {})}
    from_client = set(config["clients"][0]["external_labels"])
    assert ((relabelled | set_by_stages) - dropped) | from_client == set(contract.LOG_LABELS)
    metadata = next(s["structured_metadata"] for s in stages if "structured_metadata" in s)
    assert {"request_id", "trace_id", "span_id"} <= set(metadata)
    assert not set(metadata) & set(contract.LOG_LABELS)


def test_every_log_field_of_the_contract_is_handled():
    stages = pipeline_stages(DEFAULTS)
    extracted = next(s["json"]["expressions"] for s in stages if "json" in s)
    for field in contract.LOG_FIELDS:
        if field.stored_as in {"label", "metadata"} or field.name in {"timestamp", "path"}:
            assert field.name in extracted, field.name


def test_redaction_runs_before_parsing():
    stages = pipeline_stages(DEFAULTS)
    kinds = [next(iter(s)) for s in stages]
    assert stages.index(redaction_stages()[-1]) < kinds.index("json")
    assert kinds[0] == "multiline"


# --- Real line shapes: what the services and Kong's file-log write ---------------------

KONG_TRACE_ID = {"w3c": TRACE_ID}


def service_access_line(path: str, trace_id=TRACE_ID, **extra) -> str:
    """An access-log line as the gateway's services write it (the contract's JSON fields)."""
    return json.dumps(
        {
            "timestamp": "2026-11-22T08:01:55.123456Z",
            "level": "INFO",
            "service": "unified-llm-api",
            "message": "request finished",
            "request_id": "3f2b8c1e-9a4d-4e6f-b1c2-7d8e9f0a1b2c",
            "trace_id": trace_id,
            "span_id": "00f067aa0ba902b7",
            "path": path,
            "status": 200,
            "latency_ms": 2.4,
            **extra,
        }
    )


def kong_access_line(uri: str, trace_id=KONG_TRACE_ID) -> str:
    """One line of Kong 3.9's file-log (kong/pdk/log.lua serialize): the
    request URI as the client sent it, `trace_id` keyed by propagation format."""
    line = {
        "request": {
            "id": "9c3e6b0a7f3d4d1e8a0b5c6d7e8f9a0b",
            "uri": uri,
            "url": f"http://gateway:8000{uri}",
            "method": "GET",
            "size": 118,
            "querystring": {},
            "headers": {"host": "gateway:8000", "user-agent": "kube-probe/1.33", "accept": "*/*"},
        },
        "upstream_uri": uri,
        "response": {"status": 200, "size": 312, "headers": {"content-type": "application/json", "x-kong-upstream-latency": "2"}},
        "latencies": {"kong": 1, "proxy": 2, "request": 3, "receive": 0},
        "tries": [{"ip": "172.18.0.5", "port": 8001, "balancer_latency": 0}],
        "client_ip": "172.18.0.1",
        "started_at": 1795334515120,
        "service": {"name": "unified-llm-api", "host": "unified-llm-api", "port": 8001, "protocol": "http"},
        "route": {"name": "llm", "paths": ["/"]},
        "workspace_name": "default",
        "source": "upstream",
    }
    if trace_id is not None:
        line["trace_id"] = trace_id
    return json.dumps(line)


# Probe and scrape paths in every shape each source logs them.
SERVICE_PROBE_PATHS = [f"/{p}" for p in PROBE_ENDPOINTS] + ["/health/", "/metrics/", "/health?verbose=1", "/metrics?name[]=up"]
KONG_PROBE_URIS = [f"/{p}" for p in PROBE_ENDPOINTS] + ["/healthz/", "/health?", "/health?probe=lb&t=1", "/metrics?format=prometheus"]
# Decision: only the probe endpoints at the root are noise. A prefixed route
# ("/api/health", "/v1/metrics-report") is an API call, a longer word is
# another route, a probe path in a query string is just a parameter; case
# counts, as in the services' routes.
REAL_REQUEST_PATHS = [
    "/v1/chat/completions",
    "/v1/chat/completions?x=/health",
    "/v1/chat/completions?next=/metrics&retry=1",
    "/healthcare",
    "/health-report",
    "/metricsx",
    "/v1/metrics-report",
    "/v1/health",
    "/api/health",
    "/api/health/details",
    "/health/live",
    "/Health",
    "/",
]


@pytest.mark.parametrize("path", SERVICE_PROBE_PATHS)
def test_service_probe_lines_are_dropped_in_every_shape(path):
    entry = run_pipeline(pipeline_stages(DEFAULTS), service_access_line(path), {"service": "unified-llm-api"})
    assert entry.dropped == "health_check"


@pytest.mark.parametrize("uri", KONG_PROBE_URIS)
def test_kong_probe_lines_are_dropped_in_every_shape(uri):
    assert run_pipeline(pipeline_stages(DEFAULTS), kong_access_line(uri), {"service": "kong"}).dropped == "health_check"


@pytest.mark.parametrize("path", REAL_REQUEST_PATHS)
def test_real_requests_are_never_dropped(path):
    assert run_pipeline(pipeline_stages(DEFAULTS), service_access_line(path), {"service": "unified-llm-api"}).dropped is None
    assert run_pipeline(pipeline_stages(DEFAULTS), kong_access_line(path), {"service": "kong"}).dropped is None


def test_only_access_lines_can_be_dropped_as_probes():
    # A path elsewhere in the line (a message, Kong's upstream_uri) decides nothing.
    message = json.dumps({"level": "info", "message": "GET /health 200", "service": "unified-llm-api"})
    assert run_pipeline(pipeline_stages(DEFAULTS), message, {"service": "unified-llm-api"}).dropped is None
    kong = json.loads(kong_access_line("/v1/chat/completions"))
    kong["upstream_uri"] = "/health"
    assert run_pipeline(pipeline_stages(DEFAULTS), json.dumps(kong), {"service": "kong"}).dropped is None


# A service scraped elsewhere than /metrics: its scrape lines are noise too.
CUSTOM_METRICS = parse_settings(
    {
        "target": "docker",
        "gatewayServices": [
            {"name": "kong", "address": "kong:8100", "metricsPath": "/internal/metrics"},
            {"name": "unified-llm-api", "address": "unified-llm-api:8000", "metricsPath": "/ops/prom.v1/"},
        ],
    },
    "prod",
    "test",
)
CUSTOM_SCRAPE_PATHS = [
    "/internal/metrics",
    "/internal/metrics/",
    "/internal/metrics?format=prometheus",
    "/ops/prom.v1",
    "/ops/prom.v1/",
    "/ops/prom.v1?x=1",
]


@pytest.mark.parametrize("path", CUSTOM_SCRAPE_PATHS)
def test_scrape_lines_of_a_configured_metrics_path_are_dropped_in_every_shape(path):
    stages = pipeline_stages(CUSTOM_METRICS)
    assert run_pipeline(stages, service_access_line(path), {"service": "unified-llm-api"}).dropped == "health_check"
    assert run_pipeline(stages, kong_access_line(path), {"service": "kong"}).dropped == "health_check"


@pytest.mark.parametrize(
    "path",
    [
        *REAL_REQUEST_PATHS,
        "/internal/metricsx",
        "/internal/metrics/details",
        "/v1/internal/metrics",
        "/ops/promxv1",  # '.' in a metrics path is a dot, not any character
        "/ops/prom.v1x",
        "/v1/chat?next=/internal/metrics",
    ],
)
def test_a_configured_metrics_path_drops_nothing_else(path):
    stages = pipeline_stages(CUSTOM_METRICS)
    assert run_pipeline(stages, service_access_line(path), {"service": "unified-llm-api"}).dropped is None
    assert run_pipeline(stages, kong_access_line(path), {"service": "kong"}).dropped is None


def test_the_probe_drops_come_from_the_settings_in_both_sources():
    # Every drop stage takes its expression from one place, fed by the settings.
    drops = [s["drop"]["expression"] for s in pipeline_stages(CUSTOM_METRICS) if "drop" in s]
    assert len(drops) == 2 and drops[0] == drops[1] == probe_path_regex(CUSTOM_METRICS)
    assert set(probe_paths(CUSTOM_METRICS)) == {f"/{p}" for p in PROBE_ENDPOINTS} | {"/internal/metrics", "/ops/prom.v1"}
    re2.compile(drops[0])
    # The rendered config carries the same stages.
    job = yaml.safe_load(render_promtail_config(CUSTOM_METRICS))["scrape_configs"][0]
    assert job["pipeline_stages"] == pipeline_stages(CUSTOM_METRICS)


# --- One trace id shape from every source ------------------------------------------------


@pytest.mark.parametrize(
    "source, line",
    [
        ("service", service_access_line("/v1/chat/completions")),
        ("service, upper-case hex", service_access_line("/v1/chat/completions", trace_id=TRACE_ID.upper())),
        ("kong, w3c (this stack's propagation)", kong_access_line("/v1/chat/completions")),
        *(
            (f"kong, {f} only", kong_access_line("/v1/chat/completions", trace_id={f: TRACE_ID}))
            for f in LOG_TRACE_ID_FORMATS
        ),
        ("kong, w3c and a 64-bit ot", kong_access_line("/v1", trace_id={"ot": TRACE_ID[16:], "w3c": TRACE_ID})),
        ("kong, b3 and datadog", kong_access_line("/v1", trace_id={"b3": TRACE_ID, "datadog": "11803532876627986230"})),
    ],
)
def test_every_source_gives_the_same_trace_id_in_structured_metadata(source, line):
    service = "kong" if source.startswith("kong") else "unified-llm-api"
    entry = run_pipeline(pipeline_stages(DEFAULTS), line, {"service": service})
    assert entry.dropped is None
    assert entry.metadata["trace_id"] == TRACE_ID
    written, shipped = json.loads(line), json.loads(entry.line)
    assert {key: shipped[key] for key in written} == written  # the line keeps what the source wrote


@pytest.mark.parametrize(
    "trace_id",
    [
        {"datadog": "11803532876627986230"},  # decimal 64-bit: no Jaeger trace has it
        {"b3": TRACE_ID[16:]},  # a 64-bit id: truncated or padded, nobody can tell
        {"ot": TRACE_ID[16:]},
        {"b3": ""},  # Kong's b3 injector with no trace id
        {},
        "not-a-trace-id",
        TRACE_ID + "00",
        12345,
        None,
        "0" * 32,  # OpenTelemetry's invalid id: a service logging outside any span
        {"w3c": "0" * 32},  # Kong's w3c field with an invalid parent
    ],
)
def test_a_trace_id_that_names_no_trace_is_left_out(trace_id):
    for service, line in (
        ("kong", kong_access_line("/v1/chat/completions", trace_id=trace_id)),
        ("unified-llm-api", service_access_line("/v1/chat/completions", trace_id=trace_id)),
    ):
        entry = run_pipeline(pipeline_stages(DEFAULTS), line, {"service": service})
        assert entry.dropped is None
        assert "trace_id" not in entry.metadata, (service, entry.metadata)


def test_a_kong_line_links_to_its_trace_through_grafana(prod):
    # The derived field reads the structured metadata Promtail wrote.
    entry = run_pipeline(pipeline_stages(DEFAULTS), kong_access_line("/v1/chat/completions"), {"service": "kong"})
    derived = next(f for f in correlations(prod)["loki"]["derivedFields"] if f["matcherType"] == "label")
    assert entry.metadata[derived["matcherRegex"]] == TRACE_ID


def test_plain_text_and_traceback_entries_get_an_error_level():
    uvicorn = run_pipeline(pipeline_stages(DEFAULTS), "ERROR:    Exception in ASGI application", {"service": "unified-llm-api"})
    assert uvicorn.labels["level"] == "error"
    traceback = 'Traceback (most recent call last):\n  File "app.py", line 3, in handler\nValueError: boom'
    assert run_pipeline(pipeline_stages(DEFAULTS), traceback, {"service": "unified-llm-api"}).labels["level"] == "error"


@pytest.mark.parametrize(
    "line, starts_entry",
    [
        ('{"level":"error","message":"boom"}', True),
        ("ERROR:    Exception in ASGI application", True),
        ("Traceback (most recent call last):", True),
        ('  File "/app/main.py", line 42, in call_provider', False),
        ("    raise APITimeoutError(request)", False),
        ("openai.APITimeoutError: Request timed out.", False),
        ("ValueError: invalid literal for int()", False),
        ("2026/11/22 08:01:55 [error] 1234#0: *5 connect() failed (111: Connection refused)", True),
    ],
)
def test_multiline_joins_traceback_frames_to_their_entry(line, starts_entry):
    assert bool(re2.search(FIRST_LINE, line)) is starts_entry


# --- One multiline buffer per stream -----------------------------------------------------

PYTHON_TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "/app/unified_llm_api/providers.py", line 88, in call_provider',
    "    response = await client.post(url, json=payload, timeout=30)",
    '  File "/usr/local/lib/python3.12/site-packages/httpx/_client.py", line 1859, in post',
    "    return await self.request(",
    "httpx.ReadTimeout: timed out",
)


def _container(compose_service: str, number: int = 1, project: str = "gateway") -> dict[str, str]:
    """What docker_sd discovers for a compose container (Prometheus' moby
    discovery: name, id, and every container label)."""
    name = f"{project}-{compose_service}-{number}"
    return {
        "__meta_docker_container_name": f"/{name}",
        "__meta_docker_container_id": hashlib.sha256(name.encode()).hexdigest(),
        "__meta_docker_container_label_com_docker_compose_project": project,
        "__meta_docker_container_label_com_docker_compose_service": compose_service,
        "__meta_docker_container_label_com_docker_compose_container_number": str(number),
    }


def _ship(settings, lines: list[tuple[dict, str, str]]):
    """(container, log stream, line) in the order Promtail reads them, a
    millisecond apart, through the rendered relabelling (which may drop a
    container's lines) and pipeline."""
    job = yaml.safe_load(render_promtail_config(settings))["scrape_configs"][0]
    events = [
        (i / 1000, docker_entry_labels(job["relabel_configs"], container, stream), line)
        for i, (container, stream, line) in enumerate(lines)
    ]
    return run_stream(job["pipeline_stages"], [e for e in events if e[1] is not None])


def test_stdout_json_and_stderr_tracebacks_of_one_container_stay_whole(prod):
    api = _container("unified-llm-api")
    access = [service_access_line(f"/v1/chat/completions?n={i}", trace_id=f"{i + 1:032x}") for i in range(2 * len(PYTHON_TRACEBACK))]
    stderr = ["ERROR:    Exception in ASGI application", *PYTHON_TRACEBACK, *PYTHON_TRACEBACK]
    # Line by line: stderr, stdout, stderr, stdout, ... as Docker interleaves them under load.
    from_stderr = [(api, "stderr", line) for line in stderr]
    from_stdout = [(api, "stdout", line) for line in access]
    shipped = _ship(prod, [item for pair in itertools.zip_longest(from_stderr, from_stdout) for item in pair if item])
    assert not shipped.dropped
    traceback = "\n".join(PYTHON_TRACEBACK)
    assert sorted(e.line for e in shipped.output) == sorted([*access, stderr[0], traceback, traceback])
    for entry in shipped.output:
        if entry.line in access:
            assert entry.labels == {"service": "unified-llm-api", "stream": "stdout", "level": "info"}
            assert entry.metadata["trace_id"] == json.loads(entry.line)["trace_id"]
        else:
            assert entry.labels == {"service": "unified-llm-api", "stream": "stderr", "level": "error"}


def test_replicas_of_one_service_keep_their_tracebacks_apart(prod):
    replicas = [_container("unified-llm-api", n) for n in (1, 2)]
    first = PYTHON_TRACEBACK
    second = (*PYTHON_TRACEBACK[:-1], "openai.RateLimitError: Error code: 429")
    lines = [item for pair in zip(first, second) for item in ((replicas[0], "stderr", pair[0]), (replicas[1], "stderr", pair[1]))]
    shipped = _ship(prod, lines)
    assert sorted(e.line for e in shipped.output) == sorted(["\n".join(first), "\n".join(second)])
    # The replica number only kept the buffers apart: both entries share one Loki stream.
    assert [e.labels for e in shipped.output] == [{"service": "unified-llm-api", "stream": "stderr", "level": "error"}] * 2


def test_every_line_reaches_loki_with_its_docker_stream_as_a_label(prod):
    api = _container("unified-llm-api")
    shipped = _ship(prod, [(api, "stdout", service_access_line("/v1/models")), (api, "stderr", "WARNING:  Invalid HTTP request received.")])
    assert [e.labels for e in shipped.output] == [
        {"service": "unified-llm-api", "stream": "stdout", "level": "info"},
        {"service": "unified-llm-api", "stream": "stderr", "level": "warning"},
    ]
    assert all(set(e.labels) <= set(contract.LOG_LABELS) for e in shipped.output)


def test_a_container_started_without_compose_is_known_by_its_name(prod):
    plain = {"__meta_docker_container_name": "/kong", "__meta_docker_container_id": "f" * 64}
    other = {"__meta_docker_container_name": "/postgres", "__meta_docker_container_id": "e" * 64}
    shipped = _ship(prod, [(plain, "stdout", kong_access_line("/v1/models")), (other, "stdout", '{"msg": "x"}')])
    assert [(e.labels, e.metadata["trace_id"]) for e in shipped.output] == [
        ({"service": "kong", "stream": "stdout", "level": "info"}, TRACE_ID)
    ]


def test_promtail_keeps_only_gateway_containers(prod):
    config = yaml.safe_load(render_promtail_config(prod))
    keep = next(r for r in config["scrape_configs"][0]["relabel_configs"] if r.get("action") == "keep")
    regex = re2.compile(f"^(?:{keep['regex']})$")  # Prometheus relabel regexes are anchored
    assert regex.match("unified-llm-api") and regex.match("kong")
    assert not regex.match("obs-loki") and not regex.match("postgres")


def test_promtail_mounts_only_the_docker_socket_it_reads(prod):
    spec = promtail_service(prod)
    text = render_promtail_config(prod)
    config = yaml.safe_load(text)
    assert [(h.host_path, h.mount_path) for h in spec.host_paths] == [("/var/run/docker.sock", "/var/run/docker.sock")]
    # Logs come through the Docker API: no job reads files from the host.
    assert all(set(job) - {"job_name", "pipeline_stages", "relabel_configs"} == {"docker_sd_configs"} for job in config["scrape_configs"])
    assert "__path__" not in text
    hosts = {sd["host"] for job in config["scrape_configs"] for sd in job["docker_sd_configs"]}
    assert hosts == {f"unix://{h.mount_path}" for h in spec.host_paths}


def _promtail_regexes(config: dict) -> list[str]:
    job = config["scrape_configs"][0]
    found = [r["regex"] for r in job["relabel_configs"] if "regex" in r]
    for stage in _all_stages(job["pipeline_stages"]):
        (kind, body), = stage.items()
        if kind == "multiline":
            found.append(body["firstline"])
        elif kind in {"replace", "regex", "drop"}:
            found.append(body["expression"])
    return found


def test_every_promtail_stage_loads_as_promtail_would(prod):
    # The interpreter refuses what Promtail 3.6.15 refuses (selector syntax,
    # Go string escapes, stage options) and what it does not know itself.
    job = yaml.safe_load(render_promtail_config(prod))["scrape_configs"][0]
    Pipeline(job["pipeline_stages"])
    for stage in _all_stages(job["pipeline_stages"]):
        if "match" in stage:
            Selector.parse(stage["match"]["selector"])
        if "template" in stage:
            GoTemplate(stage["template"]["template"])


def test_every_promtail_and_grafana_regex_compiles_under_re2(prod):
    regexes = _promtail_regexes(yaml.safe_load(render_promtail_config(prod)))
    regexes += [f["matcherRegex"] for f in correlations(prod)["loki"]["derivedFields"] if f["matcherType"] == "regex"]
    assert len(regexes) > 15
    for regex in regexes:
        re2.compile(regex)


def test_the_in_line_trace_id_link_finds_the_trace_id():
    field = next(f for f in correlations(parse_settings({"target": "docker"}, "dev", "t"))["loki"]["derivedFields"] if f["matcherType"] == "regex")
    assert re2.search(field["matcherRegex"], json.dumps(GATEWAY_LINE)).group(1) == TRACE_ID


# --- LogQL ----------------------------------------------------------------------


def test_every_logql_expression_parses_with_grafanas_grammar(prod):
    rules = [r["expr"] for text in loki_rule_files(prod).values() for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    selectors = [r["selector"] for r in yaml.safe_load(render_loki_config(prod))["limits_config"]["retention_stream"]]
    links = [substitute_grafana_variables(correlations(prod)["jaeger"]["tracesToLogsV2"]["query"])]
    matches = [s["match"]["selector"] for s in pipeline_stages(DEFAULTS) if "match" in s]
    expressions = rules + selectors + links + matches
    assert len(rules) == 3 and selectors and matches
    errors = logql_errors(expressions)
    assert all(not e for e in errors), [(x, e) for x, e in zip(expressions, errors) if e]


def test_the_logql_parser_really_rejects_broken_queries():
    assert all(logql_errors(['sum(rate({service="x"}[5m]) >', '{service="x" |= "oops"']))


def test_logql_rules_fire_on_the_right_things(prod):
    rules = {r["alert"]: r for text in loki_rule_files(prod).values() for g in yaml.safe_load(text)["groups"] for r in g["rules"]}
    assert set(rules) == {"GatewayErrorLogRateHigh", "GatewayRepeatedProviderErrors", "GatewaySecretLeakedToLogs"}
    leak = rules["GatewaySecretLeakedToLogs"]
    assert leak["labels"]["severity"] == "critical"
    pattern = re.search(r"\|~ `(.*)`", leak["expr"]).group(1)
    assert re2.search(pattern, "x-api-key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345")
    assert not re2.search(pattern, "x-api-key [REDACTED:anthropic_key]")


def test_committed_loki_rules_match_the_generator(prod):
    from stack.alerting import LOKI_REFERENCE_DIR, reference_settings

    committed = {p.name: p.read_text() for p in LOKI_REFERENCE_DIR.glob("*.yml")}
    assert committed == loki_rule_files(reference_settings())


# --- Loki -------------------------------------------------------------------------


def test_loki_retention_is_global_and_per_stream_from_settings():
    settings = parse_settings(
        {
            "target": "docker",
            "retention": {"logs": "30d"},
            "logs": {"streamRetention": [{"selector": '{level="debug"}', "period": "3d"}, {"selector": '{service="kong"}', "period": "14d", "priority": 2}]},
        },
        "prod",
        "test",
    )
    limits = yaml.safe_load(render_loki_config(settings))["limits_config"]
    assert limits["retention_period"] == "30d"
    assert limits["retention_stream"] == [
        {"selector": '{level="debug"}', "priority": 1, "period": "3d"},
        {"selector": '{service="kong"}', "priority": 2, "period": "14d"},
    ]


def test_debug_logs_expire_after_three_days_by_default(prod):
    limits = yaml.safe_load(render_loki_config(prod))["limits_config"]
    assert {"selector": '{level="debug"}', "priority": 1, "period": "3d"} in limits["retention_stream"]


def test_loki_limits_come_from_settings():
    settings = parse_settings(
        {"target": "docker", "logs": {"limits": {"ingestionRateMb": 20, "maxQuerySeries": 20000, "perStreamRateLimitMb": 6}}},
        "prod",
        "test",
    )
    limits = yaml.safe_load(render_loki_config(settings))["limits_config"]
    assert (limits["ingestion_rate_mb"], limits["max_query_series"], limits["per_stream_rate_limit"]) == (20, 20000, "6MB")


def test_loki_ruler_reads_the_generated_rules_and_sends_to_alertmanager(prod):
    config = yaml.safe_load(render_loki_config(prod))
    spec = loki_service(prod)
    rules_dir = config["ruler"]["storage"]["local"]["directory"]
    assert [p for p in spec.files if p.startswith(rules_dir)] == [f"{rules_dir}/fake/gateway-logs.yml"]
    assert config["ruler"]["alertmanager_url"] == topology.url(prod, "alertmanager")


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_log_alerts_carry_the_labels_metric_alerts_carry(environment):
    settings = parse_settings({"target": "docker", "cluster": "eu-west-1"}, environment, "test")
    ruler = yaml.safe_load(render_loki_config(settings))["ruler"]["external_labels"]
    prometheus = yaml.safe_load(render_prometheus_config(settings))["global"]["external_labels"]
    assert ruler == prometheus == {"environment": environment, "cluster": "eu-west-1"}


def test_every_label_a_notification_shows_is_on_every_log_alert(prod):
    from stack.components.alertmanager import NOTIFICATION_TEMPLATE

    shown = set(re.findall(r"\.Labels\.(\w+)", NOTIFICATION_TEMPLATE))
    assert {"environment", "severity"} <= shown
    external = yaml.safe_load(render_loki_config(prod))["ruler"]["external_labels"]
    rules = [r for text in loki_rule_files(prod).values() for g in yaml.safe_load(text)["groups"] for r in g["rules"]]
    for rule in rules:
        assert shown <= set(rule["labels"]) | set(external), rule["alert"]


def test_loki_uses_s3_with_credentials_only_from_secret_environment():
    settings = parse_settings(
        {"target": "docker", "logs": {"storage": {"type": "s3", "s3": {"endpoint": "http://minio:9000", "bucket": "gateway-logs"}}}},
        "staging",
        "test",
    )
    config = yaml.safe_load(render_loki_config(settings))
    s3 = config["common"]["storage"]["s3"]
    assert (s3["endpoint"], s3["bucketnames"], s3["s3forcepathstyle"]) == ("http://minio:9000", "gateway-logs", True)
    assert s3["access_key_id"] == "${LOKI_S3_ACCESS_KEY_ID}"
    assert config["schema_config"]["configs"][0]["object_store"] == "s3"
    assert config["compactor"]["delete_request_store"] == "s3"
    spec = loki_service(settings)
    assert "-config.expand-env=true" in spec.args
    assert dict(spec.secret_env) == {
        "LOKI_S3_ACCESS_KEY_ID": "objectStoreAccessKeyId",
        "LOKI_S3_SECRET_ACCESS_KEY": "objectStoreSecretAccessKey",
    }


@pytest.mark.parametrize(
    "logs, message",
    [
        ({"storage": {"type": "s3"}}, "needs logs.storage.s3"),
        ({"storage": {"type": "swift"}}, "logs.storage.type: given 'swift'"),
        ({"storage": {"type": "gcs"}}, "type 'gcs' needs logs.storage.gcs {bucket}"),
        ({"streamRetention": [{"selector": "level=debug", "period": "3d"}]}, "expected a LogQL stream selector"),
        ({"streamRetention": [{"selector": '{level="debug"}', "period": "2h"}]}, "streamRetention[0].period: given '2h'"),
        ({"limits": {"ingestionRateMb": 0}}, "logs.limits.ingestionRateMb: given 0"),
    ],
)
def test_bad_log_settings_are_clear_errors(logs, message):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "logs": logs}, "prod", "test")
    assert message in str(caught.value)


# --- Jaeger's trace store ----------------------------------------------------------------

# The image directories its user (uid 10001) can write. cmd/jaeger/Dockerfile
# (jaegertracing/jaeger, v2 line) adds none to its alpine base, whose
# alpine-baselayout makes /tmp and /var/tmp mode 1777 and every other
# directory root's 0755. A fresh named volume copies the mode and owner of the
# image directory it is mounted on, and is root's 0755 where the image has none.
JAEGER_IMAGE_DIRS_ITS_USER_CAN_WRITE = ("/tmp", "/var/tmp")


def test_badger_keeps_traces_on_a_volume_of_their_own_that_jaeger_can_write(prod):
    spec = jaeger_service(prod)
    [volume] = spec.volumes
    assert volume.mount_path != "/tmp" and not volume.mount_path.startswith("/tmp/")
    assert spec.user.partition(":")[0] == "10001"
    assert volume.mount_path in JAEGER_IMAGE_DIRS_ITS_USER_CAN_WRITE
    badger = yaml.safe_load(render_jaeger_config(prod))["extensions"]["jaeger_storage"]["backends"]["traces"]["badger"]
    assert badger["ephemeral"] is False
    assert all(d.startswith(volume.mount_path + "/") for d in badger["directories"].values())


def test_traces_stored_before_the_move_off_tmp_are_still_found(prod):
    # The same named volume, mounted elsewhere: Badger's directories keep their
    # place inside it (they were /tmp/jaeger/keys and /tmp/jaeger/values).
    [volume] = jaeger_service(prod).volumes
    badger = yaml.safe_load(render_jaeger_config(prod))["extensions"]["jaeger_storage"]["backends"]["traces"]["badger"]
    inside = {name: str(PurePosixPath(d).relative_to(volume.mount_path)) for name, d in badger["directories"].items()}
    assert (volume.name, inside) == ("data", {"keys": "jaeger/keys", "values": "jaeger/values"})


# --- Grafana correlations -------------------------------------------------------------


def test_links_point_at_provisioned_datasource_uids(prod):
    datasources = {d["uid"]: d for d in yaml.safe_load(render_datasources(prod))["datasources"]}
    jaeger, loki, prometheus = datasources["jaeger"], datasources["loki"], datasources["prometheus"]
    assert {f["datasourceUid"] for f in loki["jsonData"]["derivedFields"]} == {"jaeger"}
    assert jaeger["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert jaeger["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert prometheus["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "jaeger", "urlDisplayLabel": "Open trace in Jaeger"}
    ]
    assert set(DATASOURCE_UIDS.values()) <= set(datasources)


def test_every_dollar_is_escaped_for_provisioning(prod):
    text = render_datasources(prod)
    assert "${" in grafana_unescape(text)  # there are variables to escape...
    assert re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", "")) is None  # ...and none is left bare


def test_trace_to_logs_finds_the_trace_in_every_service(prod):
    query = substitute_grafana_variables(correlations(prod)["jaeger"]["tracesToLogsV2"]["query"])
    assert query == f'{{environment="prod"}} | trace_id="{TRACE_ID}"'


def test_trace_to_metrics_queries_are_valid_promql_on_contract_metrics(prod):
    known = contract.known_series_names()
    for entry in correlations(prod)["jaeger"]["tracesToMetrics"]["queries"]:
        names = []
        promql_parser.walk(
            promql_parser.parse(substitute_grafana_variables(entry["query"])),
            lambda n: names.append(n.name) if isinstance(n, promql_parser.VectorSelector) else None,
        )
        assert names and set(names) <= known, entry


# --- Kong -----------------------------------------------------------------------------


def _kong_metrics_used(settings) -> set[str]:
    from dashboard_queries import queries

    from stack.alerting import rule_groups

    texts = [r["expr"] for groups in rule_groups(settings).values() for g in groups for r in g["rules"]]
    texts += [q.expr for q in queries(settings)]
    kong = {m.name for m in contract.KONG.metrics}
    return {name for name in kong for text in texts if name in text}


def test_kong_enables_every_metric_group_the_rules_and_dashboards_use(prod):
    plugins = {p["name"]: p["config"] for p in yaml.safe_load(render_kong_declarative(prod))["plugins"]}
    enabled = {group for group, on in plugins["prometheus"].items() if on is True}
    needed = {group for group, metrics in METRIC_GROUPS.items() if set(metrics) & _kong_metrics_used(prod)}
    assert needed and needed <= enabled
    assert set(METRIC_GROUPS) <= enabled  # every group on, as the contract says
    assert plugins["prometheus"]["per_consumer"] is False
    assert {m.name for m in contract.KONG.metrics} == {m for ms in METRIC_GROUPS.values() for m in ms}


def test_kong_sends_w3c_traces_to_jaeger_over_otlp_http(prod):
    otel = next(p["config"] for p in yaml.safe_load(render_kong_declarative(prod))["plugins"] if p["name"] == "opentelemetry")
    assert otel["traces_endpoint"] == f"{topology.url(prod, 'jaeger', 'otlp-http')}/v1/traces"
    assert otel["propagation"]["default_format"] == "w3c"
    assert otel["resource_attributes"]["service.name"] == "kong"


def test_kong_access_logs_drop_credentials_headers(prod):
    file_log = next(p["config"] for p in yaml.safe_load(render_kong_declarative(prod))["plugins"] if p["name"] == "file-log")
    removed = {k for k, v in file_log["custom_fields_by_lua"].items() if v == "return nil"}
    assert {f"request.headers.{h}" for h in ("authorization", "apikey", "x-api-key")} <= removed
    assert {f"request.headers.{h}" for h in SENSITIVE_HEADERS} <= removed


def test_kong_status_api_listens_where_prometheus_scrapes(prod):
    assert "KONG_STATUS_LISTEN=0.0.0.0:8100" in render_kong_env(prod)
    assert "KONG_TRACING_INSTRUMENTATIONS=all" in render_kong_env(prod)


def test_kong_stdout_carries_only_the_json_access_log(prod):
    # nginx's plain access log would be glued onto JSON entries by the multiline stage.
    assert "KONG_PROXY_ACCESS_LOG=off" in render_kong_env(prod)


def test_render_writes_the_kong_files(tmp_path):
    subprocess.run([sys.executable, "-m", "stack", "render", "dev", "--out", str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    assert yaml.safe_load((tmp_path / "kong/kong-telemetry.yml").read_text())["_format_version"] == "3.0"
    assert "KONG_STATUS_LISTEN" in (tmp_path / "kong/kong.env").read_text()
