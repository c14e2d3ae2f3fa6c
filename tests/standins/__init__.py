"""Stand-ins for the stack components with no Debian package (Loki, Grafana,
Jaeger) and for scrape targets and webhook receivers: small
ThreadingHTTPServers speaking the documented HTTP APIs, keeping what they are
sent so a push then a query round-trips the real data. Each can be stopped
and started again on the same port (`StandIn`)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from live import serve

# What every stand-in serves on /metrics: enough for a scrape to succeed.
METRICS = b"# TYPE standin_up gauge\nstandin_up 1\n"


class Handler(BaseHTTPRequestHandler):
    """Base handler: `self.state` is the StandIn that owns the server."""

    state: "StandIn"

    def reply(self, status: int, body: bytes | str | dict | list, content_type: str = "application/json") -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, *args):
        pass


class StandIn:
    """A stand-in server whose state outlives stop() and start() on the same port."""

    handler: type[Handler]

    def __init__(self) -> None:
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    def start(self) -> "StandIn":
        handler = type(self.handler.__name__, (self.handler,), {"state": self})
        self.server, self.port = serve(handler, self.port)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


class MetricsHandler(Handler):
    def do_GET(self):
        if self.path == "/metrics":
            return self.reply(200, METRICS, "text/plain; version=0.0.4")
        self.reply(404, {"error": "not found"})


class MetricsTarget(StandIn):
    """A scrape target (Promtail, a gateway service): /metrics only."""

    handler = MetricsHandler


class WebhookHandler(Handler):
    def do_POST(self):
        self.state.received.append({"path": self.path.strip("/"), "authorization": self.headers.get("Authorization"), **json.loads(self.body())})
        self.reply(200, {})


class Webhooks(StandIn):
    """Alertmanager's webhook receivers; the path names the receiver."""

    handler = WebhookHandler

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict] = []
