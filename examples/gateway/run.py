"""Start the demo gateway on 127.0.0.1, and stop it cleanly.

    python -m examples.gateway.run [--port SERVICE=PORT ...] [--otlp-endpoint URL] [--log-dir DIR]
        starts the fake provider and the three services, each a uvicorn process
        on 127.0.0.1, waits until every /healthz answers, and runs until Ctrl-C
        or SIGTERM, then stops every process it started (SIGTERM, then SIGKILL
        after 10 s). Ports default to 8000-8003 (Prometheus' default targets);
        OTLP/HTTP traces go to --otlp-endpoint (default: OTEL_EXPORTER_OTLP_ENDPOINT,
        else http://127.0.0.1:4318, Jaeger's); JSON logs go to stdout and to
        <log-dir>/<service>.jsonl.

    python -m examples.gateway.run serve SERVICE [--host HOST] [--port PORT]
        runs one service in the foreground (what the demo image runs).

`Demo` is the same launcher for scripts and tests.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from examples.gateway.layout import DEFAULT_PORTS, FACTORIES, url_variable

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


class DemoError(RuntimeError):
    """The demo could not start: a port in use, a service that exited or never became ready."""


@dataclass
class Demo:
    """The four demo processes on 127.0.0.1.

    Args:
        ports: service name -> port (every name of common.DEFAULT_PORTS).
        log_dir: where each service writes <service>.jsonl (the kit's file output).
        env: extra environment for every process (OTEL_*, DEMO_LOG_LEVEL, ...).
        capture: write each process' stdout and stderr to <log_dir>/<service>.out
            instead of inheriting the terminal.
    """

    ports: dict[str, int]
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    capture: bool = False
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _outputs: list[IO] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[service]}"

    def start(self, ready_timeout: float = 30) -> None:
        """Start every process and wait for its /healthz; DemoError (after stopping them) when one fails."""
        shared = sorted({port for port in self.ports.values() if list(self.ports.values()).count(port) > 1})
        if shared:
            # Two services on one port: the second cannot bind, and the first answers for both.
            names = {port: [s for s, p in self.ports.items() if p == port] for port in shared}
            raise DemoError("; ".join(f"port {port} is given to {' and '.join(names[port])}: each service needs its own" for port in shared))
        for service, port in self.ports.items():
            with socket.socket() as probe:
                if probe.connect_ex((LOOPBACK, port)) == 0:
                    raise DemoError(f"port {port} ({service}) is in use on {LOOPBACK}; choose another with --port {service}=PORT")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DEMO_LOG_DIR": str(self.log_dir), **self.env}
        env.update({url_variable(service): self.url(service) for service in self.ports})
        try:
            for service, port in self.ports.items():
                output = None
                if self.capture:
                    output = open(self.log_dir / f"{service}.out", "ab")
                    self._outputs.append(output)
                command = [sys.executable, "-m", "examples.gateway.run", "serve", service, "--host", LOOPBACK, "--port", str(port)]
                self.processes[service] = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=output)
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = dict(self.processes)
        while waiting:
            for service, process in list(waiting.items()):
                if process.poll() is not None:
                    raise DemoError(f"{service} exited with status {process.returncode} while starting (see its output)")
                try:
                    with urllib.request.urlopen(f"{self.url(service)}/healthz", timeout=1):
                        del waiting[service]
                except OSError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise DemoError(f"not ready after {timeout:.0f} s: {', '.join(waiting)}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10) -> None:
        """Stop every process this Demo started, by PID: SIGTERM, then SIGKILL after `timeout` s."""
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for output in self._outputs:
            output.close()
        self._outputs.clear()

    def exited(self) -> dict[str, int]:
        """The processes that have exited, with their status."""
        return {s: p.returncode for s, p in self.processes.items() if p.poll() is not None}


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free on 127.0.0.1 now, each bound once to
    check it. They lie below the kernel's ephemeral range
    (/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default), where
    the local end of every outgoing connection is taken from: a port from
    that range (what binding port 0 returns) can be an outgoing connection's
    by the time its server binds it, and then the server cannot. No port is
    handed out twice in one process, so callers in parallel threads never
    share one; processes picking at once each need their own range
    (PORT_RANGE_VARIABLE). RuntimeError when `count` free ports cannot be
    found; DemoError (a RuntimeError) when the variable is malformed."""
    low, high = port_range()
    with _PORTS_LOCK:
        chosen: list[int] = []
        for port in random.sample(range(low, high), high - low):
            if len(chosen) == count:
                break
            if port in _PORTS_GIVEN:
                continue
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    continue
            chosen.append(port)
        if len(chosen) < count:
            raise RuntimeError(f"only {len(chosen)} of {count} free ports found in {low}-{high - 1} on {LOOPBACK}")
        _PORTS_GIVEN.update(chosen)
        return chosen


def _unephemeral_ports() -> tuple[int, int]:
    """[low, high): ports outside the kernel's ephemeral range: below it,
    from 10000 (clear of the well-known and most registered ones), or above
    it when a range that starts low leaves too few below."""
    try:
        first, last = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2])
    except (OSError, ValueError):
        first, last = 32768, 60999  # Linux's default; other kernels: a port there is only checked, not reserved
    if first - 10000 >= 1000:
        return 10000, first
    return last + 1, 65536


