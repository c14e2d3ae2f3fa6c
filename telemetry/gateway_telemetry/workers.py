"""The worker models a FastAPI service runs under, and what the kit's metrics
need in each.

One process (`uvicorn app:app`): the service's registry answers /metrics.

Several worker processes behind one port (`uvicorn --workers N`, gunicorn
with uvicorn workers, with or without `--preload`): each scrape reaches one
worker, so a per-process registry makes counters jump between workers'
values and `increase()` report traffic that never happened. The kit then
uses prometheus_client's multiprocess mode: every worker writes its values
to files in PROMETHEUS_MULTIPROC_DIR and a scrape sums the files of all
workers, dead ones included for counters and histograms (so totals never go
back), live ones only for gauges (`livesum`). The directory must exist,
be emptied of the last run's files when the server starts (gunicorn: the
`on_starting` hook here; otherwise the container's command) and be set in
the environment before the server starts (prometheus_client chooses its
value store when it is first imported: values.get_value_class,
prometheus_client 0.26). Where the kit can tell it runs under several
workers without it, instrument_app refuses: under gunicorn (any worker
count: it forks and restarts its workers) and under uvicorn's --workers N
or WEB_CONCURRENCY. `uvicorn.run(app, workers=N)` called from a service's
own code leaves no trace the kit can read: set the directory there.

Source: prometheus_client 0.26, prometheus_client/values.py (the value
class, and no exemplars in multiprocess mode: MultiProcessValue's
set_exemplar is a TODO) and prometheus_client/multiprocess.py
(MultiProcessCollector, mark_process_dead).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from prometheus_client import values
from prometheus_client.multiprocess import mark_process_dead

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client also reads the old lower-case name.
_MULTIPROCESS_DIR_NAMES = (MULTIPROCESS_DIR, "prometheus_multiproc_dir")
_WORKERS_ARGUMENT = re.compile(r"--workers(?:=|$)")


def multiprocess_dir() -> str | None:
    """The directory prometheus_client's multiprocess mode writes to, or None."""
    for name in _MULTIPROCESS_DIR_NAMES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def pre_fork_server() -> str | None:
    """How this process serves alongside other workers, when it can tell:
    "gunicorn" (imported in the arbiter with --preload, or in a worker), or
    "uvicorn --workers N" (its command line or WEB_CONCURRENCY, which uvicorn
    reads for the worker count); None for one process (`uvicorn --reload`
    runs one worker at a time)."""
    if "gunicorn" in sys.modules:
        return "gunicorn"
    if "uvicorn" in sys.modules:
        workers = _uvicorn_workers(sys.argv) or _whole_number(os.environ.get("WEB_CONCURRENCY"))
        if workers and workers > 1:
            return f"uvicorn --workers {workers}"
    return None


def _uvicorn_workers(argv: list[str]) -> int | None:
    for position, argument in enumerate(argv):
        if _WORKERS_ARGUMENT.match(argument):
            value = argument.partition("=")[2] if "=" in argument else (argv[position + 1] if position + 1 < len(argv) else "")
            return _whole_number(value)
    return None


def _whole_number(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() else None


def multiprocess_mode() -> bool:
    """Whether the kit's metrics are shared across worker processes.

    Raises:
        ValueError: several workers and no PROMETHEUS_MULTIPROC_DIR; the
            directory is missing or not writable; or it was set after
            prometheus_client was imported (the values already live in
            this process's memory).
    """
    directory = multiprocess_dir()
    server = pre_fork_server()
    if directory is None:
        if server is not None:
            raise ValueError(
                f"{MULTIPROCESS_DIR}: not set, and this service runs under {server}: each scrape would be answered "
                "by one worker's own counters; set it, before the server starts, to an empty directory all workers "
                "share (prometheus_client's multiprocess mode), or run one worker per container"
            )
        return False
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise ValueError(f"{MULTIPROCESS_DIR}: given {directory!r}; must be an existing directory this process can write")
    if values.ValueClass is values.MutexValue:
        raise ValueError(
            f"{MULTIPROCESS_DIR}: set after prometheus_client was imported in this process; set it in the "
            "environment the server starts with"
        )
    return True


def on_starting(server: Any) -> None:
    """gunicorn's on_starting hook (in gunicorn.conf.py, beside child_exit):
    removes the previous run's metric files (`*.db`) from the directory
    before any worker starts. A directory that outlives the server (a
    Kubernetes emptyDir survives a container's restart) would otherwise add
    the old run's counters to the new one's, and workers of a fresh PID
    namespace reuse the old process ids, so old gauges would count as live."""
    directory = multiprocess_dir()
    if directory is None or not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn's child_exit hook (put `from gateway_telemetry.workers import
    child_exit` in gunicorn.conf.py): a dead worker's gauges stop counting,
    its counters and histograms stay in the totals."""
    mark_process_dead(worker.pid)


def mark_this_process_dead() -> None:
    """The same for this process, when it exits cleanly (uvicorn's workers
    have no hook; a worker that crashes leaves its last gauge values until
    the directory is emptied at the next start)."""
    directory = multiprocess_dir()
    if directory is not None and os.path.isdir(directory):
        mark_process_dead(os.getpid(), directory)
