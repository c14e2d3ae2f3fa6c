"""`make up` with stand-in `pulumi` and `docker` executables: the exact commands
it runs, the local backend and passphrase it uses, and its message when a
prerequisite is missing."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

# What scripts/up.sh and make need from the system, linked into an otherwise empty PATH.
SYSTEM_TOOLS = ("bash", "make", "mkdir", "head", "base64", "tr", "dirname", "cat", "env")

STAND_IN = """#!/bin/bash
echo "${0##*/} $* | backend=${PULUMI_BACKEND_URL:-} passphrase_file=${PULUMI_CONFIG_PASSPHRASE_FILE:-}" >> "$CALLS"
[ "${0##*/} $1" != "docker info" ] || exit "${DOCKER_INFO_EXIT:-0}"
"""


@pytest.fixture
def sandbox(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in SYSTEM_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run make up"
        (bin_dir / tool).symlink_to(found)
    return tmp_path


def add_stand_in(sandbox: Path, name: str) -> None:
    path = sandbox / "bin" / name
    path.write_text(STAND_IN)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def make_up(sandbox: Path, **env) -> subprocess.CompletedProcess:
    environment = {
        "PATH": str(sandbox / "bin"),
        "HOME": str(sandbox),
        "CALLS": str(sandbox / "calls.log"),
        "PULUMI_STATE_DIR": str(sandbox / "state"),
        **env,
    }
    # -o: treat the virtualenv as up to date; the test runs inside it already.
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "up"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def calls(sandbox: Path) -> list[str]:
    log = sandbox / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_make_up_deploys_dev_on_the_local_backend_with_a_passphrase(sandbox):
    add_stand_in(sandbox, "pulumi")
    add_stand_in(sandbox, "docker")
    result = make_up(sandbox)
    assert result.returncode == 0, result.stderr
    state = sandbox / "state"
    context = f"| backend=file://{state} passphrase_file={state}/passphrase"
    assert calls(sandbox) == [
        "docker info | backend= passphrase_file=",
        f"pulumi stack select dev --create --secrets-provider passphrase {context}",
        f"pulumi up --stack dev {context}",
    ]
    passphrase = state / "passphrase"
    assert len(passphrase.read_text()) >= 32
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert "created the secrets passphrase" in result.stdout


def test_make_up_keeps_the_passphrase_of_the_first_run(sandbox):
    add_stand_in(sandbox, "pulumi")
    add_stand_in(sandbox, "docker")
    make_up(sandbox)
    first = (sandbox / "state/passphrase").read_text()
    second_run = make_up(sandbox)
    assert second_run.returncode == 0
    assert (sandbox / "state/passphrase").read_text() == first
    assert "created the secrets passphrase" not in second_run.stdout


def test_make_up_without_pulumi_says_what_to_install(sandbox):
    add_stand_in(sandbox, "docker")
    result = make_up(sandbox)
    assert result.returncode != 0
    assert "make up: the Pulumi CLI is not installed; install it from https://www.pulumi.com/docs/iac/download-install/" in result.stderr
    assert "Traceback" not in result.stderr
    assert calls(sandbox) == []


def test_make_up_without_docker_says_what_to_install(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = make_up(sandbox)
    assert result.returncode != 0
    assert "make up: Docker is not installed" in result.stderr
    assert calls(sandbox) == []


def test_make_up_with_a_stopped_docker_engine_says_to_start_it(sandbox):
    add_stand_in(sandbox, "pulumi")
    add_stand_in(sandbox, "docker")
    result = make_up(sandbox, DOCKER_INFO_EXIT="1")
    assert result.returncode != 0
    assert "no Docker engine answers" in result.stderr
    assert not any(call.startswith("pulumi") for call in calls(sandbox))


def test_passphrase_and_state_are_git_ignored():
    ignored = subprocess.run(
        ["git", "check-ignore", ".pulumi-state/passphrase", ".venv/x"], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.split() == [".pulumi-state/passphrase", ".venv/x"]
