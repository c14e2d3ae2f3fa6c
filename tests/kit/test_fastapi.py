"""The FastAPI glue: what a request through an instrumented app leaves in the
span exporter, the /metrics scrape (parsed by prometheus_client), the JSON log
lines and the response - and that the instrumentation never breaks a request."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
)
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from gateway_telemetry import fastapi as kit_fastapi
from gateway_telemetry import tracing
from gateway_telemetry.errors import ProviderError
from gateway_telemetry.contract import FAILED_REQUEST_MATCHER
from gateway_telemetry.fastapi import current_request_id, instrument_app, llm_call
from gateway_telemetry.logs import configure_logging

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
VIRTUAL_KEY = "sk-live-virtual-key-never-recorded-1234567890"


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"):
        monkeypatch.delenv(name, raising=False)
    yield
    if kit_fastapi._active is not None:
        kit_fastapi._active.uninstrument()
    tracing.shutdown_tracing()


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / "service.jsonl"
    configure_logging(service="unified-llm-api", environment="test", version="1.0.0", level="DEBUG", file=path)
    return path


def read_logs(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        return {"id": item_id}

    @app.get("/whoami")
    async def whoami() -> dict:
        return {"request_id": current_request_id()}

    @app.get("/teapot")
    async def teapot() -> dict:
        raise HTTPException(418, "short and stout")

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("kaboom")

    @app.post("/llm")
    async def llm(fail: bool = False) -> dict:
        try:
            async with llm_call(provider="openai", model="gpt-4o", virtual_key_id="vk_1234") as call:
                call.first_token()
                if fail:
                    raise ProviderError(provider="openai", status=429, error_type="rate_limit_exceeded")
                call.response_model, call.input_tokens, call.output_tokens, call.cost_usd = "gpt-4o-2024-08-06", 12, 40, 0.002
        except ProviderError:
            raise HTTPException(502, "provider failed") from None
        return {"ok": True}

    @app.post("/llm-wrong-reasons")
    async def llm_wrong_reasons() -> dict:
        async with llm_call(provider="openai", model="gpt-4o") as call:
            call.input_tokens, call.output_tokens = 5, 6
            call.finish_reasons = "stop"  # a string, not a sequence of them: the caller's mistake
        return {"ok": True}

    @app.post("/llm-stream")
    async def llm_stream(broken: bool = False) -> dict:
        try:
            async with llm_call(
                provider="AWS Bedrock", model="anthropic.claude-3-5", server_address="bedrock-runtime.eu-west-1.amazonaws.com",
                server_port=443, stream=True,
            ) as call:
                call.first_chunk()
                call.response_id, call.output_tokens = "msg_01XFDUDYJgAACzvnptvVoYEL", 7
                if broken:
                    raise ProviderError(provider="aws.bedrock", status=500, error_type="stream_interrupted")
                call.finish_reasons, call.input_tokens = ("stop",), 3
        except ProviderError:
            raise HTTPException(502, "provider failed") from None
        return {"ok": True}

    return app


def caller(app: FastAPI, raise_app_exceptions: bool = True):
    """A function calling `app` in-process: call(method, path, **httpx kwargs) -> Response.
    With raise_app_exceptions False, like a real server, an exception the app
    raises after its response started reaches the client as a truncated body."""

    def call(method: str, path: str, **kwargs) -> httpx.Response:
        async def send():
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())

    return call


@pytest.fixture
def served(log_file):
    """An instrumented app, its handle and span exporter, and a client calling it in-process."""
    app, exporter = make_app(), InMemorySpanExporter()
    handle = instrument_app(app, service="unified-llm-api", environment="test", version="1.0.0", exporter=exporter)
    call = caller(app)

    def spans():
        handle.tracer_provider.force_flush()
        return exporter.get_finished_spans()

    return handle, call, spans


def scrape(call) -> dict:
    """The OpenMetrics families of GET /metrics, by name as Prometheus stores it."""
    response = call("GET", "/metrics", headers={"accept": OPENMETRICS})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    families = text_string_to_metric_families(response.text)
    return {f"{f.name}_total" if f.type == "counter" else f.name: f.samples for f in families}


def samples(families: dict, series: str, **labels) -> list:
    name = series.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
    return [s for s in families[name] if s.name == series and all(s.labels.get(k) == v for k, v in labels.items())]


def test_a_sane_request_id_from_the_caller_is_kept_returned_and_logged(served, log_file):
    _, call, spans = served
    response = call("GET", "/items/1", headers={"x-request-id": "req-42.a_b"})

    assert response.headers["x-request-id"] == "req-42.a_b"
    access = [line for line in read_logs(log_file) if line["logger"] == "gateway.access"]
    assert [(a["request_id"], a["method"], a["path"], a["status"]) for a in access] == [("req-42.a_b", "GET", "/items/1", 200)]
    assert access[0]["latency_ms"] > 0
    (server,) = spans()
    assert server.attributes["http.response.header.x-request-id"] == ("req-42.a_b",)


@pytest.mark.parametrize("given", [None, "", "x" * 129, "two words", "semi;colon", "ünïcode"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(served, given):
    _, call, _ = served
    headers = {} if given is None else {"x-request-id": given.encode()}
    first = call("GET", "/items/1", headers=headers).headers["x-request-id"]
    second = call("GET", "/items/1", headers=headers).headers["x-request-id"]

    assert re.fullmatch(r"[0-9a-f]{32}", first) and re.fullmatch(r"[0-9a-f]{32}", second)
    assert first != second


def test_uvicorn_access_lines_are_dropped_while_the_kit_writes_its_own(served, log_file):
    handle, _, _ = served
    logging.getLogger("uvicorn.access").info('127.0.0.1:5000 - "GET /items/1 HTTP/1.1" 200')
    handle.uninstrument()
    logging.getLogger("uvicorn.access").info('127.0.0.1:5000 - "GET /items/2 HTTP/1.1" 200')

    uvicorn_lines = [line["message"] for line in read_logs(log_file) if line["logger"] == "uvicorn.access"]
    assert uvicorn_lines == ['127.0.0.1:5000 - "GET /items/2 HTTP/1.1" 200']


def test_request_id_is_bound_only_for_its_own_request(served, log_file):
    _, call, _ = served
    call("GET", "/items/1", headers={"x-request-id": "first"})
    call("GET", "/items/2")
    kit_fastapi.get_logger("after").info("outside any request")

    lines = read_logs(log_file)
    second = next(line for line in lines if line.get("path") == "/items/2")
    assert second["request_id"] not in ("first", None, "")
    assert lines[-1]["message"] == "outside any request" and "request_id" not in lines[-1]


def test_the_request_id_is_readable_while_serving_and_gone_afterwards(served):
    _, call, _ = served
    assert call("GET", "/whoami", headers={"x-request-id": "peer-call-7"}).json() == {"request_id": "peer-call-7"}
    assert current_request_id() is None


def test_metrics_label_the_route_template_never_the_raw_path(served):
    _, call, _ = served
    for item in (1, 2, 3):
        call("GET", f"/items/{item}")
    call("GET", "/no/such/path/4711")
    families = scrape(call)

    routes = {s.labels["http_route"] for s in families["http_server_request_duration_seconds"] if s.name.endswith("_count")}
    assert routes == {"/items/{item_id}", ""}
    (count,) = samples(families, "http_server_request_duration_seconds_count", http_route="/items/{item_id}")
    assert count.value == 3
    assert count.labels == {
        "http_request_method": "GET",
        "url_scheme": "http",
        "http_route": "/items/{item_id}",
        "http_response_status_code": "200",
        "error_type": "",
    }
    (not_found,) = samples(families, "http_server_request_duration_seconds_count", http_route="")
    assert not_found.labels["http_response_status_code"] == "404"


def test_scrapes_are_neither_traffic_in_the_histogram_nor_spans(served, log_file):
    _, call, spans = served
    scrape(call)
    families = scrape(call)

    assert not samples(families, "http_server_request_duration_seconds_count", http_route="/metrics")
    assert spans() == ()
    scrape_lines = [line for line in read_logs(log_file) if line.get("path") == "/metrics"]
    assert {line["level"] for line in scrape_lines} == {"debug"} and len(scrape_lines) == 2


def test_latency_exemplar_is_the_trace_id_of_the_request_and_of_its_server_span(served):
    _, call, spans = served
    call("GET", "/items/7", headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"})
    families = scrape(call)

    (server,) = spans()
    assert server.kind is SpanKind.SERVER and server.name == "GET /items/{item_id}"
    assert format(server.context.trace_id, "032x") == TRACE_ID
    exemplars = [s.exemplar for s in samples(families, "http_server_request_duration_seconds_bucket") if s.exemplar]
    assert exemplars and {e.labels["trace_id"] for e in exemplars} == {TRACE_ID}


def test_an_unhandled_exception_gives_a_500_and_one_internal_error_line(served, log_file):
    _, call, spans = served
    response = call("GET", "/boom", headers={"x-request-id": "boom-1"})

    assert response.status_code == 500 and response.headers["x-request-id"] == "boom-1"
    errors = [line for line in read_logs(log_file) if line["level"] == "error"]
    assert len(errors) == 1
    (error,) = errors
    assert (error["error_source"], error["error_type"], error["request_id"]) == ("internal", "RuntimeError", "boom-1")
    (server,) = spans()
    assert error["trace_id"] == format(server.context.trace_id, "032x")
    assert server.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in server.events if e.name == "exception"] == ["RuntimeError"]
    (count,) = samples(scrape(call), "http_server_request_duration_seconds_count", http_route="/boom")
    assert (count.labels["http_response_status_code"], count.labels["error_type"]) == ("500", "RuntimeError")


def test_a_client_error_is_a_4xx_without_error_type_or_error_line(served, log_file):
    _, call, _ = served
    assert call("GET", "/teapot").status_code == 418

    (count,) = samples(scrape(call), "http_server_request_duration_seconds_count", http_route="/teapot")
    assert (count.labels["http_response_status_code"], count.labels["error_type"]) == ("418", "")
    assert not [line for line in read_logs(log_file) if line["level"] == "error"]


@pytest.mark.parametrize("step", ["_begin", "_end"])
def test_a_failure_of_the_instrumentation_never_reaches_the_request(served, log_file, monkeypatch, step):
    _, call, _ = served

    def broken(*args):
        raise ZeroDivisionError("instrumentation bug")

    monkeypatch.setattr(kit_fastapi, step, broken)
    response = call("GET", "/items/5")

    assert (response.status_code, response.json()) == (200, {"id": 5})
    failures = [line for line in read_logs(log_file) if line["message"] == "telemetry kit failure"]
    assert [(f["step"], f["error_type"], f["error_source"]) for f in failures] == [("broken", "ZeroDivisionError", "internal")]


def test_a_failing_metric_observation_does_not_fail_the_request(served, monkeypatch):
    handle, call, _ = served
    monkeypatch.setattr(handle.metrics, "observe_request", lambda **_: 1 / 0)
    assert call("GET", "/items/9").json() == {"id": 9}


def test_llm_call_records_every_contract_metric_with_its_labels(served):
    _, call, spans = served
    assert call("POST", "/llm").status_code == 200
    families = scrape(call)

    gen_ai = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"}
    (duration,) = samples(families, "gen_ai_client_operation_duration_seconds_count")
    assert duration.labels == {**gen_ai, "error_type": "", "error_source": ""} and duration.value == 1
    tokens = {s.labels["gen_ai_token_type"]: s for s in samples(families, "gen_ai_client_token_usage_sum")}
    assert {k: (s.labels, s.value) for k, s in tokens.items()} == {
        "input": ({**gen_ai, "gen_ai_token_type": "input"}, 12),
        "output": ({**gen_ai, "gen_ai_token_type": "output"}, 40),
    }
    (ttft,) = samples(families, "gateway_llm_time_to_first_token_seconds_count")
    assert ttft.labels == gen_ai and ttft.value == 1
    (tpot,) = samples(families, "gateway_llm_time_per_output_token_seconds_count")
    assert tpot.labels == gen_ai and tpot.value == 1
    (cost,) = samples(families, "gateway_llm_cost_usd_total")
    assert cost.labels == {"gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o"} and cost.value == pytest.approx(0.002)
    client, server = sorted(spans(), key=lambda s: s.kind is SpanKind.SERVER)
    (exemplar,) = {s.exemplar.labels["trace_id"] for s in samples(families, "gen_ai_client_operation_duration_seconds_bucket") if s.exemplar}
    assert exemplar == format(client.context.trace_id, "032x")


def test_llm_call_span_is_a_client_child_with_gen_ai_attributes_and_the_key_id_only(served):
    _, call, spans = served
    call("POST", "/llm", headers={"authorization": f"Bearer {VIRTUAL_KEY}"})

    client, server = sorted(spans(), key=lambda s: s.kind is SpanKind.SERVER)
    assert (client.kind, client.name, client.parent.span_id) == (SpanKind.CLIENT, "chat gpt-4o", server.context.span_id)
    assert dict(client.attributes) == {
        GEN_AI_OPERATION_NAME: "chat",
        GEN_AI_PROVIDER_NAME: "openai",
        GEN_AI_REQUEST_MODEL: "gpt-4o",
        GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
        GEN_AI_USAGE_INPUT_TOKENS: 12,
        GEN_AI_USAGE_OUTPUT_TOKENS: 40,
        "gateway.virtual_key.id": "vk_1234",
    }
    everything = repr([(s.name, dict(s.attributes), s.events) for s in (client, server)])
    assert VIRTUAL_KEY not in everything


def test_a_failed_llm_call_is_classified_counted_and_logged_with_the_upstream_status(served, log_file):
    _, call, spans = served
    assert call("POST", "/llm", params={"fail": "true"}).status_code == 502

    (duration,) = samples(scrape(call), "gen_ai_client_operation_duration_seconds_count")
    (line,) = [line for line in read_logs(log_file) if line["message"] == "llm call failed"]
    assert line["level"] == "error"
    assert (line["provider"], line["model"], line["upstream_status"]) == ("openai", "gpt-4o", 429)
    assert line["error_source"] == "rate_limit" and duration.labels["error_type"] == line["error_type"] != ""
    client = next(s for s in spans() if s.kind is SpanKind.CLIENT)
    assert client.status.status_code is StatusCode.ERROR and client.attributes["error.type"] == line["error_type"]
    assert line["trace_id"] == format(client.context.trace_id, "032x")


def test_uninstrument_takes_everything_away(served):
    handle, call, spans = served
    call("GET", "/items/1")
    handle.uninstrument()
    response = call("GET", "/items/2")

    assert response.status_code == 200 and "x-request-id" not in response.headers
    assert call("GET", "/metrics").status_code == 404
    assert len(spans()) == 1  # only the request made before uninstrument()
    handle.uninstrument()  # twice is harmless
    assert kit_fastapi._active is None


def test_an_app_can_be_instrumented_again_after_uninstrument(served):
    handle, call, _ = served
    handle.uninstrument()
    again = instrument_app(handle.app, service="intelligent-router", environment="test", version="1.0.1", exporter=InMemorySpanExporter())

    assert call("GET", "/items/3").headers["x-request-id"]
    assert "gateway_router_decisions_total" in scrape(call)
    again.uninstrument()


def test_a_second_instrumented_app_in_one_process_is_refused(served):
    with pytest.raises(RuntimeError, match=r"'unified-llm-api' is already instrumented in this process"):
        instrument_app(FastAPI(), service="intelligent-router", environment="test", version="1")


def test_an_app_that_already_serves_is_refused(served):
    handle, call, _ = served
    handle.uninstrument()
    call("GET", "/items/1")
    with pytest.raises(RuntimeError, match="already serving requests"):
        instrument_app(handle.app, service="unified-llm-api", environment="test", version="1")


def test_a_service_the_kit_does_not_instrument_is_refused():
    with pytest.raises(ValueError, match=r"service: given 'kong'"):
        instrument_app(FastAPI(), service="kong", environment="test", version="1")
    assert kit_fastapi._active is None


def test_fastapis_own_telemetry_is_off_while_the_kit_instruments_the_app(served):
    """FastAPI 0.163 traces by itself once a global tracer provider exists
    (fastapi/telemetry/_asgi.py): a second server span and three operation
    spans per request, unmasked. Only the kit's span is exported."""
    handle, call, spans = served
    call("GET", "/items/1")

    assert [(span.name, span.kind) for span in spans()] == [("GET /items/{item_id}", SpanKind.SERVER)]
    handle.uninstrument()
    assert handle.app._telemetry["tracing"] is True


