"""The Kong side, said plainly: the rendered Kong files are valid for Kong 3.8
and 3.9 (every key checked against field names read from Kong's own source),
state that floor at their top, switch on the AI statistics the kong_ai_llm_*
metrics need without logging prompts, and say what file-log to /dev/stdout
needs of the user Kong runs as."""

from __future__ import annotations

import re

import pytest
import yaml

from stack.components.kong import MINIMUM_KONG_VERSION, PLUGIN_NOTES

# --- Field names read from Kong's source -------------------------------------------
# Read with `git show <tag>:<path>` in github.com/Kong/kong. A dict is a nested
# record with its own field names; MAP is a Kong "map" (free keys); LEAF is a
# scalar or an array; UNREAD is a record whose fields were not copied here
# because nothing rendered sets them: rendering into one fails until they are.
LEAF = "leaf"
MAP = "map"
UNREAD = "record whose fields are not recorded here"

# typedefs.propagation: kong/observability/tracing/propagation/schema.lua
# (3.8.0, 3.9.3); kong/tracing/propagation/schema.lua (3.7.1). Same fields.
PROPAGATION = {"extract": LEAF, "clear": LEAF, "inject": LEAF, "default_format": LEAF}
# Values allowed in extract/inject/default_format: FORMATS in
# kong/observability/tracing/propagation/utils.lua (3.9.3).
PROPAGATION_FORMATS = {"w3c", "b3", "b3-single", "jaeger", "ot", "datadog", "aws", "gcp"}

# kong/plugins/prometheus/schema.lua, config record.
PROMETHEUS_3_7 = {
    "per_consumer": LEAF,
    "status_code_metrics": LEAF,
    "latency_metrics": LEAF,
    "bandwidth_metrics": LEAF,
    "upstream_health_metrics": LEAF,
}
PROMETHEUS_3_8 = PROMETHEUS_3_7 | {"ai_metrics": LEAF}  # 3.8.0 and 3.9.3 alike

# kong/plugins/opentelemetry/schema.lua, config record. 3.8.0 renamed
# `endpoint` to `traces_endpoint` (the old name survives only as a deprecated
# shorthand) and added `logs_endpoint`; 3.9.3 is the same as 3.8.0.
OPENTELEMETRY_COMMON = {
    "headers": MAP,
    "resource_attributes": MAP,
    "queue": UNREAD,
    "batch_span_count": LEAF,
    "batch_flush_delay": LEAF,
    "connect_timeout": LEAF,
    "send_timeout": LEAF,
    "read_timeout": LEAF,
    "http_response_header_for_traceid": LEAF,
    "header_type": LEAF,
    "sampling_rate": LEAF,
    "propagation": PROPAGATION,
}
OPENTELEMETRY_3_7 = {"endpoint": LEAF} | OPENTELEMETRY_COMMON
OPENTELEMETRY_3_8 = {"traces_endpoint": LEAF, "logs_endpoint": LEAF} | OPENTELEMETRY_COMMON

# kong/plugins/file-log/schema.lua, config record (custom_fields_by_lua is
# typedefs.lua_code, a map); the same at 3.7.1, 3.8.0 and 3.9.3.
FILE_LOG = {"path": LEAF, "reopen": LEAF, "custom_fields_by_lua": MAP}

# ai-proxy config = the shared LLM record (kong/llm/init.lua at 3.7.1,
# kong/llm/schemas/init.lua at 3.8.0 and 3.9.3) plus the fields
# kong/plugins/ai-proxy/schema.lua appends.
AI_PROXY_LOGGING = {"log_statistics": LEAF, "log_payloads": LEAF}
AI_PROXY_3_7 = {
    "route_type": LEAF,
    "auth": UNREAD,
    "model": UNREAD,
    "logging": AI_PROXY_LOGGING,
    "response_streaming": LEAF,
}
AI_PROXY_3_8 = AI_PROXY_3_7 | {"max_request_body_size": LEAF, "model_name_header": LEAF}
AI_PROXY_3_9 = AI_PROXY_3_8 | {"llm_format": LEAF}

PLUGIN_SCHEMAS = {
    "3.7.1": {"prometheus": PROMETHEUS_3_7, "opentelemetry": OPENTELEMETRY_3_7, "file-log": FILE_LOG, "ai-proxy": AI_PROXY_3_7},
    "3.8.0": {"prometheus": PROMETHEUS_3_8, "opentelemetry": OPENTELEMETRY_3_8, "file-log": FILE_LOG, "ai-proxy": AI_PROXY_3_8},
    "3.9.3": {"prometheus": PROMETHEUS_3_8, "opentelemetry": OPENTELEMETRY_3_8, "file-log": FILE_LOG, "ai-proxy": AI_PROXY_3_9},
}
SUPPORTED_TAGS = ("3.8.0", "3.9.3")  # the floor and the last open-source release line

