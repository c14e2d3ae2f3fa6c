"""No input gives a traceback: every bad command line, stack file, output
folder and settings value ends in one message on stderr and exit code 2.

The settings cases are generated (tests/settings_paths.py): every path of the
`Settings` model (through nested models, lists and maps) and every secret key
gets every malformed value, each written into an otherwise valid temporary
Pulumi.<env>.yaml and run through the CLI's entry point in-process
(`stack.__main__.main`), plus a few through a real `python -m stack` process.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from settings_paths import KINDS, MALFORMED_VALUES, key_of, settings_paths_with_kinds, stack_file_config

from stack.__main__ import main

EXIT_INVALID = 2


def run_cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the CLI run in this process. An
    exception escaping `main` is what a user would see as a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_one_message(stderr: str) -> None:
    """One line; or the settings block: its header and one line per problem."""
    lines = stderr.splitlines()
    assert lines and "Traceback" not in stderr, stderr
    if lines[0].startswith("Invalid configuration in "):
        assert all(line.startswith("  - ") for line in lines[1:]) and len(lines) > 1, stderr
    else:
        assert len(lines) == 1, stderr


def write_stack_file(folder: Path, content: str | bytes) -> Path:
    path = folder / "Pulumi.qa.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# --- the command line itself ---------------------------------------------


def test_out_pointing_at_a_file_is_refused_in_one_line(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    code, _, stderr = run_cli("render", "dev", "--out", str(a_file))
    assert code == EXIT_INVALID
    assert stderr == f"python -m stack render: {a_file} is a file, not a folder; choose a folder for the rendered files\n"
    assert a_file.read_text() == "mine"


@pytest.mark.parametrize(
    "where",
    [
        "/proc/forbidden",  # tests run as root: a read-only mode bit would not stop them, /proc does
        "{tmp}/notes.txt/rendered",  # a folder under a file
    ],
)
def test_an_unwritable_out_folder_is_one_line_naming_it(tmp_path, where):
    (tmp_path / "notes.txt").write_text("mine")
    out = where.format(tmp=tmp_path)
    code, stdout, stderr = run_cli("render", "dev", "--out", out)
    assert code == EXIT_INVALID
    assert stderr.startswith(f"python -m stack render: cannot write {out}: ")
    assert_one_message(stderr)
    assert stdout == ""


@pytest.mark.parametrize("command", ["render", "plan"])
@pytest.mark.parametrize(
    "env, message",
    [
        ("./nope.yaml", "./nope.yaml does not exist; give an environment (dev, prod, staging) or the path of a Pulumi.<env>.yaml"),
        ("nope", "no stack file Pulumi.nope.yaml; known environments: dev, prod, staging"),
        ("stack/", "stack/ is a folder, not a stack file; give an environment (dev, prod, staging) or the path of a Pulumi.<env>.yaml"),
    ],
)
def test_a_missing_stack_file_or_unknown_environment_is_one_line(command, env, message):
    code, _, stderr = run_cli(command, env)
    assert code == EXIT_INVALID
    assert stderr == f"python -m stack {command}: {message}\n"


# Whole files that are not a stack file's shape. The wording belongs to the
# settings layer; the CLI's part is one message, no traceback, exit code 2.
BAD_FILES = {
    "empty file": "",
    "only a comment": "# nothing here\n",
    "a list, not a mapping": "- a\n",
    "a number": "42\n",
    "config is a list": "config:\n  - a\n",
    "config is text": "config: docker\n",
    "keys without the namespace": "config:\n  target: docker\n",
    "a number as a key": "config:\n  1: docker\n",
    "null as a key": "config:\n  ~: docker\n",
    "a list as a key": "config:\n  ? [a]\n  : docker\n",
    "yaml syntax error: unclosed bracket": "config:\n  gateway-observability:target: [docker\n",
    "yaml syntax error: tab indentation": "config:\n\tgateway-observability:target: docker\n",
    "yaml syntax error: bad escape": 'config:\n  gateway-observability:target: "\\q"\n',
    "yaml syntax error: unknown tag": "config:\n  gateway-observability:target: !python/object:os.system x\n",
    "not utf-8": b"config:\n  gateway-observability:target: \xff\xfe\n",
    "a recursive alias": "config:\n  gateway-observability:target: docker\n  gateway-observability:gatewayServices: &a [*a]\n",
}


@pytest.mark.parametrize("command", ["render", "plan"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_malformed_stack_file_is_one_message_with_exit_code_2(tmp_path, command, case):
    stack_file = write_stack_file(tmp_path, BAD_FILES[case])
    argv = [command, str(stack_file)] + (["--out", str(tmp_path / "out")] if command == "render" else [])
    code, stdout, stderr = run_cli(*argv)
    assert code == EXIT_INVALID, (stdout, stderr)
    assert_one_message(stderr)
    assert "Pulumi.qa.yaml" in stderr
    assert not (tmp_path / "out").exists()


# --- generated: malformed values at every settings path -------------------


SETTINGS_PATHS = settings_paths_with_kinds()


def stack_file_with(folder: Path, path: tuple, value: Any) -> Path:
    text = yaml.safe_dump({"config": stack_file_config(path, value)}, sort_keys=False, allow_unicode=True)
    return write_stack_file(folder, text)


_RESULTS: dict[tuple, list[tuple[str, int, str, Path]]] = {}


def _run_every_value(tmp_path: Path, path: tuple) -> list[tuple[str, int, str, Path]]:
    """Per malformed value: (label, exit code or -1 for an exception, stderr
    or the exception, the case's folder). Run once per path for both tests."""
    if path in _RESULTS:
        return _RESULTS[path]
    results = []
    for number, (label, (value, _)) in enumerate(MALFORMED_VALUES.items()):
        case = tmp_path / str(number)
        case.mkdir()
        stack_file = stack_file_with(case, path, value)
        try:
            code, _, stderr = run_cli("render", str(stack_file), "--out", str(case / "out"))
        except BaseException as error:  # what `python -m stack` would print as a traceback
            code, stderr = -1, f"{type(error).__name__}: {error}"[:300]
        results.append((label, code, stderr, case))
    _RESULTS[path] = results
    return results


@pytest.mark.parametrize(("path", "kind", "optional"), SETTINGS_PATHS, ids=[key_of(p) for p, _, _ in SETTINGS_PATHS])
def test_no_malformed_value_at_any_settings_path_gives_a_traceback(tmp_path, path, kind, optional):
    tracebacks = [f"{label}: {stderr}" for label, code, stderr, _ in _run_every_value(tmp_path, path) if code == -1]
    assert not tracebacks, f"{key_of(path)} ({kind}):\n" + "\n".join(tracebacks)


_PLANNED: set[tuple[str, str]] = set()


@pytest.mark.parametrize(("path", "kind", "optional"), SETTINGS_PATHS, ids=[key_of(p) for p, _, _ in SETTINGS_PATHS])
def test_plan_of_a_value_render_accepts_gives_no_traceback(tmp_path, path, kind, optional):
    """`plan` runs the real program under the mocks, which reads config as
    Pulumi hands it over (strings): values the file loader accepts must not
    break it. One per kind of field and value, to keep the suite fast."""
    problems = []
    for label, code, _, case in _run_every_value(tmp_path, path):
        if code != 0 or (kind, label) in _PLANNED:
            continue
        _PLANNED.add((kind, label))
        try:
            plan_code, _, stderr = run_cli("plan", str(case / "Pulumi.qa.yaml"))
        except BaseException as error:
            problems.append(f"{label}: {type(error).__name__}: {error}"[:300])
            continue
        if plan_code != 0:
            try:
                assert plan_code == EXIT_INVALID
                assert_one_message(stderr)
            except AssertionError as error:
                problems.append(f"{label}: {error}")
    assert not problems, f"{key_of(path)} ({kind}):\n" + "\n".join(problems)


@pytest.mark.parametrize(("path", "kind", "optional"), SETTINGS_PATHS, ids=[key_of(p) for p, _, _ in SETTINGS_PATHS])
def test_every_malformed_value_at_any_settings_path_is_refused_with_exit_code_2(tmp_path, path, kind, optional):
    wrong = []
    for label, code, stderr, case in _run_every_value(tmp_path, path):
        value, wrong_for = MALFORMED_VALUES[label]
        certainly_wrong = kind in wrong_for and not (value is None and optional)
        if code == -1:
            continue  # reported by the traceback test above
        if certainly_wrong and code != EXIT_INVALID:
            wrong.append(f"{label}: accepted (exit {code})")
        elif code == EXIT_INVALID:
            try:
                assert_one_message(stderr)
                # The file's loader, or (render on Kubernetes runs the program for its
                # manifests, as plan does) the program reading the config as Pulumi hands it.
                assert stderr.startswith(("Invalid configuration in Pulumi.qa.yaml", "Invalid configuration in the config of stack 'qa'")), stderr
                assert not (case / "out").exists(), "a refused render wrote files"
            except AssertionError as error:
                wrong.append(f"{label}: {error}")
        elif code != 0:
            wrong.append(f"{label}: exit {code}: {stderr}")
    assert not wrong, f"{key_of(path)} ({kind}):\n" + "\n".join(wrong)


def test_the_generator_covers_every_settings_path_kind():
    kinds = {kind for _, kind, _ in SETTINGS_PATHS}
    assert kinds == KINDS
    paths = {key_of(p).split(":", 1)[1] for p, _, _ in SETTINGS_PATHS}
    # A few that need the walk through lists, maps and optional models to be found at all.
    for expected in (
        "gatewayServices[0].address",
        "resources.loki.memory",
        "alerting.slos.kong.latencyThresholdSeconds",
        "alerting.routing.receivers[0].email.smarthost",
        "alerting.routing.teams[0].services[0]",
        "logs.storage.s3.bucket",
        "traces.opensearch.serverUrls[0]",
        "receiverSecrets.gateway-slack",
    ):
        assert expected in paths


# A handful through a real process: what a user's shell sees.
SUBPROCESS_CASES = [
    ("render", ("scrapeInterval",), float("inf")),
    ("plan", ("scrapeInterval",), float("inf")),
    ("render", ("alerting", "routing", "receivers", 0, "slack", "channel"), {"☃": [None]}),
    ("plan", ("gatewayServices", 0, "address"), MALFORMED_VALUES["40 levels deep"][0]),
    ("plan", ("resources", "prometheus", "cpus"), "ünïcödé"),
    ("render", ("grafanaAdminPassword",), [1, 2]),
]


@pytest.mark.parametrize(("command", "path", "value"), SUBPROCESS_CASES, ids=[f"{c}-{key_of(p)}" for c, p, _ in SUBPROCESS_CASES])
def test_malformed_values_through_a_real_process_give_one_message_and_exit_code_2(tmp_path, command, path, value):
    stack_file = stack_file_with(tmp_path, path, value)
    argv = [command, str(stack_file)] + (["--out", str(tmp_path / "out")] if command == "render" else [])
    result = subprocess.run([sys.executable, "-m", "stack", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_INVALID, result.stderr
    assert_one_message(result.stderr)
    assert result.stderr.startswith("Invalid configuration in Pulumi.qa.yaml")
    assert result.stdout == ""