def test_llm_call_without_an_instrumented_app_says_so():
    async def outside():
        async with llm_call(provider="openai", model="gpt-4o"):
            pass

    with pytest.raises(RuntimeError, match="no app is instrumented in this process"):
        asyncio.run(outside())


def test_a_failed_instrument_app_leaves_the_process_as_it_was(monkeypatch):
    """A failure half-way (after the middleware is added and FastAPI's own
    telemetry switched off) undoes both."""

    def refuse(*args, **kwargs):
        raise RuntimeError("route refused")

    app = make_app()
    native_before = dict(app._telemetry)
    monkeypatch.setattr(app, "add_api_route", refuse)
    with pytest.raises(RuntimeError, match="route refused"):
        instrument_app(app, service="unified-llm-api", environment="test", version="1")
    monkeypatch.undo()

    assert kit_fastapi._active is None and app.user_middleware == []
    assert "/metrics" not in {getattr(r, "path", None) for r in app.router.routes}
    assert app._telemetry == native_before
    instrument_app(make_app(), service="unified-llm-api", environment="test", version="1", exporter=InMemorySpanExporter())


# --- Issue 17, report 4: what the kit records is what the client received ----


def _serve(app: FastAPI, log_file):
    """Instrument `app`; its handle and a caller that survives the app's exceptions as a server does."""
    handle = instrument_app(app, service="unified-llm-api", environment="test", version="1.0.0", exporter=InMemorySpanExporter())
    return handle, caller(app, raise_app_exceptions=False)


