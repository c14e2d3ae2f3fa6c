"""Jaeger v2 for what `stack verify` uses: the OTLP/HTTP receiver
(POST /v1/traces, protobuf decoded with opentelemetry-proto) and the query
API the UI uses (GET /api/traces/<id>, /api/services) in its documented JSON
shape; /metrics for the scrape jobs. One port serves all of them."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from standins import METRICS, Handler, StandIn


class JaegerHandler(Handler):
    def do_POST(self):
        if self.path != "/v1/traces":
            return self.reply(404, "404 page not found\n", "text/plain")
        if self.headers.get("Content-Type") != "application/x-protobuf":
            return self.reply(415, "unsupported content type", "text/plain")
        request = ExportTraceServiceRequest.FromString(self.body())
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), "unknown_service"
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.state.spans.setdefault(span.trace_id.hex(), []).append((service, span))
        self.reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        if self.path == "/metrics":
            return self.reply(200, METRICS, "text/plain; version=0.0.4")
        if self.path == "/api/services":
            services = sorted({s for spans in self.state.spans.values() for s, _ in spans})
            return self.reply(200, {"data": services, "total": len(services), "limit": 0, "offset": 0, "errors": None})
        if self.path.startswith("/api/traces/"):
            trace_id = self.path.rsplit("/", 1)[1].lower().rjust(32, "0")
            spans = self.state.spans.get(trace_id)
            if not spans:
                return self.reply(404, {"data": None, "total": 0, "limit": 0, "offset": 0, "errors": [{"code": 404, "msg": "trace not found"}]})
            processes = {f"p{i + 1}": {"serviceName": s, "tags": []} for i, s in enumerate(dict.fromkeys(s for s, _ in spans))}
            by_service = {p["serviceName"]: key for key, p in processes.items()}
            trace = {
                "traceID": trace_id,
                "spans": [
                    {
                        "traceID": trace_id,
                        "spanID": span.span_id.hex(),
                        "operationName": span.name,
                        "startTime": span.start_time_unix_nano // 1000,
                        "duration": (span.end_time_unix_nano - span.start_time_unix_nano) // 1000,
                        "processID": by_service[service],
                        "references": [],
                        "tags": [],
                    }
                    for service, span in spans
                ],
                "processes": processes,
            }
            return self.reply(200, {"data": [trace], "total": 0, "limit": 0, "offset": 0, "errors": None})
        self.reply(404, "404 page not found\n", "text/plain")


class Jaeger(StandIn):
    handler = JaegerHandler

    def __init__(self) -> None:
        super().__init__()
        self.spans: dict[str, list] = {}
