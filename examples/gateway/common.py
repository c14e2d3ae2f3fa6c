"""What the demo's services share: where each one listens, how it reaches its
peers, and the app skeleton every service starts from (the kit's logging and
instrumentation, a health probe, one pooled httpx client).

Settings come from the environment, so the same code runs on 127.0.0.1
(`run.py`) and in containers on the gateway network:
  DEMO_<SERVICE>_URL   a peer's base URL, e.g. DEMO_INTELLIGENT_ROUTER_URL
  DEMO_ENVIRONMENT     deployment environment in every log line and span (dev)
  DEMO_LOG_DIR         also write each service's JSON lines to <dir>/<service>.jsonl
  DEMO_LOG_LEVEL       DEBUG, INFO (default), WARNING, ERROR or CRITICAL
  DEMO_LOG_FORMAT      json (default) or console
  OTEL_*               the OpenTelemetry SDK's own (exporter endpoint, sampler)
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from gateway_telemetry.fastapi import Instrumentation, current_request_id, instrument_app
from gateway_telemetry.logs import configure_logging
from gateway_telemetry.tracing import shutdown_tracing

from examples.gateway.layout import DEFAULT_PORTS, HEALTH_PATH, url_variable

VERSION = "0.1.0"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "console")


class DemoSettingError(SystemExit):
    """An environment variable with a value the demo cannot use (exits with the message)."""


def peer_url(service: str) -> str:
    """Base URL of a peer service: DEMO_<SERVICE>_URL, else 127.0.0.1 on its default port."""
    return os.environ.get(url_variable(service)) or f"http://127.0.0.1:{DEFAULT_PORTS[service]}"


def _env_choice(key: str, allowed: tuple[str, ...], default: str) -> str:
    value = os.environ.get(key, default)
    if value not in allowed:
        raise DemoSettingError(f"{key}={value!r}: expected one of {', '.join(allowed)}")
    return value


async def _send_request_id(request: httpx.Request) -> None:
    """One request id through every service: peers accept it (the kit keeps a sane X-Request-ID)."""
    request_id = current_request_id()
    if request_id and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = request_id


def service_app(service: str, *, title: str) -> tuple[FastAPI, Instrumentation]:
    """A FastAPI app for one demo service, logging and instrumented by the kit.

    The app gets GET /healthz, GET /metrics (from the kit) and `app.state.http`,
    an httpx.AsyncClient for calls to peers (traced by the kit: traceparent is
    sent on every call). Spans still queued are exported at shutdown.
    Raises DemoSettingError for a bad DEMO_LOG_LEVEL or DEMO_LOG_FORMAT.
    """
    environment = os.environ.get("DEMO_ENVIRONMENT") or "dev"
    log_dir = os.environ.get("DEMO_LOG_DIR")
    configure_logging(
        service=service,
        environment=environment,
        version=VERSION,
        level=_env_choice("DEMO_LOG_LEVEL", LOG_LEVELS, "INFO"),
        renderer=_env_choice("DEMO_LOG_FORMAT", LOG_FORMATS, "json"),
        file=Path(log_dir) / f"{service}.jsonl" if log_dir else None,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Provider calls stream for tens of seconds; a peer that does not accept
        # a connection within 2 s is down.
        hooks = {"request": [_send_request_id]}
        async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=2), event_hooks=hooks) as client:
            app.state.http = client
            yield
        shutdown_tracing()

    app = FastAPI(title=title, version=VERSION, lifespan=lifespan)
    kit = instrument_app(app, service=service, environment=environment, version=VERSION)

    @app.get(HEALTH_PATH, include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    return app, kit


# The models the demo routes to: model -> (provider, tier, USD per million
# input tokens, USD per million output tokens). Illustrative prices, not a
# provider's price list. Both providers are served by the fake provider.
MODELS = {
    "gpt-4o-mini": ("openai", "small", 0.15, 0.60),
    "gpt-4o": ("openai", "large", 2.50, 10.00),
    "claude-3-5-haiku": ("anthropic", "small", 0.80, 4.00),
    "claude-sonnet-4": ("anthropic", "large", 3.00, 15.00),
}
PROVIDERS = ("openai", "anthropic")


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Price of one call in US dollars, from MODELS (KeyError for a model not there)."""
    _, _, per_input, per_output = MODELS[model]
    return (input_tokens * per_input + output_tokens * per_output) / 1_000_000
