"""Settings problems in the operator's words: no regular expressions, no Python
or pydantic vocabulary, YAML mistakes with file, line and column, and a key
without its project prefix explained as such."""

from __future__ import annotations

import datetime
import re

import pytest
import yaml
from settings_paths import DIRECT_ONLY, MALFORMED, config_with, key_of, settings_paths

from stack.settings import PROJECT, SettingsError, load_from_stack_file, parse_settings
from stack.settings.errors import show

# Text that is wrong in a way only a pattern or a check in words can say.
WRONG_TEXT = ["Not A Valid Value!", "-", "a" * 100, "#", "@", "latest", "1e400", "9" * 5000, "25:00", "/path with space"]

# What must never reach an operator: regex syntax, Python and pydantic words.
JARGON = re.compile(
    r"\^|\$\)|\[a-z|\[A-Z|\\d|\\s|\{0,|\)\?"  # regular expressions
    r"|Input should|valid (dictionary|tuple|string|integer|number|list|boolean)|Value error|Extra inputs"
    r"|\b(dict|int|str|float|bool|tuple|NoneType|list_type|int_parsing|model_type)\b|pydantic|instance of|Traceback"
    r"|not accepted here"  # the wording table's fallback: an error type nobody worded
)


def every_message() -> list[str]:
    """The problems the model reports for every wrong value at every path."""
    messages = []
    for path in settings_paths():
        for value in MALFORMED + DIRECT_ONLY + WRONG_TEXT:
            try:
                parse_settings(config_with(path, value), "test", "Pulumi.test.yaml")
            except SettingsError as error:
                messages += error.problems
    return messages


MESSAGES = every_message()


def test_the_walk_sees_every_kind_of_error():
    # The walk is only worth something if it reaches each way a value can be wrong.
    for words in (
        "expected text",
        "expected a whole number",
        "expected a number",
        "expected a finite number",
        "expected true or false",
        "expected a list",
        "expected a mapping",
        "expected one of",
        "unknown key",
        "key not allowed",
        "required but not set",
        "expected a duration",
        "expected a lower-case DNS label",
        "expected a Slack channel",
        "must have exactly one of",
    ):
        assert any(words in m for m in MESSAGES), words
    assert len(MESSAGES) > 2000


def test_no_message_holds_regex_syntax_or_python_words():
    offending = sorted({m for m in MESSAGES if JARGON.search(m)})
    assert not offending, "\n".join(offending[:20])


def test_the_jargon_check_catches_what_pydantic_says_by_itself():
    # Proves the check above can fail: pydantic's own wording of the same errors is caught.
    from pydantic import BaseModel, Field, ValidationError

    class Raw(BaseModel):
        name: str = Field(pattern=r"^[a-z]([a-z0-9-]{0,40}[a-z0-9])?$")
        items: tuple[int, ...] = ()

    with pytest.raises(ValidationError) as caught:
        Raw.model_validate({"name": "Bad_Name", "items": {"a": "x"}})
    assert all(JARGON.search(e["msg"]) for e in caught.value.errors())


def test_a_wrong_name_is_explained_in_words():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "gatewayServices": [{"name": "Bad_Name", "address": "a:1"}]}, "test", "t")
    assert caught.value.problems == [
        f"{PROJECT}:gatewayServices[0].name: given 'Bad_Name'; expected a lower-case DNS label: lower-case letters, "
        "digits and '-', starting with a letter, not ending with '-', at most 42 characters"
    ]


def test_values_are_shown_as_yaml_writes_them():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "cluster": None, "namePrefix": True, "bindAddress": [1, {"a": None}]}, "t", "t")
    message = str(caught.value)
    assert "cluster: given null;" in message
    assert "namePrefix: given true;" in message
    assert "bindAddress: given [1, {a: null}];" in message


