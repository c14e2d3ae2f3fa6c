"""The kit's logs (gateway_telemetry.logs), read back the way the stack reads
them: every assertion parses what was written to stdout (one JSON object per
line), and a kit line goes through the Promtail pipeline harness with the
stages the stack renders."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import re
import subprocess
import sys
from datetime import datetime

import httpx
import pytest
import structlog
import uvicorn.config
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from promtail_pipeline import run_pipeline

from gateway_telemetry import logs
from gateway_telemetry.contract import LOG_FIELDS
from gateway_telemetry.errors import ProviderError
from gateway_telemetry.logs import UVICORN_LOGGERS, configure_logging, get_logger
from gateway_telemetry.masking import NEVER_TEXT, MaskingProcessor
from stack.components.promtail import pipeline_stages

CONTRACT = {field.name for field in LOG_FIELDS}
ERROR_FIELDS = {"error_type", "error_source", "upstream_status"}
HEADER = ["timestamp", "level", "service", "environment", "version", "logger", "message"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
SERVICE = {"service": "unified-llm-api", "environment": "test", "version": "1.4.2"}
ACCESS_FIELDS = {"provider": "openai", "model": "gpt-4o-mini", "method": "POST", "path": "/v1/chat/completions",
                 "status": 200, "latency_ms": 1532.7, "input_tokens": 812, "output_tokens": 233, "cost_usd": 0.0042}


class Stdout:
    """What the process wrote to stdout (pytest's capsysbinary: the bytes
    that reached sys.stdout's binary buffer), as bytes and as parsed lines."""

    def __init__(self, capsysbinary) -> None:
        self._capture = capsysbinary
        self._seen = b""

    def raw(self) -> bytes:
        self._seen += self._capture.readouterr().out
        return self._seen

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.raw().splitlines()]


