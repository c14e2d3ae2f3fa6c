"""The suite's own scheduling (conftest.py): the files started first exist,
and pytest-xdist workers never share a port."""

from conftest import LONGEST_FILES, ROOT, _worker_port_range


def test_every_file_started_first_exists():
    missing = [name for name in LONGEST_FILES if not (ROOT / "tests" / name).is_file()]
    assert not missing, f"LONGEST_FILES names files that are gone: {missing}"


def test_each_worker_gets_its_own_ports():
    span = (10000, 32768)
    for workers in (1, 2, 3, 8):
        slices = [_worker_port_range(f"gw{i}", workers, span) for i in range(workers)]
        ports = [set(range(*s)) for s in slices]
        assert all(len(p) >= (span[1] - span[0]) // workers for p in ports), slices
        assert sum(map(len, ports)) == len(set().union(*ports)), f"slices overlap: {slices}"
        assert all(span[0] <= low and high <= span[1] for low, high in slices), slices
