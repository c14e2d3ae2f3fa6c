"""What the kit's middleware costs a request: the same FastAPI app served
uninstrumented ("plain") and with `instrument_app` ("kit"), under the same load
on loopback, in the same run.

Each app runs in its own uvicorn process on 127.0.0.1 (access log off in both;
the kit writes its own access line to stdout, sent to /dev/null, and exports
every span - full sampling, OTEL_TRACES_SAMPLER=always_on - over OTLP/HTTP to a
receiver in this process that decodes them). This process sends N requests at a
fixed concurrency with httpx, plain and kit alternating round by round; the
median round of each is kept. Two handlers: `trivial` (returns a small JSON
object: the worst case, nothing to hide the overhead behind) and `upstream`
(awaits 20 ms, as a service waiting on a peer or provider does).

Figures, each a ratio kit/plain:
  server CPU per request  utime+stime of the server process (/proc/<pid>/stat)
                          per request: the work the kit adds
  p50 latency             what a client waits, at that concurrency
  throughput              requests per second the client got through
A third app, "unsampled" (the kit with OTEL_TRACES_SAMPLER=always_off), shows
by difference what recording and exporting the spans costs. Spans the kit's
batch processor dropped (queue full) are reported, not hidden.

    python bench/kit_middleware.py [--requests 2000] [--concurrency 16] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
UPSTREAM_SECONDS = 0.02
SCENARIOS = {"trivial": 0.0, "upstream": UPSTREAM_SECONDS}

from examples.gateway.run import free_ports  # noqa: E402  (needs ROOT on the path)


def create_app():
    """The app under test (uvicorn --factory); BENCH_KIT=1 instruments it, BENCH_WORK_S is the handler's wait."""
    from fastapi import FastAPI

    app = FastAPI()
    work = float(os.environ.get("BENCH_WORK_S", "0"))

    @app.get("/v1/items/{item_id}")
    async def item(item_id: int) -> dict:
        if work:
            await asyncio.sleep(work)
        return {"id": item_id, "name": "widget", "tags": ["a", "b"]}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    if os.environ.get("BENCH_KIT") == "1":
        from gateway_telemetry.fastapi import instrument_app
        from gateway_telemetry.logs import configure_logging

        configure_logging(service="intelligent-router", environment="bench", version="0")
        instrument_app(app, service="intelligent-router", environment="bench", version="0")
    return app


# The apps each round serves: (instrumented, OTEL_TRACES_SAMPLER, its
# argument). "kit 10%" samples a tenth of the traces it starts, as a
# production service would; "unsampled" is the kit with no span recorded:
# what the spans themselves cost, by difference.
APPS = {
    "plain": (False, "always_on", ""),
    "kit": (True, "always_on", ""),
    "kit 10%": (True, "parentbased_traceidratio", "0.1"),
    "unsampled": (True, "always_off", ""),
}
# The targets for the server CPU per request, kit / plain.
TARGETS = {"kit": 1.4, "kit 10%": 1.25}


