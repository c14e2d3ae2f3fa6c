"""Nothing secret leaves the process: the redaction corpus pushed through every
channel the kit emits on - exception messages on the server and LLM spans
(exception event, stack trace, status description), the error and access log
lines, span attributes a client controls (query string, user agent), the
`model` a request names (span name, attributes, metric labels), the
`X-Request-ID` a client sends, a service's own counter labels - and then
every string that left, in the span exporter, the log file and both scrape
formats, searched for each secret. Look-alikes that pass through the same
channels come out unchanged.

Field reports (issue 18): an API key in an exception message reached Jaeger
unmasked (1); `model` and `X-Request-ID` were never scanned (3).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI, Request
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway_telemetry import fastapi as kit_fastapi
from gateway_telemetry import tracing
from gateway_telemetry.errors import ProviderError
from gateway_telemetry.fastapi import instrument_app, llm_call
from gateway_telemetry.logs import configure_logging
from kit.test_fastapi import OPENMETRICS, caller

CORPUS = yaml.safe_load((Path(__file__).parents[1] / "fixtures/redaction_corpus.yaml").read_text())
# (text that holds a secret, the secret): a corpus line carries the context a
# key-named secret needs (`password=...`); every one goes in as free text.
# Put into one more string (a message, a stack trace), JSON held two strings
# deep in a corpus line would stand three deep: past json_patterns.
# MAX_STRING_DEPTH, a documented limit, so those lines are left out.
HELD = [(case["line"], case["secret"]) for case in CORPUS["secrets"] if '\\\\\\"' not in case["line"]]
# Secrets that are a whole token on their own (no key needed to know them):
# what a client could put in a field the kit repeats as it is.
# (A bearer token, a URL's password, a webhook's path or a key block's body
# is a secret only by its context.)
BY_CONTEXT = {"secret_value", "url_password", "bearer_token", "slack_webhook", "discord_webhook", "teams_webhook",
              "url_signature", "private_key"}
TOKENS = sorted({case["secret"] for case in CORPUS["secrets"] if case["kind"] not in BY_CONTEXT})


@pytest.fixture(autouse=True)
def _clean():
    yield
    if kit_fastapi._active is not None:
        kit_fastapi._active.uninstrument()
    tracing.shutdown_tracing()


def make_app() -> FastAPI:
    app = FastAPI()

    @app.post("/fail")
    async def fail(request: Request) -> dict:
        body = await request.json()
        raise RuntimeError(body["message"])

    @app.post("/llm")
    async def llm(request: Request) -> dict:
        body = await request.json()
        async with llm_call(provider="openai", model=body["model"]) as call:
            if body.get("message"):
                raise ValueError(body["message"])
            call.input_tokens, call.output_tokens = 3, 4
        return {"ok": True}

    @app.post("/provider-error")
    async def provider_error(request: Request) -> dict:
        body = await request.json()
        async with llm_call(provider="openai", model="gpt-4o"):
            raise ProviderError(provider="openai", status=401, error_type=body["code"])

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict:
        return {"id": item_id}

    return app


@pytest.fixture
def emitted(tmp_path):
    """Serve the app; `everything()` is every string that left the process:
    exported spans (as JSON), log lines, and both scrape formats."""
    log = tmp_path / "service.jsonl"
    configure_logging(service="unified-llm-api", environment="test", version="1", level="DEBUG", file=log)
    app, exporter = make_app(), InMemorySpanExporter()
    handle = instrument_app(app, service="unified-llm-api", environment="test", version="1", exporter=exporter)
    call = caller(app, raise_app_exceptions=False)

    def spans() -> str:
        handle.tracer_provider.force_flush()
        return "\n".join(span.to_json() for span in exporter.get_finished_spans())

    def everything() -> str:
        scrapes = call("GET", "/metrics").text + call("GET", "/metrics", headers={"accept": OPENMETRICS}).text
        return "\n".join((spans(), log.read_text(), scrapes))

    everything.spans = spans
    return handle, call, everything


def _leaked(text: str, secrets) -> list[str]:
    # Spans are JSON: a secret with a quote or backslash is searched as JSON writes it too.
    return [s for s in secrets if s in text or json.dumps(s)[1:-1] in text]


def test_exception_messages_never_reach_spans_or_logs_unmasked(emitted):
    handle, call, everything = emitted
    for text, _ in HELD:
        assert call("POST", "/fail", json={"message": text}).status_code == 500
        assert call("POST", "/llm", json={"model": "gpt-4o-mini", "message": text}).status_code == 500

    assert _leaked(everything(), [secret for _, secret in HELD]) == []


def test_a_model_the_client_names_is_masked_in_span_names_attributes_and_metric_labels(emitted):
    _, call, everything = emitted
    for token in TOKENS:
        assert call("POST", "/llm", json={"model": token}).status_code == 200
    call("POST", "/llm", json={"model": "claude-3-5-sonnet-20241022"})

    out = everything()
    assert _leaked(out, TOKENS) == []
    assert 'gen_ai_request_model="claude-3-5-sonnet-20241022"' in out, "a real model name is kept"
    assert "chat claude-3-5-sonnet-20241022" in out


@pytest.mark.parametrize("token", TOKENS)
def test_a_request_id_that_holds_a_secret_is_replaced_never_echoed(emitted, token):
    _, call, everything = emitted
    response = call("GET", "/items/1", headers={"x-request-id": token})

    assert token not in response.headers["x-request-id"]
    assert _leaked(everything(), [token]) == []


def test_query_strings_and_headers_a_client_sends_are_masked_on_spans(emitted):
    """The query string is percent-encoded on the span (`Bearer+0a1b...`):
    masked as decoded text. (The test client's own httpx line in the log
    shows the encoded URL; log lines are masked as written, as Promtail
    reads them, so only the spans are searched here.)"""
    _, call, everything = emitted
    for text, _ in HELD:
        call("GET", "/items/1", params={"q": text})
    for token in TOKENS:
        call("GET", "/items/1", headers={"user-agent": f"agent/1.0 {token}"})

    assert _leaked(everything.spans(), [secret for _, secret in HELD] + TOKENS) == []


def test_a_services_own_counter_labels_are_masked(emitted):
    handle, _, everything = emitted
    for token in TOKENS:
        handle.metrics.count("gateway_llm_fallback_exhausted_total", gen_ai_provider_name=token, error_source="provider")

    assert _leaked(everything(), TOKENS) == []


def test_look_alikes_pass_every_channel_unchanged(emitted):
    _, call, everything = emitted
    look_alikes = ["risk-scoring-7f9c", "order 4111111111111112", "build 1.2.3+20241022", "git@github.com:org/repo"]
    for text in look_alikes:
        call("POST", "/fail", json={"message": text})

    out = everything()
    assert [text for text in look_alikes if text not in out] == []


def test_an_error_code_a_provider_answers_never_carries_a_secret_into_labels_or_lines(emitted):
    """A provider's error code is repeated as the error_type label and field."""
    _, call, everything = emitted
    for token in TOKENS:
        call("POST", "/provider-error", json={"code": token})
    assert not _leaked(everything(), TOKENS)


def test_a_span_with_nothing_to_mask_is_exported_as_it_is():
    """Not rebuilt (its dropped-attribute counts kept, no copy per span)."""
    from opentelemetry.sdk.trace import TracerProvider

    from gateway_telemetry.span_masking import mask_span

    span = TracerProvider().get_tracer("test").start_span("GET /items/{id}", attributes={"url.path": "/items/1", "http.response.status_code": 200})
    span.end()
    assert mask_span(span) is span