@pytest.mark.parametrize(
    "value, shown",
    [
        ({"team": "ml"}, "{team: ml}"),
        ([{"name": "s", "receivers": ["a", "b"]}], "[{name: s, receivers: [a, b]}]"),
        # Text YAML would read as something else, or not at all, is quoted as YAML quotes it.
        (["yes", "1.5", "~", "a: b", "#x", "", " x", "a,b", "it's"], "['yes', '1.5', '~', 'a: b', '#x', '', ' x', 'a,b', it's]"),
        (["a\nb"], '["a\\nb"]'),
        ("it's", "'it''s'"),  # text on its own is always quoted, so its ends show
        (datetime.date(2026, 3, 2), "2026-03-02 (a date/time)"),
        ([datetime.date(2026, 3, 2)], "[2026-03-02]"),
    ],
)
def test_values_are_shown_in_yaml_flow_style(value, shown):
    assert show(value) == shown
    if not isinstance(value, datetime.date):
        assert yaml.safe_load(shown) == value  # what is shown reads back as what was given


# How Python prints values; an operator wrote YAML.
PYTHON_REPR = re.compile(r"\{'|\['|\bdatetime\(|\bdate\(|\bNone\b|\bTrue\b|\bFalse\b")


def test_no_message_shows_a_value_as_python_prints_it():
    offending = sorted({m for m in MESSAGES if PYTHON_REPR.search(m)})
    assert not offending, "\n".join(offending[:20])
    # The walk gives mappings, lists of mappings and dates where text is expected.
    assert any(": given {" in m for m in MESSAGES)
    assert any(": given [{" in m for m in MESSAGES)
    assert any("(a date/time); expected text" in m for m in MESSAGES)


def test_a_yaml_date_is_shown_as_it_was_written(tmp_path):
    path = write(
        tmp_path,
        f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:cluster: 2026-03-02T10:00:00Z\n"
        f"  {PROJECT}:namePrefix: 2026-03-02\n  {PROJECT}:gatewayNetwork: [2026-03-02 10:00:00 +01:00]\n",
    )
    assert problems_of(path) == [
        f"{PROJECT}:cluster: given 2026-03-02T10:00:00Z (a date/time); expected text",
        f"{PROJECT}:namePrefix: given 2026-03-02 (a date/time); expected text",
        f"{PROJECT}:gatewayNetwork: given [2026-03-02 10:00:00 +01:00]; expected text",
    ]


def test_a_key_given_twice_is_refused_with_file_line_and_column(tmp_path):
    # Pulumi's YAML reader refuses it; PyYAML alone would keep the last one silently.
    path = write(
        tmp_path,
        f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:cluster: eu-1\n"
        f"  {PROJECT}:gatewayServices:\n    - {{name: api, address: 'api:8000', name: router}}\n"
        f"  '{PROJECT}:cluster': eu-2\n",
    )
    assert problems_of(path) == [
        "Pulumi.dev.yaml:5:40: 'name' is given twice in one mapping (first on line 5); Pulumi refuses a repeated key: keep one",
        f"Pulumi.dev.yaml:6:3: '{PROJECT}:cluster' is given twice in one mapping (first on line 3); "
        "Pulumi refuses a repeated key: keep one",
    ]


def test_a_merge_key_may_repeat_what_it_merges(tmp_path):
    path = write(
        tmp_path,
        f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:resources:\n"
        "    loki: &small {memory: 1Gi, cpus: 1}\n    grafana: {<<: *small, cpus: 0.5}\n",
    )
    assert load_from_stack_file(path).settings.resources_for("grafana").cpus == 0.5