@pytest.mark.parametrize("asynchronous", [True, False], ids=["async handler", "sync handler"])
def test_an_apps_own_exception_handler_answers_and_its_status_is_recorded(log_file, asynchronous):
    app = FastAPI()

    async def async_handler(request, exc):
        return JSONResponse({"detail": "try again later"}, 503)

    def sync_handler(request, exc):
        return JSONResponse({"detail": "try again later"}, 503)

    app.add_exception_handler(Exception, async_handler if asynchronous else sync_handler)

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("kaboom")

    _, call = _serve(app, log_file)
    response = call("GET", "/boom", headers={"x-request-id": "handled-1"})

    assert (response.status_code, response.json()) == (503, {"detail": "try again later"})
    assert response.headers["x-request-id"] == "handled-1"
    (count,) = samples(scrape(call), "http_server_request_duration_seconds_count", http_route="/boom")
    assert (count.labels["http_response_status_code"], count.labels["error_type"]) == ("503", "RuntimeError")
    errors = [line for line in read_logs(log_file) if line["level"] == "error"]
    assert [(e["message"], e["error_type"]) for e in errors] == [("unhandled exception", "RuntimeError")]


@pytest.mark.parametrize("handled", [False, True], ids=["unhandled", "the app has a handler"])
def test_a_stream_that_breaks_after_its_first_chunk_is_recorded_as_failed(log_file, handled):
    app = FastAPI()
    if handled:
        # Too late for it: Starlette raises a RuntimeError from the exception instead.
        app.add_exception_handler(ProviderError, lambda request, exc: JSONResponse({}, 502))

    @app.get("/stream")
    async def stream():
        async def chunks():
            yield b"data: first\n\n"
            raise ProviderError(provider="openai", error_type="RemoteProtocolError")

        return StreamingResponse(chunks(), media_type="text/event-stream")

    _, call = _serve(app, log_file)
    response = call("GET", "/stream")

    # The client saw a 200 and one chunk, then the end of the stream.
    assert (response.status_code, response.text) == (200, "data: first\n\n")
    (count,) = samples(scrape(call), "http_server_request_duration_seconds_count", http_route="/stream")
    assert (count.labels["http_response_status_code"], count.labels["error_type"]) == ("200", "RemoteProtocolError")
    (error,) = [line for line in read_logs(log_file) if line["message"] == "unhandled exception"]
    assert (error["error_type"], error["error_source"], error["provider"]) == ("RemoteProtocolError", "provider", "openai")


