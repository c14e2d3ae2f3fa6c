"""Loki 3.x, asked over its HTTP API: ready, retention applied by the
compactor (from /config, the configuration it runs), and a canary line pushed
and read back by LogQL with its trace id in structured metadata.

Facts from Loki v3.7's source: /loki/api/v1/push takes JSON streams whose
values are [ns timestamp, line, {structured metadata}]; a query sent with the
header `X-Loki-Response-Encoding-Flags: categorize-labels`
(pkg/util/httpreq/encoding_flags.go) answers each entry as
[ts, line, {"structuredMetadata": {...}, "parsed": {...}}] and lists the flag
in data.encodingFlags (pkg/util/marshal/query.go); without it, metadata is
folded into the stream's labels and could not be told from an indexed label.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.parse

import yaml

from stack.settings import Duration, Settings
from stack.verify.client import CheckFailed, get_json, get_ok, post
from stack.verify.report import Check, poll

ENCODING_FLAGS_HEADER = "X-Loki-Response-Encoding-Flags"
CATEGORIZE_LABELS = "categorize-labels"
# The canary's own stream: no gateway dashboard, alert or retention rule selects it.
CANARY_LABELS = {"job": "stack-verify"}
CANARY_WAIT_SECONDS = 10.0


def check_ready(base: str) -> str:
    answer = get_ok(f"{base}/ready")
    return f"/ready answered {answer.status} {answer.body.decode('utf-8', 'replace').strip()!r}"


def check_retention(settings: Settings, base: str) -> str:
    config = yaml.safe_load(get_ok(f"{base}/config").body)
    if not isinstance(config, dict):
        raise CheckFailed(f"{base}/config is not a YAML mapping")
    if (config.get("compactor") or {}).get("retention_enabled") is not True:
        raise CheckFailed("compactor.retention_enabled is not true: retention_period is set but nothing is ever deleted")
    period = (config.get("limits_config") or {}).get("retention_period")
    want = settings.retention.logs
    try:
        same = Duration.parse(str(period)) == want
    except ValueError:
        same = False
    if not same:
        raise CheckFailed(f"limits_config.retention_period is {period!r}; settings say {want} (retention.logs)")
    return f"compactor retention on, retention_period {want}"


def _found(base: str, query: str, start_ns: int, trace_id: str, line: str) -> str | None:
    """The canary's structured metadata as Loki answers it, or None while it is not there yet."""
    params = urllib.parse.urlencode(
        {"query": query, "start": start_ns, "end": time.time_ns() + 60 * 10**9, "limit": 10, "direction": "backward"}
    )
    answer = get_json(f"{base}/loki/api/v1/query_range?{params}", headers={ENCODING_FLAGS_HEADER: CATEGORIZE_LABELS})
    data = answer.get("data") or {}
    if CATEGORIZE_LABELS not in (data.get("encodingFlags") or []):
        raise CheckFailed(f"Loki ignored {ENCODING_FLAGS_HEADER}: {CATEGORIZE_LABELS} (Loki 3.x expected)")
    for stream in data.get("result") or []:
        for value in stream.get("values") or []:
            if len(value) >= 3 and value[1] == line:
                metadata = (value[2] or {}).get("structuredMetadata") or {}
                if metadata.get("trace_id") == trace_id:
                    return trace_id
                raise CheckFailed(f"canary line found but its structured metadata is {metadata} (trace_id {trace_id} expected)")
    return None


def check_canary(settings: Settings, base: str) -> str:
    trace_id = secrets.token_hex(16)
    now = time.time_ns()
    line = json.dumps({"message": "stack verify canary", "level": "info", "trace_id": trace_id, "environment": settings.environment})
    body = {"streams": [{"stream": CANARY_LABELS, "values": [[str(now), line, {"trace_id": trace_id}]]}]}
    post(f"{base}/loki/api/v1/push", json.dumps(body).encode(), "application/json")
    selector = ",".join(f'{k}="{v}"' for k, v in CANARY_LABELS.items())
    query = f'{{{selector}}} | trace_id="{trace_id}"'
    if not poll(lambda: _found(base, query, now - 60 * 10**9, trace_id, line), CANARY_WAIT_SECONDS):
        raise CheckFailed(f"pushed a canary line but `{query}` did not find it within {CANARY_WAIT_SECONDS:g}s")
    return f"canary line pushed and found by `{query}` with trace_id in structured metadata"


def checks(settings: Settings, urls: dict[str, str]) -> list[Check]:
    base = urls["loki"]
    return [
        ("loki ready", lambda: check_ready(base)),
        ("loki retention", lambda: check_retention(settings, base)),
        ("loki canary log line", lambda: check_canary(settings, base)),
    ]
