"""Loki's HTTP API as documented for 3.x, for the parts `stack verify` uses:
/ready, /config (the rendered loki.yaml), /loki/api/v1/push (JSON, structured
metadata as the third element of a value), /loki/api/v1/query_range for a
stream selector with `| label="value"` filters, answering with or without
the `categorize-labels` encoding flag as Loki 3.7 does
(pkg/util/marshal/query.go), and /loki/api/v1/labels."""

from __future__ import annotations

import json
import re
import urllib.parse

from standins import METRICS, Handler, StandIn

_SELECTOR = re.compile(r'\{(?P<selector>[^}]*)\}(?P<filters>(\s*\|\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*"[^"]*")*)\s*')
_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"([^"]*)"')


def parse_query(query: str) -> tuple[dict, dict] | None:
    """`{a="b"} | c="d"` -> ({'a': 'b'}, {'c': 'd'}); None for anything else."""
    match = _SELECTOR.fullmatch(query)
    if not match:
        return None
    return dict(_PAIR.findall(match["selector"])), dict(_PAIR.findall(match["filters"] or ""))


class LokiHandler(Handler):
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/ready":
            return self.reply(200, "ready\n", "text/plain")
        if url.path == "/config":
            return self.reply(200, self.state.config, "text/plain; charset=utf-8")
        if url.path == "/metrics":
            return self.reply(200, METRICS, "text/plain; version=0.0.4")
        if url.path == "/loki/api/v1/labels":
            names = sorted({k for entry in self.state.entries for k in entry["labels"]})
            return self.reply(200, {"status": "success", "data": names})
        if url.path == "/loki/api/v1/query_range":
            return self.query_range(params)
        self.reply(404, "404 page not found\n", "text/plain")

    def query_range(self, params: dict) -> None:
        parsed = parse_query(params.get("query", ""))
        if parsed is None:
            return self.reply(400, "parse error: this stand-in reads `{selector} | label=\"value\"` only", "text/plain")
        selector, filters = parsed
        start, end = int(params.get("start", 0)), int(params.get("end", 2**63 - 1))
        flags = {f.strip() for f in (self.headers.get("X-Loki-Response-Encoding-Flags") or "").split(",") if f.strip()}
        categorize = "categorize-labels" in flags
        streams: dict[str, dict] = {}
        for entry in self.state.entries:
            labels, metadata = entry["labels"], entry["metadata"]
            if any(labels.get(k) != v for k, v in selector.items()):
                continue
            if any({**labels, **metadata}.get(k) != v for k, v in filters.items()):
                continue
            if not start <= int(entry["ts"]) <= end:
                continue
            # Without the flag, Loki folds structured metadata into the stream's labels.
            key_labels = labels if categorize else {**labels, **metadata}
            stream = streams.setdefault(json.dumps(key_labels, sort_keys=True), {"stream": key_labels, "values": []})
            value = [entry["ts"], entry["line"]]
            if categorize:
                value.append({"structuredMetadata": metadata} if metadata else {})
            stream["values"].append(value)
        data = {"resultType": "streams", "result": list(streams.values()), "stats": {}}
        if categorize:
            data = {"resultType": "streams", "encodingFlags": sorted(flags), "result": data["result"], "stats": {}}
        self.reply(200, {"status": "success", "data": data})

    def do_POST(self):
        if self.path != "/loki/api/v1/push":
            return self.reply(404, "404 page not found\n", "text/plain")
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self.reply(415, "this stand-in takes the JSON push format only", "text/plain")
        for stream in json.loads(self.body())["streams"]:
            for value in stream["values"]:
                ts, line, *rest = value
                self.state.entries.append({"labels": stream["stream"], "ts": ts, "line": line, "metadata": rest[0] if rest else {}})
        self.reply(204, b"", "text/plain")


class Loki(StandIn):
    handler = LokiHandler

    def __init__(self, config: str) -> None:
        super().__init__()
        self.config = config  # what /config serves: the loki.yaml Loki would run
        self.entries: list[dict] = []
