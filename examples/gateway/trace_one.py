"""Send one request through the demo and print its trace tree and its log lines.

    python -m examples.gateway.trace_one
        starts a local OTLP/HTTP receiver and the demo (run.Demo) on free
        127.0.0.1 ports (from DEMO_PORT_RANGE=LOW-HIGH when set), sends one
        chat request, prints, and stops everything.
    python -m examples.gateway.trace_one --url http://127.0.0.1:8000 --jaeger http://127.0.0.1:16686 [--log-dir DIR]
        uses a running demo whose traces go to Jaeger, reads the trace back
        through Jaeger's HTTP query API (GET /api/traces/{trace_id}), and the
        log lines from DIR (the demo's --log-dir) when given.

The request carries its own W3C `traceparent`, so the trace id is known before
the services answer. Local mode needs the repository (the receiver is
examples/gateway/otlp_receiver.py, the one the tests use).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

from examples.gateway.layout import DEFAULT_PORTS
from examples.gateway.run import Demo, DemoError, free_ports

SERVICES = ("unified-llm-api", "intelligent-router", "optimization-service")
SHOWN_ATTRIBUTES = ("http.route", "http.response.status_code", "gen_ai.provider.name", "gen_ai.request.model",
                    "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
                    "gateway.virtual_key.id", "error.type")


@dataclass(frozen=True)
class TraceSpan:
    """One span of the trace, whichever backend it was read from."""

    span_id: str
    parent_id: str
    service: str
    name: str
    kind: str  # server, client, internal, ...
    start: float  # seconds, for ordering siblings (0 when the backend does not say)
    attributes: dict


def send_one(url: str, trace_id: str) -> httpx.Response:
    """One chat request with a traceparent of our own (sampled)."""
    headers = {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "authorization": "Bearer demo-trace-one-key"}
    body = {"model": "auto", "messages": [{"role": "user", "content": f"Explain trace {trace_id[:8]} in one line."}]}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def complete(spans: list[TraceSpan]) -> bool:
    """Spans from every service and the LLM client span are in, and they form
    one tree: a parent's span ends (and is exported) after its children's, so
    until the root server span arrives its children would show as roots."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id not in ids]
    return (
        set(SERVICES) <= {s.service for s in spans}
        and any("gen_ai.provider.name" in s.attributes for s in spans)
        and len(roots) == 1
    )


def from_receiver(receiver, trace_id: str, timeout: float) -> list[TraceSpan]:
    deadline = time.monotonic() + timeout
    while True:
        spans = [
            TraceSpan(s.span_id, s.parent_span_id, str(s.resource.get("service.name")), s.name,
                      s.kind.removeprefix("SPAN_KIND_").lower(), 0.0, s.attributes)
            for s in list(receiver.spans) if s.trace_id == trace_id
        ]
        if complete(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def from_jaeger(jaeger: str, trace_id: str, timeout: float) -> list[TraceSpan]:
    deadline, spans = time.monotonic() + timeout, []
    while time.monotonic() < deadline and not complete(spans):
        try:
            with urllib.request.urlopen(f"{jaeger.rstrip('/')}/api/traces/{trace_id}", timeout=5) as answer:
                data = json.load(answer)["data"]
        except OSError:  # 404 until the trace is stored
            data = []
        spans = []
        for trace in data:
            for span in trace["spans"]:
                tags = {t["key"]: t["value"] for t in span.get("tags", ())}
                parent = next((r["spanID"] for r in span.get("references", ()) if r["refType"] == "CHILD_OF"), "")
                spans.append(TraceSpan(span["spanID"], parent, trace["processes"][span["processID"]]["serviceName"],
                                       span["operationName"], str(tags.get("span.kind", "internal")), span["startTime"] / 1e6, tags))
        time.sleep(0.5)
    return spans


def render_tree(spans: list[TraceSpan]) -> list[str]:
    """One line per span, children indented under their parent, siblings by start then name."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[TraceSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in ids else "", []).append(span)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, ()), key=lambda s: (s.start, s.service, s.name)):
            shown = " ".join(f"{k}={span.attributes[k]}" for k in SHOWN_ATTRIBUTES if k in span.attributes)
            lines.append(f"{'  ' * depth}{span.service}: {span.name} [{span.kind}] {shown}".rstrip())
            walk(span.span_id, depth + 1)

    walk("", 0)
    return lines


def log_lines(log_dir: Path, trace_id: str) -> list[str]:
    """The services' JSON log lines (<log_dir>/*.jsonl) carrying `trace_id`, by timestamp."""
    found = []
    for path in sorted(log_dir.glob("*.jsonl")):
        for line in path.read_text(errors="replace").splitlines():
            if trace_id in line:
                found.append((json.loads(line).get("timestamp", ""), line))
    return [line for _, line in sorted(found)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running demo's Unified LLM API (needs --jaeger)")
    parser.add_argument("--jaeger", help="Jaeger's query URL, e.g. http://127.0.0.1:16686")
    parser.add_argument("--log-dir", type=Path, help="the running demo's --log-dir")
    parser.add_argument("--timeout", type=float, default=20, help="seconds to wait for the whole trace")
    args = parser.parse_args(argv)
    if bool(args.url) != bool(args.jaeger):
        parser.error("--url and --jaeger go together (a running demo that exports to Jaeger); give both or neither")
    trace_id = secrets.token_hex(16)
    if args.jaeger:
        response = send_one(args.url, trace_id)
        spans, log_dir = from_jaeger(args.jaeger, trace_id, args.timeout), args.log_dir
    else:
        from examples.gateway.otlp_receiver import OtlpReceiver

        log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="gateway-trace-one-"))
        with OtlpReceiver() as receiver:
            env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.traces_endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}
            try:
                ports = free_ports(len(DEFAULT_PORTS))
            except DemoError as exc:  # a malformed DEMO_PORT_RANGE
                print(f"trace_one: {exc}", file=sys.stderr)
                return 1
            demo = Demo(ports=dict(zip(DEFAULT_PORTS, ports)), log_dir=log_dir, env=env, capture=True)
            try:
                demo.start()
                response = send_one(demo.url("unified-llm-api"), trace_id)
                spans = from_receiver(receiver, trace_id, args.timeout)
            except DemoError as exc:
                print(f"trace_one: {exc}", file=sys.stderr)
                return 1
            finally:
                demo.stop()
    print(f"HTTP {response.status_code}, x-request-id {response.headers.get('x-request-id')}, trace {trace_id}")
    print("\n".join(render_tree(spans)) or "(no spans received)")
    if log_dir is not None:
        print(f"\nlog lines with trace_id {trace_id} ({log_dir}):")
        print("\n".join(log_lines(log_dir, trace_id)) or "(none)")
    return 0 if complete(spans) else 1


if __name__ == "__main__":
    sys.exit(main())
