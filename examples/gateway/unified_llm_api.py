"""Unified LLM API: one OpenAI-style endpoint in front of every provider.

POST /v1/chat/completions {"model": "auto" | a model name, "messages": [...]}
with `Authorization: Bearer <virtual key>`:
1. the Intelligent Router picks provider and model (its 400 goes to the client);
2. the Optimization Service answers from its cache when it can
   (response header x-gateway-cache: hit);
3. otherwise the provider is called, streamed, inside the kit's `llm_call`
   (client span with GenAI attributes, duration, tokens, cost, time to first
   token); when it fails, the router names a fallback, tried once;
4. the completion is cached and returned. When every provider fails the answer
   is 502 (429 when the last one was rate limiting).
"""

from __future__ import annotations

import hashlib

import httpx
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from examples.gateway.common import cost_usd, peer_url, service_app
from gateway_telemetry.errors import ProviderError, classify
from gateway_telemetry.fastapi import llm_call
from gateway_telemetry.logs import get_logger

log = get_logger("gateway.chat")
# Router fallback reasons by the kit's error_source.
FALLBACK_REASONS = {"rate_limit": "rate_limit", "timeout": "timeout"}


class Message(BaseModel):
    role: str = Field(max_length=32)
    content: str


class ChatRequest(BaseModel):
    model: str = Field("auto", max_length=200)
    messages: list[Message] = Field(min_length=1)


def virtual_key_id(authorization: str | None) -> str | None:
    """An id for the caller's virtual key, safe to record: never the key itself.

    A real gateway looks the id up (Kong's consumer id); the demo derives it
    with SHA-256, which identifies a key without revealing it.
    """
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    return "vk_" + hashlib.sha256(key.encode()).hexdigest()[:16]


async def call_provider(http: httpx.AsyncClient, decision: dict, messages: list[dict], key_id: str | None) -> dict:
    """One streamed chat call to the decided provider; an OpenAI-style completion.

    Raises ProviderError for an error status, a timeout or a broken
    connection (raised from the httpx error: the kit classifies a timeout as one).
    """
    provider, model = decision["provider"], decision["model"]
    async with llm_call(provider=provider, model=model, virtual_key_id=key_id) as call:
        payload = {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        last: dict = {}
        try:
            async with http.stream("POST", f"{peer_url('fake-provider')}/v1/chat/completions", json=payload) as response:
                if response.status_code != 200:
                    body = await response.aread()
                    error = (orjson.loads(body).get("error") or {}) if body.startswith(b"{") else {}
                    raise ProviderError(provider=provider, status=response.status_code, error_type=error.get("type"))
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    last = orjson.loads(line[len("data: "):])
                    for choice in last.get("choices", ()):
                        if choice.get("delta", {}).get("content"):
                            if not parts:
                                call.first_token()
                            parts.append(choice["delta"]["content"])
        except httpx.HTTPError as exc:  # timeouts, refused or broken connections
            raise ProviderError(provider=provider, error_type=type(exc).__name__) from exc
        usage = last.get("usage") or {}
        call.response_model = last.get("model", model)
        call.input_tokens, call.output_tokens = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        call.cost_usd = cost_usd(model, call.input_tokens, call.output_tokens)
    return {
        "id": last.get("id"),
        "object": "chat.completion",
        "model": call.response_model,
        "provider": provider,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)}, "finish_reason": "stop"}],
        "usage": usage,
    }


def create_app() -> FastAPI:
    """The Unified LLM API app (uvicorn --factory)."""
    app, _ = service_app("unified-llm-api", title="Unified LLM API")

    @app.exception_handler(ProviderError)
    async def every_provider_failed(request: Request, exc: ProviderError) -> JSONResponse:
        status = 429 if exc.status == 429 else 502
        return JSONResponse({"detail": f"provider {exc.provider} failed ({exc.error_type})"}, status)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> JSONResponse:
        http: httpx.AsyncClient = request.app.state.http
        messages = [m.model_dump() for m in body.messages]
        # What a team logs to debug prompts; the kit masks secrets and card numbers in it.
        log.info("chat request", model=body.model, prompt_preview=messages[-1]["content"][:200])
        routed = await http.post(f"{peer_url('intelligent-router')}/v1/route",
                                 json={"model": body.model, "prompt_words": sum(len(m["content"].split()) for m in messages)})
        if routed.status_code == 400:
            # Logging the headers of a rejected request is common; the kit redacts authorization and cookies.
            log.warning("request rejected by the router", request_headers=dict(request.headers), detail=routed.json()["detail"])
            raise HTTPException(400, routed.json()["detail"])
        routed.raise_for_status()
        decision = routed.json()

        cache_key = {"model": decision["model"], "messages": messages}
        cached = (await http.post(f"{peer_url('optimization-service')}/v1/cache/lookup", json=cache_key)).raise_for_status().json()
        if cached["hit"]:
            return JSONResponse(cached["completion"], headers={"x-gateway-cache": "hit"})

        key_id = virtual_key_id(request.headers.get("authorization"))
        try:
            completion = await call_provider(http, decision, messages, key_id)
        except ProviderError as exc:
            reason = FALLBACK_REASONS.get(classify(exc)[1], "error")
            fallback = await http.post(f"{peer_url('intelligent-router')}/v1/fallback", json={**decision, "reason": reason})
            decision = fallback.raise_for_status().json()
            completion = await call_provider(http, decision, messages, key_id)
        store = {**cache_key, "completion": completion,
                 "input_tokens": completion["usage"].get("prompt_tokens", 0), "output_tokens": completion["usage"].get("completion_tokens", 0)}
        (await http.post(f"{peer_url('optimization-service')}/v1/cache/store", json=store)).raise_for_status()
        return JSONResponse(completion, headers={"x-gateway-cache": "miss"})

    return app
