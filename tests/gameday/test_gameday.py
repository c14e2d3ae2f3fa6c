"""The game day (issue 17): every incident of scenarios.py, played against the
real Prometheus and Alertmanager with the rendered rules and routing, must
raise exactly its expected pages (receiver, alertname, severity): a missing
page, an extra one, a wrong severity or a page muted by inhibition fails its
test. Each page's time to notify is held to its floor: never sooner than the
pending period and the group wait, and late by no more than the slack.

The incidents run at once (each with its own Prometheus, Alertmanager and
demo gateway on its own ports), so the whole day takes as long as the
longest few; `make gameday` runs this module and prints the table that
report.py writes (also into <tmp>/gameday.md).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require_tool
from gameday.harness import DRILL, RECEIVERS, RESEND_DELAY_SECONDS, Incident, Outcome, Page, Receivers, floor_terms
from gameday.report import Row, write_table
from gameday.scenarios import LIVE, SYNTHETIC, LiveScenario
from gameday.synthetic import Fired, SyntheticScenario, evaluate, post_alerts, production_settings
from live import start_alertmanager, stop, until, wait_for, write_alertmanager_files

from examples.gateway.run import free_ports
from stack.settings import Settings, parse_settings

# Incidents played at once: each is a demo gateway (four Python processes),
# a Prometheus and an Alertmanager. Two cores carry ten without a late page.
PARALLEL = int(os.environ.get("GAMEDAY_PARALLEL", "10"))
# Late past the floor and still on time: a rate needs a second scrape of a
# new series, the alert group reads the recording group's result up to one
# evaluation later, and 15 s for scheduling on two busy cores.
SLACK_SECONDS = 5 + 5 + 15
# A dead man's switch period: three missed heartbeats (healthchecks.io's period plus grace).
SWITCH_PERIOD_MISSED = 3


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """Every incident played: key -> Played (live) or Replayed (synthetic)."""
    binaries = {"prometheus": require_tool("prometheus"), "alertmanager": require_tool("prometheus-alertmanager")}
    promtool = require_tool("promtool")
    work = tmp_path_factory.mktemp("gameday")
    receivers = Receivers().start()
    results: dict = {}
    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            synthetic = {s.key: pool.submit(_replay, promtool, s, receivers, binaries, work) for s in SYNTHETIC}
            live = {}
            # The longest watches first: the day ends with the last one started.
            for scenario in sorted(LIVE, key=lambda s: s.horizon, reverse=True):
                incident = Incident(scenario.key, scenario.setup, receivers, binaries, work)
                live[scenario.key] = (scenario, incident, pool.submit(incident.play, scenario.fault, scenario.horizon, scenario.check))
            for key, (scenario, incident, future) in live.items():
                results[key] = Played(scenario, future.result(), incident)
            for key, future in synthetic.items():
                results[key] = future.result()
        yield results
    finally:
        receivers.stop()
        rows = [_row(results[key]) for key in (*(s.key for s in LIVE), *(s.key for s in SYNTHETIC)) if key in results]
        print("\n" + write_table(rows, work / "gameday.md"))


@dataclass
class Played:
    scenario: LiveScenario
    outcome: Outcome
    incident: Incident


@dataclass
class Replayed:
    scenario: SyntheticScenario
    fired: Fired
    pages: dict[Page, float]
    settings: Settings


def _replay(promtool: str, scenario: SyntheticScenario, receivers: Receivers, binaries: dict[str, str], work: Path) -> Replayed:
    """A synthetic incident: promtool says what fires and when; a real
    Alertmanager with the drill's routing says who is notified."""
    settings = production_settings()
    fired = evaluate(promtool, settings, scenario, work / "synthetic")
    (port,) = free_ports(1)
    routing = parse_settings(
        {"target": "docker", "alerting": {"routing": _drill_routing(receivers, scenario.key)}}, "gameday", f"game day {scenario.key}"
    )
    config = write_alertmanager_files(routing, work / f"synthetic-am-{scenario.key}", {})
    log = open(config.parent / "alertmanager.log", "w")
    process = start_alertmanager(binaries["alertmanager"], config, port, log)
    try:
        wait_for(f"http://127.0.0.1:{port}/-/ready")
        sent = time.monotonic()
        post_alerts(f"http://127.0.0.1:{port}", fired.at_horizon)
        expected = scenario.expected
        until(lambda: expected <= set(receivers.pages(scenario.key, since=sent)), timeout=20)
        time.sleep(5)  # then anything else that was going to arrive
        pages = receivers.pages(scenario.key, since=sent)
    finally:
        stop([process])
        log.close()
    return Replayed(scenario, fired, pages, settings)


