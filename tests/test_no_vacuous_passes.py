"""The mock tests must be able to fail: run them against a deliberately broken
copy of the program and expect failures, not a silent pass."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT

BREAKAGES = {
    # A target that forgets its containers: nothing is deployed.
    "containers dropped": (
        "            self.containers[spec.name] = self._container(settings, spec, networks, child)",
        "            pass",
    ),
    # A target that publishes ports on every interface.
    "ports on 0.0.0.0": ("ip=settings.bind_address", 'ip="0.0.0.0"'),
}


def _broken_copy(tmp_path, original: str, replacement: str):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", "rendered", ".pulumi-state", ".tools"))
    target = copy / "stack/targets/docker.py"
    source = target.read_text()
    assert original in source, "the breakage no longer applies: update this test"
    target.write_text(source.replace(original, replacement))
    return copy


def _run_mock_tests(repo) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_docker_target.py"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_mock_tests_fail_when_the_program_deploys_nothing(tmp_path):
    result = _run_mock_tests(_broken_copy(tmp_path, *BREAKAGES["containers dropped"]))
    assert result.returncode == 1, result.stdout[-2000:]
    assert " failed" in result.stdout


def test_mock_tests_fail_when_ports_leave_the_bind_address(tmp_path):
    result = _run_mock_tests(_broken_copy(tmp_path, *BREAKAGES["ports on 0.0.0.0"]))
    assert result.returncode == 1, result.stdout[-2000:]
    assert "FAILED tests/test_docker_target.py::test_ports_are_published_only_on_the_bind_address" in result.stdout
    assert "1 failed" in result.stdout, result.stdout[-2000:]
