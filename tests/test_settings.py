"""Settings: defaults, and every bad input reported at once with key, value and what is allowed."""

from __future__ import annotations

import pytest

from stack.settings import Duration, SettingsError, parse_settings

BASE = {"target": "docker"}


def problems(raw: dict) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        parse_settings({**BASE, **raw}, "dev", "Pulumi.dev.yaml")
    return caught.value.problems


def test_defaults_need_only_a_target():
    settings = parse_settings(BASE, "dev", "test")
    assert settings.environment == "dev"
    assert settings.bind_address == "127.0.0.1"
    assert settings.retention.metrics == Duration.parse("15d")
    assert settings.scrape_interval == Duration.parse("15s")
    assert [s.name for s in settings.gateway_services] == [
        "kong",
        "unified-llm-api",
        "intelligent-router",
        "optimization-service",
    ]
    assert settings.image_tag("prometheus").startswith("v3.")


def test_overrides_are_applied():
    settings = parse_settings(
        {
            **BASE,
            "retention": {"logs": "72h"},
            "scrapeInterval": "30s",
            "images": {"grafana": "13.2.1"},
            "resources": {"loki": {"memory": "4Gi", "cpus": 2}},
            "gatewayServices": [{"name": "api", "address": "api.internal:9000", "metricsPath": "/prom"}],
            "gatewayNetwork": "ai-gateway",
        },
        "dev",
        "test",
    )
    assert settings.retention.logs.seconds == 72 * 3600
    assert settings.retention.metrics == Duration.parse("15d")  # untouched default
    assert settings.image_tag("grafana") == "13.2.1"
    assert settings.resources_for("loki").memory == 4 * 2**30
    assert settings.resources_for("grafana").memory == 512 * 2**20
    assert settings.gateway_services[0].host == "api.internal"


# key named in the message, value given, a word of what is allowed
BAD_INPUTS = [
    ({"target": "dockr"}, "gateway-observability:target", "'dockr'", "expected 'docker'"),
    ({"target": "kubernetes"}, "gateway-observability:target", "'kubernetes'", "not built yet"),
    ({"retention": {"metrics": "2h"}}, "retention.metrics", "'2h'", "at least 1d"),
    ({"retention": {"logs": "forever"}}, "retention.logs", "'forever'", "duration such as"),
    ({"retention": {"traces": 7}}, "retention.traces", "7", "duration such as"),
    ({"retention": {"spans": "3d"}}, "retention.spans", "'3d'", "allowed keys: logs, metrics, traces"),
    ({"scrapeInterval": "1s"}, "scrapeInterval", "'1s'", "between 5s and 1m"),
    ({"evaluationInterval": "2m"}, "evaluationInterval", "'2m'", "between 5s and 1m"),
    ({"scrapeTimeout": "20s"}, "scrapeTimeout", "20s", "must not exceed scrapeInterval"),
    ({"bindAddress": "localhost"}, "bindAddress", "'localhost'", "IP address"),
    ({"gatewayServices": [{"name": "api", "address": "api"}]}, "gatewayServices[0].address", "'api'", "host:port"),
    ({"gatewayServices": [{"name": "api", "address": "api:70000"}]}, "gatewayServices[0].address", "'api:70000'", "1-65535"),
    (
        {"gatewayServices": [{"name": "api", "address": "a:1"}, {"name": "api", "address": "b:1"}]},
        "gatewayServices",
        "'api'",
        "unique; repeated: api",
    ),
    ({"gatewayServices": [{"name": "Bad_Name", "address": "a:1"}]}, "gatewayServices[0].name", "'Bad_Name'", "pattern"),
    ({"gatewayServices": [{"name": "api", "address": "a:1", "port": 1}]}, "gatewayServices[0].port", "1", "allowed keys: address, metricsPath, name"),
    ({"gatewayServices": []}, "gatewayServices", "[]", "at least one"),
    ({"images": {"loki": "latest"}}, "images.loki", "'latest'", "never 'latest'"),
    ({"images": {"tempo": "2.0.0"}}, "images", "unknown key", "expected one of 'prometheus'"),
    ({"resources": {"loki": {"memory": "1Ti"}}}, "resources.loki.memory", "'1Ti'", "'512Mi'"),
    ({"resources": {"loki": {"memory": "16Mi"}}}, "resources.loki.memory", "'16Mi'", "between 64Mi and 64Gi"),
    ({"resources": {"grafana": {"cpus": 0}}}, "resources.grafana.cpus", "0", "greater than or equal to 0.05"),
    ({"namePrefix": "Obs!"}, "namePrefix", "'Obs!'", "pattern"),
    ({"gatewayNetwork": "bad network"}, "gatewayNetwork", "'bad network'", "pattern"),
    ({"scrapeIntervall": "15s"}, "gateway-observability:scrapeIntervall", "'15s'", "allowed keys: alerting, bindAddress"),
]


@pytest.mark.parametrize("raw, key, given, allowed", BAD_INPUTS, ids=[str(b[0]) for b in BAD_INPUTS])
def test_bad_input_names_key_value_and_what_is_allowed(raw, key, given, allowed):
    found = problems(raw)
    assert len(found) == 1, found
    assert key in found[0] and given in found[0] and allowed in found[0], found[0]


def test_all_problems_are_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        parse_settings(
            {
                "target": "dockr",
                "retention": {"metrics": "2h"},
                "bindAddress": "localhost",
                "images": {"loki": "latest"},
                "typo": 1,
            },
            "dev",
            "Pulumi.dev.yaml",
        )
    message = str(caught.value)
    assert message.startswith("Invalid configuration in Pulumi.dev.yaml (5 problems):")
    for key in ("target", "retention.metrics", "bindAddress", "images.loki", "typo"):
        assert f"gateway-observability:{key}:" in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    "text, seconds, prometheus, go",
    [("30s", 30, "30s", "30s"), ("15d", 15 * 86400, "15d", "360h"), ("1h30m", 5400, "1h30m", "1h30m"), ("2w", 1209600, "14d", "336h"), ("90m", 5400, "1h30m", "1h30m")],
)
def test_durations_render_for_each_reader(text, seconds, prometheus, go):
    duration = Duration.parse(text)
    assert (duration.seconds, duration.prometheus(), duration.go()) == (seconds, prometheus, go)


def test_every_setting_and_secret_is_in_the_readme_settings_table():
    from conftest import ROOT

    from stack.settings import SECRET_KEYS, Settings

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Settings"):readme.index("### Adding a gateway service")]
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}" in table, field.alias
    for key in SECRET_KEYS:
        assert f"`{key}" in table, key
