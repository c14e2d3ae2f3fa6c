"""How checks run and read: one line each (name, ok/FAIL/skip, reason), run
concurrently by component and printed in a fixed order, no exception ever
escaping as a traceback."""

from __future__ import annotations

import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

from stack.verify.client import CheckFailed

OK, FAIL, SKIP = "ok", "FAIL", "skip"
SHOWN = 3  # problems named in one line; the count says how many more
NAME_WIDTH = 32  # the longest name, 'grafana datasource alertmanager', and a space


class Skipped(Exception):
    """The stack's settings leave nothing to check here (the reason says what
    to set); not a failure."""


@dataclass(frozen=True)
class Result:
    name: str
    status: str  # OK, FAIL or SKIP
    reason: str

    def line(self) -> str:
        return f"{self.name:<{NAME_WIDTH}} {self.status:<4}  {self.reason}"


def listed(problems: list[str]) -> str:
    """The first SHOWN problems joined, and how many more there are."""
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return "; ".join(problems[:SHOWN]) + more


# (name, function returning the ok reason; raises CheckFailed or Skipped)
Check = tuple[str, Callable[[], str]]


def run_check(name: str, check: Callable[[], str]) -> Result:
    """Any exception becomes a FAIL line: a post-deploy check must report, not crash."""
    try:
        return Result(name, OK, check())
    except Skipped as skipped:
        return Result(name, SKIP, str(skipped))
    except CheckFailed as failed:
        return Result(name, FAIL, str(failed))
    except Exception as error:  # noqa: BLE001 - a bug or a surprising answer is still one line
        return Result(name, FAIL, f"unexpected {type(error).__name__}: {error}")


def run_groups(groups: Sequence[Sequence[Check]]) -> Iterator[Result]:
    """Each group's checks in order, the groups concurrently (each waits for
    its own component); results come out in the groups' order."""
    with ThreadPoolExecutor(max_workers=max(1, len(groups)), thread_name_prefix="verify") as pool:
        futures = [pool.submit(lambda g=group: [run_check(name, fn) for name, fn in g]) for group in groups]
        for future in futures:
            yield from future.result()


def poll(attempt: Callable[[], object], seconds: float, step: float = 0.5) -> object:
    """Call `attempt` until it returns something truthy or `seconds` pass;
    returns the last value (falsy when it never came)."""
    deadline = time.monotonic() + seconds
    while True:
        value = attempt()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def _refused(url: str, timeout: float) -> bool:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:  # a timeout or an unknown host is a fault to report per check, not "not up"
        return False


def nothing_listens(urls: Iterable[str], timeout: float = 2.0) -> bool:
    """True when every endpoint refuses the connection: the stack is not up at all."""
    urls = list(urls)
    with ThreadPoolExecutor(max_workers=max(1, len(urls))) as pool:
        return all(pool.map(lambda u: _refused(u, timeout), urls))