# kong.conf properties of kong/templates/kong_defaults.lua (the same lines at
# 3.8.0 and 3.9.3) that a KONG_<PROPERTY> variable may set, as far as this
# stack touches them.
KONG_CONF_PROPERTIES = {
    "status_listen",
    "proxy_access_log",
    "admin_access_log",
    "tracing_instrumentations",
    "tracing_sampling_rate",
    "nginx_user",
}
# Values tracing_instrumentations accepts (kong.conf.default, 3.9.3).
TRACING_INSTRUMENTATIONS = {
    "off", "request", "all", "db_query", "dns_query", "router", "http_client", "balancer",
    "plugin_rewrite", "plugin_access", "plugin_header_filter",
}  # fmt: skip


def unknown_keys(config: dict, fields: dict, where: str) -> list[str]:
    """Every key of `config` that Kong's record `fields` would refuse, as a dotted path."""
    problems = []
    for key, value in config.items():
        path = f"{where}.{key}"
        spec = fields.get(key)
        if spec is None:
            problems.append(f"{path}: unknown field")
        elif spec is UNREAD:
            problems.append(f"{path}: read this record's fields from Kong's source into tests/test_kong.py")
        elif isinstance(spec, dict):
            problems += unknown_keys(value, spec, path) if isinstance(value, dict) else [f"{path}: expected a record"]
        elif spec is MAP:
            if not (isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
                problems.append(f"{path}: expected a map of strings")
        elif isinstance(value, dict):
            problems.append(f"{path}: expected a scalar or an array, got a record")
    return problems


def config_problems(telemetry: dict, patch: dict, tag: str) -> list[str]:
    """What Kong `tag` would refuse in kong-telemetry.yml and in the ai-proxy config the patch writes."""
    schemas = PLUGIN_SCHEMAS[tag]
    problems = []
    for plugin in telemetry["plugins"]:
        problems += [f"{plugin['name']}.{k}: unknown plugin field" for k in set(plugin) - {"name", "config"}]
        problems += unknown_keys(plugin["config"], schemas[plugin["name"]], plugin["name"])
    for entry in patch["patches"]:
        problems += unknown_keys(entry["values"], schemas["ai-proxy"], "ai-proxy")
    return problems


def top_comment(text: str) -> str:
    """The comment block a file starts with."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


def comment_above(text: str, plugin: str) -> str:
    """The comment lines directly above a plugin's `- name:` entry."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {plugin}")
    above = []
    for line in reversed(lines[:index]):
        if not line.strip().startswith("#"):
            break
        above.insert(0, line.strip().lstrip("# "))
    return " ".join(above)


@pytest.fixture(scope="module")
def kong_dir(rendered_dev):
    return rendered_dev / "kong"


@pytest.fixture(scope="module")
def telemetry(kong_dir):
    return yaml.safe_load((kong_dir / "kong-telemetry.yml").read_text())


@pytest.fixture(scope="module")
def ai_patch(kong_dir):
    return yaml.safe_load((kong_dir / "ai-proxy-logging.yml").read_text())


# --- The version floor -------------------------------------------------------------


@pytest.mark.parametrize("tag", SUPPORTED_TAGS)
def test_every_rendered_plugin_key_is_a_field_of_kong_3_8_and_3_9(telemetry, ai_patch, tag):
    assert telemetry["_format_version"] == "3.0"
    assert {p["name"] for p in telemetry["plugins"]} == {"prometheus", "opentelemetry", "file-log"}
    assert config_problems(telemetry, ai_patch, tag) == []


def test_kong_3_7_refuses_exactly_the_fields_the_floor_names(telemetry, ai_patch):
    assert config_problems(telemetry, ai_patch, "3.7.1") == [
        "prometheus.ai_metrics: unknown field",
        "opentelemetry.traces_endpoint: unknown field",
    ]
    oldest_accepting = next(t for t in PLUGIN_SCHEMAS if not config_problems(telemetry, ai_patch, t))
    assert oldest_accepting.startswith(f"{MINIMUM_KONG_VERSION}.") and MINIMUM_KONG_VERSION == "3.8"


@pytest.mark.parametrize("name", ["kong-telemetry.yml", "kong.env", "ai-proxy-logging.yml"])
def test_every_rendered_kong_file_states_the_version_floor_at_its_top(kong_dir, name):
    header = top_comment((kong_dir / name).read_text())
    assert "Needs Kong 3.8 or later" in header
    assert "`ai_metrics`" in header and "`traces_endpoint`" in header


def test_the_schema_checker_catches_a_misspelt_or_misplaced_key():
    # The check above is only worth something if it can fail.
    assert unknown_keys({"ai_metric": True}, PROMETHEUS_3_8, "prometheus") == ["prometheus.ai_metric: unknown field"]
    assert unknown_keys({"propagation": {"format": "w3c"}}, OPENTELEMETRY_3_8, "otel") == ["otel.propagation.format: unknown field"]
    assert unknown_keys({"logging": True}, AI_PROXY_3_9, "ai-proxy") == ["ai-proxy.logging: expected a record"]
    assert unknown_keys({"queue": {"max_batch_size": 1}}, OPENTELEMETRY_3_8, "otel")[0].startswith("otel.queue: read")


def test_kong_traces_use_w3c_propagation_kong_knows(telemetry):
    otel = next(p["config"] for p in telemetry["plugins"] if p["name"] == "opentelemetry")
    values = {*otel["propagation"]["extract"], *otel["propagation"]["inject"], otel["propagation"]["default_format"]}
    assert values == {"w3c"} <= PROPAGATION_FORMATS


# --- AI statistics without prompts --------------------------------------------------


def test_ai_proxy_logging_turns_statistics_on_and_payloads_off(ai_patch):
    # go-apiops wants _format_version as a string "x.y" (deckformat.ParseFormatVersion).
    assert ai_patch["_format_version"] == "1.0"
    [entry] = ai_patch["patches"]
    assert entry["selectors"] == ["$..plugins[?(@.name=='ai-proxy')].config"]
    assert entry["values"] == {"logging": {"log_statistics": True, "log_payloads": False}}
    # decK replaces `logging` as a whole: it must carry every field of the record.
    assert set(entry["values"]["logging"]) == set(AI_PROXY_LOGGING)


def test_kong_ai_metrics_need_the_prometheus_group_and_ai_proxy_statistics(telemetry, ai_patch):
    prometheus = next(p["config"] for p in telemetry["plugins"] if p["name"] == "prometheus")
    assert prometheus["ai_metrics"] is True
    assert ai_patch["patches"][0]["values"]["logging"]["log_statistics"] is True
    assert "logging.log_statistics: true" in " ".join(PLUGIN_NOTES["prometheus"])


def test_the_ai_proxy_patch_explains_why_payloads_stay_out_of_logs(kong_dir):
    header = top_comment((kong_dir / "ai-proxy-logging.yml").read_text())
    assert "log_payloads: false" in header and "personal data" in header
    assert "kong_ai_llm_*" in header and "deck file patch" in header


# --- file-log to /dev/stdout and the worker user ------------------------------------


def test_file_log_to_stdout_says_what_it_needs_of_the_worker_user(kong_dir, telemetry):
    file_log = next(p["config"] for p in telemetry["plugins"] if p["name"] == "file-log")
    assert file_log["path"] == "/dev/stdout"
    note = comment_above((kong_dir / "kong-telemetry.yml").read_text(), "file-log")
    assert "nginx worker" in note and "non-root `kong` user" in note
    assert "root" in note.replace("non-root", "") and "Permission denied" in note


def test_every_plugin_is_explained_right_above_its_entry(kong_dir):
    text = (kong_dir / "kong-telemetry.yml").read_text()
    for plugin, notes in PLUGIN_NOTES.items():
        assert comment_above(text, plugin) == " ".join(notes)


# --- kong.env ---------------------------------------------------------------------


def test_kong_env_sets_only_kong_conf_properties_with_values_kong_accepts(kong_dir):
    env = dict(
        line.split("=", 1) for line in (kong_dir / "kong.env").read_text().splitlines() if line and not line.startswith("#")
    )
    properties = {re.sub(r"^KONG_", "", name).lower() for name in env}
    assert properties <= KONG_CONF_PROPERTIES
    assert set(env["KONG_TRACING_INSTRUMENTATIONS"].split(",")) <= TRACING_INSTRUMENTATIONS
    assert 0 <= float(env["KONG_TRACING_SAMPLING_RATE"]) <= 1


def test_every_header_kong_drops_is_a_secret_key_to_the_kit_and_promtail():
    """What is sensitive is decided once (redaction.SENSITIVE_KEY_SUFFIXES);
    Kong's file-log needs concrete header names, so its list must stay inside it."""
    from gateway_telemetry.masking import is_sensitive_key
    from stack.components.kong import SENSITIVE_HEADERS

    assert SENSITIVE_HEADERS and all(is_sensitive_key(header) for header in SENSITIVE_HEADERS)
    assert not is_sensitive_key("x-request-id")  # the check can say no
