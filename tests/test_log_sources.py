"""Every source the gateway writes leaves Promtail with the contract's fields.

What really arrives is not what the services' JSON looks like: Kong's
file-log lines have no `level` and keep their status and latency under
`response` and `latencies`; Kong's stderr is nginx's error log; uvicorn and
Python write plain text. Each is run through the rendered pipeline (the
harness in tests/promtail_pipeline, which refuses what Promtail 3.6.15
refuses) and must come out as the boards and alerts read it: a contract
level as a label, the trace id as structured metadata, and in access lines
`status`, `latency_ms` (ms) and `environment` in the line.
"""

from __future__ import annotations

import json

import pytest
import re2
from promtail_pipeline import run_pipeline
from test_logs_and_traces import TRACE_ID, kong_access_line, service_access_line

from gateway_telemetry import contract
from stack.alerting.loki_rules import ERROR_LEVELS
from stack.components.promtail import pipeline_stages
from stack.settings import parse_settings

SETTINGS = parse_settings({"target": "docker"}, "staging", "test")
CONTRACT_LEVELS = ("debug", "info", "warning", "error", "critical")
KONG = {"service": "kong", "stream": "stdout"}


def shipped(line: str, labels: dict):
    return run_pipeline(pipeline_stages(SETTINGS), line, dict(labels))


def kong_line(status: int, latency_ms, uri: str = "/v1/chat/completions") -> str:
    record = json.loads(kong_access_line(uri))
    record["response"]["status"] = status
    record["latencies"]["request"] = latency_ms
    return json.dumps(record, separators=(",", ":"))


def is_error_log(labels: dict) -> bool:
    """Whether the error-log alert's and panels' matcher (level=~"error|critical") selects the stream."""
    value = ERROR_LEVELS.partition('=~"')[2].rstrip('"')
    return re2.fullmatch(value, labels.get("level", "")) is not None


@pytest.mark.parametrize(
    "status, level",
    [(200, "info"), (204, "info"), (301, "info"), (400, "warning"), (404, "warning"), (429, "warning"),
     (500, "error"), (502, "error"), (503, "error"), (504, "error")],
)
def test_kongs_access_lines_get_a_level_from_their_status(status, level):
    entry = shipped(kong_line(status, 1234), KONG)
    assert entry.labels["level"] == level
    assert is_error_log(entry.labels) is (status >= 500)
    assert json.loads(entry.line)["level"] == level


@pytest.mark.parametrize("latency_ms", [0, 3, 3.5, 1234, 60001])
def test_kongs_access_lines_carry_status_latency_and_environment_in_the_contracts_words(latency_ms):
    written = kong_line(502, latency_ms)
    line = json.loads(shipped(written, KONG).line)
    assert line["status"] == 502
    assert line["latency_ms"] == latency_ms  # Kong's latencies.request is ms already: the contract's unit
    assert line["environment"] == "staging"
    assert {key: line[key] for key in json.loads(written)} == json.loads(written), "Kong's own fields are kept"


def test_kong_lines_show_up_as_slow_requests():
    """The logs board's slow-requests query reads `latency_ms` from the line (| json latency_ms)."""
    slow_ms = round(SETTINGS.alerting.thresholds.service_latency_p95_seconds * 1000)
    line = json.loads(shipped(kong_line(200, slow_ms + 1), KONG).line)
    assert line["latency_ms"] > slow_ms


@pytest.mark.parametrize(
    "uri",
    ['/v1/chat?q="}', "/v1/x?a=\\\\", "/v1/ünï?c=ødé", '/v1/chat"},"level":"info'],
)
def test_a_client_controlled_uri_never_breaks_the_line(uri):
    entry = shipped(kong_line(500, 7, uri), KONG)
    line = json.loads(entry.line)
    assert line["request"]["uri"] == uri and line["level"] == "error" == entry.labels["level"]


@pytest.mark.parametrize(
    "line, why",
    [
        ('{"response": {"status": "oops"}, "latencies": {"request": 1}}', "a status that is no HTTP status"),
        ('{"response": {"status": 200}, "latencies": {"request": "1e9"}}', "a latency that is no plain number"),
        ('{"message": "Kong started"}', "JSON that is no access line"),
    ],
)
def test_kong_json_that_is_not_a_plain_access_line_stays_valid(line, why):
    out = shipped(line, KONG).line
    json.loads(out)
    if "oops" in line or "started" in line:
        assert out == line, why
    else:
        assert "latency_ms" not in json.loads(out), why


@pytest.mark.parametrize(
    "nginx_level, level",
    [("debug", "debug"), ("info", "info"), ("notice", "info"), ("warn", "warning"), ("error", "error"),
     ("crit", "critical"), ("alert", "critical"), ("emerg", "critical")],
)
def test_kongs_nginx_error_log_lines_get_the_contracts_level(nginx_level, level):
    line = f"2026/12/07 01:00:00 [{nginx_level}] 1#0: *1 connect() failed (111: Connection refused) while connecting to upstream"
    entry = shipped(line, {"service": "kong", "stream": "stderr"})
    assert entry.labels["level"] == level
    assert entry.line == line


def test_other_services_lines_are_not_touched_by_kongs_stages():
    written = service_access_line("/v1/chat/completions", status=502, latency_ms=12.5)
    entry = shipped(written, {"service": "unified-llm-api", "stream": "stdout"})
    assert entry.line == written
    assert entry.labels["level"] == "info"


# Every source, as it writes: (labels, line, is an access line).
SOURCES = {
    "service access line": ({"service": "unified-llm-api", "stream": "stdout"}, service_access_line("/v1/chat/completions", environment="staging"), True),
    "service error line": (
        {"service": "intelligent-router", "stream": "stdout"},
        json.dumps({"timestamp": "2026-11-22T08:01:55.123456Z", "level": "ERROR", "message": "provider failed", "trace_id": TRACE_ID, "environment": "staging"}),
        False,
    ),
    "uvicorn plain text": ({"service": "unified-llm-api", "stream": "stderr"}, "WARNING:  Invalid HTTP request received.", False),
    "python traceback": ({"service": "unified-llm-api", "stream": "stderr"}, 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: x', False),
    "kong access line": (KONG, kong_access_line("/v1/chat/completions"), True),
    "kong nginx error log": ({"service": "kong", "stream": "stderr"}, "2026/12/07 01:00:00 [error] 1#0: *1 upstream timed out", False),
}


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_leaves_the_pipeline_with_the_contracts_fields(source):
    labels, line, is_access = SOURCES[source]
    entry = shipped(line, labels)
    assert entry.dropped is None
    assert entry.labels.get("level") in CONTRACT_LEVELS, entry.labels
    assert set(entry.labels) <= set(contract.LOG_LABELS)
    if is_access:
        record = json.loads(entry.line)
        assert isinstance(record["status"], int) and isinstance(record["latency_ms"], (int, float))
        assert record["environment"] == "staging"
        assert entry.metadata["trace_id"] == TRACE_ID
