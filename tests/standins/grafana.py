"""Grafana's HTTP API for what `stack verify` asks: /api/health,
/api/datasources/uid/<uid>, its /health, and the datasource proxy, behind basic
auth with the admin password. Datasources are the rendered provisioning file's
(by UID and type), pointed at loopback addresses; health asks each one as
Grafana's backend plugins do (Prometheus: a `1+1` query; Loki: its labels;
Jaeger: its services). Alertmanager's plugin has no backend health check:
404 "Not found", as Grafana answers for ErrMethodNotImplemented."""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request

import yaml

from standins import METRICS, Handler, StandIn

HEALTH_PROBES = {
    "prometheus": ("/api/v1/query?query=1%2B1", "Successfully queried the Prometheus API."),
    "loki": ("/loki/api/v1/labels", "Data source successfully connected."),
    "jaeger": ("/api/services", "Data source is working"),
}


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError as error:
        return 502, f"dial failed: {error}".encode()


class GrafanaHandler(Handler):
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/health":
            return self.reply(200, {"database": "ok", "version": "13.2.0-standin"})
        if path == "/metrics":
            return self.reply(200, METRICS, "text/plain; version=0.0.4")
        if not path.startswith("/api/datasources/"):
            return self.reply(404, {"message": "Not found"})
        expected = "Basic " + base64.b64encode(f"admin:{self.state.password}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self.reply(401, {"message": "Invalid username or password"})
        parts = path.split("/")  # ['', 'api', 'datasources', 'uid'|'proxy', ...]
        if parts[3] == "proxy" and parts[4] == "uid" and parts[5] in self.state.datasources:
            source = self.state.datasources[parts[5]]
            query = urllib.parse.urlsplit(self.path).query
            status, body = fetch(source["url"] + "/" + "/".join(parts[6:]) + (f"?{query}" if query else ""))
            return self.reply(status, body)
        if parts[3] != "uid" or parts[4] not in self.state.datasources:
            return self.reply(404, {"message": "Data source not found"})
        source = self.state.datasources[parts[4]]
        if len(parts) == 5:
            return self.reply(200, {k: source[k] for k in ("uid", "name", "type", "url")})
        if parts[5:] == ["health"]:
            if source["type"] not in HEALTH_PROBES:
                return self.reply(404, {"message": "Not found"})
            probe, message = HEALTH_PROBES[source["type"]]
            status, body = fetch(source["url"] + probe)
            if status == 200:
                return self.reply(200, {"status": "OK", "message": message})
            return self.reply(400, {"status": "ERROR", "message": f"{source['name']}: {status} {body[:100].decode('utf-8', 'replace')}"})
        self.reply(404, {"message": "Not found"})


class Grafana(StandIn):
    handler = GrafanaHandler

    def __init__(self, datasources_yaml: str, urls: dict[str, str], password: str) -> None:
        """`urls` maps a datasource UID to where it answers here (the provisioned
        URLs are container hostnames)."""
        super().__init__()
        self.password = password
        self.datasources = {
            d["uid"]: {**d, "url": urls[d["uid"]]} for d in yaml.safe_load(datasources_yaml)["datasources"]
        }
