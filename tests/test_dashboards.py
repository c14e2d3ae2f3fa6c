"""The dashboards built by dashboards/: deterministic, provisioned exactly as
generated, valid for Grafana (fixed UIDs, datasources by provisioned UID, the
24-column grid, links that resolve, variables that exist), every query
parsed by a real parser (promtool, Grafana's LogQL grammar), and the
telemetry contract covered."""

from __future__ import annotations

import json
import re
import subprocess

import promql_parser
import pytest
import yaml
from conftest import require_tool
from dashboard_queries import BUILTINS, every_panel, queries, substitute
from test_logs_and_traces import logql_errors

from dashboards import boards, render_dashboards
from dashboards.board import DATASOURCE_UIDS, GRID_COLUMNS, TAG, UIDS
from gateway_telemetry import contract
from stack.alerting import reference_settings
from stack.components.grafana import DASHBOARDS_DIR, grafana_service
from stack.settings import parse_settings

SETTINGS = {"prod": reference_settings(), "dev": parse_settings({"target": "docker"}, "dev", "test")}
DEV = SETTINGS["dev"]
MODELS = {board.uid: board.build() for board in boards(DEV)}
LATENCY = re.compile(r"histogram_quantile\(.*(_seconds|_ms)_bucket")

# Contract metrics no board shows, and why.
NOT_SHOWN = {
    "prometheus_config_last_reload_successful": "an alert (PrometheusConfigReloadFailed) says it; a panel would be a flat 1",
    "loki_request_duration_seconds": "Loki's own query latency: its operators' board, not the gateway's",
    "promtail_request_duration_seconds": "push latency; drops and the sent/received gap show trouble first",
    "logentry_dropped_lines_total": "an alert (PromtailFallingBehind) says when it means loss; after a rollout it counts re-read lines already shipped",
    "process_start_time_seconds": "Promtail's age, which PromtailFallingBehind reads",
    "alertmanager_notifications_total": "attempts; the failures are what is shown",
    "otel_sdk_processor_span_queue_size": "the drops it leads to are shown (queue_full)",
    "otel_sdk_processor_span_queue_capacity": "a constant",
    "traces_span_metrics_calls_total": "Jaeger's Monitor tab and the trace-to-metrics links read it",
    "traces_span_metrics_duration_milliseconds": "Jaeger's Monitor tab and the trace-to-metrics links read it",
    # Kubernetes only: what the cluster alerts read (stack/alerting/kubernetes.py); their
    # runbooks open the kubernetes-mixin's boards, which the cluster's operators already have.
    **{m.name: "a cluster alert reads it (Kubernetes only)" for m in contract.CLUSTER_METRICS},
}


def panels(model: dict) -> list[dict]:
    return [p for p in every_panel(model) if p["type"] != "row"]


# --- code, files, provisioning ----------------------------------------------------------


def test_six_boards_with_fixed_uids():
    assert sorted(MODELS) == sorted(UIDS.values())
    assert len({m["title"] for m in MODELS.values()}) == 6


@pytest.mark.parametrize("env", sorted(SETTINGS))
def test_rendering_is_deterministic_and_provisioned_exactly(env):
    settings = SETTINGS[env]
    first, second = render_dashboards(settings), render_dashboards(settings)
    assert first == second
    files = grafana_service(settings).files
    provisioned = {path.rpartition("/")[2]: text for path, text in files.items() if path.startswith(f"{DASHBOARDS_DIR}/")}
    assert provisioned == first


def test_boards_follow_the_settings():
    cheap = parse_settings({"target": "docker", "alerting": {"thresholds": {"hourlyBudgetUsd": 7}}}, "dev", "t")
    providers = json.dumps(next(b.build() for b in boards(cheap) if b.key == "providers"))
    assert "budget ($7," in providers and '/ 7"' in providers


@pytest.mark.parametrize("uid", sorted(MODELS))
def test_datasources_are_the_provisioned_uids_never_inputs(uid):
    model = MODELS[uid]
    assert "__inputs" not in model and "${DS_" not in json.dumps(model)
    for panel in panels(model):
        for datasource in (panel["datasource"], *(t["datasource"] for t in panel["targets"])):
            assert datasource["uid"] in DATASOURCE_UIDS.values(), (panel["title"], datasource)
    for variable in model["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UIDS["prometheus"]


# --- layout and conventions ----------------------------------------------------------------


@pytest.mark.parametrize("uid", sorted(MODELS))
def test_panels_sit_on_the_grid_without_overlap(uid):
    cells: dict[tuple[int, int], str] = {}
    for panel in every_panel(MODELS[uid]):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] >= 1 and pos["x"] + pos["w"] <= GRID_COLUMNS, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[x, y]!r}"
                cells[x, y] = panel["title"]


def test_long_boards_collapse_rows():
    for uid, model in MODELS.items():
        rows = [p for p in model["panels"] if p["type"] == "row"]
        if len(panels(model)) > 20:
            assert any(r["collapsed"] for r in rows), uid
        for row in rows:
            assert bool(row["panels"]) == row["collapsed"], (uid, row["title"])


