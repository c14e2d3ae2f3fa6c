"""Intelligent Router: picks the provider and model for each request, and the
one to fall back to when a provider fails.

POST /v1/route     {"model": "auto" | a MODELS name, "prompt_words": n}
                   -> {"provider", "model", "reason"}; counts gateway_router_decisions_total
POST /v1/fallback  {"provider", "model", "reason": error|timeout|rate_limit|budget}
                   -> {"provider", "model", "reason"}; counts gateway_router_fallbacks_total
An unknown model is a client error (400 naming the models allowed).
POST /admin/faults {"delay_seconds": s} makes every routing decision wait s
seconds first (fault injection: a slow router, or a stalled one); GET returns it.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from examples.gateway.common import MODELS, PROVIDERS, service_app

# Prompts longer than this go to a large model: short ones rarely need it.
LONG_PROMPT_WORDS = 200


class RouteRequest(BaseModel):
    model: str = Field("auto", max_length=200)
    prompt_words: int = Field(0, ge=0)


class FallbackRequest(BaseModel):
    provider: Literal[PROVIDERS]  # type: ignore[valid-type]
    model: str
    reason: Literal["error", "timeout", "rate_limit", "budget"]


class RouterFaults(BaseModel):
    """Fault injection for the game day (examples only, not part of the router's API)."""

    model_config = ConfigDict(extra="forbid")
    delay_seconds: float = Field(0, ge=0, le=3600, description="each routing decision waits this long first")


class Decision(BaseModel):
    provider: str
    model: str
    reason: str


def route(model: str, prompt_words: int) -> Decision:
    """The rule: a known model is pinned; `auto` picks by prompt length, cheapest first.

    Raises ValueError naming the models allowed when `model` is neither `auto` nor in MODELS.
    """
    if model in MODELS:
        return Decision(provider=MODELS[model][0], model=model, reason="pinned")
    if model != "auto":
        raise ValueError(f"model: given {model!r}; expected auto or one of {', '.join(MODELS)}")
    tier, reason = ("large", "quality") if prompt_words > LONG_PROMPT_WORDS else ("small", "cost")
    cheapest = min((m for m, spec in MODELS.items() if spec[1] == tier), key=lambda m: MODELS[m][2:])
    return Decision(provider=MODELS[cheapest][0], model=cheapest, reason=reason)


def fallback(provider: str, model: str) -> Decision:
    """The same tier at the next provider in PROVIDERS (round robin); ValueError for an unknown model."""
    if model not in MODELS:
        raise ValueError(f"model: given {model!r}; expected one of {', '.join(MODELS)}")
    target = PROVIDERS[(PROVIDERS.index(provider) + 1) % len(PROVIDERS)]
    tier = MODELS[model][1]
    substitute = next(m for m, spec in MODELS.items() if spec[0] == target and spec[1] == tier)
    return Decision(provider=target, model=substitute, reason="fallback")


def create_app() -> FastAPI:
    """The router app (uvicorn --factory)."""
    app, kit = service_app("intelligent-router", title="Intelligent Router")
    app.state.faults = RouterFaults()

    @app.get("/admin/faults")
    async def get_faults() -> RouterFaults:
        return app.state.faults

    @app.post("/admin/faults")
    async def set_faults(faults: RouterFaults) -> RouterFaults:
        app.state.faults = faults
        return faults

    @app.post("/v1/route")
    async def decide(request: RouteRequest) -> Decision:
        if app.state.faults.delay_seconds:
            await asyncio.sleep(app.state.faults.delay_seconds)
        try:
            decision = route(request.model, request.prompt_words)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        kit.metrics.count(
            "gateway_router_decisions_total",
            gen_ai_provider_name=decision.provider,
            gen_ai_request_model=decision.model,
            reason=decision.reason,
        )
        return decision

    @app.post("/v1/fallback")
    async def fall_back(request: FallbackRequest) -> Decision:
        try:
            decision = fallback(request.provider, request.model)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        kit.metrics.count(
            "gateway_router_fallbacks_total",
            from_provider=request.provider,
            to_provider=decision.provider,
            reason=request.reason,
        )
        return decision

    return app
