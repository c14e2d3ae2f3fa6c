"""Shared fixtures: settings for each stack, rendered files, and the real
checkers (skipped locally when missing, a failure when REQUIRE_TOOLS=1)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.gateway import run as demo_run  # noqa: E402
from stack.render import write_rendered  # noqa: E402
from stack.settings import load_from_stack_file, parse_settings  # noqa: E402


# Ports one worker may hand out: test_demo_gateway alone takes 576 (free_ports never gives one back).
WORKER_PORTS_NEEDED = 1000


def _worker_port_range(worker: str, workers: int, span: tuple[int, int]) -> tuple[int, int]:
    """[low, high) of `span` for pytest-xdist worker `worker` ("gw0", "gw1", ...)
    of `workers`: free_ports hands a port out once per process only, so
    workers get disjoint slices and never start two servers on one port. A
    worker xdist starts in place of a crashed one gets a number past the
    count ("gw3" of 3) and shares the slice of the one it replaces.
    ValueError when a slice would hold fewer than WORKER_PORTS_NEEDED."""
    low, high = span
    index, size = int(worker.removeprefix("gw")) % workers, (high - low) // workers
    if size < WORKER_PORTS_NEEDED:
        raise ValueError(
            f"{workers} test workers leave each {size} ports of {low}-{high - 1}, under the {WORKER_PORTS_NEEDED} "
            "one worker may take: run fewer (make test TEST_WORKERS=<n>)"
        )
    return low + index * size, low + (index + 1) * size


if "PYTEST_XDIST_WORKER" in os.environ:
    # In the environment, so the demo processes a test starts (trace_one) pick from the slice too.
    _low, _high = _worker_port_range(os.environ["PYTEST_XDIST_WORKER"], int(os.environ["PYTEST_XDIST_WORKER_COUNT"]), demo_run.port_range())
    os.environ[demo_run.PORT_RANGE_VARIABLE] = f"{_low}-{_high - 1}"


def tool_missing(message: str):
    """Skip locally; CI (REQUIRE_TOOLS=1) never passes by skipping."""
    if os.environ.get("REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}; REQUIRE_TOOLS=1 forbids skipping")
    pytest.skip(message)


# Where scripts/install-tools.sh unpacks Debian's prometheus and
# prometheus-alertmanager (downloaded, never installed: no service started).
PROJECT_TOOLS = ROOT / ".tools" / "bin"


def require_tool(name: str) -> str:
    """The path of a real checker: the project's own (.tools/), else PATH's."""
    path = shutil.which(name, path=f"{PROJECT_TOOLS}{os.pathsep}{os.environ.get('PATH', '')}")
    if not path:
        tool_missing(f"{name} is not installed (run `make tools`)")
    return path


@pytest.fixture
def settings():
    """Defaults for a docker stack named dev."""
    return parse_settings({"target": "docker"}, "dev", "test")


@pytest.fixture(scope="session")
def dev_loaded():
    return load_from_stack_file(ROOT / "Pulumi.dev.yaml")


@pytest.fixture(scope="session")
def rendered_dev(tmp_path_factory, dev_loaded) -> Path:
    out = tmp_path_factory.mktemp("rendered-dev")
    write_rendered(dev_loaded, out)
    return out


# The files that take longest (per-file totals of a JUnit run on three
# workers, December 2026), run first, those that mostly compute (promtool, the
# CLI, kubernetes-validate) between those that mostly wait (the live tests, on
# Alertmanager's clocks), so every worker has work while another waits.
# pytest-xdist hands files out in this order (`make test` turns off its
# reordering by test count): a long file handed out last keeps one worker busy
# after the others are done. Only the order changes: a file missing here, or a
# stale entry, costs time, never a result.
LONGEST_FILES = (
    "test_alert_rules.py",
    "test_live_ha.py",
    "test_cli_bad_input.py",
    "test_live_gateway.py",
    "test_settings_malformed.py",
    "test_live_alerting.py",
    "test_kubernetes_target.py",
    "kit/test_workers.py",
    "test_redaction.py",
    "kit/test_masking.py",
    "test_cli.py",
    "kit/test_packaging.py",
    "test_verify.py",
    "test_review_path.py",
    "test_live_links.py",
    "test_object_storage.py",
    "test_docker_demo.py",
)


def pytest_collection_modifyitems(items):
    """LONGEST_FILES first, in its order; every other file after them, as collected."""
    rank = {f"tests/{name}": index for index, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
