"""The dashboards built by dashboards/: deterministic, provisioned exactly as
generated, valid for Grafana (fixed UIDs, datasources by provisioned UID and
at URLs Grafana resolves, the 24-column grid, links that resolve, variables
that exist), every query parsed by a real parser (promtool, Grafana's LogQL
grammar), the telemetry contract covered, and what the boards promise:
alert lists with Loki's alerts, Kong among the logs, tokens per second,
failures counted by the contract's one definition."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import urlsplit

import promql_parser
import pytest
import re2
import yaml
from conftest import require_tool
from dashboard_queries import BUILTINS, every_panel, queries, substitute
from test_kubernetes_addresses import Cluster
from test_kubernetes_target import manifests
from test_logs_and_traces import logql_errors

from dashboards import boards, render_dashboards
from dashboards.board import ALERT_LIST, DATASOURCE_NAMES, DATASOURCE_UIDS, GRID_COLUMNS, TAG, UIDS
from gateway_telemetry import contract
from stack.alerting import reference_settings
from stack.components import build_services
from stack.components.grafana import DASHBOARDS_DIR, grafana_service, render_datasources
from stack.components.loki import render_loki_config
from stack.components.prometheus import render_prometheus_config
from stack.components.promtail import render_promtail_config
from stack.components.service import replicas
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
    "gen_ai_client_operation_time_to_first_chunk_seconds": (
        "the conventions' copy of gateway_llm_time_to_first_token_seconds, which the boards chart in the SLO's buckets; "
        "kept for GenAI-aware tools"
    ),
    "traces_span_metrics_calls_total": "Jaeger's Monitor tab and the trace-to-metrics links read it",
    "traces_span_metrics_duration_milliseconds": "Jaeger's Monitor tab and the trace-to-metrics links read it",
    # Kubernetes only: what the cluster alerts read (stack/alerting/kubernetes.py); their
    # runbooks open the kubernetes-mixin's boards, which the cluster's operators already have.
    **{m.name: "a cluster alert reads it (Kubernetes only)" for m in contract.CLUSTER_METRICS},
}


def panels(model: dict) -> list[dict]:
    return [p for p in every_panel(model) if p["type"] != "row"]


def alert_lists(model: dict) -> list[dict]:
    """Grafana's alert list panels: they read the rule sources themselves, no query of theirs."""
    return [p for p in panels(model) if p["type"] == ALERT_LIST]


def queried(model: dict) -> list[dict]:
    """The panels that show what their queries return."""
    return [p for p in panels(model) if p["type"] != ALERT_LIST]


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
    for panel in alert_lists(model):  # no datasource, no targets: every rule source is read
        assert "datasource" not in panel and "targets" not in panel, panel["title"]
    for panel in queried(model):
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
    for panel in alert_lists(MODELS[uid]):
        assert len(panel["description"]) > 40 and panel["options"]["stateFilter"]["firing"], panel["title"]
    for panel in queried(MODELS[uid]):
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
        for panel in queried(model):
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
        for panel in queried(model):
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


# --- datasources as Grafana reaches them --------------------------------------------------


def _datasources(settings) -> dict[str, dict]:
    return {d["uid"]: d for d in yaml.safe_load(render_datasources(settings))["datasources"]}


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


@pytest.mark.parametrize("env", sorted(SETTINGS))
def test_every_datasource_url_resolves_from_grafana_on_docker(env):
    """On Docker every component's container joins the stack's network under
    its hostname: each datasource URL names one of them, on a port it serves."""
    settings = parse_settings({"target": "docker"}, env, "test")
    served = {spec.hostname: {port.number for port in spec.ports} for spec in build_services(settings)}
    datasources = _datasources(settings)
    assert set(datasources) == set(DATASOURCE_UIDS.values())
    for uid, datasource in datasources.items():
        host, port = _host_port(datasource["url"])
        assert host in served and port in served[host], (uid, datasource["url"], served)


