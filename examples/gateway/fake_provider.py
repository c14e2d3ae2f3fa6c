"""A fake OpenAI-style LLM provider for the demo, with fault injection.

POST /v1/chat/completions takes `{"model", "messages", "stream"}`. Streamed
answers are server-sent events (`data: {chunk}` ... `data: [DONE]`) with the
usage in the last chunk, as OpenAI sends with `stream_options.include_usage`.

POST /admin/faults changes behaviour at run time; the body is any subset of
`Faults` (unknown keys and out-of-range values are refused with 422 naming
the key); GET /admin/faults returns the current values. Which calls fail is
drawn from random.Random(seed), re-seeded on every POST: the same faults and
the same calls give the same failures.

It stands for a third party, so it is not instrumented with the kit.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Literal

import orjson
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from examples.gateway.common import MODELS, PROVIDERS
from examples.gateway.layout import HEALTH_PATH


class Faults(BaseModel):
    """The provider's behaviour. Times in milliseconds."""

    model_config = ConfigDict(extra="forbid")
    latency_ms: float = Field(60, ge=0, le=120_000, description="time to the whole answer")
    time_to_first_token_ms: float = Field(25, ge=0, le=120_000, description="streamed answers: time to the first chunk")
    error_rate: float = Field(0, ge=0, le=1, description="share of calls answered with error_status")
    error_status: Literal[429, 500] = 500
    error_providers: list[Literal[PROVIDERS]] | None = Field(  # type: ignore[valid-type]
        None, description="only calls for these providers' models can fail (null: every call)")
    break_stream_rate: float = Field(
        0, ge=0, le=1, description="share of streamed answers cut off after their first chunk (the connection is dropped)")
    input_tokens: int | None = Field(None, ge=0, le=1_000_000, description="null: the prompt's word count")
    output_tokens: int = Field(12, ge=1, le=10_000)
    seed: int = 0


class FaultsUpdate(BaseModel):
    """A partial update of Faults; every key optional, the same bounds."""

    model_config = ConfigDict(extra="forbid")
    latency_ms: float | None = Field(None, ge=0, le=120_000)
    time_to_first_token_ms: float | None = Field(None, ge=0, le=120_000)
    error_rate: float | None = Field(None, ge=0, le=1)
    error_status: Literal[429, 500] | None = None
    error_providers: list[Literal[PROVIDERS]] | None = None  # type: ignore[valid-type]
    break_stream_rate: float | None = Field(None, ge=0, le=1)
    input_tokens: int | None = Field(None, ge=0, le=1_000_000)
    output_tokens: int | None = Field(None, ge=1, le=10_000)
    seed: int | None = None


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False


ERROR_BODIES = {
    429: {"message": "Rate limit reached (fake provider fault injection)", "type": "rate_limit_exceeded"},
    500: {"message": "The server had an error (fake provider fault injection)", "type": "server_error"},
}


def create_app() -> FastAPI:
    """The provider app; its faults live on `app.state.faults` (a Faults)."""
    app = FastAPI(title="fake LLM provider")
    app.state.faults = Faults()
    app.state.rng = random.Random(0)

    @app.get("/admin/faults")
    async def get_faults() -> Faults:
        return app.state.faults

    @app.post("/admin/faults")
    async def set_faults(update: FaultsUpdate) -> Faults:
        faults = app.state.faults.model_copy(update=update.model_dump(exclude_unset=True))
        app.state.faults, app.state.rng = faults, random.Random(faults.seed)
        return faults

    @app.get(HEALTH_PATH, include_in_schema=False)
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: ChatRequest):
        faults: Faults = app.state.faults
        # One provider down while the other serves: the model names the provider (common.MODELS).
        provider = MODELS[request.model][0] if request.model in MODELS else None
        failing = faults.error_providers is None or provider in faults.error_providers
        if failing and app.state.rng.random() < faults.error_rate:
            await asyncio.sleep(faults.time_to_first_token_ms / 1000)
            headers = {"retry-after": "1"} if faults.error_status == 429 else {}
            return JSONResponse({"error": ERROR_BODIES[faults.error_status]}, faults.error_status, headers)
        input_tokens = faults.input_tokens
        if input_tokens is None:
            input_tokens = sum(len(m.content.split()) for m in request.messages)
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": faults.output_tokens,
            "total_tokens": input_tokens + faults.output_tokens,
        }
        words = [f"word{i}" for i in range(faults.output_tokens)]
        answer_id, created = f"chatcmpl-{app.state.rng.getrandbits(48):012x}", int(time.time())
        if not request.stream:
            await asyncio.sleep(faults.latency_ms / 1000)
            return {
                "id": answer_id,
                "object": "chat.completion",
                "created": created,
                "model": request.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}],
                "usage": usage,
            }

        breaks = failing and app.state.rng.random() < faults.break_stream_rate

        async def events():
            await asyncio.sleep(faults.time_to_first_token_ms / 1000)
            pause = max(faults.latency_ms - faults.time_to_first_token_ms, 0) / 1000 / len(words)
            for i, word in enumerate(words):
                if i:
                    if breaks:
                        # uvicorn drops the connection: the client reads a body that ends too soon.
                        raise ConnectionAbortedError("fake provider fault injection: stream cut off after its first chunk")
                    await asyncio.sleep(pause)
                delta = {"index": 0, "delta": {"content": word if i == 0 else f" {word}"}, "finish_reason": None}
                chunk = {"id": answer_id, "object": "chat.completion.chunk", "created": created, "model": request.model, "choices": [delta]}
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            last = {"id": answer_id, "object": "chat.completion.chunk", "created": created, "model": request.model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
            yield b"data: " + orjson.dumps(last) + b"\n\ndata: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
