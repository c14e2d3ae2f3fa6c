"""Every rendered Promtail config, of every environment and variant, is one
Promtail 3.6.15 loads: each stage and option is one its code registers, each
match selector is in its own grammar (clients/pkg/logentry/logql/expr.y, not
Loki's LogQL), each template parses with the functions it registers, each
JMESPath and regex compiles, and each YAML scalar reads back as the type it
was written as under Go's YAML 1.1 (gopkg.in/yaml.v2, which Promtail's
config loader uses: pkg/util/cfg and clients/pkg/promtail/config).

The real Promtail ran every one of these files on the development machine
(see "Real programs" in docs/testing-and-benchmarks.md); CI holds them to the harness in
tests/promtail_pipeline, which is written from that source and refuses what
it refuses.
"""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT
from promtail_pipeline import GoSyntaxError, GoTemplate, JmesPath, Pipeline, Selector

from stack.components.promtail import render_promtail_config
from stack.generated_yaml import render_yaml
from stack.settings import load_from_stack_file, parse_settings

# Settings that change what Promtail reads: the target, the gateway's
# services (names, metrics paths), the gateway's namespace and selector.
VARIANTS = {
    **{f"Pulumi.{env}.yaml": lambda env=env: load_from_stack_file(ROOT / f"Pulumi.{env}.yaml", allow_missing_secrets=True).settings for env in ("dev", "staging", "prod")},
    "docker defaults": lambda: parse_settings({"target": "docker"}, "dev", "test"),
    "kubernetes defaults": lambda: parse_settings({"target": "kubernetes"}, "staging", "test"),
    "custom services": lambda: parse_settings(
        {
            "target": "kubernetes",
            "kubernetes": {"gateway": {"namespace": "llm-gw", "selector": {"app.kubernetes.io/part-of": "ai-gateway"}}},
            "gatewayServices": [
                {"name": "kong", "address": "kong-admin:8100", "metricsPath": "/internal/metrics"},
                {"name": "embeddings-api", "address": "embeddings-api:9000", "metricsPath": "/ops/prom.v1/"},
            ],
        },
        "prod",
        "test",
    ),
}


def _stages(stages: list[dict]):
    for stage in stages:
        yield stage
        if "match" in stage:
            yield from _stages(stage["match"].get("stages", []))


@pytest.fixture(scope="module", params=list(VARIANTS))
def config(request) -> dict:
    return yaml.safe_load(render_promtail_config(VARIANTS[request.param]()))


def test_every_stage_loads_as_promtail_loads_it(config):
    for job in config["scrape_configs"]:
        Pipeline(job["pipeline_stages"])  # refuses unknown stages and options, bad regexes, selectors, templates


def test_every_match_selector_is_in_promtails_own_grammar(config):
    selectors = [s["match"]["selector"] for job in config["scrape_configs"] for s in _stages(job["pipeline_stages"]) if "match" in s]
    assert len(selectors) >= 4
    for selector in selectors:
        Selector.parse(selector)


def test_every_template_and_jmespath_compiles(config):
    stages = [s for job in config["scrape_configs"] for s in _stages(job["pipeline_stages"])]
    templates = [s["template"]["template"] for s in stages if "template" in s]
    paths = [path for s in stages if "json" in s for path in s["json"]["expressions"].values()]
    assert templates and paths
    for template in templates:
        GoTemplate(template)
    for path in paths:
        JmesPath(path)


def test_the_config_reads_the_same_under_yaml_1_1():
    """A string Go's yaml.v2 reads as a boolean (y, n, yes, on, ...) is quoted,
    so a label value or static label `y` stays the string `y`."""
    words = ["y", "Y", "n", "N", "yes", "No", "on", "OFF", "true", "False", "~", "null", "1e3", "0x1f", "012", "1_000"]
    text = render_yaml({"static_labels": {f"k{i}": word for i, word in enumerate(words)}}, "test")
    for line in text.splitlines()[2:]:
        value = line.split(": ", 1)[1]
        assert value[0] in "'\"", f"{value} would be read as a bool, null or number by a YAML 1.1 reader"


# --- the grammar test holds the config as it was to Promtail's verdict --------


OR_CHAIN = '{service=~".*"} |= "assw" or "ASSW"'  # what every environment rendered before


def test_the_grammar_refuses_the_or_chain_the_real_promtail_refused():
    # "parse error at line 1, col 27: syntax error: unexpected IDENTIFIER,
    # expecting != or !~ or |~ or |=" (Promtail 3.6.15 on the rendered dev config)
    with pytest.raises(GoSyntaxError):
        Selector.parse(OR_CHAIN)
    with pytest.raises(GoSyntaxError):
        Pipeline([{"match": {"selector": OR_CHAIN, "stages": [{"static_labels": {"x": "v"}}]}}])
