"""Optimization Service: a small in-memory semantic(-ish) cache of completions.

POST /v1/cache/lookup {"model", "messages"} -> {"hit": false} or
                      {"hit": true, "completion": {...}, "tokens_saved": n}
POST /v1/cache/store  {"model", "messages", "completion", "input_tokens", "output_tokens"} -> 204
Counts gateway_optimization_cache_hits_total / _misses_total (cache="semantic")
and gateway_optimization_tokens_saved_total (technique="semantic_cache").
"""

from __future__ import annotations

import re
from collections import OrderedDict

from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

from examples.gateway.common import service_app

CACHE = "semantic"
TECHNIQUE = "semantic_cache"


class Message(BaseModel):
    role: str
    content: str


class Lookup(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1)


class Entry(Lookup):
    completion: dict
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)


class SemanticCache:
    """Completions keyed by model and normalised prompt, least recently used evicted.

    "Semantic-ish": prompts that differ only in case, punctuation or spacing
    share an entry ("What is RAG?" and "what is rag"). A real service would
    compare embeddings; the telemetry is the same.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()

    @staticmethod
    def key(model: str, messages: list[Message]) -> tuple[str, str]:
        words = re.findall(r"\w+", " ".join(f"{m.role} {m.content}" for m in messages).lower())
        return model, " ".join(words)

    def get(self, lookup: Lookup) -> Entry | None:
        key = self.key(lookup.model, lookup.messages)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, entry: Entry) -> None:
        key = self.key(entry.model, entry.messages)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def create_app() -> FastAPI:
    """The optimization service app (uvicorn --factory)."""
    app, kit = service_app("optimization-service", title="Optimization Service")
    cache = SemanticCache()

    @app.post("/v1/cache/lookup")
    async def lookup(request: Lookup) -> dict:
        entry = cache.get(request)
        if entry is None:
            kit.metrics.count("gateway_optimization_cache_misses_total", cache=CACHE)
            return {"hit": False}
        saved = entry.input_tokens + entry.output_tokens
        kit.metrics.count("gateway_optimization_cache_hits_total", cache=CACHE)
        kit.metrics.count("gateway_optimization_tokens_saved_total", saved, gen_ai_request_model=entry.model, technique=TECHNIQUE)
        return {"hit": True, "completion": entry.completion, "tokens_saved": saved}

    @app.post("/v1/cache/store", status_code=204)
    async def store(entry: Entry) -> Response:
        cache.put(entry)
        return Response(status_code=204)

    return app
