"""Grafana dashboards as code: one module per board, built with
grafana-foundation-sdk from the settings (thresholds, budget, SLOs, retention)
and the telemetry contract. `python -m stack render` writes them; the Docker
target provisions them from the files Grafana's service spec carries.

    render_dashboards(settings) -> {"<uid>.json": "<dashboard JSON>"}
"""

from __future__ import annotations

from dashboards import logs_traces, overview, providers, routing, slo, stack_health
from dashboards.board import Board, render
from stack.settings import Settings

# In the order of the drill-down path: overview, providers, router, SLOs, logs and traces, the stack.
BUILDERS = (overview.build, providers.build, routing.build, slo.build, logs_traces.build, stack_health.build)


def boards(settings: Settings) -> list[Board]:
    """Every board, built for `settings`."""
    return [build(settings) for build in BUILDERS]


def render_dashboards(settings: Settings) -> dict[str, str]:
    """File name -> JSON text of every board; the same settings give the same bytes."""
    return {board.filename: render(board) for board in boards(settings)}