@pytest.mark.parametrize("stack, suggested", [("Prod_EU", "prod-eu"), ("9lives", "env-9lives"), ("EU.West", "eu-west")])
def test_an_environment_taken_from_the_stack_name_says_so(tmp_path, stack, suggested):
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(f"config:\n  {PROJECT}:target: docker\n")
    assert problems_of(path) == [
        f"{PROJECT}:environment: not set, so it is the stack's name, '{stack}' (as in Pulumi.{stack}.yaml), which is "
        "not a lower-case DNS label: lower-case letters, digits and '-', starting with a letter, not ending with '-', "
        f"at most 42 characters; rename the stack (e.g. {suggested}) or set {PROJECT}:environment"
    ]
    # Set explicitly, the environment is the operator's value and the stack name is fine.
    path.write_text(f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:environment: {suggested}\n")
    assert load_from_stack_file(path).settings.environment == suggested
    path.write_text(f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:environment: {stack}\n")
    assert problems_of(path)[0].startswith(f"{PROJECT}:environment: given '{stack}'; expected a lower-case DNS label")


def test_a_stack_file_must_be_named_after_its_stack(tmp_path):
    for name in ("stack.yaml", "Pulumi.yaml", "Pulumi.dev.yml", "pulumi.dev.yaml"):
        path = tmp_path / name
        path.write_text(f"config:\n  {PROJECT}:target: docker\n")
        assert problems_of(path) == [
            f"{name}: a stack file must be named Pulumi.<stack>.yaml: the stack's name, and so its environment, is taken from it"
        ]


def write(tmp_path, text: str):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    return path


def problems_of(path) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(path)
    return caught.value.problems


def test_yaml_syntax_errors_name_file_line_and_column(tmp_path):
    path = write(tmp_path, f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:retention: {{metrics: 8d\n")
    [problem] = problems_of(path)
    assert problem.startswith("Pulumi.dev.yaml:4:1: YAML syntax error: "), problem
    path = write(tmp_path, f"config:\n  {PROJECT}:target: docker\n   bad indent: x\n")
    [problem] = problems_of(path)
    assert re.match(r"Pulumi\.dev\.yaml:3:\d+: YAML syntax error: mapping values are not allowed here", problem), problem


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Pulumi.dev.yaml is empty; expected `config:` with at least gateway-observability:target"),
        ("# only a comment\n", "Pulumi.dev.yaml is empty; expected `config:` with at least gateway-observability:target"),
        ("- config\n", "Pulumi.dev.yaml: expected a mapping with a `config:` section at the top, found a list"),
        ("just text\n", "Pulumi.dev.yaml: expected a mapping with a `config:` section at the top, found text"),
        ("config: [a, b]\n", "Pulumi.dev.yaml: `config:` must be a mapping of gateway-observability:<key>: <value> entries, found a list"),
        ("config: docker\n", "Pulumi.dev.yaml: `config:` must be a mapping of gateway-observability:<key>: <value> entries, found text"),
        ("config:\n  gateway-observability:target: docker\n  7: x\n", "Pulumi.dev.yaml: config key 7 is not a name; write gateway-observability:<key>"),
        ("config:\n  ~: docker\n  gateway-observability:target: docker\n", "Pulumi.dev.yaml: config key null is not a name; write gateway-observability:<key>"),
        ("config: {gateway-observability:target: docker, n: " + "9" * 5000 + "}\n", "Pulumi.dev.yaml: a number has more digits than can be read (at most 4300)"),
        ("config:\n  gateway-observability:target: docker\n  gateway-observability:gatewayServices: &a [*a]\n", "Pulumi.dev.yaml: a YAML alias (*name) is used inside its own anchor (&name)"),
        ("config:\n  gateway-observability:target: !python/object:os.system x\n", "Pulumi.dev.yaml:2:33: YAML syntax error: could not determine a constructor for the tag '!python/object:os.system'"),
        ("config:\n  ? [a]\n  : docker\n", "Pulumi.dev.yaml:2:5: YAML syntax error: found unhashable key (while constructing a mapping)"),
    ],
    ids=["empty", "comment only", "a list", "text", "config a list", "config text", "a number as key", "null as key", "huge number", "alias in itself", "a tag", "a list as key"],
)
def test_a_file_not_shaped_like_a_stack_file_gets_one_line(tmp_path, text, message):
    assert problems_of(write(tmp_path, text)) == [message]


def test_an_unreadable_file_gets_one_line(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_bytes(b"config:\n  gateway-observability:target: \xff\xfe\n")
    assert problems_of(path) == ["Pulumi.dev.yaml is not UTF-8 text"]
    assert problems_of(tmp_path / "Pulumi.missing.yaml")[0].startswith(f"cannot read {tmp_path / 'Pulumi.missing.yaml'}: ")


def test_a_key_without_the_project_prefix_is_explained_and_its_value_still_checked(tmp_path):
    path = write(tmp_path, f"config:\n  target: docker\n  scrapeInterval: 1s\n  {PROJECT}:cluster: eu-1\n")
    assert problems_of(path) == [
        f"'target' has no project prefix; write {PROJECT}:target",
        f"'scrapeInterval' has no project prefix; write {PROJECT}:scrapeInterval",
        f"{PROJECT}:scrapeInterval: given '1s'; expected a duration between 5s and 1m",
    ]


def test_a_misspelled_project_prefix_is_explained(tmp_path):
    path = write(tmp_path, f"config:\n  {PROJECT}:target: docker\n  gateway-observabilty:namePrefix: edge\n")
    assert problems_of(path) == [
        f"'gateway-observabilty:namePrefix': 'gateway-observabilty' is not this project's namespace; write {PROJECT}:namePrefix"
    ]


def test_keys_of_other_namespaces_are_accepted(tmp_path):
    path = write(
        tmp_path,
        f"config:\n  {PROJECT}:target: docker\n  docker:host: unix:///var/run/docker.sock\n"
        "  kubernetes:context: kind-dev\n  random:seed: 3\n",
    )
    assert load_from_stack_file(path).settings.target == "docker"


def test_keys_are_read_in_camel_case_only():
    # One spelling per key, as the settings reference documents it: snake_case is an unknown key.
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "scrape_interval": "30s", "retention": {"metrics": "8d"}}, "dev", "t")
    assert caught.value.problems == [
        f"{PROJECT}:scrape_interval: unknown key (given '30s'); did you mean scrapeInterval? allowed keys: alerting, bindAddress, cluster, demo, environment, "
        "evaluationInterval, gatewayNetwork, gatewayServices, images, kubernetes, logs, namePrefix, publicUrls, remoteWrite, resources, retention, "
        "scrapeInterval, scrapeTimeout, target, traces"
    ]


def test_every_message_names_a_key():
    # Each line starts with the config key it is about.
    keys = {key_of(p) for p in settings_paths()}
    for message in MESSAGES:
        key = message.split(": ", 1)[0]
        assert key.startswith(f"{PROJECT}:"), message
        assert any(key == k or key.startswith(k + ".") or key.startswith(k + "[") or k.startswith(key) for k in keys), message


def test_keys_that_are_not_text_are_named_as_written():
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "retention": {1: "3d"}, "images": {None: "x"}}, "dev", "t")
    assert caught.value.problems == [
        f"{PROJECT}:images.null: key not allowed; expected one of 'prometheus', 'alertmanager', 'loki', 'promtail', 'jaeger', 'grafana'",
        f"{PROJECT}:retention.1: unknown key; allowed keys: logs, metrics, traces",
    ]


@pytest.mark.parametrize(
    "config, problem",
    [
        # Field report (issue 19): a value of the wrong type for a ranged number omitted the range.
        ({"resources": {"loki": {"cpus": "two"}}}, "resources.loki.cpus: given 'two'; expected a number between 0.05 and 16"),
        ({"alerting": {"thresholds": {"hourlyBudgetUsd": "lots"}}},
         "alerting.thresholds.hourlyBudgetUsd: given 'lots'; expected a number above 0"),
        # ...and an unknown key had no "did you mean".
        ({"retention": {"metric": "3d"}}, "retention.metric: unknown key (given '3d'); did you mean metrics? allowed keys: logs, metrics, traces"),
        ({"retention": {"spans": "3d"}}, "retention.spans: unknown key (given '3d'); allowed keys: logs, metrics, traces"),
    ],
)
def test_a_message_says_the_range_and_the_closest_key(config, problem):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", **config}, "dev", "t")
    assert caught.value.problems == [f"{PROJECT}:{problem}"]