def _drill_routing(receivers: Receivers, key: str) -> dict:
    """The drill's routing (harness.DRILL) with this scenario's receivers."""
    routing = dict(DRILL["alerting"]["routing"])
    routing["receivers"] = [{"name": r, "webhook": {"url": f"{receivers.url}/{key}/{r}"}} for r in RECEIVERS]
    return routing


def _row(result: Played | Replayed) -> Row:
    if isinstance(result, Replayed):
        scenario, fired, pages, settings = result.scenario, result.fired, result.pages, result.settings
        # Replayed at production timings: both floors are production's.
        times = {p: fired.first.get(p.alertname) for p in pages}
        return Row(scenario.incident, "replayed", {p: (t, _floor(settings, p), _floor(settings, p)) for p, t in times.items()})
    scenario, outcome, incident = result.scenario, result.outcome, result.incident
    production = production_settings()
    # A signal's window (GatewayRouterStalled's) is 1m in the drill and in production alike.
    shown = {
        p: (t, _floor(incident.settings, p) + scenario.signal_window, _floor(production, p) + scenario.signal_window)
        for p, t in outcome.pages.items()
    }
    if scenario.dead_mans_switch and outcome.heartbeats:
        shown[Page("dead man's switch", "Watchdog", "heartbeat missed")] = (
            max(outcome.heartbeats) + _switch_period(incident.settings),
            _alert_lifetime(incident.settings, RESEND_DELAY_SECONDS) + _switch_period(incident.settings),
            # Prometheus' default --rules.alert.resend-delay is 1m.
            _alert_lifetime(production, 60) + _switch_period(production),
        )
    return Row(scenario.incident, "live", shown, error=outcome.error)


def _floor(settings, page: Page) -> int:
    return sum(floor_terms(settings, page.alertname, page.severity).values())


def _switch_period(settings) -> int:
    """The dead man's switch's period: three missed heartbeats."""
    return SWITCH_PERIOD_MISSED * settings.alerting.routing.heartbeat_interval.seconds


def _alert_lifetime(settings, resend_delay: int) -> int:
    """How long Alertmanager keeps an alert Prometheus stopped sending: 4 x max(resend delay, evaluation interval)."""
    return 4 * max(resend_delay, settings.evaluation_interval.seconds)


def _compare(expected: frozenset[Page], got: set[Page], suppressed: dict[str, list[str]]) -> list[str]:
    problems = [f"missing page: {p}" + (" (muted by an inhibition)" if p.alertname in suppressed else "") for p in sorted(expected - got)]
    problems += [f"extra page: {p}" for p in sorted(got - expected)]
    return problems


@pytest.mark.parametrize("scenario", LIVE, ids=[s.key for s in LIVE])
def test_a_live_incident_pages_exactly_the_right_people_in_time(day, scenario):
    outcome, incident = day[scenario.key].outcome, day[scenario.key].incident
    assert not outcome.error, outcome.error
    problems = _compare(scenario.expected, set(outcome.pages), outcome.suppressed)
    if outcome.check_failed:
        problems.append(outcome.check_failed)
    assert not problems, f"{scenario.incident}:\n  " + "\n  ".join(problems) + f"\n  load answers: {dict(outcome.answers)}"
    for page, seconds in outcome.pages.items():
        terms = incident.floor(page)
        floor = sum(terms.values()) + scenario.signal_window
        assert terms["for"] + terms["group_wait"] <= seconds <= floor + SLACK_SECONDS, (page, seconds, terms)
    if scenario.dead_mans_switch:
        period = _switch_period(incident.settings)
        assert outcome.heartbeats, "the heartbeat never arrived before the fault"
        last = max(outcome.heartbeats)
        assert last + period <= scenario.horizon, f"the heartbeat kept arriving until {last:.0f} s after the fault"


@pytest.mark.parametrize("scenario", SYNTHETIC, ids=[s.key for s in SYNTHETIC])
def test_a_replayed_incident_pages_exactly_the_right_people(day, scenario):
    fired, pages = day[scenario.key].fired, day[scenario.key].pages
    problems = _compare(scenario.expected, set(pages), {})
    assert not problems, f"{scenario.incident}:\n  " + "\n  ".join(problems) + f"\n  fired: {fired.at_horizon}"
    for page in scenario.expected:
        assert page.alertname in fired.first, f"{page.alertname} fired at the horizon but not in the sweep"