@pytest.fixture
def stdout(capsysbinary):
    """stdout captured; logging, uvicorn's loggers and structlog restored after.
    configure_logging must run in the test itself, where sys.stdout is the
    capture's."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    saved_uvicorn = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate,
                            logging.getLogger(name).level) for name in UVICORN_LOGGERS}
    saved_structlog = structlog.get_config()
    yield Stdout(capsysbinary)
    structlog.contextvars.clear_contextvars()
    logs._OUTPUT.open(sys.__stdout__, None)  # also closes a test's log file
    for handler in root.handlers:
        if handler not in saved_root[0]:
            handler.close()
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, propagate, level) in saved_uvicorn.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
        logging.getLogger(name).setLevel(level)
    structlog.configure(**saved_structlog)
    logs._wrapper_class = None  # get_logger's loggers back to structlog's defaults
    logs._generation += 1


@pytest.fixture
def tracer():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def hex_ids(span) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


# --- fields -------------------------------------------------------------------


def test_an_access_line_has_exactly_the_contracts_fields(stdout, tracer):
    configure_logging(**SERVICE)
    structlog.contextvars.bind_contextvars(request_id="3f2b8c1e9a4d4e6fb1c27d8e9f0a1b2c")
    with tracer[0].start_as_current_span("request"):
        get_logger("gateway.access").info("request completed", **ACCESS_FIELDS)
    [line] = stdout.lines()
    assert set(line) == CONTRACT - ERROR_FIELDS
    assert list(line)[: len(HEADER)] == HEADER  # the contract's order: a raw line reads well too
    assert TIMESTAMP.match(line["timestamp"])
    assert line | ACCESS_FIELDS == line
    assert (line["level"], line["logger"], line["message"]) == ("info", "gateway.access", "request completed")
    assert {line[key] for key in SERVICE} == set(SERVICE.values())
    [span] = tracer[1].get_finished_spans()
    assert (line["trace_id"], line["span_id"]) == hex_ids(span)


def test_an_error_line_says_where_it_failed_with_every_contract_field(stdout, tracer):
    configure_logging(**SERVICE)
    structlog.contextvars.bind_contextvars(request_id="r-1")
    fields = {key: value for key, value in ACCESS_FIELDS.items() if key != "provider"} | {"status": 502}
    with tracer[0].start_as_current_span("llm"):
        try:
            raise ProviderError("upstream overloaded", provider="anthropic", status=529, error_type="overloaded_error")
        except ProviderError:
            get_logger("gateway.llm").exception("llm call failed", **fields)
    [line] = stdout.lines()
    assert set(line) == CONTRACT | {"exception"}
    assert (line["level"], line["error_type"], line["error_source"]) == ("error", "overloaded_error", "provider")
    assert (line["provider"], line["upstream_status"]) == ("anthropic", 529)
    assert "ProviderError: upstream overloaded" in line["exception"] and "Traceback" in line["exception"]


def test_every_error_line_carries_error_type_and_source(stdout):
    configure_logging(**SERVICE)
    log = get_logger("gateway.router")
    log.error("no route for model")
    log.critical("config unreadable", error_type="ConfigError", error_source="internal")
    try:
        raise httpx.ReadTimeout("provider did not answer")
    except httpx.ReadTimeout:
        logging.getLogger("some.library").exception("call failed")
    log.warning("slow provider")
    lines = stdout.lines()
    assert [(line["level"], line.get("error_type"), line.get("error_source")) for line in lines] == [
        ("error", "_OTHER", "internal"),
        ("critical", "ConfigError", "internal"),
        ("error", "ReadTimeout", "timeout"),
        ("warning", None, None),
    ]


def test_field_names_are_the_contracts_spelling_plus_the_calls_own(stdout):
    configure_logging(**SERVICE)
    get_logger("gateway.cache").info("cache lookup", cache="semantic", hit=True, input_tokens=3)
    [line] = stdout.lines()
    assert set(line) - CONTRACT == {"cache", "hit"}
    assert "event" not in line and "tokens_input" not in line


# --- the standard library -------------------------------------------------------


def test_uvicorn_and_httpx_records_come_out_in_the_same_format(stdout):
    # What `uvicorn.run` does first (its default log config, handlers of its
    # own and propagation off), then the kit takes its loggers back.
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    configure_logging(**SERVICE)
    structlog.contextvars.bind_contextvars(request_id="r-7")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 4242)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/v1/models", "1.1", 200)
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200))) as client:
        client.get("https://api.openai.com/v1/models")  # httpx logs the request itself
    lines = stdout.lines()  # every byte written parses: no plain-text line slipped through
    assert [(line["logger"], line["level"]) for line in lines] == [
        ("uvicorn.error", "info"),
        ("uvicorn.access", "info"),
        ("httpx", "info"),
    ]
    for line in lines:
        assert list(line)[: len(HEADER)] == HEADER and TIMESTAMP.match(line["timestamp"])
        assert line["request_id"] == "r-7" and set(line) <= CONTRACT
    assert lines[0]["message"] == "Started server process [4242]"
    assert lines[1]["message"] == '127.0.0.1:5000 - "GET /v1/models HTTP/1.1" 200'
    assert lines[2]["message"] == 'HTTP Request: GET https://api.openai.com/v1/models "HTTP/1.1 200 OK"'


def test_a_stdlib_records_extra_fields_are_kept(stdout):
    configure_logging(**SERVICE)
    logging.getLogger("lib").warning("retrying", extra={"attempt": 2, "color_message": "\x1b[1mretrying\x1b[0m"})
    [line] = stdout.lines()
    assert line["attempt"] == 2 and "color_message" not in line


def test_levels_are_filtered_and_written_in_lower_case(stdout):
    configure_logging(**SERVICE, level="warning")
    log = get_logger("gateway.access")
    log.debug("dropped")
    log.info("dropped")
    log.warning("kept")
    log.warn("kept, an alias")
    log.error("kept")
    log.critical("kept")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("kept")
    library = logging.getLogger("some.library")
    library.debug("dropped")
    library.info("dropped")
    library.warning("kept")
    library.critical("kept")
    lines = stdout.lines()
    assert all(line["message"].startswith("kept") for line in lines)
    assert [line["level"] for line in lines] == ["warning", "warning", "error", "critical", "error", "warning", "critical"]


@pytest.mark.parametrize("level", ["DEBUG", "info", "Warning", "ERROR", "critical"])
def test_every_contract_level_is_accepted_in_any_case(stdout, level):
    configure_logging(**SERVICE, level=level)
    getattr(get_logger("x"), level.lower())("at the threshold")
    assert [line["level"] for line in stdout.lines()] == [level.lower()]


# --- trace context --------------------------------------------------------------


def test_trace_and_span_ids_come_from_the_current_span(stdout, tracer):
    configure_logging(**SERVICE)
    log, library = get_logger("gateway.llm"), logging.getLogger("httpx")
    with tracer[0].start_as_current_span("request"):
        log.info("in the server span")
        with tracer[0].start_as_current_span("chat gpt-4o-mini"):
            log.info("in the client span")
            library.info("stdlib record in the client span")
    log.info("outside any span")
    spans = {span.name: span for span in tracer[1].get_finished_spans()}
    lines = stdout.lines()
    ids = [(line.get("trace_id"), line.get("span_id")) for line in lines]
    assert ids == [hex_ids(spans["request"]), hex_ids(spans["chat gpt-4o-mini"]), hex_ids(spans["chat gpt-4o-mini"]),
                   (None, None)]


def test_async_calls_keep_the_request_and_trace_context(stdout, tracer):
    """structlog runs `ainfo` in a thread pool; the context travels with it."""
    configure_logging(**SERVICE)
    log = get_logger("gateway.chat")

    async def handler():
        structlog.contextvars.bind_contextvars(request_id="r-async")
        with tracer[0].start_as_current_span("request"):
            await log.ainfo("streamed", chunks=3)

    asyncio.run(handler())
    [line] = stdout.lines()
    [span] = tracer[1].get_finished_spans()
    assert (line["message"], line["chunks"], line["request_id"]) == ("streamed", 3, "r-async")
    assert (line["trace_id"], line["span_id"]) == hex_ids(span)


def test_a_call_naming_its_own_trace_keeps_it(stdout, tracer):
    configure_logging(**SERVICE)
    with tracer[0].start_as_current_span("request"):
        get_logger("canary").info("canary", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7")
    [line] = stdout.lines()
    assert (line["trace_id"], line["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


# --- masking --------------------------------------------------------------------

SECRETS = {
    "api_key": "sk-live-0a1b2c3d4e5f",
    "authorization": "Bearer abcdefgh12345678",
    "password": "hunter2hunter2",
    "token": "tok_9f8e7d6c5b4a",
    "secret": "s3cr3t-value",
    "cookie": "session=abc123; theme=dark",
}


def test_secrets_never_reach_stdout_nested_or_in_free_text(stdout):
    configure_logging(**SERVICE)
    log = get_logger("gateway.access")
    log.info("request headers", headers={"X-Api-Key": SECRETS["api_key"], "Authorization": SECRETS["authorization"]},
             body={"user": {"password": SECRETS["password"]}, "items": [{"token": SECRETS["token"]}]},
             secret=SECRETS["secret"], cookie=SECRETS["cookie"])
    log.info(f"login password={SECRETS['password']} from jane.doe@example.com with key sk-proj-Ab3dEf5GhIjKlMnOpQrStUvWx")
    logging.getLogger("httpx").info("HTTP Request: GET https://api.example.com/v1?api_key=%s", SECRETS["api_key"])
    try:
        raise RuntimeError(f"auth failed for token={SECRETS['token']}")
    except RuntimeError:
        log.exception("call failed")
    raw = stdout.raw().decode()
    leaked = [name for name, value in SECRETS.items() if value in raw]
    assert not leaked and "jane.doe@example.com" not in raw and "sk-proj-" not in raw
    first, text, library, failure = stdout.lines()
    assert first["headers"] == {"X-Api-Key": "[REDACTED:secret_value]", "Authorization": "[REDACTED:secret_value]"}
    assert first["body"] == {"user": {"password": "[REDACTED:secret_value]"},
                             "items": [{"token": "[REDACTED:secret_value]"}]}
    assert first["secret"] == first["cookie"] == "[REDACTED:secret_value]"
    assert text["message"] == "login password=[REDACTED:secret_value] from [REDACTED:email] with key [REDACTED:openai_key]"
    assert library["message"] == "HTTP Request: GET https://api.example.com/v1?api_key=[REDACTED:secret_value]"
    assert "token=[REDACTED:secret_value]" in failure["exception"]


def test_processors_after_masking_add_only_fields_that_hold_no_text(stdout, tracer):
    """Masking runs before the kit adds its own fields (so it does not walk
    them on every line): whatever comes after it may add NEVER_TEXT fields
    only, and rename `event`, which masking read."""
    configure_logging(**SERVICE)
    chain = logs._PROCESSORS
    after = chain[next(i for i, p in enumerate(chain) if isinstance(p, MaskingProcessor)) + 1 : -1]
    event = {"event": "a message", "custom": 1}
    with tracer[0].start_as_current_span("request"):
        for processor in after:
            event = processor(logs._NamedOutput("gateway.access"), "error", event)
    assert event["message"] == "a message"
    assert set(event) - {"custom", "message"} <= NEVER_TEXT
    assert {"timestamp", "trace_id", "span_id"} <= set(event)


# --- renderers and outputs -----------------------------------------------------


def test_the_console_renderer_is_readable_and_masked(stdout):
    configure_logging(**SERVICE, renderer="console")
    get_logger("gateway.access").info("request completed", path="/v1/models", status=200, password="hunter2")
    logging.getLogger("uvicorn.error").warning("shutting down")
    first, second = stdout.raw().decode().splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \[info\s*\] request completed\s+\[gateway\.access\]", first)
    assert "path=/v1/models" in first and "status=200" in first and "password=[REDACTED:secret_value]" in first
    assert "hunter2" not in first and "\x1b[" not in first  # no colours: stdout is not a terminal
    assert "[warning" in second and "shutting down" in second and "[uvicorn.error]" in second
    with pytest.raises(ValueError):
        json.loads(first)


def test_the_log_file_rotates_and_keeps_the_newest_lines(stdout, tmp_path):
    path = tmp_path / "logs" / "gateway.log"  # the directory is created
    configure_logging(**SERVICE, file=path, file_max_bytes=1000, file_backups=2)
    log = get_logger("gateway.access")
    for number in range(40):
        log.info("request completed", number=number, path="/v1/chat/completions")
    written = stdout.raw().decode().splitlines()
    assert len(written) == 40
    # concurrent-log-handler's lock file sits beside them, hidden.
    files = sorted(f for f in path.parent.iterdir() if not f.name.startswith("."))
    assert [f.name for f in files] == ["gateway.log", "gateway.log.1", "gateway.log.2"]
    # Rolled over once a file reaches the size: it may pass it by its last line.
    longest = max(len(line) + 1 for line in written)
    assert all(f.stat().st_size <= 1000 + longest for f in files)
    oldest_first = ("gateway.log.2", "gateway.log.1", "gateway.log")
    kept = [line for name in oldest_first for line in (path.parent / name).read_text().splitlines()]
    assert 0 < len(kept) < 40 and kept == written[-len(kept):]  # the newest lines, in order, none lost in between
    assert all(json.loads(line)["service"] == "unified-llm-api" for line in kept)


MODULE_LEVEL = get_logger("gateway.module")  # as a module gets it, before any configuration


def test_configuring_twice_writes_every_line_once(stdout):
    configure_logging(**SERVICE)
    log = get_logger("gateway.access")
    log.info("first")
    MODULE_LEVEL.debug("dropped at info")
    configure_logging(**(SERVICE | {"service": "intelligent-router"}), level="debug")
    log.info("second")  # loggers in use before the second call follow it, level included
    MODULE_LEVEL.debug("fourth")
    logging.getLogger("lib").debug("third")
    assert [(line["message"], line["service"]) for line in stdout.lines()] == [
        ("first", "unified-llm-api"), ("second", "intelligent-router"), ("fourth", "intelligent-router"),
        ("third", "intelligent-router")]
    assert len(logging.getLogger().handlers) == 1


BAD_ARGUMENTS = [
    ({"level": "verbose"}, "level", "'verbose'"),
    ({"level": 20}, "level", "20"),
    ({"renderer": "xml"}, "renderer", "'xml'"),
    ({"service": ""}, "service", "''"),
    ({"version": None}, "version", "None"),
    ({"file_max_bytes": 0}, "file_max_bytes", "0"),
    ({"file_backups": True}, "file_backups", "True"),
    ({"file": 42}, "file", "42"),
]


@pytest.mark.parametrize("change,name,shown", BAD_ARGUMENTS, ids=[case[1] for case in BAD_ARGUMENTS])
def test_a_bad_argument_is_named_with_its_value_and_what_is_allowed(stdout, change, name, shown):
    with pytest.raises(ValueError) as error:
        configure_logging(**(SERVICE | change))
    message = str(error.value)
    assert message.startswith(f"configure_logging: {name}={shown} is not allowed; ")
    assert len(message.splitlines()) == 1


def test_an_unwritable_log_file_is_a_clear_error(stdout, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"^configure_logging: file='.*not-a-directory/x.log' cannot be written"):
        configure_logging(**SERVICE, file=blocker / "x.log")


def test_importing_the_kit_configures_nothing():
    code = (
        "import logging, structlog\n"
        "import gateway_telemetry.logs, gateway_telemetry.masking, gateway_telemetry.errors\n"
        "print(logging.getLogger().handlers, structlog.is_configured())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[] False"


# --- what the stack reads --------------------------------------------------------


def test_kit_lines_pass_the_promtail_pipeline_labelled_and_without_loss(stdout, tracer, settings):
    configure_logging(**SERVICE)
    structlog.contextvars.bind_contextvars(request_id="3f2b8c1e9a4d4e6fb1c27d8e9f0a1b2c")
    with tracer[0].start_as_current_span("request"):
        get_logger("gateway.access").info("request completed", **ACCESS_FIELDS, note="from jane.doe@example.com")
        try:
            raise ProviderError(provider="openai", status=429)
        except ProviderError:
            get_logger("gateway.llm").exception("llm call failed", model="gpt-4o-mini")
        logging.getLogger("uvicorn.error").warning("slow response")
    [span] = tracer[1].get_finished_spans()
    trace_id, span_id = hex_ids(span)
    for raw in stdout.raw().decode().splitlines():
        line = json.loads(raw)
        entry = run_pipeline(pipeline_stages(settings), raw, {"service": SERVICE["service"]})
        assert entry.dropped is None
        assert entry.line == raw  # nothing left for Promtail to mask, nothing cut
        assert entry.labels == {"service": SERVICE["service"], "level": line["level"]} | (
            {"provider": line["provider"]} if "provider" in line else {})
        assert entry.metadata == {"request_id": "3f2b8c1e9a4d4e6fb1c27d8e9f0a1b2c", "trace_id": trace_id,
                                  "span_id": span_id} | ({"model": line["model"]} if "model" in line else {})
        assert entry.timestamp == datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00"))
    assert [json.loads(raw)["level"] for raw in stdout.raw().decode().splitlines()] == ["info", "error", "warning"]
