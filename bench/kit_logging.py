"""What the kit's logging costs: log records per second of
gateway_telemetry.logs (request context, trace ids and masking on) against

  stdlib     the standard library's logging with a plain logging.Formatter
             ("%(asctime)s %(levelname)s %(name)s %(message)s", the fields
             %-formatted into the message): no JSON, no masking
  structlog  structlog's production recipe (its performance docs:
             make_filtering_bound_logger, cache_logger_on_first_use,
             merge_contextvars, JSONRenderer(orjson) to a BytesLogger)
             writing the same fields as the kit (timestamp, level, service,
             environment, version, logger, message, request and trace ids);
             no masking

The targets (issue 18): the kit, masking on, at least as fast as `structlog`
on clean lines and at least 0.95 of it with 2% of lines holding a secret;
a line that holds a secret masked in at most 10 µs (the last table: the
masking step alone, per corpus line, median and 90th percentile).

Same process, same calls (a gateway's mix: routing, LLM-call, cache and
access lines, four per request under one bound request_id, all inside an
OpenTelemetry span), same null sink (a flushed buffered writer per line, as
stdout is), interleaved round by round, median round kept. Time is the
process's CPU time (time.process_time), so other processes on a shared
machine do not count. Three line sets:

  clean        messages and routes repeat (a service logs a fixed set of
               events), ids do not; nothing to mask
  2% secrets   the same, 2% of lines carrying a secret or personal datum
               from the redaction corpus (bench/log_redaction.py's share):
               those take the rules themselves
  unique text  every line carries a distinct free-text field (a prompt
               excerpt of ~80 characters): masking's memory of clean texts
               never helps, every value pays the prefilter

Also shown: the kit with its MaskingProcessor taken out of the chain (what
masking itself costs). Run: `.venv/bin/python bench/kit_logging.py`.
"""

from __future__ import annotations

import io
import logging
import random
import statistics
import sys
import time
from pathlib import Path

import orjson
import structlog
import yaml
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from gateway_telemetry import logs
from gateway_telemetry.masking import MaskingProcessor

ROOT = Path(__file__).resolve().parents[1]

RECORDS = 10_000
ROUNDS = 15
SECRET_SHARE = 0.02
LINES_PER_REQUEST = 4
MODELS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-sonnet-20241022"), ("google", "gemini-1.5-pro"))
ROUTES = ("/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/models")
WORDS = "the a user asked for summary of quarterly report in three bullet points translate into german please".split()


class NullSink(io.RawIOBase):
    """Accepts every byte, keeps none."""

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return len(data)


def secret_texts() -> list[str]:
    corpus = yaml.safe_load((ROOT / "tests/fixtures/redaction_corpus.yaml").read_text())
    return [case["line"] for case in corpus["secrets"]]


def calls(secret_share: float, unique_text: bool, rng: random.Random) -> list[tuple[str, str, str, dict]]:
    """(request_id, method, event, fields) for RECORDS log calls."""
    secrets = secret_texts()
    out: list[tuple[str, str, str, dict]] = []
    while len(out) < RECORDS:
        request_id = f"{rng.getrandbits(128):032x}"
        provider, model = rng.choice(MODELS)
        request = [
            ("info", "routing decision", {"provider": provider, "model": model, "reason": rng.choice(("cost", "latency"))}),
            (
                "info",
                "llm call completed",
                {"provider": provider, "model": model, "input_tokens": rng.randrange(20, 4000),
                 "output_tokens": rng.randrange(1, 1500), "cost_usd": round(rng.uniform(0, 0.05), 5),
                 "latency_ms": round(rng.uniform(50, 9000), 1)},
            ),
            ("info", "cache lookup", {"cache": "semantic", "hit": rng.random() < 0.3}),
            (
                rng.choice(("info", "info", "info", "warning", "error")),
                "request completed",
                {"method": "POST", "path": rng.choice(ROUTES), "status": rng.choice((200, 200, 200, 429, 502)),
                 "latency_ms": round(rng.uniform(50, 9000), 1)},
            ),
        ]
        for method, event, fields in request[:LINES_PER_REQUEST]:
            fields = dict(fields)
            if unique_text:
                fields["prompt_excerpt"] = " ".join(rng.choice(WORDS) for _ in range(12)) + f" #{len(out)}"
            if rng.random() < secret_share:
                fields["detail"] = rng.choice(secrets)
            out.append((request_id, method, event, fields))
    return out[:RECORDS]


LINE_SETS = {"clean": (0.0, False), "2% secrets": (SECRET_SHARE, False), "unique text": (0.0, True)}


def run_structlog(logger, batch) -> None:
    for request_id, method, event, fields in batch:
        structlog.contextvars.bind_contextvars(request_id=request_id)
        getattr(logger, method)(event, **fields)


def run_stdlib(logger: logging.Logger, batch) -> None:
    levels = logging.getLevelNamesMapping()
    for request_id, method, event, fields in batch:
        structlog.contextvars.bind_contextvars(request_id=request_id)  # the same work around the call
        logger.log(levels[method.upper()], "%s request_id=%s %s", event, request_id, fields)