@pytest.mark.parametrize("environment", ["staging", "prod"])
def test_every_datasource_url_resolves_from_grafana_on_kubernetes(environment):
    """On Kubernetes the datasources file is a ConfigMap of Grafana's
    namespace: each URL resolves from there, by the cluster's DNS rules, to
    a Service serving its port. With several Alertmanager peers (prod), the
    Alertmanager datasource is their Service, which balances over every
    peer (each holds every alert; silences are gossiped), not one pod."""
    found = manifests(environment)
    cluster = Cluster(found)
    [config] = [m for m in found if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-grafana-config")]
    [text] = [v for k, v in config["data"].items() if k.endswith("provisioning_datasources_datasources.yaml")]
    datasources = {d["uid"]: d for d in yaml.safe_load(text)["datasources"]}
    assert set(datasources) == set(DATASOURCE_UIDS.values())
    reader = config["metadata"]["namespace"]
    for uid, datasource in datasources.items():
        host, port = _host_port(datasource["url"])
        ports = cluster.resolve(host, reader)
        assert ports is not None and port in ports, (uid, datasource["url"], reader)
    # The Alertmanager Service selects every peer of the StatefulSet.
    host, _ = _host_port(datasources[DATASOURCE_UIDS["alertmanager"]]["url"])
    service = cluster.services[(reader, host)]
    [peers] = [m for m in found if m["kind"] == "StatefulSet" and m["metadata"]["name"] == host]
    labels = peers["spec"]["template"]["metadata"]["labels"]
    assert service.get("type", "ClusterIP") == "ClusterIP" and service.get("clusterIP") != "None"
    assert service["selector"].items() <= labels.items()
    assert (peers["spec"].get("replicas", 1) > 1) == (environment == "prod")  # prod's scalable profile


# --- alerts: Prometheus' and Loki's, and what Alertmanager holds ----------------------------------


def test_no_board_reads_alerts_from_prometheus_alerts_series():
    """Loki's ruler sends its alerts to Alertmanager and never writes ALERTS:
    a list built on ALERTS would hide every log alert."""
    readers = [(q.board, q.panel) for q in queries(DEV) if q.datasource == "prometheus" and re.search(r"\bALERTS(_FOR_STATE)?\b", q.expr)]
    assert not readers


@pytest.mark.parametrize("env", sorted(SETTINGS))
def test_alert_lists_read_prometheus_and_loki_and_open_the_alertmanager_datasource(env):
    settings = SETTINGS[env]
    models = {board.uid: board.build() for board in boards(settings)}
    lists = {uid: alert_lists(model) for uid, model in models.items()}
    assert lists[UIDS["overview"]] and lists[UIDS["stack"]], "the overview and the stack board list the alerts firing"
    datasources = _datasources(settings)
    alertmanager = datasources[DATASOURCE_UIDS["alertmanager"]]
    assert alertmanager["type"] == "alertmanager" and alertmanager["jsonData"]["implementation"] == "prometheus"
    assert alertmanager["name"] == DATASOURCE_NAMES["alertmanager"]
    # Grafana reads the rules of each Prometheus and Loki datasource that manages alerts, Loki's through its ruler API.
    for uid in ("prometheus", "loki"):
        assert datasources[DATASOURCE_UIDS[uid]]["jsonData"]["manageAlerts"] is True, uid
    assert yaml.safe_load(render_loki_config(settings))["ruler"]["enable_api"] is True
    for uid, found in lists.items():
        for panel in found:
            options = panel["options"]
            # No datasource (nor folder) filter: Grafana's rules, Prometheus' and Loki's alike.
            assert not options.get("datasource") and not options.get("folder"), (uid, panel["title"])
            assert options["viewMode"] == "list" and options["stateFilter"]["firing"] and options["showInstances"]
            # Its link opens Grafana's alert groups of the provisioned Alertmanager, which Grafana names it by.
            [link] = panel["links"]
            assert link["url"] == f"/alerting/groups?alertmanager={alertmanager['name']}", (uid, link)
    [stack_list] = lists[UIDS["stack"]]
    selected = re.fullmatch(r'\{service=~"([^"]+)"\}', stack_list["options"]["alertInstanceLabelFilter"]).group(1)
    assert all(re2.fullmatch(selected, component) for component in contract.STACK_METRICS)
    assert not re2.fullmatch(selected, "unified-llm-api")


ONE_PEER = parse_settings({"target": "docker"}, "dev", "test")
THREE_PEERS = parse_settings({"target": "kubernetes", "kubernetes": {"profile": "scalable"}}, "prod", "test")


@pytest.mark.parametrize("settings,peers", [(ONE_PEER, 1), (THREE_PEERS, 3)], ids=["docker", "scalable"])
def test_the_alerting_path_panels_expect_every_alertmanager_peer(settings, peers):
    assert replicas(settings, "alertmanager") == peers
    stack = next(board.build() for board in boards(settings) if board.key == "stack")
    for title in ("Alertmanagers each Prometheus sends to", "Alertmanager peers each sees"):
        [panel] = [p for p in panels(stack) if p["title"] == title]
        assert [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, peers], title
    # Prometheus is told of every peer: what "sends to" is held to.
    sent_to = yaml.safe_load(render_prometheus_config(settings))["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert len(sent_to) == peers


# --- the logs board offers Kong ----------------------------------------------------------------


def _selects(node: promql_parser.VectorSelector, labels: dict[str, str]) -> bool:
    """Whether the series with `labels` is one `node` selects (Prometheus' matchers, RE2 anchored)."""
    if node.name and labels.get("__name__", node.name) != node.name:
        return False
    for matcher in node.matchers.matchers:
        value, op = labels.get(matcher.name, ""), str(matcher.op).rpartition(".")[2]
        found = {"Equal": value == matcher.value, "NotEqual": value != matcher.value,
                 "Re": re2.fullmatch(matcher.value, value) is not None, "NotRe": re2.fullmatch(matcher.value, value) is None}[op]
        if not found:
            return False
    return True


def _matches(selector: str, labels: dict[str, str]) -> bool:
    node = promql_parser.parse(selector)
    assert isinstance(node, promql_parser.VectorSelector), selector
    return _selects(node, labels)


def test_the_logs_board_offers_every_service_promtail_ships_kong_included():
    """The Service variable offers what a scraped `up` series of the chosen
    environment carries: Prometheus labels each gateway job's series with
    service=<name>, and Promtail labels that service's lines the same way,
    Kong's access and error logs (service="kong") among them."""
    settings = DEV
    variable = _variables(MODELS[UIDS["logs"]])["service"]
    selector, label = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"]).groups()
    series = [
        {"__name__": "up", "job": job["job_name"], **config["labels"]}
        for job in yaml.safe_load(render_prometheus_config(settings))["scrape_configs"]
        for config in job["static_configs"]
    ]

    def offered(environment: str) -> set[str]:
        chosen = substitute(selector, {"environment": environment})
        return {s[label] for s in series if _matches(chosen, s)}

    promtail = yaml.safe_load(render_promtail_config(settings))["scrape_configs"]
    shipped = {r["replacement"] for c in promtail for r in c.get("relabel_configs", []) if r.get("target_label") == "service"}
    assert "kong" in offered(settings.environment)
    assert offered(settings.environment) == shipped == {s.name for s in settings.gateway_services}
    assert not offered("elsewhere")  # another environment's services are not


# --- tokens per second, failures as the contract defines them ---------------------------------------


TOKEN_SERIES = {n for m in contract.all_metrics() if m.unit == "tokens" for n in m.series_names() if not n.endswith(("_bucket", "_count"))}
PER_SECOND_UNITS = {"reqps", "ops", "cps", "rps", "wps", "iops", "mps", "Bps", "bps"}


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found = []
    promql_parser.walk(promql_parser.parse(substitute(expr)), lambda n: found.append(n) if isinstance(n, promql_parser.VectorSelector) else None)
    return found


def test_every_token_panel_shows_a_rate_in_tokens_per_second():
    """A panel that shows tokens (every series it reads is counted in tokens)
    shows them per second: a per-second unit and rate(), never a count per
    window or an increase."""
    token_panels = []
    for uid, model in MODELS.items():
        for panel in queried(model):
            exprs = [t["expr"] for t in panel["targets"] if t["datasource"]["uid"] == DATASOURCE_UIDS["prometheus"]]
            names = {s.name for e in exprs for s in _selectors(e)}
            if not names or not names <= TOKEN_SERIES:
                continue
            token_panels.append((uid, panel["title"]))
            unit = panel["fieldConfig"]["defaults"]["unit"]
            assert unit.endswith("/s") or unit in PER_SECOND_UNITS, (uid, panel["title"], unit)
            for expr in exprs:
                assert re.search(r"\brate\(", expr) and not re.search(r"\b(increase|sum_over_time)\(", expr), (uid, panel["title"], expr)
            for target in panel["targets"]:
                assert "/s" in target["legendFormat"], (uid, panel["title"], target["legendFormat"])
    assert len(token_panels) >= 3, token_panels


def test_failed_requests_are_counted_by_the_contracts_one_definition():
    """A kit service's failed requests are error_type!="" (5xx, exceptions,
    streams broken after their 200), never a status-code regex; a provider's
    errors leave out the caller's own bad requests unless the panel shows
    error_source apart."""
    for q in queries(DEV):
        if q.datasource != "prometheus":
            continue
        for selector in _selectors(q.expr):
            matchers = {(m.name, str(m.op).rpartition(".")[2], m.value) for m in selector.matchers.matchers}
            if selector.name.startswith("http_server_request_duration_seconds"):
                assert not any(name == "http_response_status_code" and "5" in value for name, _, value in matchers), (q.board, q.panel)
            if selector.name == "gen_ai_client_operation_duration_seconds_count" and ("error_type", "NotEqual", "") in matchers:
                grouped_by_source = re.search(r"by \([^)]*\berror_source\b", q.expr)
                callers_fault = {"error_type": "400", "error_source": "client", "environment": DEV.environment}
                assert grouped_by_source or not _selects(selector, callers_fault), (q.board, q.panel, q.expr)
    overview = [q for q in queries(DEV) if q.board == UIDS["overview"] and q.panel == "Error ratio"]
    assert overview and all(contract.FAILED_REQUEST_MATCHER in q.expr for q in overview)
