"""The rendered files judged by the programs that will read them."""

from __future__ import annotations

import subprocess

from conftest import require_tool


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
