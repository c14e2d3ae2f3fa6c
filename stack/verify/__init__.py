"""`python -m stack verify <env>` (`make verify`): after `make up`, ask the
live stack whether it really works, as `helm test` does for a chart.

One line per check (name, ok/FAIL/skip, reason), a summary line, exit code 1
when any check fails or nothing answers at all, 0 otherwise. Every request is
bounded in time and every waiting check (targets not scraped yet, canaries)
has its own bound, so a healthy stack answers in seconds and a broken one in
well under a minute. What each check asks is in its module:
`prometheus`, `alertmanager` (config, cluster, Watchdog), `loki`, `grafana`,
`jaeger`.
"""

from __future__ import annotations

import sys
from typing import Callable, Iterable, Optional, TextIO

from stack.settings import Settings
from stack.verify import alertmanager, grafana, jaeger, loki, prometheus
from stack.verify.endpoints import ENDPOINTS, EndpointError, endpoints, parse_url_option
from stack.verify.report import FAIL, OK, SKIP, Result, nothing_listens, run_groups

EXIT_PASSED, EXIT_FAILED = 0, 1

__all__ = ["ENDPOINTS", "EXIT_FAILED", "EXIT_PASSED", "EndpointError", "Result", "parse_url_option", "verify_stack"]


def verify_stack(
    stack: str,
    settings: Settings,
    url_options: Iterable[str] = (),
    *,
    grafana_password: Optional[Callable[[], str]] = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Run every check against the stack named `stack` and print the report.

    `url_options` are `name=URL` overrides of the published addresses (names in
    ENDPOINTS; raises EndpointError for a bad one); `grafana_password` defaults
    to grafana.admin_password(stack). Returns EXIT_PASSED or EXIT_FAILED."""
    out, err = out or sys.stdout, err or sys.stderr
    urls = endpoints(settings, url_options)
    if nothing_listens(urls.values()):
        listed = ", ".join(f"{name} {url}" for name, url in urls.items())
        print(
            f"python -m stack verify: the {stack} stack is not up: connection refused at every endpoint ({listed}); "
            f"start it with `make up ENV={stack}` (or point --url at where it runs)",
            file=err,
        )
        return EXIT_FAILED
    password = grafana_password or (lambda: grafana.admin_password(stack))
    groups = [
        prometheus.checks(settings, urls),
        alertmanager.checks(settings, urls),
        loki.checks(settings, urls),
        grafana.checks(urls, password),
        jaeger.checks(settings.environment, urls),
    ]
    counts = {OK: 0, FAIL: 0, SKIP: 0}
    for result in run_groups(groups):
        counts[result.status] += 1
        print(result.line(), file=out, flush=True)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    verdict = "the stack works" if not counts[FAIL] else "the stack is NOT working"
    print(f"{summary}: {verdict}", file=out)
    return EXIT_FAILED if counts[FAIL] else EXIT_PASSED
