"""The suite's own scheduling (conftest.py): the files started first exist
and go first, and pytest-xdist workers, with the demo processes their tests
start (which inherit DEMO_PORT_RANGE), never pick the same port."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import LONGEST_FILES, ROOT, _worker_port_range, pytest_collection_modifyitems

from examples.gateway import run as demo_run

SPAN = (10000, 32768)


def test_every_file_started_first_exists():
    missing = [name for name in LONGEST_FILES if not (ROOT / "tests" / name).is_file()]
    assert not missing, f"LONGEST_FILES names files that are gone: {missing}"


def test_the_longest_files_go_first_in_their_order_and_the_rest_keep_theirs():
    names = ["tests/test_b.py::x", f"tests/{LONGEST_FILES[1]}::y", "tests/test_a.py::z", f"tests/{LONGEST_FILES[0]}::w"]
    items = [SimpleNamespace(nodeid=name) for name in names]
    pytest_collection_modifyitems(items)
    assert [i.nodeid for i in items] == [names[3], names[1], names[0], names[2]]


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_each_worker_gets_its_own_slice_of_at_least_a_thousand_ports(workers):
    slices = [_worker_port_range(f"gw{i}", workers, SPAN) for i in range(workers)]
    ports = [set(range(*s)) for s in slices]
    assert all(len(p) >= 1000 for p in ports), slices
    assert sum(map(len, ports)) == len(set().union(*ports)), f"slices overlap: {slices}"
    assert all(SPAN[0] <= low and high <= SPAN[1] for low, high in slices), slices


def test_too_many_workers_for_the_span_is_one_error_saying_what_to_do():
    with pytest.raises(ValueError, match=r"^30 test workers leave each 758 ports of 10000-32767, under the 1000 .*TEST_WORKERS"):
        _worker_port_range("gw0", 30, SPAN)


def test_a_worker_started_in_place_of_a_crashed_one_stays_inside_the_span():
    # xdist names a replacement gw3 when three workers run.
    assert _worker_port_range("gw3", 3, SPAN) == _worker_port_range("gw0", 3, SPAN)


@pytest.mark.parametrize("value", ["21000", "21000-20000", "80-90", "a-b", "21000-70000"])
def test_a_malformed_port_range_is_one_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(demo_run.PORT_RANGE_VARIABLE, value)
    with pytest.raises(demo_run.DemoError, match=f"^DEMO_PORT_RANGE='{value}': expected LOW-HIGH"):
        demo_run.free_ports(1)


def test_a_worker_and_what_it_starts_pick_inside_the_workers_slice():
    """conftest as pytest-xdist's second of three workers imports it."""
    code = (
        "import os, sys; sys.path.insert(0, 'tests'); import conftest; from examples.gateway.run import free_ports; "
        "print(os.environ['DEMO_PORT_RANGE']); print(*free_ports(5))"
    )
    env = {k: v for k, v in os.environ.items() if k != demo_run.PORT_RANGE_VARIABLE}
    env.update(PYTEST_XDIST_WORKER="gw1", PYTEST_XDIST_WORKER_COUNT="3")
    shown, picked = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    low, high = _worker_port_range("gw1", 3, demo_run._unephemeral_ports())
    assert shown == f"{low}-{high - 1}"
    assert all(low <= int(port) < high for port in picked.split()), (picked, low, high)
