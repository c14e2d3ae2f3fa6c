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
    ({"target": "nomad"}, "gateway-observability:target", "'nomad'", "'docker' (one host, for dev) or 'kubernetes'"),
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
        "service names",
        "unique; repeated: api",
    ),
    ({"gatewayServices": [{"name": "Bad_Name", "address": "a:1"}]}, "gatewayServices[0].name", "'Bad_Name'", "lower-case DNS label"),
    ({"gatewayServices": [{"name": "api", "address": "a:1", "port": 1}]}, "gatewayServices[0].port", "1", "allowed keys: address, metricsPath, name"),
    ({"gatewayServices": []}, "gatewayServices", "[]", "at least one"),
    ({"images": {"loki": "latest"}}, "images.loki", "'latest'", "never 'latest'"),
    ({"images": {"tempo": "2.0.0"}}, "images.tempo", "key not allowed", "expected one of 'prometheus'"),
    ({"resources": {"loki": {"memory": "1Ti"}}}, "resources.loki.memory", "'1Ti'", "'512Mi'"),
    ({"resources": {"loki": {"memory": "16Mi"}}}, "resources.loki.memory", "'16Mi'", "between 64Mi and 64Gi"),
    ({"resources": {"grafana": {"cpus": 0}}}, "resources.grafana.cpus", "0", "a number of at least 0.05"),
    ({"resources": {"grafana": {"cpus": True}}}, "resources.grafana.cpus", "true", "a number, not true or false"),
    ({"namePrefix": "Obs!"}, "namePrefix", "'Obs!'", "lower-case letters, digits and '-'"),
    ({"gatewayNetwork": "bad network"}, "gatewayNetwork", "'bad network'", "Docker network name"),
    ({"bindAddress": 2130706433}, "bindAddress", "2130706433", "IP address"),
    ({"retention": {"metrics": "1000y"}}, "retention.metrics", "'1000y'", "at most 100y"),
    ({"retention": {"metrics": "٣٠d"}}, "retention.metrics", "'٣٠d'", "duration such as"),
    ({"gatewayServices": [{"name": "api", "address": "api:８０"}]}, "gatewayServices[0].address", "'api:８０'", "host:port"),
    ({"images": {"loki": "3.7.0\nlatest"}}, "images.loki", '"3.7.0\\nlatest"', "exact image tag"),
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


def test_a_problem_keeps_the_list_index_the_operator_wrote():
    # The first team fails and is taken out before the routes are checked; the
    # second one's unknown receiver is still reported at teams[1], where it is written.
    routing = {"teams": [{"team": "Bad Team"}, {"team": "ml", "warning": ["ghost"]}]}
    found = problems({"alerting": {"routing": routing}})
    assert found == [
        "gateway-observability:alerting.routing.teams[0].team: given 'Bad Team'; expected a lower-case DNS label: "
        "lower-case letters, digits and '-', starting with a letter, not ending with '-', at most 42 characters",
        "gateway-observability:alerting.routing.teams[1].warning: names unknown receiver 'ghost' (defined: none)",
    ]


def test_a_comparison_with_a_value_that_failed_is_not_made():
    # scrapeInterval failed: comparing scrapeTimeout with its default would be a second, false problem.
    found = problems({"scrapeInterval": "1s", "scrapeTimeout": "20s"})
    assert found == ["gateway-observability:scrapeInterval: given '1s'; expected a duration between 5s and 1m"]


def test_a_reference_to_something_that_failed_is_not_reported_again():
    services = [{"name": "api", "address": "api"}]
    found = problems({"gatewayServices": services, "alerting": {"slos": {"api": {"availability": 0.999}}}})
    assert found == ["gateway-observability:gatewayServices[0].address: given 'api'; expected host:port, e.g. 'unified-llm-api:8000' (port 1-65535)"]


