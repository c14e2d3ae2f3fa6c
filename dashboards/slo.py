"""SLOs: per gateway service and SLI (stack/slis.py), the objective from
settings, the SLI and the error budget left over the SLO window, and the
burn rate of each window pair the burn-rate alerts use. Every figure reads
the SLO recording rules (stack/alerting/slo.py), so the board and the alerts
cannot disagree: the SLI over the window is bad events over events counted
over the whole window (request-weighted, recorded every 5 minutes), never an
average of 5-minute ratios nor a 30-day subquery run at every refresh."""

from __future__ import annotations

from dashboards.board import ENV, Board, environment_variable, graph, promql, single_stat, thresholds
from stack.alerting.rule import number
from stack.alerting.slo import BURN_RATE_WINDOWS, sli_record, slo_window, window_records
from stack.settings import Settings
from stack.slis import AVAILABILITY, LATENCY, TIME_PER_OUTPUT_TOKEN, TIME_TO_FIRST_TOKEN, service_slis

_GOOD = {
    AVAILABILITY: "requests that did not fail (no 5xx, no exception, no stream broken after its header)",
    LATENCY: "requests faster than {threshold} s",
    TIME_TO_FIRST_TOKEN: "streamed LLM calls whose first token came within {threshold} s",
    TIME_PER_OUTPUT_TOKEN: "successful streamed LLM calls with at most {threshold} s per output token after the first",
}


def good_events(settings: Settings, service: str, sli: str) -> str:
    """What the SLI counts as good, in words, with the service's threshold."""
    text = _GOOD[sli]
    return text.replace("{threshold}", number(settings.slo_for(service).threshold_seconds(sli) or 0))


def build(settings: Settings) -> Board:
    window = slo_window(settings)
    board = Board(
        "slo",
        "AI gateway: SLOs",
        f"Objectives, SLIs, error budgets over {window} and burn rates per gateway service and SLI; "
        "from the SLO recording rules the alerts use.",
    )
    board.variables = [environment_variable()]
    pairs = ", ".join(f"{w.long}/{w.short} ×{number(w.factor)}" for w in BURN_RATE_WINDOWS)
    for index, service in enumerate(settings.gateway_services):
        slo = settings.slo_for(service.name)
        board.row(service.name, collapsed=index > 0)
        selector = f'{{{ENV}, service="{service.name}"}}'
        for sli in service_slis(service.name):
            objective = slo.objective(sli)
            budget = 1 - objective
            what = good_events(settings, service.name, sli)
            events, bad = (f"sum({name}{selector})" for name in window_records(sli, window))
            bad_share = f"{bad} / {events}"
            label = sli.replace("_", " ")
            board.add(
                single_stat(
                    f"{service.name} {label} objective",
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
                    f"{service.name} {label} SLI ({window})",
                    f"Share of {what} over the last {window}, counted over every event of the window. "
                    "Below the objective means the budget is spent.",
                    "percentunit",
                    promql(f"1 - {bad_share}", instant=True),
                    decimals=3,
                    limits=thresholds((objective, "green"), base="red"),
                ),
                4,
                6,
            )
            board.add(
                single_stat(
                    f"{service.name} {label} error budget left",
                    f"Error budget left over the last {window}: 100% untouched, 0% spent, negative overspent. "
                    "Spend it on releases while it lasts; freeze risky changes when it is gone.",
                    "percentunit",
                    promql(f"1 - ({bad_share}) / {number(budget)}", instant=True),
                    decimals=1,
                    limits=thresholds((0.25, "orange"), (0.5, "green"), base="red"),
                ),
                4,
                6,
            )
            board.add(
                graph(
                    f"{service.name} {label} burn rate",
                    f"How many times faster than sustainable the budget burns, for each window pair of the alerts "
                    f"({pairs}). Both windows of a pair above its factor (with enough traffic) fire the alert.",
                    "short",
                    *(
                        promql(f"{sli_record(sli, w)}{selector} / {number(budget)}", w)
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
