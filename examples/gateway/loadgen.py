"""Load generator for the demo: chat requests at a fixed rate to the Unified LLM API.

    python -m examples.gateway.loadgen [--url http://127.0.0.1:8000] [--rate 5]
        [--requests 100] [--duration 60] [--concurrency 8] [--seed 0]

Bounded: it stops sending after --requests requests or --duration seconds,
whichever comes first, and each request times out after 30 s. Only loopback
URLs are accepted (the demo runs on 127.0.0.1; this is no load-testing tool
for other hosts). Prompts are drawn from a fixed list with random.Random(seed):
some repeat (cache hits), some are long (routed to a large model), some pin a
model. Prints the count per status and the latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import statistics
import sys
import time
import urllib.parse
from collections import Counter

import httpx

PROMPTS = (
    "What is retrieval augmented generation?",
    "Summarise the plot of Hamlet in two sentences.",
    "Translate 'good morning' into French.",
    "Write a haiku about observability.",
    "Explain exemplars in Prometheus. " + "Give details. " * 120,
)
MODELS = ("auto", "auto", "auto", "gpt-4o-mini", "claude-3-5-haiku")


def loopback_url(value: str) -> str:
    """argparse type: an http URL whose host is a loopback address or localhost."""
    host = urllib.parse.urlsplit(value).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not value.startswith(("http://", "https://")) or not loopback:
        raise argparse.ArgumentTypeError(f"--url: given {value!r}; must be an http URL on 127.0.0.1 (loopback only)")
    return value.rstrip("/")


def bounded(kind, low, high):
    """argparse type: a `kind` number within [low, high], the message naming the range."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"given {text!r}; must be a {kind.__name__} from {low} to {high}")
        return value

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", type=loopback_url, default="http://127.0.0.1:8000", help="the Unified LLM API")
    parser.add_argument("--rate", type=bounded(float, 0.1, 1000), default=5.0, help="requests per second")
    parser.add_argument("--requests", type=bounded(int, 1, 100_000), default=100, help="most requests to send")
    parser.add_argument("--duration", type=bounded(float, 1, 3600), default=60.0, help="most seconds to send for")
    parser.add_argument("--concurrency", type=bounded(int, 1, 256), default=8, help="most requests in flight")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


async def generate(args: argparse.Namespace, statuses: Counter | None = None) -> tuple[Counter, list[float]]:
    """Send the load; (count per status or exception name, latencies in
    seconds). `statuses`, when given, is counted into as answers arrive."""
    rng, latencies = random.Random(args.seed), []
    statuses = Counter() if statuses is None else statuses
    in_flight = asyncio.Semaphore(args.concurrency)

    async def one(client: httpx.AsyncClient, body: dict, key: str) -> None:
        started = time.perf_counter()
        try:
            response = await client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})
            statuses[str(response.status_code)] += 1
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1
        finally:
            latencies.append(time.perf_counter() - started)
            in_flight.release()

    async with httpx.AsyncClient(base_url=args.url, timeout=30) as client:
        start, tasks = time.monotonic(), []
        for i in range(args.requests):
            due = start + i / args.rate
            if due - start >= args.duration:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await in_flight.acquire()
            body = {"model": rng.choice(MODELS), "messages": [{"role": "user", "content": rng.choice(PROMPTS)}]}
            tasks.append(asyncio.create_task(one(client, body, f"demo-key-{rng.randrange(5)}")))
        await asyncio.gather(*tasks)
    return statuses, latencies


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        statuses, latencies = asyncio.run(generate(args))
    except KeyboardInterrupt:
        return 130
    for status, count in sorted(statuses.items()):
        print(f"{status:>20} {count}")
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100)
        print(f"latency p50 {cuts[49] * 1000:.0f} ms, p95 {cuts[94] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
    return 0 if statuses else 1


if __name__ == "__main__":
    sys.exit(main())