def test_every_failed_request_and_no_successful_one_matches_the_one_failure_definition(served):
    """contract.FAILED_REQUEST_MATCHER, evaluated on what the kit exposes for
    each kind of outcome: 5xx, exception, client 4xx, success."""
    _, call, _ = served
    for path in ("/items/1", "/teapot", "/boom"):
        call("GET", path)
    call("POST", "/llm", params={"fail": "true"})  # answered 502
    name, _, value = FAILED_REQUEST_MATCHER.partition("!=")
    failed = {
        s.labels["http_route"]: s.labels[name] != value.strip('"')
        for s in samples(scrape(call), "http_server_request_duration_seconds_count")
    }
    assert failed == {"/items/{item_id}": False, "/teapot": False, "/boom": True, "/llm": True}


def test_llm_errors_carry_their_source_so_a_callers_own_mistake_is_not_a_provider_error(log_file):
    app = FastAPI()

    @app.post("/llm/{status}")
    async def llm(status: int) -> dict:
        try:
            async with llm_call(provider="openai", model="gpt-4o"):
                raise ProviderError(provider="openai", status=status)
        except ProviderError:
            raise HTTPException(502, "provider failed") from None

    _, call = _serve(app, log_file)
    for status in (400, 413, 422, 401, 429, 500):
        call("POST", f"/llm/{status}")
    sources = {
        s.labels["error_type"]: s.labels["error_source"]
        for s in samples(scrape(call), "gen_ai_client_operation_duration_seconds_count")
    }
    assert sources == {"400": "client", "413": "client", "422": "client", "401": "provider", "429": "rate_limit", "500": "provider"}


