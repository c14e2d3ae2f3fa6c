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
   is 502 (429 when the last one was rate limiting), and
   gateway_llm_fallback_exhausted_total counts it.
With `"stream": true` the provider's server-sent events are relayed as they
come (no cache): the fallback is tried while nothing was sent yet; a stream
that breaks after its first chunk breaks for the client too (its 200 is sent),
and the kit records that request as failed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import httpx
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
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
    stream: bool = False


def virtual_key_id(authorization: str | None) -> str | None:
    """An id for the caller's virtual key, safe to record: never the key itself.

    A real gateway looks the id up (Kong's consumer id); the demo derives it
    with SHA-256, which identifies a key without revealing it.
    """
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return None
    return "vk_" + hashlib.sha256(key.encode()).hexdigest()[:16]


async def provider_events(
    http: httpx.AsyncClient, decision: dict, messages: list[dict], key_id: str | None
) -> AsyncIterator[tuple[str, dict]]:
    """One streamed chat call to the decided provider, inside the kit's
    `llm_call`: yields (the raw `data: ...` line, its decoded chunk) as they
    arrive, the last chunk carrying the usage.

    Raises ProviderError for an error status, a timeout or a broken
    connection (raised from the httpx error: the kit classifies a timeout as one).
    """
    provider, model = decision["provider"], decision["model"]
    upstream = httpx.URL(peer_url("fake-provider"))
    port = upstream.port or {"http": 80, "https": 443}.get(upstream.scheme)
    async with llm_call(
        provider=provider, model=model, virtual_key_id=key_id, server_address=upstream.host, server_port=port, stream=True
    ) as call:
        payload = {"model": model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
        last: dict = {}
        try:
            async with http.stream("POST", f"{upstream}/v1/chat/completions", json=payload) as response:
                if response.status_code != 200:
                    body = await response.aread()
                    error = (orjson.loads(body).get("error") or {}) if body.startswith(b"{") else {}
                    raise ProviderError(provider=provider, status=response.status_code, error_type=error.get("type"))
                async for line in response.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    last = orjson.loads(line[len("data: "):])
                    call.response_id = last.get("id", call.response_id)
                    choices = last.get("choices", ())
                    if any(choice.get("delta", {}).get("content") for choice in choices):
                        call.first_chunk()
                    # The reason comes with a choice's last chunk; with
                    # include_usage the final chunk has no choices at all.
                    finished = tuple(c["finish_reason"] for c in choices if c.get("finish_reason"))
                    call.finish_reasons = finished or call.finish_reasons
                    yield line, last
        except httpx.HTTPError as exc:  # timeouts, refused or broken connections
            raise ProviderError(provider=provider, error_type=type(exc).__name__) from exc
        usage = last.get("usage") or {}
        call.response_model = last.get("model", model)
        call.input_tokens, call.output_tokens = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        call.cost_usd = cost_usd(model, call.input_tokens, call.output_tokens)


async def call_provider(http: httpx.AsyncClient, decision: dict, messages: list[dict], key_id: str | None) -> dict:
    """The whole answer of one provider call, as an OpenAI-style completion (raises as provider_events)."""
    parts: list[str] = []
    last: dict = {}
    async for _, last in provider_events(http, decision, messages, key_id):
        parts += [c["delta"]["content"] for c in last.get("choices", ()) if c.get("delta", {}).get("content")]
    return {
        "id": last.get("id"),
        "object": "chat.completion",
        "model": last.get("model", decision["model"]),
        "provider": decision["provider"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)}, "finish_reason": "stop"}],
        "usage": last.get("usage") or {},
    }


async def relay(http: httpx.AsyncClient, decision: dict, messages: list[dict], key_id: str | None) -> AsyncIterator[bytes]:
    """The provider's events as server-sent events for the client, primed:
    the first is awaited before returning, so a provider that fails at once
    raises here, while the fallback can still be tried.

    The call runs in a task of its own, handing each line over a queue: the
    kit's LLM span then begins and ends in one task (Starlette iterates a
    streamed body in another task than the endpoint's)."""
    queue: asyncio.Queue = asyncio.Queue()

    async def call() -> None:
        try:
            async for line, _ in provider_events(http, decision, messages, key_id):
                await queue.put(line)
            await queue.put(None)
        except Exception as exc:  # handed to the reader, raised there
            await queue.put(exc)

    task = asyncio.create_task(call())
    first = await queue.get()
    if isinstance(first, Exception):
        raise first

    async def lines() -> AsyncIterator[bytes]:
        item = first
        while item is not None:
            if isinstance(item, Exception):
                raise item  # after the 200 and some chunks: the client's stream breaks
            yield f"{item}\n\n".encode()
            item = await queue.get()
        await task
        yield b"data: [DONE]\n\n"

    return lines()


def create_app() -> FastAPI:
    """The Unified LLM API app (uvicorn --factory)."""
    app, kit = service_app("unified-llm-api", title="Unified LLM API")

    async def with_fallback(request: Request, decision: dict, attempt):
        """`attempt(decision)`, then once more on the router's fallback when
        the provider fails; when that fails too, counts the exhausted chain
        and raises its ProviderError."""
        http: httpx.AsyncClient = request.app.state.http
        try:
            return await attempt(decision)
        except ProviderError as exc:
            reason = FALLBACK_REASONS.get(classify(exc)[1], "error")
            fallback = await http.post(f"{peer_url('intelligent-router')}/v1/fallback", json={**decision, "reason": reason})
            decision = fallback.raise_for_status().json()
        try:
            return await attempt(decision)
        except ProviderError as exc:
            kit.metrics.count(
                "gateway_llm_fallback_exhausted_total", gen_ai_provider_name=exc.provider, error_source=classify(exc)[1]
            )
            raise

    @app.exception_handler(ProviderError)
    async def every_provider_failed(request: Request, exc: ProviderError) -> JSONResponse:
        status = 429 if exc.status == 429 else 502
        return JSONResponse({"detail": f"provider {exc.provider} failed ({exc.error_type})"}, status)

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, request: Request) -> Response:
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

        key_id = virtual_key_id(request.headers.get("authorization"))
        if body.stream:
            lines = await with_fallback(request, decision, lambda d: relay(http, d, messages, key_id))
            return StreamingResponse(lines, media_type="text/event-stream")

        cache_key = {"model": decision["model"], "messages": messages}
        cached = (await http.post(f"{peer_url('optimization-service')}/v1/cache/lookup", json=cache_key)).raise_for_status().json()
        if cached["hit"]:
            return JSONResponse(cached["completion"], headers={"x-gateway-cache": "hit"})

        completion = await with_fallback(request, decision, lambda d: call_provider(http, d, messages, key_id))
        store = {**cache_key, "completion": completion,
                 "input_tokens": completion["usage"].get("prompt_tokens", 0), "output_tokens": completion["usage"].get("completion_tokens", 0)}
        (await http.post(f"{peer_url('optimization-service')}/v1/cache/store", json=store)).raise_for_status()
        return JSONResponse(completion, headers={"x-gateway-cache": "miss"})

    return app
