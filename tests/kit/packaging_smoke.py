"""A service's first request through the kit as pip installed it: run by
tests/kit/test_packaging.py with the Python of a clean virtual environment
(`python -I`, outside the repository), never collected by pytest.

Logging configured, a small FastAPI app instrumented with an in-memory span
exporter, one request in-process (httpx.ASGITransport), then: the JSON access
line in the log file, the server span exported, and /metrics answering with
the request duration histogram. On success prints one line, `REPORT` and a
JSON object (where the kit was imported from, the version of each
distribution it requires); otherwise exits non-zero with the reason.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
import sys
import tempfile
from pathlib import Path

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import gateway_telemetry
from gateway_telemetry.fastapi import instrument_app
from gateway_telemetry.logs import configure_logging

SERVICE = "unified-llm-api"
DURATION = "http_server_request_duration_seconds"
# Marks the report line: the kit's own log lines go to stdout too.
REPORT = "packaging-smoke-report:"


def check(condition: bool, reason: str) -> None:
    if not condition:
        sys.exit(f"packaging smoke: {reason}")


async def first_requests(app: FastAPI) -> tuple[httpx.Response, httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await client.get("/items/7"), await client.get("/metrics")


def main() -> None:
    log_file = Path(tempfile.mkdtemp()) / "service.jsonl"
    configure_logging(service=SERVICE, environment="smoke", version="1.0.0", file=log_file)

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"id": item_id}

    exporter = InMemorySpanExporter()
    handle = instrument_app(app, service=SERVICE, environment="smoke", version="1.0.0", exporter=exporter)
    item_response, metrics_response = asyncio.run(first_requests(app))
    handle.tracer_provider.force_flush()

    check(item_response.status_code == 200 and item_response.json() == {"id": 7}, f"GET /items/7 answered {item_response.status_code} {item_response.text!r}")

    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.strip()]
    access = [line for line in lines if line.get("logger") == "gateway.access" and line.get("path") == "/items/7"]
    check(len(access) == 1, f"one JSON access line for GET /items/7, found {access} in {lines}")
    check(access[0].get("status") == 200 and access[0].get("service") == SERVICE, f"access line {access[0]}")

    spans = exporter.get_finished_spans()
    check(any(span.name == "GET /items/{item_id}" for span in spans), f"server span exported, got {[span.name for span in spans]}")

    check(metrics_response.status_code == 200, f"GET /metrics answered {metrics_response.status_code}")
    check(f"{DURATION}_bucket" in metrics_response.text, f"{DURATION} in /metrics:\n{metrics_response.text}")

    handle.uninstrument()

    # The distributions the installed kit declares (any extra), as installed.
    names = {re.match(r"[A-Za-z0-9._-]+", req).group() for req in importlib.metadata.requires("gateway-telemetry") or ()}
    print(REPORT, json.dumps({
        "kit": gateway_telemetry.__file__,
        "prefix": sys.prefix,
        "versions": {name: importlib.metadata.version(name) for name in sorted(names)},
    }))


if __name__ == "__main__":
    main()
