"""Every alert has a runbook, and every `runbook_url` opens it.

docs/runbooks/<AlertName>.md for each alert the generators produce (the
reference settings and settings with every optional part on), complete:
the same sections in the same order, exactly three first checks, each
naming a board that exists and a query that parses and names series that
exist. No runbook outlives its alert. With `alerting.runbookBaseUrl` unset,
each `runbook_url` in the rendered rule files names a runbook dashboard that
Grafana provisions; with it set, the URL is the base plus the alert's name.
"""

from __future__ import annotations

import json
import re
import subprocess

import promql_parser
import pytest
import yaml
from conftest import ROOT, require_tool
from test_logs_and_traces import logql_errors
from test_settings_for_durations import EVERYTHING_ON, WITHOUT_KONG

from dashboards import boards
from dashboards.runbooks import render_runbook_dashboards
from gateway_telemetry import contract
from stack.alerting import loki_rule_files, rule_files, rule_groups
from stack.components.grafana import DASHBOARDS_DIR, PROVISIONING_DIR, RUNBOOK_DASHBOARDS_DIR, grafana_service
from stack import topology
from stack.runbooks import incomplete_runbooks, load_runbooks, parse_runbook, runbook_uid, stale_runbooks
from stack.settings import PROJECT, SettingsError, parse_settings
from stack.targets.kubernetes.labels import config_key

RUNBOOKS_DIR = ROOT / "docs" / "runbooks"
RUNBOOKS = load_runbooks(RUNBOOKS_DIR)
SECTIONS = ["Meaning", "Impact", "First checks", "Mitigation", "Escalation"]


def _without_base_url(config: dict) -> dict:
    alerting = {k: v for k, v in config.get("alerting", {}).items() if k != "runbookBaseUrl"}
    return {**config, "alerting": alerting}


_EVERYTHING_ON_KUBERNETES = {**{k: v for k, v in EVERYTHING_ON.items() if k != "gatewayNetwork"}, "target": "kubernetes"}
# (config, environment, where the stack's Grafana is opened): the settings
# tests/test_settings_for_durations.py checks alert_names against, with the
# runbooks left to Grafana (alerting.runbookBaseUrl unset).
VARIANTS = {
    "reference": ({"target": "docker"}, "prod", "http://127.0.0.1:3000"),
    "kubernetes-reference": ({"target": "kubernetes"}, "prod", "http://obs-grafana.observability.svc:3000"),
    "everything-on": (_without_base_url(EVERYTHING_ON), "dev", "http://127.0.0.1:3000"),
    "everything-on-kubernetes": (_without_base_url(_EVERYTHING_ON_KUBERNETES), "prod", "http://obs-grafana.observability.svc:3000"),
    "without-kong": (_without_base_url(WITHOUT_KONG), "staging", "http://127.0.0.1:3000"),
    "public-grafana": (
        {"target": "kubernetes", "publicUrls": {"grafana": "https://grafana.gateway.test/"}},
        "prod",
        "https://grafana.gateway.test",
    ),
}
SETTINGS = {name: parse_settings(config, env, "test") for name, (config, env, _) in VARIANTS.items()}


def alert_rules(settings) -> list[dict]:
    """Every alert rule of the rendered Prometheus and Loki rule files."""
    files = {**rule_files(settings), **{f"loki/{n}": t for n, t in loki_rule_files(settings).items()}}
    return [r for text in files.values() for g in yaml.safe_load(text)["groups"] for r in g["rules"] if "alert" in r]


GENERATED = {name: {rule["alert"] for rule in alert_rules(settings)} for name, settings in SETTINGS.items()}
EVERY_ALERT = set().union(*GENERATED.values())
BOARDS = {board.uid: board.title for board in boards(SETTINGS["reference"])}


# --- a complete runbook for every alert, and none for an alert that is gone ----------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_generated_alert_has_a_complete_runbook(variant):
    assert GENERATED[variant], variant
    assert incomplete_runbooks(GENERATED[variant], RUNBOOKS, BOARDS) == {}


def test_no_runbook_outlives_its_alert():
    assert stale_runbooks(EVERY_ALERT, RUNBOOKS) == [], "delete or rename the runbooks of alerts that no longer exist"


def test_the_runbooks_are_the_files_of_docs_runbooks():
    assert len(RUNBOOKS) >= 50
    assert sorted(RUNBOOKS) == sorted(p.stem for p in RUNBOOKS_DIR.glob("*.md"))
    assert not [p.name for p in RUNBOOKS_DIR.iterdir() if p.suffix != ".md"]


