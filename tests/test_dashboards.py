"""Dashboards: stable uids, datasources by provisioned uid, PromQL that Prometheus parses."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from conftest import require_tool

from stack.components.grafana import DATASOURCE_UIDS, dashboard_files

DASHBOARDS = dashboard_files()


def queries(dashboard: dict):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def test_there_are_dashboards_to_provision():
    assert DASHBOARDS


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_dashboard_has_a_uid_and_uses_datasources_by_provisioned_uid(name):
    dashboard = json.loads(DASHBOARDS[name])
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40
    assert "__inputs" not in dashboard, "no ${DS_...} inputs: datasources are fixed uids"
    for panel, target in queries(dashboard):
        for datasource in (panel["datasource"], target["datasource"]):
            assert datasource["uid"] in DATASOURCE_UIDS.values(), (panel["title"], datasource)


def test_dashboard_uids_are_unique():
    uids = [json.loads(text)["uid"] for text in DASHBOARDS.values()]
    assert len(uids) == len(set(uids))


def test_every_promql_query_parses_with_promtool(tmp_path):
    rules = [
        {"record": f"dashboard:query:{i}", "expr": target["expr"]}
        for i, (_, target) in enumerate(
            (p, t) for text in DASHBOARDS.values() for p, t in queries(json.loads(text)) if p["datasource"]["uid"] == "prometheus"
        )
    ]
    assert rules
    scratch = tmp_path / "dashboard-queries.yml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}))
    result = subprocess.run([require_tool("promtool"), "check", "rules", str(scratch)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
