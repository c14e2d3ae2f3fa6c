"""SLOs: per gateway service and SLI, the objective from settings, the SLI and
the error budget left over the SLO window, and the burn rate of each window
pair the burn-rate alerts use. Every figure reads the SLO recording rules
(stack/alerting/slo.py), so the board and the alerts cannot disagree."""

from __future__ import annotations

from dashboards.board import Board, environment_variable, graph, promql, single_stat, thresholds
from stack.alerting.rule import number
from stack.alerting.slo import BURN_RATE_WINDOWS, SLIS, sli_record
from stack.settings import Settings

# The SLO window of the SRE workbook, shortened to what Prometheus keeps.
SLO_WINDOW_SECONDS = 30 * 86400
# The budget is averaged over the 5m ratios, as Sloth does; a subquery drops
# the NaN of 5-minute spans without traffic (0/0) instead of averaging it in.
# Its step is a minute, not five: steps sit on whole multiples of the step,
# so a 5m step would leave a stack younger than five minutes with no figure.
SHORTEST, STEP = "5m", "1m"


def slo_window(settings: Settings) -> str:
    days = min(SLO_WINDOW_SECONDS, settings.retention.metrics.seconds) // 86400
    return f"{days}d"


def _error_ratio_over(sli: str, service: str, window: str) -> str:
    return f'avg_over_time(({sli_record(sli, SHORTEST)}{{service="{service}"}} >= 0)[{window}:{STEP}])'


def build(settings: Settings) -> Board:
    window = slo_window(settings)
    board = Board(
        "slo",
        "AI gateway: SLOs",
        f"Objectives, SLIs, error budgets over {window} and burn rates per gateway service; from the SLO recording rules the alerts use.",
    )
    # Prometheus runs per environment and the recorded ratios carry no environment label;
    # the variable keeps the environment across the links between boards.
    board.variables = [environment_variable()]
    pairs = ", ".join(f"{w.long}/{w.short} ×{number(w.factor)}" for w in BURN_RATE_WINDOWS)
    for index, service in enumerate(settings.gateway_services):
        slo = settings.slo_for(service.name)
        board.row(service.name, collapsed=index > 0)
        for sli in SLIS:
            objective = slo.availability if sli == "availability" else slo.latency
            budget = 1 - objective
            what = (
                "requests answered without a server error"
                if sli == "availability"
                else f"requests faster than {number(slo.latency_threshold_seconds)} s"
            )
            errors = _error_ratio_over(sli, service.name, window)
            board.add(
                single_stat(
                    f"{service.name} {sli} objective",
                    f"Objective: the share of {what} the service promises (alerting.slos in settings).",
                    "percentunit",
                    promql(f"vector({number(objective)})", instant=True),
                    decimals=2,
                ),
                4,
                6,
            )
            board.add(
                single_stat(
                    f"{service.name} {sli} SLI ({window})",
                    f"Share of {what} over the last {window}. Below the objective means the budget is spent.",
                    "percentunit",
                    promql(f"1 - {errors}", instant=True),
                    decimals=3,
                    limits=thresholds((objective, "green"), base="red"),
                ),
                4,
                6,
            )
            board.add(
                single_stat(
                    f"{service.name} {sli} error budget left",
                    f"Error budget left over the last {window}: 100% untouched, 0% spent, negative overspent. Spend it on releases while it lasts; freeze risky changes when it is gone.",
                    "percentunit",
                    promql(f"1 - {errors} / {number(budget)}", instant=True),
                    decimals=1,
                    limits=thresholds((0.25, "orange"), (0.5, "green"), base="red"),
                ),
                4,
                6,
            )
            board.add(
                graph(
                    f"{service.name} {sli} burn rate",
                    f"How many times faster than sustainable the budget burns, for each window pair of the alerts ({pairs}). Both windows of a pair above its factor fire the alert.",
                    "short",
                    *(
                        promql(f'{sli_record(sli, w)}{{service="{service.name}"}} / {number(budget)}', w)
                        for w in dict.fromkeys(x for pair in BURN_RATE_WINDOWS for x in (pair.long, pair.short))
                    ),
                    limits=thresholds(
                        *(
                            (p.factor, "red" if p.severity == "critical" else "orange")
                            for p in sorted(BURN_RATE_WINDOWS, key=lambda p: p.factor)
                        )
                    ),
                ),
                12,
                6,
            )
    return board
