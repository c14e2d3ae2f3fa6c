"""The app tests/kit/test_workers.py serves under uvicorn --workers and
gunicorn (imported by the server, never collected by pytest).

Logging and the kit are set up at import, as a service's module does, so
under gunicorn --preload they run in the arbiter before it forks.
WORKER_LOG_FILE (optional) adds the rotating file, WORKER_LOG_FILE_BYTES its
size. GET /work answers its worker's pid; GET /long logs one line of
WORKER_LONG_BYTES characters (more than a pipe writes atomically).
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway_telemetry.fastapi import instrument_app
from gateway_telemetry.logs import configure_logging

SERVICE = "unified-llm-api"
LONG_BYTES = int(os.environ.get("WORKER_LONG_BYTES", "100000"))

log_file = os.environ.get("WORKER_LOG_FILE")
configure_logging(
    service=SERVICE,
    environment="test",
    version="1.0.0",
    file=Path(log_file) if log_file else None,
    file_max_bytes=int(os.environ.get("WORKER_LOG_FILE_BYTES", str(2**20))),
    # Enough backups that nothing written in a test rolls away.
    file_backups=200,
)
app = FastAPI()
log = structlog.get_logger("worker")


@app.get("/work")
async def work() -> dict:
    return {"pid": os.getpid()}


@app.get("/long")
async def long() -> dict:
    # A distinct character per worker: a line mixed from two shows both.
    log.info("long line", pid=os.getpid(), filler=chr(ord("a") + os.getpid() % 26) * LONG_BYTES)
    return {"pid": os.getpid()}


# Spans kept in memory: the tests read metrics and logs, not traces.
instrument_app(app, service=SERVICE, environment="test", version="1.0.0", exporter=InMemorySpanExporter())
