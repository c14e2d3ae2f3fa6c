"""Logs and traces: the Promtail pipeline on real gateway log lines, every
LogQL expression through Grafana's LogQL grammar, every regex through RE2,
Loki retention and limits, Grafana's log-trace-metric links, the Kong side."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import promql_parser
import pytest
import re2
import yaml
from conftest import ROOT, require_tool, tool_missing
from promtail_pipeline import run_pipeline

from stack import catalog, topology
from stack.alerting import loki_rule_files
from stack.components.grafana import DATASOURCE_UIDS, correlations, render_datasources
from stack.components.kong import METRIC_GROUPS, SENSITIVE_HEADERS, render_kong_declarative, render_kong_env
from stack.components.loki import loki_service, render_loki_config
from stack.components.promtail import FIRST_LINE, pipeline_stages, render_promtail_config
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
    "tokens_input": 1234,
    "tokens_output": 0,
    "cost_usd": 0.0042,
    "error_type": "APITimeoutError",
    "path": "/v1/chat/completions",
}


@pytest.mark.parametrize("service", ["unified-llm-api", "intelligent-router", "optimization-service", "kong"])
def test_a_gateway_json_line_is_parsed_labelled_and_redacted(service):
    line = json.dumps({**GATEWAY_LINE, "service": service})
    entry = run_pipeline(pipeline_stages(), line, {"service": service, "environment": "prod"})
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


def test_only_low_cardinality_fields_become_labels():
    labels = next(s["labels"] for s in pipeline_stages() if "labels" in s)
    assert set(labels) | {"service", "environment"} == set(catalog.LOG_LABELS)
    metadata = next(s["structured_metadata"] for s in pipeline_stages() if "structured_metadata" in s)
    assert {"request_id", "trace_id", "span_id"} <= set(metadata)
    assert not {"request_id", "trace_id", "span_id", "model"} & set(labels)


def test_every_log_field_of_the_contract_is_handled():
    stages = pipeline_stages()
    extracted = next(s["json"]["expressions"] for s in stages if "json" in s)
    for field in catalog.LOG_FIELDS:
        if field.stored_as in {"label", "metadata"} or field.name in {"timestamp", "path"}:
            assert field.name in extracted, field.name


def test_redaction_runs_before_parsing():
    kinds = [next(iter(s)) for s in pipeline_stages()]
    assert kinds.index("replace") < kinds.index("json")
    assert kinds[0] == "multiline"


@pytest.mark.parametrize(
    "line, labels",
    [
        (json.dumps({"level": "info", "message": "GET", "path": "/health", "status": 200}), {"service": "unified-llm-api"}),
        (json.dumps({"level": "info", "path": "/metrics"}), {"service": "intelligent-router"}),
        (json.dumps({"request": {"uri": "/healthz", "method": "GET"}, "response": {"status": 200}}), {"service": "kong"}),
    ],
)
def test_health_check_noise_is_dropped(line, labels):
    assert run_pipeline(pipeline_stages(), line, labels).dropped == "health_check"


def test_real_requests_are_not_dropped():
    line = json.dumps({"request": {"uri": "/v1/chat/completions"}, "response": {"status": 200}})
    assert run_pipeline(pipeline_stages(), line, {"service": "kong"}).dropped is None


def test_plain_text_and_traceback_entries_get_an_error_level():
    uvicorn = run_pipeline(pipeline_stages(), "ERROR:    Exception in ASGI application", {"service": "unified-llm-api"})
    assert uvicorn.labels["level"] == "error"
    traceback = 'Traceback (most recent call last):\n  File "app.py", line 3, in handler\nValueError: boom'
    assert run_pipeline(pipeline_stages(), traceback, {"service": "unified-llm-api"}).labels["level"] == "error"


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


def test_promtail_keeps_only_gateway_containers(prod):
    config = yaml.safe_load(render_promtail_config(prod))
    keep = next(r for r in config["scrape_configs"][0]["relabel_configs"] if r.get("action") == "keep")
    regex = re2.compile(f"^(?:{keep['regex']})$")  # Prometheus relabel regexes are anchored
    assert regex.match("unified-llm-api") and regex.match("kong")
    assert not regex.match("obs-loki") and not regex.match("postgres")


def _promtail_regexes(config: dict) -> list[str]:
    job = config["scrape_configs"][0]
    found = [r["regex"] for r in job["relabel_configs"] if "regex" in r]
    for stage in job["pipeline_stages"]:
        (kind, body), = stage.items()
        if kind == "multiline":
            found.append(body["firstline"])
        elif kind in {"replace", "regex", "drop"}:
            found.append(body["expression"])
    return found


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
    matches = [s["match"]["selector"] for s in pipeline_stages() if "match" in s]
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
        ({"storage": {"type": "gcs"}}, "logs.storage.type: given 'gcs'"),
        ({"streamRetention": [{"selector": "level=debug", "period": "3d"}]}, "expected a LogQL stream selector"),
        ({"streamRetention": [{"selector": '{level="debug"}', "period": "2h"}]}, "streamRetention[0].period: given '2h'"),
        ({"limits": {"ingestionRateMb": 0}}, "logs.limits.ingestionRateMb: given 0"),
    ],
)
def test_bad_log_settings_are_clear_errors(logs, message):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "logs": logs}, "prod", "test")
    assert message in str(caught.value)


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
    known = catalog.known_series_names()
    for entry in correlations(prod)["jaeger"]["tracesToMetrics"]["queries"]:
        names = []
        promql_parser.walk(
            promql_parser.parse(substitute_grafana_variables(entry["query"])),
            lambda n: names.append(n.name) if isinstance(n, promql_parser.VectorSelector) else None,
        )
        assert names and set(names) <= known, entry


# --- Kong -----------------------------------------------------------------------------


def _kong_metrics_used(settings) -> set[str]:
    from stack.alerting import rule_groups
    from stack.components.grafana import dashboard_files

    texts = [r["expr"] for groups in rule_groups(settings).values() for g in groups for r in g["rules"]]
    for text in dashboard_files().values():
        texts += [t["expr"] for p in json.loads(text)["panels"] for t in p.get("targets", [])]
    kong = {m.name for m in catalog.KONG.metrics}
    return {name for name in kong for text in texts if name in text}


def test_kong_enables_every_metric_group_the_rules_and_dashboards_use(prod):
    plugins = {p["name"]: p["config"] for p in yaml.safe_load(render_kong_declarative(prod))["plugins"]}
    enabled = {group for group, on in plugins["prometheus"].items() if on is True}
    needed = {group for group, metrics in METRIC_GROUPS.items() if set(metrics) & _kong_metrics_used(prod)}
    assert needed and needed <= enabled
    assert set(METRIC_GROUPS) <= enabled  # every group on, as the contract says
    assert plugins["prometheus"]["per_consumer"] is False
    assert {m.name for m in catalog.KONG.metrics} == {m for ms in METRIC_GROUPS.values() for m in ms}


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