def test_a_streamed_call_records_the_time_per_output_token_after_the_first(log_file):
    app = FastAPI()

    @app.post("/llm")
    async def llm() -> dict:
        async with llm_call(provider="openai", model="gpt-4o") as call_:
            # As if the call began 2.5 s ago and its first token came 0.5 s in.
            now = time.perf_counter()
            call_.started, call_.first_token_at = now - 2.5, now - 2.0
            call_.input_tokens, call_.output_tokens = 10, 5
        return {}

    _, call = _serve(app, log_file)
    call("POST", "/llm")
    families = scrape(call)
    (tpot,) = samples(families, "gateway_llm_time_per_output_token_seconds_sum")
    (ttft,) = samples(families, "gateway_llm_time_to_first_token_seconds_sum")
    # 2 s after the first token, for the 4 tokens after it; 0.5 s to the first.
    assert tpot.value == pytest.approx(0.5, abs=0.01) and ttft.value == pytest.approx(0.5)


def test_a_streamed_llm_call_carries_the_genai_and_server_attributes_of_the_conventions(served, log_file):
    _, call, spans = served
    assert call("POST", "/llm-stream").status_code == 200

    client = next(s for s in spans() if s.kind is SpanKind.CLIENT)
    assert dict(client.attributes) == {
        GEN_AI_OPERATION_NAME: "chat",
        GEN_AI_PROVIDER_NAME: "aws.bedrock",  # the conventions' well-known name for "AWS Bedrock"
        GEN_AI_REQUEST_MODEL: "anthropic.claude-3-5",
        "gen_ai.request.stream": True,
        "server.address": "bedrock-runtime.eu-west-1.amazonaws.com",
        "server.port": 443,
        "gen_ai.response.id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "gen_ai.response.finish_reasons": ("stop",),
        GEN_AI_USAGE_INPUT_TOKENS: 3,
        GEN_AI_USAGE_OUTPUT_TOKENS: 7,
    }
    families = scrape(call)
    (first_chunk,) = samples(families, "gen_ai_client_operation_time_to_first_chunk_seconds_count")
    assert first_chunk.labels["gen_ai_provider_name"] == "aws.bedrock" and first_chunk.value == 1
    (line,) = [line for line in read_logs(log_file) if line["message"] == "llm call"]
    assert line["provider"] == "aws.bedrock"


