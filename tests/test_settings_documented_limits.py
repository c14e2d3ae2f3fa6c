"""Every limit the settings reference states is the one the settings keep,
for each key it names: read from docs/reference/settings.md ("a duration
between 5s and 1m", "a number above 0 and at most 1", "a duration of at
least 1d", "a memory size ..., between 64Mi and 64Gi"), each edge tested on
both sides (an inclusive edge accepted and the value just past it refused;
an exclusive one refused and the value just inside accepted), the refusal
naming the key. A field report (issue 19) found `retention.traces` promised
"at least 24h" with only `retention.logs` tested.

The same for every length it states ("at most 42 characters", "3 to 63
lower-case letters"): a text of that many characters accepted, one more (or
one fewer) refused. The reference's words come from the validators' own
`accepts` words and the fields' bounds; this test holds the validators to them."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

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
MAPPING_ENTRY = {"alerting.forDurations": "GatewayServiceDown", "remoteWrite.headers": "X-Scope-OrgID"}
# What else a key's edge needs to be valid on its own: the keys it is checked against or needs beside it.
CONTEXT: dict[str, dict] = {
    "scrapeTimeout": {"scrapeInterval": "1m"},
    "scrapeInterval": {"scrapeTimeout": "1s"},
    "remoteWrite.queue.capacity": {"remoteWrite": {"url": "https://mimir.example.com/api/v1/push"}},
    "remoteWrite.queue.maxSamplesPerSend": {"remoteWrite": {"url": "https://mimir.example.com/api/v1/push"}},
    "remoteWrite.username": {"remoteWrite": {"url": "https://mimir.example.com/api/v1/push", "auth": "basic"}},
    "remoteWrite.headers": {"remoteWrite": {"url": "https://mimir.example.com/api/v1/push"}},
    "logs.storage.s3.bucket": {"logs": {"storage": {"type": "s3", "s3": {"endpoint": "s3.eu-west-1.amazonaws.com"}}}},
    "logs.storage.gcs.bucket": {"logs": {"storage": {"type": "gcs", "gcs": {}}}},
    "logs.storage.azure.accountName": {"logs": {"storage": {"type": "azure", "azure": {"container": "loki-chunks"}}}},
    "logs.storage.azure.container": {"logs": {"storage": {"type": "azure", "azure": {"accountName": "gatewaylogs"}}}},
    "traces.elasticsearch.indexPrefix": {"traces": {"storage": "elasticsearch", "elasticsearch": {"serverUrls": ["https://es:9200"]}}},
    "traces.opensearch.indexPrefix": {"traces": {"storage": "opensearch", "opensearch": {"serverUrls": ["https://os:9200"]}}},
    # Names that must name something defined: a receiver, or a gateway service.
    **{
        f"alerting.routing.{severity}": (lambda names: {"alerting": {"routing": {"receivers": [{"name": names if isinstance(names, str) else names[0], "webhook": {"url": "https://hooks.example.com/a"}}]}}})
        for severity in ("critical", "warning", "info", "heartbeat")
    },
    **{
        f"alerting.routing.teams[].{severity}": (lambda names: {"alerting": {"routing": {"receivers": [{"name": names if isinstance(names, str) else names[0], "webhook": {"url": "https://hooks.example.com/a"}}]}}})
        for severity in ("critical", "warning", "info")
    },
    "alerting.routing.teams[].services": lambda names: {"gatewayServices": [{"name": names[0], "address": "svc:8000"}]},
    "alerting.slos": lambda slos: {"gatewayServices": [{"name": next(iter(slos)), "address": "svc:8000"}]},
}
# A list entry's other required keys.
LIST_ENTRY = {
    "logs.streamRetention[]": {"selector": '{level="debug"}', "period": "3d"},
    "gatewayServices[]": {"address": "embeddings-api:8003"},
    "alerting.routing.receivers[]": {"name": "chat"},  # its kind is the key's (slack.channel), else:
    "alerting.routing.receivers[].name": {"webhook": {"url": "https://hooks.example.com/alerts"}},
    "alerting.routing.teams[]": {"team": "ml"},
}


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
    context = CONTEXT.get(key, {})
    key = _names(key).replace("[0]", "[]")
    kubernetes = key.startswith("kubernetes.")
    config: dict = {"target": "kubernetes" if kubernetes else "docker"}
    for part, content in copy.deepcopy(context(given) if callable(context) else context).items():
        config[part] = content
    parts = key.split(".")
    where: Any = config
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part.endswith("[]"):
            entry = copy.deepcopy({**LIST_ENTRY.get(".".join(parts[: index + 1]), {}), **LIST_ENTRY.get(key, {})})
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


# --- lengths: "at most 42 characters", "3 to 63 lower-case letters ..." --------------

LENGTH = re.compile(r"at most (?P<most>[0-9]+)(?: characters|\))|\b(?P<low>[0-9]+) to (?P<high>[0-9]+) (?:characters|lower-case)")


@dataclass(frozen=True)
class Length:
    key: str
    chars: int
    side: int  # -1 the fewest characters allowed, +1 the most
    listed: bool  # the key holds a list of such texts


def documented_lengths() -> list[Length]:
    page = (ROOT / "docs" / "reference" / "settings.md").read_text()
    lengths = []
    for key, accepts, _, _ in ROW.findall(page):
        listed = accepts.startswith("a list")
        for found in LENGTH.finditer(accepts):
            if found["most"]:
                lengths.append(Length(key, int(found["most"]), 1, listed))
            else:
                lengths += [Length(key, int(found["low"]), -1, listed), Length(key, int(found["high"]), 1, listed)]
    return lengths


def text_of(length: Length, chars: int) -> Any:
    """A value of `chars` characters of the key's own kind."""
    text = ("#" if length.key.endswith("slack.channel") else "") + "a" * chars
    if length.key == "alerting.slos":
        return {text: {}}  # its keys are the named texts
    return [text] if length.listed else text


