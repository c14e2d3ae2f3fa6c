"""Every limit the README's settings table states is the one the settings
keep, for each key it names: read from the table (`(5s–1m`, `(0.05–16)`,
`(64Mi–64Gi`, `(at least 24h)`), each edge accepted and a value just past it
refused with a message naming the key. A field report (issue 19) found
`retention.traces` promised "at least 24h" with only `retention.logs` tested."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from conftest import ROOT

from stack.settings import SettingsError, parse_settings

ROW = re.compile(r"^\| `([^`]+)` \| (.*?) \| (.*) \|$", re.M)
RANGE = re.compile(r"\((?:at least (?P<least>[0-9.]+[a-zA-Z]*)|(?P<low>[0-9.]+[a-zA-Z]*)–(?P<high>[0-9.]+[a-zA-Z]*))[),:]")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MEMORY_UNITS = {"Mi": 2**20, "Gi": 2**30}
# What else a key's edge needs to be valid on its own (the table says it: a
# timeout not above the interval).
CONTEXT = {"scrapeTimeout": {"scrapeInterval": "1m"}, "scrapeInterval": {"scrapeTimeout": "1s"}}


@dataclass(frozen=True)
class Limit:
    key: str
    low: str | None
    high: str | None


def documented_limits() -> list[Limit]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Settings\n") :]
    section = section[: section.index("\n## ", 1)]
    limits = []
    for key, _, description in ROW.findall(section):
        found = RANGE.search(description)
        if found:
            limits.append(Limit(key.replace("<component>", "loki"), found["least"] or found["low"], found["high"]))
    return limits


def _unit(text: str) -> tuple[float, str]:
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text).groups()
    return float(number), unit


def step(edge: str, direction: int) -> str:
    """A value just past `edge` (direction -1 below, +1 above), in its own kind."""
    number, unit = _unit(edge)
    if unit in DURATION_UNITS:
        return f"{int(number * DURATION_UNITS[unit]) + direction}s"
    if unit in MEMORY_UNITS:
        return f"{int(number * MEMORY_UNITS[unit] / 2**20) + direction}Mi"
    return f"{number + direction * 0.01:g}"


def value(text: str):
    number, unit = _unit(text)
    return text if unit else number


def nested(key: str, given) -> dict:
    """`a.b.c: given` as the nested mapping a stack file holds."""
    config: dict = {}
    where = config
    parts = key.split(".")
    for part in parts[:-1]:
        where = where.setdefault(part, {})
    where[parts[-1]] = given
    return config


def settle(key: str, given) -> None:
    config = {"target": "docker", **CONTEXT.get(key, {})}
    for part, content in nested(key, given).items():
        config[part] = {**config.get(part, {}), **content} if isinstance(content, dict) else content
    parse_settings(config, "dev", "test")


LIMITS = documented_limits()


def test_the_table_states_the_limits_this_test_reads():
    keys = {limit.key for limit in LIMITS}
    assert {"retention.metrics", "retention.logs", "retention.traces", "scrapeInterval", "scrapeTimeout",
            "evaluationInterval", "resources.loki.memory", "resources.loki.cpus"} <= keys


@pytest.mark.parametrize("limit", LIMITS, ids=lambda limit: limit.key)
def test_each_documented_edge_is_accepted_and_a_value_past_it_refused(limit):
    for edge, direction in ((limit.low, -1), (limit.high, 1)):
        if edge is None:
            continue
        settle(limit.key, value(edge))
        past = step(edge, direction)
        with pytest.raises(SettingsError) as refused:
            settle(limit.key, value(past))
        assert any(problem.startswith(f"gateway-observability:{limit.key}: given") for problem in refused.value.problems), (
            limit, past, refused.value.problems
        )
