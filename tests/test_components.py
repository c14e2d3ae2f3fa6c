"""Pure render tests: each component's files and spec, consistent addresses,
byte-identical output for the same settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import yaml
from conftest import ROOT

from stack import topology
from stack.components import build_services
from stack.components.grafana import DATASOURCE_UIDS, render_datasources
from stack.components.jaeger import render_jaeger_config
from stack.components.loki import render_loki_config
from stack.components.prometheus import render_prometheus_config
from stack.components.promtail import render_promtail_config
from stack.render import rendered_files
from stack.settings import LoadedSettings, parse_settings
from stack.versions import COMPONENTS


def load(text: str) -> dict:
    return yaml.safe_load(text)


def test_every_component_has_a_pinned_image_a_probe_and_resources(settings):
    services = build_services(settings)
    assert [s.name for s in services] == list(COMPONENTS)
    for spec in services:
        repository, _, tag = spec.image.rpartition(":")
        assert repository and tag and tag != "latest", spec.image
        assert spec.readiness.port in {p.number for p in spec.ports}, spec.name
        assert spec.memory_bytes >= 64 * 2**20 and spec.cpus > 0
        assert spec.files, f"{spec.name} renders no configuration"


def test_every_stateful_component_keeps_its_data_on_a_volume(settings):
    volumes = {s.name: [v.mount_path for v in s.volumes] for s in build_services(settings)}
    assert volumes == {
        "prometheus": ["/prometheus"],
        "alertmanager": ["/alertmanager"],
        "loki": ["/loki"],
        "promtail": ["/var/lib/promtail"],
        "jaeger": ["/var/tmp"],
        "grafana": ["/var/lib/grafana"],
    }


def test_every_address_in_every_file_is_a_real_component_port(settings):
    services = build_services(settings)
    listening = {(s.hostname, p.number) for s in services for p in s.ports}
    mentioned = set()
    for spec in services:
        for text in spec.files.values():
            mentioned |= {(host, int(port)) for host, port in re.findall(r"\b(obs-[a-z]+):(\d+)", text)}
    assert mentioned, "no cross-component address found: the check would be vacuous"
    assert mentioned <= listening, mentioned - listening
    # and every component is reached by someone (Prometheus scrapes them all)
    assert {host for host, _ in mentioned} == {s.hostname for s in services}


def test_prometheus_scrapes_every_component_and_gateway_service_with_labels(settings):
    config = load(render_prometheus_config(settings))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    expected = set(COMPONENTS) | {s.name for s in settings.gateway_services} | {"jaeger-spanmetrics"}
    assert set(jobs) == expected
    assert jobs["jaeger-spanmetrics"]["static_configs"][0]["labels"]["service"] == "jaeger"
    kong = jobs["kong"]["static_configs"][0]
    assert kong["targets"] == ["kong:8100"]
    assert kong["labels"] == {"service": "kong", "environment": "dev", "cluster": "local"}
    assert jobs["jaeger"]["static_configs"][0]["targets"] == [topology.address(settings, "jaeger", "metrics")]
    assert config["global"]["external_labels"] == {"environment": "dev", "cluster": "local"}
    assert config["global"]["scrape_interval"] == "15s"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["obs-alertmanager:9093"]


def test_prometheus_keeps_metrics_for_the_configured_retention():
    settings = parse_settings({"target": "docker", "retention": {"metrics": "30d"}}, "prod-like", "test")
    spec = build_services(settings)[0]
    assert "--storage.tsdb.retention.time=30d" in spec.args
    assert "--enable-feature=exemplar-storage" in spec.args


def test_loki_applies_retention_with_the_compactor_and_keeps_the_wal_on_its_volume(settings):
    config = load(render_loki_config(settings))
    assert config["compactor"]["retention_enabled"] is True
    assert config["compactor"]["delete_request_store"] == "filesystem"
    assert config["limits_config"]["retention_period"] == "7d"
    assert config["ingester"]["wal"]["dir"].startswith("/loki/")
    schema = config["schema_config"]["configs"][0]
    assert (schema["schema"], schema["store"], schema["index"]["period"]) == ("v13", "tsdb", "24h")
    assert config["limits_config"]["allow_structured_metadata"] is True
    assert config["ruler"]["alertmanager_url"] == topology.url(settings, "alertmanager")


def test_promtail_ships_to_loki_and_keeps_positions_on_its_volume(settings):
    config = load(render_promtail_config(settings))
    assert config["clients"][0]["url"] == "http://obs-loki:3100/loki/api/v1/push"
    assert config["positions"]["filename"].startswith("/var/lib/promtail/")
    job = config["scrape_configs"][0]
    assert job["docker_sd_configs"][0]["host"] == "unix:///var/run/docker.sock"
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert keep == [
        {
            "source_labels": ["__gateway_host"],
            "regex": "(kong|unified-llm-api|intelligent-router|optimization-service)",
            "action": "keep",
        }
    ]
    spec = next(s for s in build_services(settings) if s.name == "promtail")
    assert {h.mount_path for h in spec.host_paths} == {"/var/run/docker.sock"}


def test_jaeger_pipelines_reference_defined_receivers_exporters_connectors_and_storage(settings):
    config = load(render_jaeger_config(settings))
    connectors = set(config["connectors"])
    pipelines = config["service"]["pipelines"]
    for pipeline in pipelines.values():
        assert set(pipeline["receivers"]) <= set(config["receivers"]) | connectors
        assert set(pipeline.get("processors", [])) <= set(config["processors"])
        assert set(pipeline["exporters"]) <= set(config["exporters"]) | connectors
    # a connector joins two pipelines: exporter in one, receiver in another
    for connector in connectors:
        assert any(connector in p["exporters"] for p in pipelines.values())
        assert any(connector in p["receivers"] for p in pipelines.values())
    assert set(config["service"]["extensions"]) == set(config["extensions"])
    storage = config["extensions"]["jaeger_storage"]
    query = config["extensions"]["jaeger_query"]["storage"]
    assert config["exporters"]["jaeger_storage_exporter"]["trace_storage"] == query["traces"]
    assert query["traces"] in storage["backends"] and query["metrics"] in storage["metric_backends"]
    badger = storage["backends"][query["traces"]]["badger"]
    assert badger["ephemeral"] is False
    assert badger["ttl"]["spans"] == "72h"
    assert badger["directories"]["keys"].startswith("/var/tmp/")
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"


def test_jaeger_spm_reads_the_span_metrics_prometheus_scrapes(settings):
    config = load(render_jaeger_config(settings))
    backend = config["extensions"]["jaeger_storage"]["metric_backends"]["prometheus"]["prometheus"]
    assert backend["endpoint"] == topology.url(settings, "prometheus")
    assert backend["normalize_calls"] and backend["normalize_duration"]
    assert config["exporters"]["prometheus"]["endpoint"].endswith(":8889")
    assert config["connectors"]["spanmetrics"]["histogram"]["unit"] == "ms"
    # exemplars (trace ids on span metrics) exist only in OpenMetrics
    assert config["connectors"]["spanmetrics"]["exemplars"]["enabled"] is True
    assert config["exporters"]["prometheus"]["enable_open_metrics"] is True


def test_jaeger_uses_elasticsearch_with_a_password_file_when_configured():
    settings = parse_settings(
        {
            "target": "docker",
            "traces": {"storage": "elasticsearch", "elasticsearch": {"serverUrls": ["https://es.internal:9200"], "username": "jaeger"}},
        },
        "prod",
        "test",
    )
    config = load(render_jaeger_config(settings))
    backend = config["extensions"]["jaeger_storage"]["backends"]["traces"]["elasticsearch"]
    assert backend["server_urls"] == ["https://es.internal:9200"]
    assert backend["auth"]["basic"] == {"username": "jaeger", "password_file": "/etc/jaeger/secrets/trace-store-password"}
    spec = next(s for s in build_services(settings) if s.name == "jaeger")
    assert [f.secret for f in spec.secret_files] == ["traceStorePassword"]
    assert spec.volumes == ()  # nothing stateful left in the container


def test_grafana_provisions_datasources_with_fixed_uids(settings):
    datasources = load(render_datasources(settings))["datasources"]
    assert {d["uid"]: d["type"] for d in datasources} == {
        "prometheus": "prometheus",
        "loki": "loki",
        "jaeger": "jaeger",
        "alertmanager": "alertmanager",
    }
    assert set(DATASOURCE_UIDS.values()) == {d["uid"] for d in datasources}
    assert [d["uid"] for d in datasources if d.get("isDefault")] == ["prometheus"]


def test_grafana_admin_password_comes_from_a_secret_file_and_anonymous_access_is_off(settings):
    spec = next(s for s in build_services(settings) if s.name == "grafana")
    assert spec.env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in spec.env
    assert spec.env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == spec.secret_files[0].mount_path
    assert spec.secret_files[0].secret == "grafanaAdminPassword"


def test_render_replaces_secrets_with_a_visible_placeholder(settings):
    files = rendered_files(LoadedSettings(settings, {"grafanaAdminPassword": "<secret grafanaAdminPassword>"}))
    assert files["grafana/run/secrets/grafana-admin-password"] == "<secret grafanaAdminPassword>\n"
    generated = rendered_files(LoadedSettings(settings, {}))
    assert "generated at deploy time" in generated["grafana/run/secrets/grafana-admin-password"]


def test_same_settings_give_byte_identical_files(settings):
    assert rendered_files(LoadedSettings(settings, {})) == rendered_files(LoadedSettings(settings, {}))


def _digest_in_fresh_process(seed: str) -> str:
    code = (
        "import hashlib; from stack.render import rendered_files; from stack.settings import load_from_stack_file;"
        "from pathlib import Path; files = rendered_files(load_from_stack_file(Path('Pulumi.dev.yaml')));"
        "print(hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout


def test_render_is_deterministic_across_processes():
    assert _digest_in_fresh_process("1") == _digest_in_fresh_process("2")
