"""Benchmark of the offline commands: wall time of `python -m stack plan|render dev`
in fresh processes (imports included, as a user runs them). Prints median and max."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7


def wall_times(args: list[str]) -> list[float]:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        for label, args in (("plan dev", ["plan", "dev"]), ("render dev", ["render", "dev", "--out", out])):
            times = wall_times(args)
            print(f"python -m stack {label:<10} median {statistics.median(times):.2f} s  max {max(times):.2f} s  ({RUNS} runs)")


if __name__ == "__main__":
    main()
