"""The rendered files judged by the programs that will read them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT_TOOLS, require_tool, tool_missing


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rendered_prometheus_config(rendered_dev):
    config = rendered_dev / "prometheus/etc/prometheus/prometheus.yml"
    result = run(require_tool("promtool"), "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_amtool_accepts_the_rendered_alertmanager_config(rendered_dev):
    config = rendered_dev / "alertmanager/etc/alertmanager/alertmanager.yml"
    result = run(require_tool("amtool"), "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_rejects_a_broken_config(tmp_path):
    # Proves the check above can fail: the same tool on a config with an unknown field.
    broken = tmp_path / "prometheus.yml"
    broken.write_text("global:\n  scrape_intervall: 15s\n")
    result = run(require_tool("promtool"), "check", "config", str(broken))
    assert result.returncode != 0


@pytest.mark.parametrize("tool", ["promtool", "prometheus", "amtool", "prometheus-alertmanager"])
def test_the_checkers_are_the_projects_own_unpacked_copies(tool):
    """`make test` unpacks Debian's packages into .tools/ rather than
    installing them: their install scripts would start Prometheus and
    Alertmanager as services on :9090 and :9093, the ports `make up`
    publishes. The copy there runs."""
    if not (PROJECT_TOOLS / tool).exists():
        tool_missing(f"{tool} is not in {PROJECT_TOOLS} (run `make tools`)")
    path = Path(require_tool(tool))
    assert path.parent == PROJECT_TOOLS
    result = run(str(path), "--version")
    assert result.returncode == 0, result.stderr