def test_a_secret_problem_says_how_to_set_it_on_the_projects_backend():
    # `make secret` uses the backend and passphrase `make up` uses; a bare `pulumi config set` would not.
    from stack.settings import validate_config

    raw = {
        "target": "docker",
        "grafanaAdminPassword": "hunter2",
        "alerting": {"routing": {"receivers": [{"name": "chat", "slack": {"channel": "#ops"}}]}},
    }
    with pytest.raises(SettingsError) as caught:
        validate_config(raw, "dev", "Pulumi.dev.yaml", is_secret=lambda key: False)
    assert caught.value.problems == [
        "gateway-observability:grafanaAdminPassword: given in plain text; it is a secret (Grafana admin password; "
        "generated (pulumi-random) when unset): set it with `make secret KEY=grafanaAdminPassword` "
        "(`pulumi config set --secret grafanaAdminPassword` on the project's local backend)",
        "gateway-observability:receiverSecrets.chat: required for the slack receiver 'chat' (its Slack incoming-webhook "
        "URL); set it with `make secret KEY=receiverSecrets.chat` "
        "(`pulumi config set --secret --path 'receiverSecrets.chat'` on the project's local backend)",
    ]
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("key", ["metrics", "logs", "traces"])
def test_every_retention_is_at_least_a_day_as_the_settings_reference_says(key):
    """The reference says "at least 24h" for each of the three keys; a field
    report found the promise tested for logs alone."""
    for short in ("1s", "23h"):
        with pytest.raises(SettingsError, match=rf"retention\.{key}: given '{short}'; expected a duration at least 1d"):
            parse_settings({"target": "docker", "retention": {key: short}}, "dev", "test")
    assert getattr(parse_settings({"target": "docker", "retention": {key: "24h"}}, "dev", "test").retention, key).seconds == 86400


# --- a partial entry keeps the rest of the component's defaults -------------------


def test_a_partial_resources_entry_keeps_the_components_own_other_limit():
    # Setting Prometheus' memory alone once dropped its CPU limit from 1 to the generic 0.5.
    settings = parse_settings({"target": "docker", "resources": {"prometheus": {"memory": "4Gi"}}}, "dev", "test")
    assert (settings.resources_for("prometheus").memory, settings.resources_for("prometheus").cpus) == (4 * 2**30, 1.0)
    assert settings.resources_for("promtail").cpus == 0.25


def test_a_partial_placement_entry_keeps_promtails_toleration_of_every_taint():
    config = {"target": "kubernetes", "kubernetes": {"placement": {"promtail": {"priorityClassName": "node-agents"}}}}
    placement = parse_settings(config, "staging", "test").kubernetes.placement_of("promtail")
    assert placement.priority_class_name == "node-agents"
    assert [(t.operator, t.key) for t in placement.tolerations] == [("Exists", None)]


def test_a_placement_entry_that_sets_tolerations_replaces_promtails():
    config = {"target": "kubernetes", "kubernetes": {"placement": {"promtail": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}}}
    placement = parse_settings(config, "staging", "test").kubernetes.placement_of("promtail")
    assert [(t.operator, t.key) for t in placement.tolerations] == [("Exists", "gpu")]


def test_the_grafana_database_port_refuses_a_switch():
    with pytest.raises(SettingsError) as raised:
        parse_settings({"target": "kubernetes", "kubernetes": {"grafanaDatabasePort": True}}, "staging", "test")
    assert "kubernetes.grafanaDatabasePort: given true; expected a number, not true or false" in str(raised.value)


def test_a_trace_cluster_for_a_backend_not_in_use_is_refused():
    # It was accepted and ignored: a switch back to badger left Elasticsearch's block behind, silently.
    cluster = {"serverUrls": ["https://elasticsearch:9200"]}
    with pytest.raises(SettingsError) as raised:
        parse_settings({"target": "docker", "traces": {"storage": "badger", "elasticsearch": cluster}}, "dev", "test")
    assert (
        "elasticsearch given, but storage is 'badger': remove traces.elasticsearch or set storage to match"
        in str(raised.value)
    )
    both = {"storage": "opensearch", "opensearch": cluster, "elasticsearch": cluster}
    with pytest.raises(SettingsError, match="remove traces.elasticsearch or set storage to match"):
        parse_settings({"target": "docker", "traces": both}, "dev", "test")