# LOW-HIGH (both included): where free_ports picks in this process and the
# processes it starts, e.g. one slice per test worker, since two processes
# picking at once could hand out the same port.
PORT_RANGE_VARIABLE = "DEMO_PORT_RANGE"


def port_range() -> tuple[int, int]:
    """[low, high) free_ports picks from: $DEMO_PORT_RANGE when set, else
    outside the kernel's ephemeral range. DemoError naming the variable when
    it is not LOW-HIGH, two ports from 1024 to 65535 with LOW below HIGH."""
    text = os.environ.get(PORT_RANGE_VARIABLE, "")
    if not text:
        return _UNEPHEMERAL
    low, dash, high = text.partition("-")
    if not (dash and low.isdigit() and high.isdigit() and 1024 <= int(low) < int(high) <= 65535):
        raise DemoError(f"{PORT_RANGE_VARIABLE}={text!r}: expected LOW-HIGH, two ports from 1024 to 65535 with LOW below HIGH (e.g. 20000-20999)")
    return int(low), int(high) + 1


_UNEPHEMERAL = _unephemeral_ports()
_PORTS_LOCK = threading.Lock()
_PORTS_GIVEN: set[int] = set()


def serve(service: str, host: str, port: int) -> None:
    """Run one service in this process (uvicorn, its own logging off: the kit's is used)."""
    import uvicorn  # only the serving process needs it

    uvicorn.run(FACTORIES[service], factory=True, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=5)


def service_port(text: str) -> tuple[str, int]:
    """argparse type for SERVICE=PORT."""
    service, _, port = text.partition("=")
    if service not in DEFAULT_PORTS or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"given {text!r}; expected SERVICE=PORT, SERVICE one of {', '.join(DEFAULT_PORTS)}, PORT 1-65535")
    return service, int(port)


def parse_args(argv: list[str]) -> argparse.Namespace:
    if argv[:1] == ["serve"]:
        parser = argparse.ArgumentParser(prog="run.py serve", description="run one demo service in the foreground")
        parser.add_argument("service", choices=tuple(FACTORIES))
        parser.add_argument("--host", default=LOOPBACK)
        parser.add_argument("--port", type=int)
        return parser.parse_args(argv[1:], namespace=argparse.Namespace(command="serve"))
    parser = argparse.ArgumentParser(description="start the demo gateway on 127.0.0.1 (Ctrl-C stops it)")
    parser.add_argument("--port", type=service_port, action="append", default=[], metavar="SERVICE=PORT")
    parser.add_argument("--otlp-endpoint", default=os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://127.0.0.1:4318")
    parser.add_argument("--log-dir", type=Path, help="default: a new temporary directory")
    return parser.parse_args(argv, namespace=argparse.Namespace(command="up"))


def _listening(url: str) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parts = urllib.parse.urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or LOOPBACK, parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM and SIGINT take one way out: every process is stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        serve(args.service, args.host, args.port or DEFAULT_PORTS[args.service])
        return 0
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    demo = Demo(ports={**DEFAULT_PORTS, **dict(args.port)}, log_dir=log_dir, env={"OTEL_EXPORTER_OTLP_ENDPOINT": args.otlp_endpoint})
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (a background job)
    try:
        demo.start()
        for service in demo.ports:
            print(f"{service:>21}  {demo.url(service)}", file=sys.stderr)
        print(f"traces to {args.otlp_endpoint}; logs in {log_dir}; Ctrl-C stops the demo", file=sys.stderr)
        if not _listening(args.otlp_endpoint):
            print(f"note: nothing listens on {args.otlp_endpoint}: spans are dropped (the exporter warns); "
                  "`make up` starts Jaeger there, `python -m examples.gateway.trace_one` brings its own receiver", file=sys.stderr)
        while not demo.exited():
            time.sleep(0.5)
        print(f"demo: stopped unexpectedly: {demo.exited()}", file=sys.stderr)
        return 1
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
