"""A local OTLP/HTTP trace receiver for tests: the real protobuf, decoded, kept for assertions.

    with OtlpReceiver() as receiver:
        os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = receiver.traces_endpoint
        ...
        spans = receiver.wait_for_spans(3)

It answers `POST /v1/traces` with `Content-Type: application/x-protobuf` (gzip
or identity, as the OTLP/HTTP exporter sends it) by decoding an
`ExportTraceServiceRequest` (opentelemetry-proto) and keeping every span with
its resource and scope; anything else gets 404/415/400. `delay_seconds` makes
it a slow collector (span drops under load); `status` makes it fail exports.
Listens on 127.0.0.1 only, on a free port.
"""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

TRACES_PATH = "/v1/traces"
PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector saw it (ids as lower-case hex, attributes decoded)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str  # SPAN_KIND_SERVER, SPAN_KIND_CLIENT, ...
    attributes: dict[str, object]
    resource: dict[str, object]
    scope: str
    status_code: str  # STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR


@dataclass
class OtlpReceiver:
    """An OTLP/HTTP trace endpoint on 127.0.0.1 (a context manager; `close()` stops it).

    Args:
        delay_seconds: how long each export request is held before the answer.
        status: the HTTP status every export gets (200 accepts the spans).
    """

    delay_seconds: float = 0.0
    status: int = 200
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()

    @property
    def traces_endpoint(self) -> str:
        """The full URL for `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{TRACES_PATH}"

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """The spans received so far once there are at least `count`; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.spans) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"OTLP receiver: {len(self.spans)} spans after {timeout}s, expected {count}")
                self._lock.wait(left)
            return list(self.spans)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> OtlpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self, request: ExportTraceServiceRequest, headers: dict[str, str]) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=Span.SpanKind.Name(span.kind),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            resource=resource,
                            scope=scope_spans.scope.name,
                            status_code=type(span.status).StatusCode.Name(span.status.code),
                        )
                    )
        with self._lock:
            self.requests += 1
            self.headers.append(headers)
            self.spans.extend(received)
            self._lock.notify_all()


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _handler_for(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != TRACES_PATH:
                return self._answer(404, b"not found", "text/plain")
            if self.headers.get("Content-Type", "").split(";")[0].strip() != PROTOBUF:
                return self._answer(415, b"only application/x-protobuf", "text/plain")
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            request = ExportTraceServiceRequest()
            try:
                request.ParseFromString(body)
            except DecodeError:
                return self._answer(400, b"not an ExportTraceServiceRequest", "text/plain")
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            if receiver.status != 200:
                return self._answer(receiver.status, b"refused", "text/plain")
            receiver._accept(request, {k.lower(): v for k, v in self.headers.items()})
            self._answer(200, ExportTraceServiceResponse().SerializeToString(), PROTOBUF)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
            pass  # keep test output clean

    return Handler