@pytest.mark.parametrize("uid", sorted(MODELS))
def test_every_panel_says_what_it_shows_in_which_unit(uid):
    for panel in panels(MODELS[uid]):
        defaults = panel["fieldConfig"]["defaults"]
        assert len(panel["description"]) > 40, panel["title"]
        assert defaults["unit"], panel["title"]
        assert "decimals" in defaults and defaults["thresholds"]["steps"], panel["title"]
        assert panel["targets"] and all(t["refId"] for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in every_panel(MODELS[uid])]
    assert len(ids) == len(set(ids))


def test_every_latency_panel_shows_exemplars():
    latency = [q for q in queries(DEV) if LATENCY.search(q.expr)]
    assert len(latency) >= 8
    for uid, model in MODELS.items():
        for panel in panels(model):
            for target in panel["targets"]:
                if LATENCY.search(target.get("expr", "")):
                    assert target["exemplar"] is True, (uid, panel["title"])


# --- variables and links -------------------------------------------------------------------


def _variables(model: dict) -> dict[str, dict]:
    return {v["name"]: v for v in model["templating"]["list"]}


@pytest.mark.parametrize("uid", sorted(MODELS))
def test_every_variable_a_query_uses_exists_and_chains_from_environment(uid):
    model = MODELS[uid]
    defined = _variables(model)
    used = {name for q in queries(DEV) if q.board == uid for name in re.findall(r"\$\{?([A-Za-z_]\w*)", q.expr)}
    assert used - {b[1:] for b in BUILTINS} <= set(defined), uid
    names = list(defined)
    assert names[0] == "environment" and not defined["environment"].get("multi"), names
    for name in names[1:]:
        if defined[name]["type"] == "query":
            assert "$environment" in defined[name]["query"], name
    if "model" in defined:
        assert "$provider" in defined["model"]["query"]


def test_boards_link_to_each_other_and_links_resolve():
    for uid, model in MODELS.items():
        assert TAG in model["tags"]
        assert any(link["type"] == "dashboards" and link["tags"] == [TAG] and link["keepTime"] for link in model["links"])
        for panel in panels(model):
            for link in panel["fieldConfig"]["defaults"].get("links", []):
                target = re.match(r"/d/([\w-]+)\?", link["url"])
                assert target and target.group(1) in MODELS, (uid, link["url"])
                wanted = dict(re.findall(r"var-(\w+)=([^&]+)", link["url"]))
                assert set(wanted) <= set(_variables(MODELS[target.group(1)])), (uid, link["url"])
                for value in wanted.values():  # a literal, or a label of the series clicked
                    assert re.fullmatch(r"[a-z0-9-]+|\$\{__field\.labels\.\w+\}", value), (uid, link["url"])
    overview = json.dumps(MODELS[UIDS["overview"]])
    assert f"/d/{UIDS['logs']}?" in overview and "var-service=${__field.labels.service}" in overview
    assert f"/d/{UIDS['providers']}?" in overview and "var-provider=${__field.labels.gen_ai_provider_name}" in overview


# --- real parsers, the contract -----------------------------------------------------------


@pytest.mark.parametrize("env", sorted(SETTINGS))
def test_every_promql_query_parses_and_type_checks_with_promtool(env, tmp_path):
    exprs = sorted({substitute(q.expr) for q in queries(SETTINGS[env]) if q.datasource == "prometheus"})
    assert len(exprs) > 60
    rules = [{"record": f"dashboard:query:{i}", "expr": expr} for i, expr in enumerate(exprs)]
    scratch = tmp_path / "dashboard-queries.yml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(scratch)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_really_rejects_a_mistyped_query(tmp_path):
    scratch = tmp_path / "bad.yml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x:y", "expr": "rate(up)"}]}]}))
    assert subprocess.run([require_tool("promtool"), "check", "rules", str(scratch)], capture_output=True).returncode != 0


def test_every_logql_query_parses_with_grafanas_grammar():
    exprs = [substitute(q.expr) for q in queries(DEV) if q.datasource == "loki"]
    assert len(exprs) >= 4
    errors = logql_errors(exprs)
    assert all(not e for e in errors), [(x, e) for x, e in zip(exprs, errors) if e]


def _metric_names(expr: str) -> set[str]:
    found = set()

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.add(re.sub(r"_(bucket|sum|count)$", "", node.name) if node.name not in contract.known_series_names() else node.name)

    promql_parser.walk(promql_parser.parse(substitute(expr)), visit)
    return found


def test_every_contract_metric_is_on_a_board_or_said_why_not():
    shown = {name for q in queries(DEV) if q.datasource == "prometheus" for name in _metric_names(q.expr)}
    contract_names = {m.name for m in contract.all_metrics()}
    series = {s: m.name for m in contract.all_metrics() for s in m.series_names()}
    shown_metrics = {series.get(name, name) for name in shown}
    missing = contract_names - shown_metrics - set(NOT_SHOWN)
    assert not missing, f"on no board and not in NOT_SHOWN: {sorted(missing)}"
    assert not set(NOT_SHOWN) & shown_metrics, "NOT_SHOWN lists a metric a board shows"
    assert set(NOT_SHOWN) <= contract_names
