"""The kit installed the way a service installs a library: a wheel built from
telemetry/, checked to hold every module of gateway_telemetry; then three clean
virtual environments (no system site packages, nothing from the repository on
the path), run side by side - the wheel with `[runtime]`, the source directory
with `[runtime]`, and the wheel with every runtime dependency at the floor its
declared range names (constraints generated from pyproject.toml's `>=`
bounds) - each running tests/kit/packaging_smoke.py: a request through an
instrumented FastAPI app leaves its access line, its span and its /metrics.

Needs PyPI (or the index pip is configured with); pip's cache makes reruns
quick. The ranges are read from pyproject.toml, never repeated here.

The source tree is copied to a temporary directory before building:
setuptools builds in place and would leave telemetry/build/ in the working
tree (and two builds at once would share it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
TELEMETRY = ROOT / "telemetry"
PACKAGE = TELEMETRY / "gateway_telemetry"
SMOKE = Path(__file__).with_name("packaging_smoke.py")
PROJECT = tomllib.loads((TELEMETRY / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(line) for line in PROJECT["optional-dependencies"]["runtime"]]
TIMEOUT = 900
REPORT = "packaging-smoke-report:"


def floors() -> dict[str, str]:
    """Each runtime dependency at the lower bound of its declared range."""
    found = {}
    for req in RUNTIME:
        lower = [spec.version for spec in req.specifier if spec.operator == ">="]
        assert len(lower) == 1, f"{req}: every runtime dependency declares one `>=` lower bound"
        found[canonicalize_name(req.name)] = lower[0]
    return found


def run(command: list[str], cwd: Path, timeout: int = TIMEOUT) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("OTEL_")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def explain(result: subprocess.CompletedProcess) -> str:
    return f"{' '.join(map(str, result.args))} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@dataclass
class Install:
    """What one clean venv got: its prefix, and the smoke script's report (or why not)."""

    venv: Path
    failure: str | None = None
    report: dict | None = None


def install_and_smoke(venv: Path, target: str, constraints: Path | None = None) -> Install:
    made = run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent, timeout=120)
    if made.returncode:
        return Install(venv, failure=explain(made))
    python = venv / "bin" / "python"
    command = [str(python), "-m", "pip", "install", target]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    installed = run(command, cwd=venv.parent)
    if installed.returncode:
        return Install(venv, failure=explain(installed))
    # -I: no PYTHONPATH, no user site, not the script's directory on the path.
    smoke = run([str(python), "-I", str(SMOKE)], cwd=venv.parent, timeout=120)
    if smoke.returncode:
        return Install(venv, failure=explain(smoke))
    (report,) = [line.split(REPORT, 1)[1] for line in smoke.stdout.splitlines() if line.startswith(REPORT)]
    return Install(venv, report=json.loads(report))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """The wheel, and the three installs run at once."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "telemetry"
    shutil.copytree(
        TELEMETRY, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.pyc")
    )
    wheels = work / "wheels"
    built_wheel = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)], cwd=work)
    assert built_wheel.returncode == 0, explain(built_wheel)
    (wheel,) = wheels.glob("*.whl")

    constraints = work / "floors.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in floors().items()))
    jobs = {
        "wheel": (work / "venv-wheel", f"{wheel}[runtime]", None),
        "source": (work / "venv-source", f"{source}[runtime]", None),
        "floor": (work / "venv-floor", f"{wheel}[runtime]", constraints),
    }
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(install_and_smoke, *job) for name, job in jobs.items()}
        installs = {name: future.result() for name, future in futures.items()}
    return {"wheel": wheel, "installs": installs}


def test_the_wheel_is_gateway_telemetry_with_every_module(built):
    wheel: Path = built["wheel"]
    name, version, python, abi, platform = wheel.stem.split("-")
    assert (name, version, python, abi, platform) == ("gateway_telemetry", PROJECT["version"], "py3", "none", "any")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"gateway_telemetry-{version}.dist-info/METADATA").decode()
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert "__init__.py" in modules and "fastapi.py" in modules
    missing = [module for module in modules if f"gateway_telemetry/{module}" not in names]
    assert not missing, f"modules of gateway_telemetry not in the wheel: {missing}"
    assert {n.split("/")[0] for n in names} == {"gateway_telemetry", f"gateway_telemetry-{version}.dist-info"}
    # The runtime extra as declared, nothing required without it.
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    assert "Provides-Extra: runtime" in metadata.splitlines()
    assert sorted(Requirement(line).name for line in requires) == sorted(req.name for req in RUNTIME)
    assert all(str(Requirement(line).marker) == 'extra == "runtime"' for line in requires)


def assert_served(install: Install) -> dict[str, str]:
    assert install.failure is None, install.failure
    report = install.report
    assert Path(report["kit"]).is_relative_to(install.venv), f"the kit came from {report['kit']}, not the venv"
    assert Path(report["prefix"]).resolve() == install.venv.resolve()
    assert (install.venv / "pyvenv.cfg").read_text().count("include-system-site-packages = false") == 1
    return {canonicalize_name(name): version for name, version in report["versions"].items()}


def assert_within_ranges(versions: dict[str, str]) -> None:
    for req in RUNTIME:
        installed = versions[canonicalize_name(req.name)]
        assert req.specifier.contains(installed, prereleases=True), f"{req.name} {installed} outside {req.specifier}"


def test_the_wheel_with_its_runtime_extra_serves_a_request(built):
    assert_within_ranges(assert_served(built["installs"]["wheel"]))


def test_the_source_directory_with_its_runtime_extra_serves_a_request(built):
    assert_within_ranges(assert_served(built["installs"]["source"]))


def test_every_runtime_dependency_at_its_declared_floor_serves_a_request(built):
    versions = assert_served(built["installs"]["floor"])
    wrong = {name: versions[name] for name, floor in floors().items() if Version(versions[name]) != Version(floor)}
    assert not wrong, f"not at the floor {floors()}: {wrong}"
