"""`python -m stack render|plan`: offline, no Pulumi CLI, clear failures."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from stack.__main__ import COMMANDS
from stack.versions import COMPONENTS, DEFAULT_IMAGE_TAGS, image_reference


def stack_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_plan_lists_every_container_volume_and_image():
    result = stack_cli("plan", "dev")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    for component in COMPONENTS:
        assert any(r.startswith("docker:index/container:Container") and f" obs-{component} " in r for r in rows), component
        assert any(r.startswith("docker:index/volume:Volume") and f"obs-{component}-" in r for r in rows), component
        image = image_reference(component, DEFAULT_IMAGE_TAGS[component])
        assert any(r.startswith("docker:index/remoteImage:RemoteImage") and r.endswith(image) for r in rows), image
    assert "127.0.0.1:3000->3000" in result.stdout
    assert "resources would be created" in rows[-1]


def test_render_writes_every_file_with_secrets_as_placeholders(tmp_path):
    result = stack_cli("render", "dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert "prometheus/etc/prometheus/prometheus.yml" in written
    assert "loki/etc/loki/loki.yaml" in written
    assert "grafana/run/secrets/grafana-admin-password" in written
    assert (tmp_path / "grafana/run/secrets/grafana-admin-password").read_text().startswith("<secret ")


def test_render_of_an_encrypted_secret_shows_a_placeholder_never_the_ciphertext(tmp_path):
    stack_file = tmp_path / "Pulumi.qa.yaml"
    ciphertext = "v1:AAAABBBBCCCCciphertext"
    stack_file.write_text(yaml.safe_dump({"config": {
        "gateway-observability:target": "docker",
        "gateway-observability:grafanaAdminPassword": {"secure": ciphertext},
    }}))
    out = tmp_path / "out"
    result = stack_cli("render", str(stack_file), "--out", str(out))
    assert result.returncode == 0, result.stderr
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert ciphertext not in everything
    assert "<secret grafanaAdminPassword: set with pulumi config set --secret>" in everything


def test_bad_stack_file_gives_one_message_listing_every_problem(tmp_path):
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {
        "gateway-observability:target": "docker",
        "gateway-observability:scrapeInterval": "1s",
        "gateway-observability:retention": {"logs": "1h"},
        "gateway-observability:grafanaAdminPassword": "plain-text",
        "gateway-observability:unknownKey": True,
    }}))
    for command in ("render", "plan"):
        result = stack_cli(command, str(stack_file), "--out", str(tmp_path / "o")) if command == "render" else stack_cli(command, str(stack_file))
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "Invalid configuration" in result.stderr and "(4 problems)" in result.stderr, result.stderr
        for key in ("scrapeInterval", "retention.logs", "grafanaAdminPassword", "unknownKey"):
            assert f"gateway-observability:{key}:" in result.stderr
        assert "plain-text" not in result.stderr


def test_plan_and_render_report_bad_settings_with_the_same_message_and_exit_code(tmp_path):
    stack_file = tmp_path / "Pulumi.qa.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {
        "gateway-observability:scrapeInterval": "1s",
        "gateway-observability:bindAddress": "localhost",
    }}))
    render = stack_cli("render", str(stack_file), "--out", str(tmp_path / "out"))
    plan = stack_cli("plan", str(stack_file))
    assert render.stderr.startswith("Invalid configuration in Pulumi.qa.yaml (3 problems):"), render.stderr
    assert plan.stderr == render.stderr
    assert plan.returncode == render.returncode == 2
    assert plan.stdout == render.stdout == ""
    assert not (tmp_path / "out").exists()


def test_unknown_environment_names_the_known_ones():
    result = stack_cli("render", "nope")
    assert result.returncode == 2
    assert result.stderr == "python -m stack render: no stack file Pulumi.nope.yaml; known environments: dev, prod, staging\n"


@pytest.mark.parametrize("command", ["render", "plan"])
def test_a_missing_stack_file_path_is_one_line_naming_it(command):
    result = stack_cli(command, "./nope.yaml")
    assert result.returncode == 2
    assert result.stderr == (
        f"python -m stack {command}: ./nope.yaml does not exist; give an environment (dev, prod, staging) or the path of a Pulumi.<env>.yaml\n"
    )


def test_help_lists_every_command_with_its_one_line_help():
    result = stack_cli("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name, (help_text, _, _) in COMMANDS.items():
        assert help_text and "\n" not in help_text
        assert sum(1 for line in lines if line.split() == [name, *help_text.split()]) == 1, (name, result.stdout)
    assert set(COMMANDS) == {"render", "plan", "rules", "references", "verify"}


def test_every_command_has_its_own_help():
    for name, (help_text, _, _) in COMMANDS.items():
        result = stack_cli(name, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: python -m stack {name}")
        assert help_text in result.stdout


def test_no_command_is_a_usage_error_not_a_traceback():
    result = stack_cli()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage: python -m stack" in result.stderr and "<command>" in result.stderr


@pytest.mark.parametrize("command", ["render", "plan"])
@pytest.mark.parametrize("name", ["stack.yaml", "Pulumi.yaml", "pulumi.dev.yaml", "Pulumi.dev.yml"])
def test_a_stack_file_not_named_after_its_stack_is_refused_in_one_line(tmp_path, command, name):
    # The stack's name, and so its environment, comes from the file name: no silent "stack" environment.
    stack_file = tmp_path / name
    stack_file.write_text("config:\n  gateway-observability:target: docker\n")
    result = stack_cli(command, str(stack_file), *(["--out", str(tmp_path / "out")] if command == "render" else []))
    assert result.returncode == 2
    assert result.stderr == (
        f"python -m stack {command}: {stack_file}: a stack file must be named Pulumi.<stack>.yaml: "
        "the stack's name, and so its environment, is taken from it\n"
    )
    assert not (tmp_path / "out").exists()


def test_render_names_the_environment_it_wrote_files_for(tmp_path):
    stack_file = tmp_path / "Pulumi.qa.yaml"
    stack_file.write_text("config:\n  gateway-observability:target: docker\n")
    result = stack_cli("render", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Wrote ") and f" files for qa to {tmp_path / 'out'}\n" in result.stdout
    assert "Pulumi.qa.yaml" not in result.stdout
    # An environment set in the file is the one named, whatever the stack is called.
    stack_file.write_text("config:\n  gateway-observability:target: docker\n  gateway-observability:environment: staging\n")
    result = stack_cli("render", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Wrote ") and " files for staging to " in result.stdout


def missing_secret_stack(tmp_path, **extra):
    stack_file = tmp_path / "Pulumi.qa.yaml"
    stack_file.write_text(yaml.safe_dump({"config": {
        "gateway-observability:target": "docker",
        "gateway-observability:alerting": {"routing": {"receivers": [{"name": "pager", "pagerduty": {}}], "critical": ["pager"]}},
        "gateway-observability:logs": {"storage": {"type": "azure", "azure": {"accountName": "gatewaylogs", "container": "loki"}}},
        **extra,
    }}))  # fmt: skip
    return stack_file


@pytest.mark.parametrize("command", ["render", "plan"])
def test_a_secret_the_file_lacks_is_a_placeholder_and_a_note_naming_the_stack(tmp_path, command):
    """Secrets are never committed, so a stack file may lack them until the
    operator sets them: the previews go on, and say `pulumi up` will not."""
    stack_file = missing_secret_stack(tmp_path)
    out = tmp_path / "out"
    result = stack_cli(command, str(stack_file), *(["--out", str(out)] if command == "render" else []))
    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert notes[0] == "Note: `pulumi up` refuses Pulumi.qa.yaml until these 2 secrets are set (placeholders stand in for them here):"
    assert notes[1].startswith("  - gateway-observability:receiverSecrets.pager: required for the pagerduty receiver 'pager'")
    assert "`make secret ENV=qa KEY=objectStoreAccountKey`" in notes[2]
    assert len(notes) == 3
    if command == "render":
        placeholder = (out / "alertmanager/etc/alertmanager/secrets/pager").read_text()
        assert placeholder.strip() == "<secret receiverSecrets.pager: set with pulumi config set --secret>"
    else:
        assert "obs-alertmanager" in result.stdout and "resources would be created" in result.stdout


def test_a_missing_secret_among_other_problems_is_a_note_as_it_is_alone(tmp_path):
    """Issue 19: a missing secret was a problem next to others and a note on
    its own. For render and plan it is always a note, said after the problems."""
    stack_file = missing_secret_stack(tmp_path, **{"gateway-observability:scrapeInterval": "fast"})
    result = stack_cli("render", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    problems, _, note = result.stderr.partition("Note: `pulumi up` also refuses")
    assert "(1 problem)" in problems and "gateway-observability:scrapeInterval: given 'fast'" in problems
    assert "receiverSecrets.pager" not in problems
    assert "gateway-observability:receiverSecrets.pager: required" in note