def test_a_stream_that_breaks_keeps_what_it_had_received_on_its_span(served):
    _, call, spans = served
    assert call("POST", "/llm-stream", params={"broken": "true"}).status_code == 502

    client = next(s for s in spans() if s.kind is SpanKind.CLIENT)
    assert client.status.status_code is StatusCode.ERROR
    assert client.attributes["gen_ai.response.id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert client.attributes[GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert "gen_ai.response.finish_reasons" not in client.attributes


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"server_address": "api.openai.com", "server_port": 0}, r"server.port: given 0; must be a port number, 1-65535"),
        ({"server_address": "api.openai.com", "server_port": "443"}, r"server.port: given '443'"),
        ({"finish_reasons": "stop"}, r"gen_ai.response.finish_reasons: given 'stop'; must be a sequence of strings"),
    ],
)
def test_gen_ai_attributes_name_a_bad_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        tracing.gen_ai_attributes("chat", "openai", "gpt-4o", **arguments)


def test_a_response_field_filled_in_wrongly_costs_its_attributes_never_the_calls_metrics(served, log_file):
    _, call, spans = served
    assert call("POST", "/llm-wrong-reasons").status_code == 200

    (duration,) = samples(scrape(call), "gen_ai_client_operation_duration_seconds_count")
    assert duration.value == 1
    lines = read_logs(log_file)
    assert [line["message"] for line in lines if line["logger"] == "gateway.llm"] == ["llm call"]
    (failure,) = [line for line in lines if line["message"] == "telemetry kit failure"]
    assert failure["step"] == "_set_response_attributes"


def test_a_host_header_with_a_non_ascii_digit_is_still_served_with_its_telemetry(served, log_file):
    """'²'.isdigit() is True and int('²') raises: such a port once took the
    request out of every signal (no span, metric, access line or request id)."""
    _, call, spans = served
    sampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = call("GET", "/items/5", headers={"host": "api:\u00b2".encode("latin-1"), "traceparent": sampled})

    assert response.status_code == 200 and response.headers["x-request-id"]
    (server,) = spans()
    assert server.name == "GET /items/{item_id}" and server.attributes["server.address"] == "api"
    (count,) = samples(scrape(call), "http_server_request_duration_seconds_count", http_route="/items/{item_id}")
    assert count.value == 1
    assert not [line for line in read_logs(log_file) if line["message"] == "telemetry kit failure"]