def start_server(kit: bool, sampler: str, ratio: str, work: float, traces_endpoint: str) -> tuple[subprocess.Popen, int]:
    (port,) = free_ports(1)  # below the ephemeral range: no outgoing connection takes it first
    env = {
        **os.environ,
        "BENCH_KIT": "1" if kit else "0",
        "BENCH_WORK_S": str(work),
        "OTEL_TRACES_SAMPLER": sampler,
        "OTEL_TRACES_SAMPLER_ARG": ratio or "1",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_endpoint,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "kit_middleware:create_app", "--app-dir", str(BENCH),
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process, port
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError(f"the {'kit' if kit else 'plain'} server did not start on 127.0.0.1:{port}")


def resident_mib(pid: int) -> float:
    """The process's resident set (proc(5): VmRSS in /proc/<pid>/status), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (proc(5): fields 14 and 15, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(port: int, requests: int, concurrency: int) -> tuple[float, list[float]]:
    """Send `requests` GETs with `concurrency` workers; (wall seconds, latencies)."""
    import httpx

    latencies: list[float] = []
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client:

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                response = await client.get(f"/v1/items/{i % 100}")
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"status {response.status_code}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def measure(process: subprocess.Popen, port: int, requests: int, concurrency: int) -> dict[str, float]:
    before = cpu_seconds(process.pid)
    wall, latencies = asyncio.run(load(port, requests, concurrency))
    cpu = cpu_seconds(process.pid) - before
    return {"cpu_us": cpu / requests * 1e6, "p50_ms": statistics.median(latencies) * 1000, "rps": requests / wall}


def run_scenario(name: str, work: float, args, receiver) -> dict[str, dict[str, float]]:
    servers = {}
    try:
        for app, (kit, sampler, ratio) in APPS.items():
            servers[app] = start_server(kit, sampler, ratio, work, receiver.traces_endpoint)
        rounds: dict[str, list[dict]] = {app: [] for app in APPS}
        for app, (process, port) in servers.items():  # warm-up, not counted
            measure(process, port, min(args.requests, 500), args.concurrency)
        time.sleep(6)  # the warm-up's spans arrive within the batch processor's schedule delay (5 s)
        received_before = len(receiver.spans)
        for round_number in range(args.rounds):
            for app, (process, port) in servers.items():
                rounds[app].append(measure(process, port, args.requests, args.concurrency))
            print(f"  {name}: round {round_number + 1} of {args.rounds} done", file=sys.stderr, flush=True)
        time.sleep(6)  # the batch processor's schedule delay (5 s): let the last spans arrive
        received = len(receiver.spans) - received_before
        memory = {}
        if args.memory_requests and work == 0.0:
            served = 500 + args.rounds * args.requests
            for app, (process, port) in servers.items():
                if served < args.memory_requests:
                    print(f"  {name}: {app}: {args.memory_requests - served} more requests for the memory figure",
                          file=sys.stderr, flush=True)
                    asyncio.run(load(port, args.memory_requests - served, args.concurrency))
                memory[app] = resident_mib(process.pid)
    finally:
        for process, _ in servers.values():
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    medians = {app: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for app, rs in rounds.items()}
    medians["kit"]["spans_sent"] = args.rounds * args.requests
    medians["kit"]["spans_received"] = received
    for app, mib in memory.items():
        medians[app]["rss_mib"] = mib
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the kit middleware's per-request overhead")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--memory-requests", type=int, default=100_000,
                        help="requests each app of the trivial handler has served when its memory is read (0: skip)")
    args = parser.parse_args(argv)
    estimate = len(APPS) * (args.rounds * args.requests + 500) * len(SCENARIOS) / 450 + len(APPS) * args.memory_requests / 450
    print(f"about {estimate / 60:.0f} minutes (the load client sends ~450 requests/s on 2 cores)", file=sys.stderr, flush=True)
    from examples.gateway.otlp_receiver import OtlpReceiver

    print(f"{args.rounds} rounds x {args.requests} requests, concurrency {args.concurrency}, medians of the rounds")
    print(f"{'handler':<9} {'app':<10} {'CPU us/req':>10} {'p50 ms':>8} {'req/s':>8}")
    with OtlpReceiver() as receiver:
        for name, work in SCENARIOS.items():
            result = run_scenario(name, work, args, receiver)
            plain = result["plain"]
            for app in APPS:
                r = result[app]
                print(f"{name:<9} {app:<10} {r['cpu_us']:>10.0f} {r['p50_ms']:>8.2f} {r['rps']:>8.0f}")
            for app in APPS:
                if app == "plain":
                    continue
                r = result[app]
                ratios = (r["cpu_us"] / plain["cpu_us"], r["p50_ms"] / plain["p50_ms"], r["rps"] / plain["rps"])
                target = f"  (target <= {TARGETS[app]})" if app in TARGETS else ""
                print(f"{name:<9} {app + '/plain':<15} {ratios[0]:>5.2f} {ratios[1]:>8.2f} {ratios[2]:>8.2f}{target}")
            if "rss_mib" in plain:
                served = max(args.memory_requests, 500 + args.rounds * args.requests)
                print(f"{name:<9} resident MiB after {served:,} requests: "
                      + ", ".join(f"{app} {result[app]['rss_mib']:.0f}" for app in APPS))
            kit = result["kit"]
            print(f"{name:<9} spans received {kit['spans_received']:.0f} of {kit['spans_sent']:.0f} sent (warm-up not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