def test_each_runbook_states_the_severities_its_alert_is_generated_with():
    generated: dict[str, set[str]] = {}
    for settings in SETTINGS.values():
        for rule in alert_rules(settings):
            generated.setdefault(rule["alert"], set()).add(rule["labels"]["severity"])
    wrong = {name: (sorted(RUNBOOKS[name].severities), sorted(s)) for name, s in generated.items() if RUNBOOKS[name].severities != s}
    assert wrong == {}, "runbook's **Severity:** line (said, generated)"


@pytest.mark.parametrize("name", sorted(RUNBOOKS))
def test_each_first_check_opens_a_board_that_exists(name):
    checks = RUNBOOKS[name].first_checks
    assert len(checks) == 3
    for number, check in enumerate(checks, 1):
        named = [uid for uid, title in BOARDS.items() if title in check or f"`{uid}`" in check]
        assert named, f"{name}: first check {number} names no board of dashboards/ ({sorted(BOARDS.values())})"


def test_a_stale_runbook_is_found(tmp_path):
    for name in ("Watchdog", "GatewayAlertThatWasRemoved"):
        (tmp_path / f"{name}.md").write_text((RUNBOOKS_DIR / "Watchdog.md").read_text().replace("# Watchdog", f"# {name}"))
    assert stale_runbooks({"Watchdog"}, load_runbooks(tmp_path)) == ["GatewayAlertThatWasRemoved"]


def test_a_missing_or_incomplete_runbook_is_named_with_what_it_lacks(tmp_path):
    (tmp_path / "Half.md").write_text(
        "# Half\nOne line.\nAnother line.\n\n## Impact\nUsers wait.\n\n## Meaning\nIt fired.\n\n"
        "## First checks\n\n1. **AI gateway: overview**: look.\n   ```promql\nup\n   ```\n"
        "2. **No such board**: look.\n   ```promql\nup\n   ```\n\n## Mitigation\n\n## Notes\nx\n"
    )
    assert incomplete_runbooks({"Half", "Absent"}, load_runbooks(tmp_path), BOARDS) == {
        "Absent": ["no runbook: write docs/runbooks/Absent.md"],
        "Half": [
            "expected a one-line summary under the title, found 2 lines",
            "missing sections: Escalation",
            "unknown sections: Notes (expected Meaning, Impact, First checks, Mitigation, Escalation)",
            "sections out of order: Impact, Meaning, First checks, Mitigation (expected Meaning, Impact, First checks, Mitigation, Escalation)",
            "section 'Mitigation' is empty",
            "Meaning has no '**Severity:** <critical|warning|info>' line",
            "expected first checks numbered 1 to 3, found [1, 2]",
            "first check 2 names no Grafana board (by title or uid)",
        ],
    }


def test_a_heading_inside_a_code_block_is_not_a_section(tmp_path):
    text = (RUNBOOKS_DIR / "GatewayServiceDown.md").read_text()
    shell = text.replace("## Mitigation\n", "## Mitigation\n\n```sh\n## not a section\n# kubectl get pods\n```\n")
    runbook = parse_runbook(tmp_path / "GatewayServiceDown.md", shell)
    assert list(runbook.sections) == SECTIONS
    assert incomplete_runbooks({"GatewayServiceDown"}, {"GatewayServiceDown": runbook}, BOARDS) == {}


# --- the queries of the runbooks ------------------------------------------------------------


def _queries(language: str) -> list[tuple[str, str]]:
    return [(name, query) for name, runbook in RUNBOOKS.items() for lang, query in runbook.queries() if lang == language]


def test_every_first_check_has_a_query_and_there_are_many():
    for name, runbook in RUNBOOKS.items():
        assert all(runbook.queries(check) for check in runbook.first_checks), name
    assert len(_queries("promql")) > 100 and len(_queries("logql")) > 20


def test_every_promql_query_of_a_runbook_parses_and_type_checks_with_promtool(tmp_path):
    rules = [{"record": f"runbook:query:{i}", "expr": query} for i, (_, query) in enumerate(_queries("promql"))]
    scratch = tmp_path / "runbook-queries.yml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "runbook-queries", "rules": rules}]}))
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(scratch)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_logql_query_of_a_runbook_parses_with_grafanas_grammar():
    queries = _queries("logql")
    errors = logql_errors([query for _, query in queries])
    assert [(name, query, e) for (name, query), e in zip(queries, errors) if e] == []


