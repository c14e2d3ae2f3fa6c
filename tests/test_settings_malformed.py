"""No input reaches the operator as a traceback: every malformed value at every
settings path, given directly or through a stack file, ends in one
SettingsError whose every line is about that path (the path itself, a key
under it, or the section around it)."""

from __future__ import annotations

import pytest
import yaml
from settings_paths import (
    DIRECT_ONLY,
    ENCRYPTED_SECRETS,
    MALFORMED,
    NEVER_VALID,
    config_with,
    key_of,
    settings_paths,
    settings_paths_with_kinds,
    stack_file_config,
)

from stack.settings import PROJECT, SECRET_KEYS, SettingsError, load_from_stack_file, parse_settings
from stack.settings.errors import show

PATHS = settings_paths()


def _about(problem: str, path: tuple) -> bool:
    """The problem's key is the path, a key under it, or a section enclosing it."""
    key, path_key = problem.split(": ", 1)[0], key_of(path)
    return any(a == b or a.startswith(b + ".") or a.startswith(b + "[") for a, b in ((key, path_key), (path_key, key)))


def _refused(path: tuple, values: list, parse) -> list:
    """The values refused at `path`; each refusal must be a SettingsError about that path."""
    refused = []
    for value in values:
        try:
            parse(path, value)
        except SettingsError as error:
            assert error.problems and "Traceback" not in str(error)
            strays = [p for p in error.problems if not _about(p, path)]
            assert not strays, f"{value!r} at {key_of(path)} reported elsewhere: {strays}"
            refused.append(value)
    return refused


def _parse_directly(path: tuple, value) -> None:
    parse_settings(config_with(path, value), "test", "direct")


def test_the_paths_reach_every_part_of_the_model():
    keys = {key_of(p) for p in PATHS}
    for expected in (
        "gateway-observability:gatewayServices[0].metricsPath",
        "gateway-observability:resources.loki.cpus",
        "gateway-observability:alerting.slos.kong.latencyThresholdSeconds",
        "gateway-observability:alerting.routing.receivers[0].email.authUsername",
        "gateway-observability:alerting.routing.teams[0].services[0]",
        "gateway-observability:alerting.routing.businessHours.end",
        "gateway-observability:logs.storage.s3.bucket",
        "gateway-observability:traces.opensearch.serverUrls[0]",
    ):
        assert expected in keys
    assert len(PATHS) > 80


@pytest.mark.parametrize("path", PATHS, ids=key_of)
def test_malformed_values_at_every_path_are_settings_errors_about_it(path):
    assert _refused(path, NEVER_VALID, _parse_directly) == NEVER_VALID
    _refused(path, MALFORMED + DIRECT_ONLY, _parse_directly)


def _stack_file_parser(tmp_path):
    stack_file = tmp_path / "Pulumi.test.yaml"

    def parse(path: tuple, value) -> None:
        stack_file.write_text(yaml.safe_dump({"config": stack_file_config(path, value)}, allow_unicode=True))
        load_from_stack_file(stack_file)

    return parse


@pytest.mark.parametrize("path", PATHS + [(key,) for key in SECRET_KEYS], ids=key_of)
def test_malformed_values_in_a_stack_file_are_settings_errors_about_the_key(path, tmp_path):
    parse = _stack_file_parser(tmp_path)
    assert _refused(path, NEVER_VALID, parse) == NEVER_VALID
    _refused(path, MALFORMED, parse)


def test_the_stack_file_scaffold_alone_is_valid(tmp_path):
    stack_file = tmp_path / "Pulumi.test.yaml"
    config = {f"{PROJECT}:{k}": v for k, v in {"target": "docker", **ENCRYPTED_SECRETS}.items()}
    stack_file.write_text(yaml.safe_dump({"config": config}))
    assert load_from_stack_file(stack_file).settings.target == "docker"


@pytest.mark.parametrize("value", MALFORMED + DIRECT_ONLY, ids=lambda v: show(v)[:20])
def test_malformed_sections_together_are_one_settings_error(value):
    raw = {"target": "docker", "alerting": value, "logs": value, "traces": value, "gatewayServices": value}
    try:
        parse_settings(raw, "test", "direct")
    except SettingsError as error:
        assert all(p.startswith(f"{PROJECT}:") for p in error.problems)
    else:
        assert value == {}  # empty sections are the defaults


SWITCHES = [p.path for p in settings_paths_with_kinds() if p.kind == "bool"]


def test_the_model_has_switches_to_check():
    assert {key_of(p).rpartition(".")[2] for p in SWITCHES} >= {"enabled", "requireTls", "bearerToken", "forcePathStyle", "insecure"}


@pytest.mark.parametrize("path", SWITCHES, ids=key_of)
def test_every_switch_takes_true_or_false_and_nothing_pydantic_would_guess(path):
    """One rule for every boolean setting: `yes`, `on` or 1 is more likely a
    typo than a decision, so each is refused in words; `true`/`false`, also
    as text (how `pulumi config set --path` may store them), are accepted."""
    assert _refused(path, ["yes", "on", 1, 0, "True "], _parse_directly) == ["yes", "on", 1, 0, "True "]
    assert _refused(path, [True, False, "true", "false"], _parse_directly) == []
