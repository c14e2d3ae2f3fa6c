"""Every limit the settings reference states is the one the settings keep,
for each key it names: read from docs/reference/settings.md ("a duration
between 5s and 1m", "a number above 0 and at most 1", "a duration of at
least 1d", "a memory size ..., between 64Mi and 64Gi"), each edge tested on
both sides (an inclusive edge accepted and the value just past it refused;
an exclusive one refused and the value just inside accepted), the refusal
naming the key. A field report (issue 19) found `retention.traces` promised
"at least 24h" with only `retention.logs` tested.

The reference's words come from the validators' own `accepts` words and
the fields' bounds; this test holds the validators to them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

import pytest
from conftest import ROOT

from stack.settings import SettingsError, parse_settings

ROW = re.compile(r"^\| `([^`]+)` \| (.*?) \| (.*?) \| (.*) \|$", re.M)
EDGE = r"([0-9.]+(?:[a-zA-Z]+)?)"
BOUND = re.compile(rf"between {EDGE} and {EDGE}|(at least|above) {EDGE}|(at most|below) {EDGE}")
# The kinds of value that have a range (the rest are text, whose limits are lengths).
VALUE_KINDS = re.compile(r"a number|a whole number|a duration|a memory size|an objective|a mapping: .*; values a duration")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MEMORY_UNITS = {"Mi": 2**20, "Gi": 2**30}
# Placeholders of the reference, as a stack would fill them: a service whose
# SLIs include the key's.
PLACEHOLDERS = {"<component>": "loki"}
# A mapping's row states the range of its values: the key of one entry.
MAPPING_ENTRY = {"alerting.forDurations": "GatewayServiceDown"}
# What else a key's edge needs to be valid on its own: the keys it is checked against or needs beside it.
CONTEXT: dict[str, dict] = {
    "scrapeTimeout": {"scrapeInterval": "1m"},
    "scrapeInterval": {"scrapeTimeout": "1s"},
    "remoteWrite.queue.capacity": {"remoteWrite": {"url": "https://mimir.example.com/api/v1/push"}},
    "remoteWrite.queue.maxSamplesPerSend": {"remoteWrite": {"url": "https://mimir.example.com/api/v1/push"}},
}
# A list entry's other required keys.
LIST_ENTRY = {"logs.streamRetention[]": {"selector": '{level="debug"}', "period": "3d"}}


@dataclass(frozen=True)
class Edge:
    key: str
    value: str
    inclusive: bool
    side: int  # -1 the lower edge, +1 the upper one
    whole: bool


def documented_edges() -> list[Edge]:
    page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    edges = []
    for key, accepts, _, _ in ROW.findall(page):
        whole = accepts.startswith("a whole number")
        if not VALUE_KINDS.match(accepts):
            continue  # text: its "at most 42" is a length, not a value's range
        for found in BOUND.finditer(accepts):
            between_low, between_high, low_word, low, high_word, high = found.groups()
            if between_low:
                edges += [Edge(key, between_low, True, -1, whole), Edge(key, between_high, True, 1, whole)]
            elif low:
                edges.append(Edge(key, low, low_word == "at least", -1, whole))
            else:
                edges.append(Edge(key, high, high_word == "at most", 1, whole))
    return edges


def _unit(text: str) -> tuple[float, str]:
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text).groups()
    return float(number), unit


def beside(edge: Edge, direction: int) -> Any:
    """A value just past `edge.value` (direction +1 above, -1 below), in its own kind."""
    number, unit = _unit(edge.value)
    if unit in DURATION_UNITS:
        return f"{int(number * DURATION_UNITS[unit]) + direction}s"
    if unit in MEMORY_UNITS:
        return f"{int(number * MEMORY_UNITS[unit] / 2**20) + direction}Mi"
    if edge.whole:
        return int(number) + direction
    return round(number + direction * (0.0001 if number < 1 and number != 0 else 0.01), 6)


def at(edge: Edge) -> Any:
    number, unit = _unit(edge.value)
    return edge.value if unit else (int(number) if edge.whole else number)


def service_for(key: str) -> str:
    return "unified-llm-api" if re.search(r"timeToFirstToken|timePerOutputToken", key) else "intelligent-router"


def stack_config(key: str, given: Any) -> tuple[dict, str]:
    """The stack config that sets `key` to `given`, and the environment to parse it in."""
    key = _names(key).replace("[0]", "[]")
    kubernetes = key.startswith("kubernetes.")
    config: dict = {"target": "kubernetes" if kubernetes else "docker"}
    for part, content in CONTEXT.get(key, {}).items():
        config[part] = content
    parts = key.split(".")
    where: Any = config
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part.endswith("[]"):
            entry = dict(LIST_ENTRY[".".join(parts[: index + 1])])
            where[part[:-2]] = [entry]
            where = entry
        elif last:
            where[part] = given
        else:
            where = where.setdefault(part, {})
    return config, "staging" if kubernetes else "dev"


def settle(key: str, given: Any) -> None:
    config, environment = stack_config(key, given)
    parse_settings(config, environment, "test")


def _refused(key: str, given: Any) -> list[str]:
    with pytest.raises(SettingsError) as refused:
        settle(key, given)
    return refused.value.problems


def _names(key: str) -> str:
    """The key as a problem names it: placeholders filled, a list entry by its index."""
    config_key = key.replace("<service>", service_for(key)).replace("[]", "[0]")
    for placeholder, name in PLACEHOLDERS.items():
        config_key = config_key.replace(placeholder, name)
    return f"{config_key}.{MAPPING_ENTRY[key]}" if key in MAPPING_ENTRY else config_key


EDGES = documented_edges()


def test_the_reference_states_the_limits_this_test_reads():
    keys = {edge.key for edge in EDGES}
    assert {"retention.metrics", "retention.logs", "retention.traces", "scrapeInterval", "scrapeTimeout",
            "evaluationInterval", "resources.<component>.memory", "resources.<component>.cpus",
            "alerting.forDurations", "logs.streamRetention[].period", "alerting.slos.<service>.availability",
            "remoteWrite.queue.capacity", "kubernetes.grafanaDatabasePort"} <= keys


@pytest.mark.parametrize("edge", EDGES, ids=lambda e: f"{e.key} {'≥≤'[e.side > 0] if e.inclusive else '><'[e.side > 0]} {e.value}")
def test_each_documented_edge_holds_on_both_sides(edge):
    outside, inside = beside(edge, edge.side), beside(edge, -edge.side)
    settle(edge.key, at(edge) if edge.inclusive else inside)
    refused = _refused(edge.key, outside if edge.inclusive else at(edge))
    assert any(p.startswith(f"gateway-observability:{_names(edge.key)}: given") for p in refused), (edge, refused)