def test_runbook_queries_name_only_series_that_exist():
    # The contract's series, what the stack's rules record, and Prometheus' own ALERTS.
    recorded = {
        rule["record"]
        for settings in SETTINGS.values()
        for groups in rule_groups(settings).values()
        for group in groups
        for rule in group["rules"]
        if "record" in rule
    }
    known = contract.known_series_names() | recorded | {"ALERTS"}
    unknown = set()
    for name, query in _queries("promql"):
        def visit(node, name=name):
            if isinstance(node, promql_parser.VectorSelector) and node.name and node.name not in known:
                unknown.add((name, node.name))

        promql_parser.walk(promql_parser.parse(query), visit)
    assert unknown == set()


def test_runbooks_read_the_same_in_grafana_and_on_a_git_host():
    for name, runbook in RUNBOOKS.items():
        # Grafana's text panel replaces $variables; a relative link opens nothing there.
        assert not re.search(r"\$(__|\{|[A-Za-z])", runbook.text), name
        assert not re.search(r"\]\((?!https?://)", runbook.text), name


def test_runbooks_name_the_stack_s_containers_by_prefix_not_by_a_default_name():
    # Names follow namePrefix; and Grafana's files are read for the addresses
    # they hold (tests/test_kubernetes_addresses.py): prose must not look like one.
    hostnames = {topology.hostname(SETTINGS["reference"], component) for component in topology.PORTS}
    for name, runbook in RUNBOOKS.items():
        found = {h for h in hostnames if re.search(rf"(?<![\w-]){re.escape(h)}(?![\w])", runbook.text)}
        assert not found, f"{name}: write <prefix>-<component>, not {sorted(found)}"


# --- runbook_url: Grafana's runbook dashboards, or a base URL ------------------------------


def _provisioned_runbooks(settings) -> dict[str, dict]:
    files = grafana_service(settings).files
    return {
        model["uid"]: model
        for path, text in files.items()
        if path.startswith(f"{RUNBOOK_DASHBOARDS_DIR}/")
        for model in [json.loads(text)]
    }


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_by_default_every_runbook_url_opens_a_runbook_dashboard_grafana_provisions(variant):
    settings, grafana = SETTINGS[variant], VARIANTS[variant][2]
    provisioned = _provisioned_runbooks(settings)
    for rule in alert_rules(settings):
        name, url = rule["alert"], rule["annotations"]["runbook_url"]
        assert url.startswith(f"{grafana}/d/"), (name, url)
        uid = url.removeprefix(f"{grafana}/d/")
        assert uid in provisioned, (name, url)
        assert provisioned[uid]["title"] == f"Runbook: {name}"
        [panel] = provisioned[uid]["panels"]
        assert panel["type"] == "text" and panel["options"]["mode"] == "markdown"
        assert panel["options"]["content"] == (RUNBOOKS_DIR / f"{name}.md").read_text()


def test_the_runbook_dashboards_have_a_folder_of_their_own():
    files = grafana_service(SETTINGS["reference"]).files
    providers = yaml.safe_load(files[f"{PROVISIONING_DIR}/dashboards/dashboards.yaml"])["providers"]
    assert [(p["folder"], p["options"]["path"]) for p in providers] == [
        ("AI Gateway", "/etc/grafana/dashboards"),
        ("Runbooks", "/etc/grafana/runbooks"),
    ]
    # Grafana's file provider reads subfolders: the runbooks must not sit under the boards'.
    assert not RUNBOOK_DASHBOARDS_DIR.startswith(f"{DASHBOARDS_DIR}/")
    assert len([p for p in files if p.startswith(f"{RUNBOOK_DASHBOARDS_DIR}/")]) == len(RUNBOOKS)


def test_a_runbook_dashboard_links_the_boards_its_checks_name():
    model = _provisioned_runbooks(SETTINGS["reference"])["GatewayProviderDown"]
    links = {link["title"]: link.get("url") for link in model["links"]}
    assert links["AI gateway: LLM providers and models"] == "/d/gateway-llm-providers"
    assert links["AI gateway: router and optimization"] == "/d/gateway-router-optimization"
    assert links["AI gateway: logs and traces"] == "/d/gateway-logs-traces"
    assert "runbook" in model["tags"] and model["editable"] is False


