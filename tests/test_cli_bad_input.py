"""No input gives a traceback: every bad command line, stack file, output
folder and settings value ends in one message on stderr and exit code 2.

The settings cases are generated: every path of the `Settings` model (through
nested models, lists and maps) and every secret key gets a set of malformed
values, each written into a temporary Pulumi.<env>.yaml and run through the
CLI's entry point in-process (`stack.__main__.main`), plus a few through a
real `python -m stack` process.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import subprocess
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from conftest import ROOT
from pydantic import BaseModel

from stack.__main__ import main
from stack.settings import PROJECT, SECRET_KEYS, Settings

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
        ("./nope.yaml", "./nope.yaml does not exist; give an environment (dev) or the path of a Pulumi.<env>.yaml"),
        ("nope", "no stack file Pulumi.nope.yaml; known environments: dev"),
        ("stack/", "stack/ is a folder, not a stack file; give an environment (dev) or the path of a Pulumi.<env>.yaml"),
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


def _unwrap(annotation: Any) -> tuple[Any, list, bool]:
    """(bare type, Annotated metadata, optional) of an annotation."""
    metadata, optional = [], False
    while True:
        if get_origin(annotation) is Annotated:
            metadata += list(annotation.__metadata__)
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(get_args(annotation))
            assert len(args) == 1, f"a union the generator does not know: {annotation}"
            annotation = args[0]
        else:
            return annotation, metadata, optional


def _kind(annotation: Any, metadata: list) -> tuple[str, bool]:
    """What a field holds, as far as which values are certainly wrong for it:
    model, list, dict, bool, number, text (any string) or checked (a string
    or value with a pattern or validator); and whether null is allowed."""
    bare, inner, optional = _unwrap(annotation)
    metadata = metadata + inner
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return "model", optional
    if get_origin(bare) in (list, tuple):
        return "list", optional
    if get_origin(bare) is dict:
        return "dict", optional
    if bare is bool:
        return "bool", optional
    if bare in (int, float):
        parses_itself = any(type(m).__name__ == "BeforeValidator" for m in metadata)
        return ("checked" if parses_itself else "number"), optional
    if bare is str and not metadata:
        return "text", optional
    return "checked", optional


def _paths(model: type[BaseModel], prefix: tuple = ()) -> list[tuple[tuple, str, bool]]:
    found = []
    for name, field in model.model_fields.items():
        path = prefix + (field.alias or name,)
        found += _annotation_paths(field.annotation, list(field.metadata), path)
    return found


def _annotation_paths(annotation: Any, metadata: list, path: tuple) -> list[tuple[tuple, str, bool]]:
    kind, optional = _kind(annotation, metadata)
    found = [(path, kind, optional)]
    bare, _, _ = _unwrap(annotation)
    if kind == "model":
        found += _paths(bare, path)
    elif kind == "list":
        item = [a for a in get_args(bare) if a is not Ellipsis][0]
        found += _annotation_paths(item, [], path + (0,))
    elif kind == "dict":
        key_type, value_type = get_args(bare)
        key_bare, _, _ = _unwrap(key_type)
        key = get_args(key_bare)[0] if get_origin(key_bare) is Literal else "kong"
        found += _annotation_paths(value_type, [], path + (key,))
    return found


SETTINGS_PATHS = _paths(Settings) + [((key,), "secret", False) for key in SECRET_KEYS] + [
    (("receiverSecrets", "gateway-slack"), "secret", False)
]


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [{"a": value}]
    return value


ALL = {"model", "list", "dict", "bool", "number", "text", "checked", "secret"}
CONTAINERS = {"model", "list", "dict", "secret"}
# label -> (value, the field kinds it is certainly wrong for). Values right for
# some kinds (a string for a text field, 0.5 for a number) still run there:
# whatever the verdict, it must come without a traceback.
MALFORMED: dict[str, tuple[Any, set[str]]] = {
    "null": (None, ALL),
    "true": (True, CONTAINERS | {"text", "checked"}),
    "zero": (0, CONTAINERS | {"text", "checked"}),
    "-1": (-1, CONTAINERS | {"text", "checked", "bool"}),
    "0.5": (0.5, CONTAINERS | {"text", "checked", "bool"}),
    "10**30": (10**30, CONTAINERS | {"text", "checked", "bool"}),
    "-10**30": (-(10**30), ALL),  # every number setting has a lower bound
    "1e400": (float("inf"), ALL),
    "-1e400": (float("-inf"), ALL),
    "nan": (float("nan"), ALL),
    "text 1e400": ("1e400", CONTAINERS | {"bool", "number"}),
    "empty text": ("", CONTAINERS | {"bool", "number", "checked"}),
    "unicode": ("ünïcödé ☃ 🚀 \u202e", CONTAINERS | {"bool", "number", "checked"}),
    "control characters": ("a\x00b\nc", CONTAINERS | {"bool", "number", "checked"}),
    "10k characters": ("x" * 10_000, CONTAINERS | {"bool", "number"}),
    "date": (datetime.date(2026, 3, 2), ALL),
    "bytes": (b"\x00\xff", CONTAINERS | {"bool", "number"}),
    "list of junk": ([None, {"a": [1, 2]}, "☃"], ALL),
    "empty list": ([], ALL - {"list"}),
    "empty map": ({}, ALL - {"model", "dict"}),
    "map of junk": ({"☃": [{"b": None}], "1": {"c": [[]]}}, ALL),
    "map with non-text keys": ({1: "x", None: 2, True: [3]}, ALL),
    "40 levels deep": (_deep(40), ALL),
    "encrypted junk": ({"secure": 12}, ALL - {"secret"}),
}


def _nest(path: tuple, value: Any) -> Any:
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


def stack_file_with(folder: Path, path: tuple, value: Any) -> Path:
    config = {f"{PROJECT}:target": "docker"}
    config[f"{PROJECT}:{path[0]}"] = _nest(path[1:], value)
    text = yaml.safe_dump({"config": config}, sort_keys=False, allow_unicode=True)
    return write_stack_file(folder, text)


def _path_id(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(path))


_RESULTS: dict[tuple, list[tuple[str, int, str, Path]]] = {}


def _run_every_value(tmp_path: Path, path: tuple) -> list[tuple[str, int, str, Path]]:
    """Per malformed value: (label, exit code or -1 for an exception, stderr
    or the exception, the case's folder). Run once per path for both tests."""
    if path in _RESULTS:
        return _RESULTS[path]
    results = []
    for number, (label, (value, _)) in enumerate(MALFORMED.items()):
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


@pytest.mark.parametrize(("path", "kind", "optional"), SETTINGS_PATHS, ids=[_path_id(p) for p, _, _ in SETTINGS_PATHS])
def test_no_malformed_value_at_any_settings_path_gives_a_traceback(tmp_path, path, kind, optional):
    tracebacks = [f"{label}: {stderr}" for label, code, stderr, _ in _run_every_value(tmp_path, path) if code == -1]
    assert not tracebacks, f"{_path_id(path)} ({kind}):\n" + "\n".join(tracebacks)


_PLANNED: set[tuple[str, str]] = set()


@pytest.mark.parametrize(("path", "kind", "optional"), SETTINGS_PATHS, ids=[_path_id(p) for p, _, _ in SETTINGS_PATHS])
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
    assert not problems, f"{_path_id(path)} ({kind}):\n" + "\n".join(problems)


@pytest.mark.parametrize(("path", "kind", "optional"), SETTINGS_PATHS, ids=[_path_id(p) for p, _, _ in SETTINGS_PATHS])
def test_every_malformed_value_at_any_settings_path_is_refused_with_exit_code_2(tmp_path, path, kind, optional):
    wrong = []
    for label, code, stderr, case in _run_every_value(tmp_path, path):
        value, wrong_for = MALFORMED[label]
        certainly_wrong = kind in wrong_for and not (value is None and optional)
        if code == -1:
            continue  # reported by the traceback test above
        if certainly_wrong and code != EXIT_INVALID:
            wrong.append(f"{label}: accepted (exit {code})")
        elif code == EXIT_INVALID:
            try:
                assert_one_message(stderr)
                assert stderr.startswith("Invalid configuration in Pulumi.qa.yaml"), stderr
                assert not (case / "out").exists(), "a refused render wrote files"
            except AssertionError as error:
                wrong.append(f"{label}: {error}")
        elif code != 0:
            wrong.append(f"{label}: exit {code}: {stderr}")
    assert not wrong, f"{_path_id(path)} ({kind}):\n" + "\n".join(wrong)


def test_the_generator_covers_every_settings_path_kind():
    kinds = {kind for _, kind, _ in SETTINGS_PATHS}
    assert kinds == ALL
    paths = {_path_id(p) for p, _, _ in SETTINGS_PATHS}
    # A few that need the walk through lists, maps and optional models to be found at all.
    for expected in (
        "gatewayServices[0].address",
        "resources.prometheus.memory",
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
    ("plan", ("gatewayServices", 0, "address"), _deep(40)),
    ("plan", ("resources", "prometheus", "cpus"), "ünïcödé"),
    ("render", ("grafanaAdminPassword",), [1, 2]),
]


@pytest.mark.parametrize(("command", "path", "value"), SUBPROCESS_CASES, ids=[f"{c}-{_path_id(p)}" for c, p, _ in SUBPROCESS_CASES])
def test_malformed_values_through_a_real_process_give_one_message_and_exit_code_2(tmp_path, command, path, value):
    stack_file = stack_file_with(tmp_path, path, value)
    argv = [command, str(stack_file)] + (["--out", str(tmp_path / "out")] if command == "render" else [])
    result = subprocess.run([sys.executable, "-m", "stack", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == EXIT_INVALID, result.stderr
    assert_one_message(result.stderr)
    assert result.stderr.startswith("Invalid configuration in Pulumi.qa.yaml")
    assert result.stdout == ""
