"""What the tests read from the generated dashboards: every panel (those
inside collapsed rows too), every query with its board and panel (Grafana's
alert lists have none: they read the rule sources themselves), and the
queries with Grafana's variables replaced so real parsers and a real
Prometheus can run them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterator, Mapping

from dashboards import boards
from stack.settings import Settings

# Grafana's built-in interval variables, as a real dashboard would expand them.
BUILTINS = {"$__rate_interval": "1m", "$__range": "1h", "$__auto": "1m", "$__interval": "15s"}


@dataclass(frozen=True)
class Query:
    board: str  # uid
    panel: str  # title
    datasource: str  # uid
    expr: str
    instant: bool
    failures_only: bool


def every_panel(model: dict) -> Iterator[dict]:
    """Top-level panels and rows, then the panels inside each collapsed row."""
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(settings: Settings) -> list[Query]:
    found = []
    for board in boards(settings):
        model = json.loads(json.dumps(board.build()))
        for panel in every_panel(model):
            for target in panel.get("targets", []):
                found.append(
                    Query(board.uid, panel["title"], target["datasource"]["uid"], target["expr"], bool(target.get("instant")),
                          panel["title"] in board.failures_only)
                )
    return found


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """`expr` with Grafana's interval variables expanded and each template
    variable replaced by `values[name]` (a regex; `.*` when not given, which
    is what "All" sends)."""
    for name, value in BUILTINS.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: (values or {}).get(m.group(1), ".*"), expr)
