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

from stack.render import write_rendered  # noqa: E402
from stack.settings import load_from_stack_file, parse_settings  # noqa: E402


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