LENGTHS = documented_lengths()


def test_the_reference_states_the_lengths_this_test_reads():
    keys = {length.key for length in LENGTHS}
    assert {"environment", "namePrefix", "gatewayNetwork", "alerting.routing.receivers[].slack.channel",
            "logs.storage.s3.bucket", "kubernetes.namespace", "remoteWrite.username", "alerting.slos",
            "alerting.routing.critical", "remoteWrite.headers"} <= keys


@pytest.mark.parametrize("length", LENGTHS, ids=lambda n: f"{n.key} {'≥≤'[n.side > 0]} {n.chars}")
def test_each_documented_length_holds_on_both_sides(length):
    settle(length.key, text_of(length, length.chars))
    refused = _refused(length.key, text_of(length, length.chars + length.side))
    assert any(p.startswith(f"gateway-observability:{_names(length.key)}") for p in refused), (length, refused)


# --- a value of the wrong type gets the same words ---------------------------------

NUMBERS = sorted({(key, accepts) for key, accepts, _, _ in ROW.findall((ROOT / "docs" / "reference" / "settings.md").read_text())
                  if re.fullmatch(r"an? (whole )?number (between|of at least|above|at most|below) .*", accepts)})


def test_the_numbers_this_test_reads():
    assert {"resources.<component>.cpus", "alerting.thresholds.hourlyBudgetUsd", "kubernetes.grafanaDatabasePort",
            "remoteWrite.queue.capacity", "logs.limits.maxQuerySeries"} <= {key for key, _ in NUMBERS}


@pytest.mark.parametrize("key, accepts", NUMBERS, ids=[key for key, _ in NUMBERS])
def test_a_number_given_as_words_is_refused_with_the_range_the_reference_states(key, accepts):
    # Field report (issue 19): `cpus: given 'two'; expected a number` said no range.
    assert f"gateway-observability:{_names(key)}: given 'lots'; expected {accepts}" in _refused(key, "lots")
