"""Steady demo traffic: the dev stack's demo (`demo.enabled`) runs this next
to Kong, so a fresh `make up` has requests going through the gateway, and
dashboards, logs and traces to look at, with no command typed.

    python -m uvicorn examples.gateway.traffic:create_app --factory --port 8004

DEMO_TRAFFIC_TARGET  base URL the chat requests go to (Kong's proxy on the
                     stack's network; stack/components/demo.py sets it)
DEMO_TRAFFIC_RATE    requests per second, 0.1 to 50 (default 1)

It sends loadgen's requests (the same prompts, models and virtual keys) in
windows of a minute, for as long as it runs; a refused connection while Kong
starts is counted and the next request is tried on time. GET /healthz answers
once the first window has started, with the count per status so far.
For load from the host, `python -m examples.gateway.loadgen` (loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections import Counter

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from examples.gateway.layout import HEALTH_PATH
from examples.gateway.loadgen import generate

TARGET_VARIABLE, RATE_VARIABLE = "DEMO_TRAFFIC_TARGET", "DEMO_TRAFFIC_RATE"
WINDOW_SECONDS = 60.0
MIN_RATE, MAX_RATE = 0.1, 50.0
# As loadgen's default: enough for the fake provider's slowest answers at the top rate.
CONCURRENCY = 8


def traffic_rate(text: str) -> float:
    """DEMO_TRAFFIC_RATE read; ValueError naming the variable and the range."""
    try:
        rate = float(text)
    except ValueError:
        rate = float("nan")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"{RATE_VARIABLE}: given {text!r}; must be a number of requests per second from {MIN_RATE} to {MAX_RATE}")
    return rate


async def send_forever(target: str, rate: float, statuses: Counter, started: asyncio.Event) -> None:
    """Window after window of loadgen.generate at `rate` requests/s to `target`."""
    window = 0
    while True:
        args = argparse.Namespace(
            url=target, rate=rate, requests=int(rate * WINDOW_SECONDS) + 1, duration=WINDOW_SECONDS,
            concurrency=CONCURRENCY, seed=window,
        )
        started.set()
        await generate(args, statuses)
        window += 1


def create_app() -> FastAPI:
    """The traffic app (uvicorn --factory). Raises KeyError when
    DEMO_TRAFFIC_TARGET is unset, ValueError for a bad DEMO_TRAFFIC_RATE."""
    target = os.environ[TARGET_VARIABLE]
    rate = traffic_rate(os.environ.get(RATE_VARIABLE, "1"))
    statuses: Counter = Counter()
    started = asyncio.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        sender = asyncio.create_task(send_forever(target, rate, statuses, started))
        try:
            yield
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    app = FastAPI(title="demo traffic", lifespan=lifespan)

    @app.get(HEALTH_PATH)
    async def healthz() -> JSONResponse:
        body = {"target": target, "rate": rate, "statuses": dict(statuses)}
        return JSONResponse(body, status_code=200 if started.is_set() else 503)

    return app