def test_runbook_dashboards_are_deterministic_and_fit_a_kubernetes_config_map():
    settings = SETTINGS["everything-on-kubernetes"]
    assert render_runbook_dashboards(settings) == render_runbook_dashboards(settings)
    files = grafana_service(settings).files
    for path in files:
        config_key(path)  # every file is a valid ConfigMap key on Kubernetes
    assert sum(len(config_key(p)) + len(t.encode()) for p, t in files.items()) < 2**20


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_with_a_base_url_every_runbook_url_is_the_base_and_the_alert_name(variant):
    config, env, _ = VARIANTS[variant]
    settings = parse_settings(
        {**config, "alerting": {**config.get("alerting", {}), "runbookBaseUrl": "https://wiki.example.com/ai-gateway/runbooks"}},
        env,
        "test",
    )
    for rule in alert_rules(settings):
        assert rule["annotations"]["runbook_url"] == f"https://wiki.example.com/ai-gateway/runbooks/{rule['alert']}"
    # The runbooks are elsewhere: Grafana provisions none.
    assert _provisioned_runbooks(settings) == {}
    providers = yaml.safe_load(grafana_service(settings).files[f"{PROVISIONING_DIR}/dashboards/dashboards.yaml"])["providers"]
    assert [p["folder"] for p in providers] == ["AI Gateway"]


def test_a_base_url_on_this_repositorys_runbook_folder_links_each_markdown_file():
    folder = "https://github.com/acme/gateway-observability/blob/main/docs/runbooks"
    settings = parse_settings({"target": "kubernetes", "alerting": {"runbookBaseUrl": f"{folder}/"}}, "prod", "test")
    for rule in alert_rules(settings):
        url = rule["annotations"]["runbook_url"]
        assert url == f"{folder}/{rule['alert']}.md"
        # ...which is a file of this repository at that path.
        assert (ROOT / url.split("/blob/main/", 1)[1]).is_file(), url


# --- the Grafana uid ------------------------------------------------------------------------


def test_a_runbook_uid_is_the_alert_name_up_to_grafanas_limit():
    assert runbook_uid("Watchdog") == "Watchdog"
    assert runbook_uid("GatewayTimePerOutputTokenErrorBudgetBurn") == "GatewayTimePerOutputTokenErrorBudgetBurn"  # 40


def test_a_longer_name_is_cut_to_forty_characters_with_a_digest():
    assert runbook_uid("GatewayTimePerOutputTokenErrorBudgetBurnX") == "GatewayTimePerOutputTokenErrorB-09af8f3a"
    assert runbook_uid("GatewayTimePerOutputTokenErrorBudgetBurnY") == "GatewayTimePerOutputTokenErrorB-e2383fd8"


def test_every_runbook_uid_is_one_grafana_accepts_and_unique():
    uids = [runbook_uid(name) for name in RUNBOOKS]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid) for uid in uids), uids
    # Unique even where the database compares case-insensitively (MySQL), and apart from the boards.
    assert len({uid.lower() for uid in uids}) == len(uids)
    assert not {uid.lower() for uid in uids} & {uid.lower() for uid in BOARDS}


# --- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (
            "https://wiki.example.com/runbooks/{alertname}",
            "expected the URL the runbooks are under, without {alertname}: the stack appends '/<AlertName>' itself, "
            "e.g. 'https://wiki.example.com/ai-gateway/runbooks'",
        ),
        *(
            (
                bad,
                "expected the http(s) URL the runbooks are under, such as 'https://wiki.example.com/ai-gateway/runbooks' "
                "or 'https://github.com/<org>/<repo>/blob/main/docs/runbooks', without a query ('?'), a fragment ('#'), "
                "braces or spaces: the stack appends '/<AlertName>' to it",
            )
            for bad in ("ftp://wiki.example.com/runbooks", "https://wiki.example.com/runbooks?page=", "wiki.example.com")
        ),
    ],
)
def test_a_bad_runbook_base_url_gets_one_clear_message(value, expected):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "alerting": {"runbookBaseUrl": value}}, "prod", "test")
    assert caught.value.problems == [f"{PROJECT}:alerting.runbookBaseUrl: given '{value}'; {expected}"]


def test_the_old_pattern_setting_is_refused_naming_its_successor():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "alerting": {"runbookUrl": "https://wiki.example.com/{alertname}"}}, "prod", "test")
    [problem] = caught.value.problems
    assert problem.startswith(f"{PROJECT}:alerting.runbookUrl: unknown key") and "runbookBaseUrl" in problem