def stdlib_logger(stream: io.TextIOWrapper) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("bench.stdlib")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _add_trace_ids(logger, method_name: str, event_dict: dict) -> dict:
    """The usual OpenTelemetry processor of a structlog set-up: the current
    span's ids, formatted as W3C hex, on every line."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _static_fields(**fields):
    def add(logger, method_name: str, event_dict: dict) -> dict:
        event_dict.update(fields)
        return event_dict

    return add


def structlog_recipe(sink):
    """structlog's production recipe (its performance docs: a filtering bound
    logger, cached on first use, orjson to a BytesLogger, contextvars merged)
    writing the kit's fields: timestamp, level, service, environment,
    version, logger (bound once), message, the call's fields, the request
    id and the span's ids. No masking."""
    return structlog.wrap_logger(
        structlog.BytesLogger(sink),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            _static_fields(service="unified-llm-api", environment="bench", version="1.0.0"),
            _add_trace_ids,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    ).bind(logger="gateway.access")


def main() -> None:
    sink = io.BufferedWriter(NullSink())
    # The kit writes to stdout's buffer. Both text wrappers over the sink stay
    # referenced to the end: a collected TextIOWrapper closes its buffer.
    null_stdout, real_stdout = io.TextIOWrapper(sink, encoding="utf-8"), sys.stdout
    sys.stdout = null_stdout
    try:
        logs.configure_logging(service="unified-llm-api", environment="bench", version="1.0.0", level="INFO")
    finally:
        sys.stdout = real_stdout
    kit = logs.get_logger("gateway.access")
    masking = next(p for p in logs._PROCESSORS if isinstance(p, MaskingProcessor))
    with_masking = list(logs._PROCESSORS)
    without_masking = [p for p in with_masking if p is not masking]

    def run_kit(batch, chain):
        logs._PROCESSORS[:] = chain  # the same cached logger, with or without the masking step
        run_structlog(kit, batch)

    stdlib, structlog_json = stdlib_logger(null_stdout), structlog_recipe(sink)
    runners = {
        "stdlib": lambda batch: run_stdlib(stdlib, batch),
        "structlog": lambda batch: run_structlog(structlog_json, batch),
        "kit": lambda batch: run_kit(batch, with_masking),
        "kit, no masking": lambda batch: run_kit(batch, without_masking),
    }
    tracer = TracerProvider().get_tracer("bench")
    rng = random.Random(8)
    print(f"log records per CPU second, {RECORDS} records per round, median of {ROUNDS} rounds, one process, null sink")
    print(f"{'lines':<12} " + " ".join(f"{name:>16}" for name in runners) + "   kit/stdlib  kit/structlog  masking's share")
    for line_set, (secret_share, unique_text) in LINE_SETS.items():
        batch = calls(secret_share, unique_text, rng)
        seconds: dict[str, list[float]] = {name: [] for name in runners}
        with tracer.start_as_current_span("request"):
            for _ in range(ROUNDS):
                for name, run in runners.items():
                    start = time.process_time()
                    run(batch)
                    seconds[name].append(time.process_time() - start)
        structlog.contextvars.clear_contextvars()
        rates = {name: RECORDS / statistics.median(times) for name, times in seconds.items()}
        masking_share = 1 - rates["kit"] / rates["kit, no masking"]  # of the kit's time per record
        print(
            f"{line_set:<12} " + " ".join(f"{rate:>16,.0f}" for rate in rates.values())
            + f"   {rates['kit'] / rates['stdlib']:>10.2f}  {rates['kit'] / rates['structlog']:>13.2f}"
            + f"  {masking_share:>15.0%}"
        )
    logs._PROCESSORS[:] = with_masking
    secret_line_costs(masking)


def secret_line_costs(masking: MaskingProcessor) -> None:
    """The masking step alone on a line that holds a secret: every corpus
    secret as a field of an access line, each timed over many calls (the
    memory of clean texts cannot help: the text holds a secret), next to the
    same line with a clean text of the same length."""
    fields = {"message": "request completed", "method": "POST", "path": "/v1/chat/completions", "status": 401,
              "latency_ms": 12.5, "provider": "openai", "model": "gpt-4o-mini"}
    repeats = 2_000

    def cost(detail: str) -> float:
        start = time.process_time()
        for _ in range(repeats):
            masking(None, "info", {**fields, "detail": detail})
        return (time.process_time() - start) / repeats * 1e6

    empty = cost("")
    secret = sorted(cost(text) - empty for text in secret_texts())
    clean_text = "the user asked for a summary of the quarterly report in three bullet points"
    clean = cost(clean_text) - empty
    percentile = secret[int(len(secret) * 0.9)]
    print(
        f"\nmasking a line with a secret ({len(secret)} corpus texts, {repeats} calls each, the rest of the line's cost"
        f" taken off): median {statistics.median(secret):.1f} µs, 90th percentile {percentile:.1f} µs,"
        f" max {secret[-1]:.1f} µs; a clean text already seen {clean:.2f} µs"
    )


if __name__ == "__main__":
    main()
