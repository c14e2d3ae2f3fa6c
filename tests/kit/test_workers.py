"""The kit under every worker model a FastAPI service runs with, live on
127.0.0.1: `uvicorn --workers 2`, and gunicorn with two uvicorn workers with
and without `--preload` (tests/kit/worker_app.py is the service).

Field report (issue 18): each scrape answered from one worker's registry,
so counters jumped back and forth; two workers writing one rotating file
lost lines; lines longer than a pipe writes at once interleaved on the
shared stdout; with --preload, uvicorn's own lines fell back to plain text.
Each server here takes load from several threads while /metrics is scraped
over and over; then every scrape must be at least the one before, the last
one must count exactly the requests sent, every stdout line must be one JSON
object, and the shared file must hold one access line per request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from examples.gateway.run import free_ports
from gateway_telemetry import workers

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
REQUESTS = 400
LONG_LINES = 60
LONG_BYTES = 100_000  # well over PIPE_BUF (4096 on Linux) and a pipe's 64 KiB
FILE_BYTES = 40_000  # small: the workers roll the file over many times
DURATION_COUNT = "http_server_request_duration_seconds"
GUNICORN_CONF = "from gateway_telemetry.workers import child_exit, on_starting  # noqa: F401\n"
STALE_REQUESTS = 1000  # a previous run's, left in the directory: gunicorn's on_starting removes them

MODELS = {
    "uvicorn --workers 2": ["-m", "uvicorn", "worker_app:app", "--workers", "2", "--host", "127.0.0.1", "--port", "{port}"],
    "gunicorn -w 2": ["-m", "gunicorn", "worker_app:app", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
                      "-b", "127.0.0.1:{port}", "-c", "{conf}"],
    "gunicorn -w 2 --preload": ["-m", "gunicorn", "worker_app:app", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
                                "-b", "127.0.0.1:{port}", "-c", "{conf}", "--preload"],
}


@dataclass
class Server:
    """A server process with its stdout and stderr read as they come (a
    pipe not read would block the workers' writes)."""

    process: subprocess.Popen
    url: str
    stdout: list[bytes] = field(default_factory=list)
    stderr: list[bytes] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def read(self) -> None:
        for stream, lines in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr)):
            reader = threading.Thread(target=lambda s=stream, l=lines: l.extend(iter(s.readline, b"")), daemon=True)
            reader.start()
            self.readers.append(reader)

    def output(self) -> str:
        return (b"".join(self.stdout[-40:]) + b"".join(self.stderr[-40:])).decode(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for reader in self.readers:
            reader.join(timeout=10)


def command(model: str, work: Path, env: dict[str, str]) -> tuple[list[str], dict[str, str], int]:
    """(argv, environment, port) of a server of `model` serving worker_app:
    this process's environment without any OTel, multiprocess or worker-count
    setting of its own, then `env`."""
    (port,) = free_ports(1)
    conf = work / "gunicorn.conf.py"
    conf.write_text(GUNICORN_CONF)
    argv = [sys.executable, *(a.format(port=port, conf=conf) for a in MODELS[model])]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_MULTIPROC", "WEB_CONCURRENCY"))}
    return argv, {**clean, "PYTHONPATH": f"{ROOT / 'telemetry'}:{HERE}:{ROOT}", **env}, port


def start(model: str, work: Path, env: dict[str, str]) -> Server:
    argv, full_env, port = command(model, work, {"OTEL_TRACES_SAMPLER": "always_on", **env})
    process = subprocess.Popen(argv, cwd=work, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    server = Server(process, f"http://127.0.0.1:{port}")
    server.read()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.stop()
            pytest.fail(f"{model} exited {process.returncode} at start:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/work", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"{model} did not answer within 60 s:\n{server.output()}")


def scraped_sum(url: str, series: str, **labels: str) -> float:
    """One scrape of /metrics: the samples of `series` with `labels`, summed."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == series and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def requests_counted(url: str) -> float:
    """The /work requests in http_server_request_duration_seconds_count, summed."""
    return scraped_sum(url, f"{DURATION_COUNT}_count", http_route="/work")


def spans_processed(url: str) -> float:
    """Spans the workers' batch processors took, summed (the SDK's own counts, mirrored)."""
    return scraped_sum(url, "otel_sdk_processor_span_processed_total")


@dataclass
class Observed:
    model: str
    scrapes: list[float]
    pids: set[int]
    stdout: list[bytes]
    stderr: list[bytes]
    file_lines: list[str]
    counted_at_start: float
    spans_processed: float
    spans_served: float


def leave_a_previous_runs_files(directory: Path) -> None:
    """What a server that ran before left in the directory (an emptyDir
    outlives a container's restart): STALE_REQUESTS requests to /work."""
    from gateway_telemetry import contract

    labels = ("http_request_method", "url_scheme", "http_route", "http_response_status_code", "error_type")
    script = (
        "from prometheus_client import Histogram\n"
        f"h = Histogram({DURATION_COUNT!r}, 'x', {labels!r}, buckets={contract.HTTP_SERVER_DURATION_BUCKETS!r})\n"
        f"for _ in range({STALE_REQUESTS}): h.labels('GET', 'http', '/work', '200', '').observe(0.1)\n"
    )
    env = {**os.environ, workers.MULTIPROCESS_DIR: str(directory)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert list(directory.glob("histogram_*.db"))


def play(model: str, work: Path) -> Observed:
    multiproc = work / "multiproc"
    multiproc.mkdir()
    if model.startswith("gunicorn"):
        leave_a_previous_runs_files(multiproc)
    log_file = work / "logs" / "service.log"
    env = {
        workers.MULTIPROCESS_DIR: str(multiproc),
        "WORKER_LOG_FILE": str(log_file),
        "WORKER_LOG_FILE_BYTES": str(FILE_BYTES),
        "WORKER_LONG_BYTES": str(LONG_BYTES),
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans exported while the test waits
    }
    server = start(model, work, env)
    try:
        counted_at_start = requests_counted(server.url)  # the readiness probe's requests
        scrapes: list[float] = []
        done = threading.Event()

        def scrape() -> None:
            while not done.is_set():
                scrapes.append(requests_counted(server.url))
                time.sleep(0.01)

        scraper = threading.Thread(target=scrape)
        scraper.start()
        # A new connection per request, so the kernel spreads them over the workers.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: httpx.get(f"{server.url}/work", timeout=30), range(REQUESTS)))
            longs = list(pool.map(lambda _: httpx.get(f"{server.url}/long", timeout=30), range(LONG_LINES)))
        done.set()
        scraper.join()
        assert all(a.status_code == 200 for a in answers + longs)
        # Exports every 100 ms: a second later every worker has exported
        # and copied its counts (after_export); one scrape then reaches one
        # worker, so the others' counts can only have come from their exports.
        time.sleep(1.5)
        processed = spans_processed(server.url)
        scrapes.append(requests_counted(server.url))
        served = REQUESTS + LONG_LINES + counted_at_start
    finally:
        server.stop()
    files = sorted(log_file.parent.glob("service.log*"))
    return Observed(
        model=model,
        scrapes=[s - counted_at_start for s in scrapes],
        pids={a.json()["pid"] for a in answers},
        stdout=server.stdout,
        stderr=server.stderr,
        file_lines=[line for f in files for line in f.read_text().splitlines()],
        counted_at_start=counted_at_start,
        spans_processed=processed,
        spans_served=served,
    )


@pytest.fixture(scope="module", params=list(MODELS))
def observed(request, tmp_path_factory) -> Observed:
    return play(request.param, tmp_path_factory.mktemp("workers"))


def test_every_scrape_during_load_counts_every_worker_and_never_goes_back(observed):
    assert len(observed.pids) >= 2, f"{observed.model}: one worker served every request"
    went_back = [(a, b) for a, b in zip(observed.scrapes, observed.scrapes[1:]) if b < a]
    assert not went_back, f"{observed.model}: the count went back between scrapes: {went_back[:5]}"
    assert len(observed.scrapes) > 10, f"{observed.model}: too few scrapes during the load to tell"
    assert observed.scrapes[-1] == REQUESTS


def test_the_span_pipelines_counts_are_every_workers(observed):
    """One span per request served (the /metrics scrapes make none): the
    workers' counts, copied into the shared files after each export."""
    assert observed.spans_processed == observed.spans_served


def test_every_stdout_line_is_one_json_object_however_long(observed):
    bad = []
    records = []
    for raw in observed.stdout:
        try:
            records.append(json.loads(raw))
        except ValueError:
            bad.append(raw[:120])
    assert not bad, f"{observed.model}: {len(bad)} stdout lines are not JSON, e.g. {bad[:3]}"
    long_lines = [r for r in records if r.get("message") == "long line"]
    assert len(long_lines) == LONG_LINES
    assert len({r["pid"] for r in long_lines}) >= 2, f"{observed.model}: one worker wrote every long line"
    # One worker's filler, whole: a line mixed from two shows two letters.
    assert all(len(set(r["filler"])) == 1 and len(r["filler"]) == LONG_BYTES for r in long_lines)


def test_uvicorns_own_lines_come_out_as_json_in_every_worker(observed):
    records = [json.loads(raw) for raw in observed.stdout]
    started = [r for r in records if r.get("logger") == "uvicorn.error" and "Application startup complete" in r.get("message", "")]
    assert len(started) == 2, f"{observed.model}: uvicorn's startup line as JSON from each worker, got {started}"
    plain = [raw for raw in observed.stderr if b"Application startup complete" in raw]
    assert not plain, f"{observed.model}: uvicorn's own line in plain text: {plain}"


def test_workers_sharing_one_rotating_file_lose_no_line(observed):
    records = [json.loads(line) for line in observed.file_lines]
    served = [r for r in records if r.get("logger") == "gateway.access" and r.get("path") == "/work"]
    # The readiness probe's requests are in the file too.
    assert len(served) == REQUESTS + observed.counted_at_start
    assert len([r for r in records if r.get("message") == "long line"]) == LONG_LINES


def test_several_workers_without_a_multiprocess_directory_refuse_at_start(tmp_path):
    argv, env, _ = command("gunicorn -w 2 --preload", tmp_path, {})
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "PROMETHEUS_MULTIPROC_DIR: not set, and this service runs under gunicorn" in result.stderr


@pytest.mark.parametrize(
    "argv, concurrency, expected",
    [
        (["uvicorn", "app:app", "--workers", "4"], None, "uvicorn --workers 4"),
        (["uvicorn", "app:app", "--workers=3"], None, "uvicorn --workers 3"),
        (["uvicorn", "app:app"], "2", "uvicorn --workers 2"),  # uvicorn reads WEB_CONCURRENCY
        (["uvicorn", "app:app", "--workers", "1"], None, None),
        (["uvicorn", "app:app", "--reload"], None, None),
    ],
)
def test_uvicorn_with_several_workers_is_told_from_its_command_line(monkeypatch, argv, concurrency, expected):
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delitem(sys.modules, "gunicorn", raising=False)
    monkeypatch.setitem(sys.modules, "uvicorn", sys.modules.get("uvicorn") or object())
    if concurrency is None:
        monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    else:
        monkeypatch.setenv("WEB_CONCURRENCY", concurrency)
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir"):
        monkeypatch.delenv(name, raising=False)
    assert workers.pre_fork_server() == expected
    if expected is None:
        assert workers.multiprocess_mode() is False
    else:
        with pytest.raises(ValueError, match=f"PROMETHEUS_MULTIPROC_DIR: not set, and this service runs under {expected}"):
            workers.multiprocess_mode()


def test_a_multiprocess_directory_that_is_not_there_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"PROMETHEUS_MULTIPROC_DIR: given '.*missing'; must be an existing directory"):
        workers.multiprocess_mode()
