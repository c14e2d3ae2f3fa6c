"""`make up`, `make secret` and `make config` with stand-in `pulumi` and
`docker` executables: the exact commands they run, the local backend and
passphrase every pulumi command uses, secrets kept off command lines, and the
message when a prerequisite is missing. Also `make help`."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

# What scripts/up.sh and make need from the system, linked into an otherwise empty PATH.
SYSTEM_TOOLS = ("bash", "make", "mkdir", "head", "base64", "tr", "dirname", "cat", "env")

# Logs its command line and environment; `pulumi config set` also keeps what it read on stdin.
STAND_IN = """#!/bin/bash
echo "${0##*/} $* | backend=${PULUMI_BACKEND_URL:-} passphrase_file=${PULUMI_CONFIG_PASSPHRASE_FILE:-}" >> "$CALLS"
[ "${0##*/} $1 $2" != "pulumi config set" ] || cat >> "$CALLS.stdin"
[ "${0##*/} $1" != "docker info" ] || exit "${DOCKER_INFO_EXIT:-0}"
"""


# What still works when the CLI or the engine is missing (issue 19).
OFFLINE = (
    "make up: meanwhile, without it: make plan ENV=dev (what pulumi up would create), "
    "make render ENV=dev (every generated file, in rendered/), make demo (the demo gateway on 127.0.0.1)"
)


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


def run_make(sandbox: Path, *arguments: str, stdin: str = "", **env) -> subprocess.CompletedProcess:
    environment = {
        "PATH": str(sandbox / "bin"),
        "HOME": str(sandbox),
        "CALLS": str(sandbox / "calls.log"),
        "PULUMI_STATE_DIR": str(sandbox / "state"),
        **env,
    }
    # -o: treat the virtualenv as up to date; the test runs inside it already.
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", *arguments],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_up(sandbox: Path, **env) -> subprocess.CompletedProcess:
    return run_make(sandbox, "up", **env)


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
    assert OFFLINE in result.stderr
    assert "Traceback" not in result.stderr
    assert calls(sandbox) == []


def test_make_up_without_docker_says_what_to_install(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = make_up(sandbox)
    assert result.returncode != 0
    assert "make up: Docker is not installed" in result.stderr
    assert OFFLINE in result.stderr
    assert calls(sandbox) == []


def test_make_up_with_a_stopped_docker_engine_says_to_start_it(sandbox):
    add_stand_in(sandbox, "pulumi")
    add_stand_in(sandbox, "docker")
    result = make_up(sandbox, DOCKER_INFO_EXIT="1")
    assert result.returncode != 0
    assert "no Docker engine answers" in result.stderr
    assert OFFLINE in result.stderr
    assert not any(call.startswith("pulumi") for call in calls(sandbox))


def test_make_up_for_a_kubernetes_stack_needs_a_kubeconfig_not_docker(sandbox):
    add_stand_in(sandbox, "pulumi")  # and no docker at all
    missing = run_make(sandbox, "up", "ENV=staging")
    assert missing.returncode != 0
    assert f"no kubeconfig at {sandbox}/.kube/config; set KUBECONFIG to the cluster's kubeconfig" in missing.stderr
    assert calls(sandbox) == []

    kubeconfig = sandbox / "cluster.yaml"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = run_make(sandbox, "up", "ENV=staging", KUBECONFIG=str(kubeconfig))
    assert result.returncode == 0, result.stderr
    assert calls(sandbox)[-1].startswith("pulumi up --stack staging |")


def test_passphrase_and_state_are_git_ignored():
    ignored = subprocess.run(
        ["git", "check-ignore", ".pulumi-state/passphrase", ".venv/x"], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout.split() == [".pulumi-state/passphrase", ".venv/x"]


# --- make secret / make config: the same backend and passphrase -------------

SECRET = "hunter2-s3cret-value"


def local_backend(sandbox: Path) -> str:
    state = sandbox / "state"
    return f"| backend=file://{state} passphrase_file={state}/passphrase"


def test_make_secret_reads_the_value_from_stdin_and_stores_it_on_the_local_backend(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = run_make(sandbox, "secret", "KEY=grafanaAdminPassword", stdin=SECRET + "\n")
    assert result.returncode == 0, result.stderr
    context = local_backend(sandbox)
    assert calls(sandbox) == [
        f"pulumi stack select dev --create --secrets-provider passphrase {context}",
        f"pulumi config set --stack dev --secret -- grafanaAdminPassword {context}",
    ]
    assert (sandbox / "calls.log.stdin").read_text() == SECRET + "\n"
    # Never on a command line, never echoed.
    assert SECRET not in (sandbox / "calls.log").read_text()
    assert SECRET not in result.stdout + result.stderr
    assert "created the secrets passphrase" in result.stdout


def test_make_secret_sets_a_receiver_credential_by_path(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = run_make(sandbox, "secret", "ENV=prod", "KEY=receiverSecrets.oncall-pager", stdin=SECRET)
    assert result.returncode == 0, result.stderr
    context = local_backend(sandbox)
    assert calls(sandbox) == [
        f"pulumi stack select prod --create --secrets-provider passphrase {context}",
        f"pulumi config set --stack prod --secret --path -- receiverSecrets.oncall-pager {context}",
    ]
    assert SECRET not in (sandbox / "calls.log").read_text()


def test_make_secret_and_make_up_share_one_backend_and_passphrase(sandbox):
    add_stand_in(sandbox, "pulumi")
    add_stand_in(sandbox, "docker")
    run_make(sandbox, "secret", "KEY=grafanaAdminPassword", stdin=SECRET)
    passphrase = (sandbox / "state/passphrase").read_text()
    up = make_up(sandbox)
    assert up.returncode == 0, up.stderr
    assert (sandbox / "state/passphrase").read_text() == passphrase
    assert "created the secrets passphrase" not in up.stdout
    pulumi_calls = [c for c in calls(sandbox) if c.startswith("pulumi ")]
    assert len(pulumi_calls) == 4
    assert all(c.endswith(local_backend(sandbox)) for c in pulumi_calls), pulumi_calls


def test_make_secret_without_a_key_says_how_and_runs_nothing(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = run_make(sandbox, "secret", stdin=SECRET)
    assert result.returncode != 0
    assert "make secret: say which secret: make secret KEY=grafanaAdminPassword" in result.stderr
    assert calls(sandbox) == []


def test_make_secret_without_pulumi_says_what_to_install(sandbox):
    result = run_make(sandbox, "secret", "KEY=grafanaAdminPassword", stdin=SECRET)
    assert result.returncode != 0
    assert "make secret: the Pulumi CLI is not installed" in result.stderr


def test_make_config_sets_a_plain_setting_on_the_local_backend(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = run_make(sandbox, "config", "KEY=alerting.thresholds.hourlyBudgetUsd", "VALUE=250")
    assert result.returncode == 0, result.stderr
    context = local_backend(sandbox)
    assert calls(sandbox) == [
        f"pulumi stack select dev --create --secrets-provider passphrase {context}",
        f"pulumi config set --stack dev --path -- alerting.thresholds.hourlyBudgetUsd 250 {context}",
    ]


def test_make_config_passes_values_with_shell_characters_unchanged(sandbox):
    add_stand_in(sandbox, "pulumi")
    # (make itself expands $(...) in command-line variables, as in any makefile.)
    value = "https://wiki.example.com/`id`; echo 'x' \"{alertname}\""
    result = run_make(sandbox, "config", "KEY=alerting.runbookBaseUrl", f"VALUE={value}")
    assert result.returncode == 0, result.stderr
    assert calls(sandbox)[-1].startswith(f"pulumi config set --stack dev --path -- alerting.runbookBaseUrl {value} |")


def test_make_config_without_a_value_says_how_and_runs_nothing(sandbox):
    add_stand_in(sandbox, "pulumi")
    result = run_make(sandbox, "config", "KEY=gatewayNetwork")
    assert result.returncode != 0
    assert "make config: say the value: make config KEY=gatewayNetwork VALUE=<value>" in result.stderr
    assert calls(sandbox) == []


# --- make help ---------------------------------------------------------------


def makefile_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    return re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE)


def test_make_help_lists_every_target_with_one_line_each():
    result = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    targets = makefile_targets()
    assert {"up", "down", "secret", "config", "plan", "render", "rules", "test", "help"} <= set(targets)
    lines = result.stdout.splitlines()
    for target in targets:
        described = [line for line in lines if line.split()[:2] == ["make", target]]
        assert len(described) == 1, (target, result.stdout)
        assert len(described[0].split()) > 3, f"make {target} has no description"
    assert len(lines) == len(targets) + 1  # a usage line, then one line per target


def test_make_without_a_target_prints_the_help():
    plain = subprocess.run(["make", "--no-print-directory"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    help_ = subprocess.run(["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0
    assert plain.stdout == help_.stdout


# --- the docs ------------------------------------------------------------------


def test_the_docs_set_config_and_secrets_only_through_make():
    """`pulumi config set` on its own uses the user's default backend, not the
    project's: every command the README or docs/ tell a user to run goes through make."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    text = "\n".join(page.read_text() for page in pages)
    commands = re.findall(r"`([^`\n]+)`", text) + re.findall(r"^\s*(pulumi .*)$", text, flags=re.MULTILINE)
    # A command to run has arguments; the bare name in prose only explains what make runs.
    bare = [c for c in commands if c.startswith("pulumi config set ")]
    assert not bare, f"the docs tell users to run {bare}; use make secret / make config"
    assert "make secret ENV=prod KEY=receiverSecrets." in text
