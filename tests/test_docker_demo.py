"""The demo gateway on the dev target (`demo.enabled`): what `pulumi up` would
build and run beside the stack, under the Pulumi SDK's mocks.

The demo stands where the gateway would: its containers answer to the hosts
of the gatewayServices entries, so the stack's Prometheus and Promtail need
no other setting to find them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import re2
import yaml
from conftest import ROOT
from test_docker_target import CONTAINER, IMAGE, deploy, of_type, when_created

from stack import topology
from stack.components.demo import (
    DEMO_BUILD,
    FACTORIES,
    HEALTH_PATH,
    KONG_DECLARATIVE_PATH,
    KONG_PROXY_PORT,
    PROVIDER,
    TRAFFIC,
    TRAFFIC_FACTORY,
    TRAFFIC_PORT,
    peer_urls,
)
from stack.components.kong import render_kong_declarative, render_kong_env
from stack.components.prometheus import render_prometheus_config
from stack.components.promtail import _gateway_container_relabels
from stack.plan import configure_mocks
from stack.program import run
from stack.settings import DEFAULT_GATEWAY_SERVICES, PROJECT, SettingsError, parse_settings
from stack.versions import COMPONENTS, DEMO_KONG_IMAGE

BUILD = "docker:index/image:Image"
DEMO = {"demo": {"enabled": True}}
GATEWAY_HOSTS = {s.name: s.host for s in DEFAULT_GATEWAY_SERVICES}
# The six demo containers: the gateway's four services, the fake provider and the traffic.
DEMO_CONTAINERS = {*GATEWAY_HOSTS, PROVIDER, TRAFFIC}


def demo_settings(**config):
    return parse_settings({"target": "docker", **DEMO, **config}, "dev", "test")


def envs_of(inputs: dict) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inputs["envs"])


def demo_containers(mocks) -> dict:
    """The demo's container inputs by resource name; fails unless there are exactly the six."""
    found = {n: i for n, i in of_type(mocks, CONTAINER).items() if n not in COMPONENTS}
    assert set(found) == DEMO_CONTAINERS, sorted(found)
    return found


@pulumi.runtime.test
def test_the_demo_image_is_built_from_the_repository_and_never_pushed():
    mocks, target = deploy(DEMO)

    def check(_):
        builds = [r for r in mocks.resources if r.type == BUILD]
        assert len(builds) == 1, "one image for all the demo's programs"
        inputs = builds[0].inputs
        # `pulumi up` runs the program in the project directory, so the context
        # and the Dockerfile resolve against the folder of Pulumi.yaml.
        assert (ROOT / inputs["build"]["context"]).resolve() == ROOT and (ROOT / "Pulumi.yaml").is_file()
        assert inputs["build"]["dockerfile"] == "examples/gateway/Dockerfile"
        assert inputs["skipPush"] is True
        name, _, tag = inputs["imageName"].partition(":")
        assert name == "obs-demo-gateway" and tag == "dev"
        # The containers run the built image by id (a rebuild replaces them), not by its tag.
        apps = {n: i for n, i in demo_containers(mocks).items() if n != "kong"}
        assert len(apps) == 5
        assert {i["image"] for i in apps.values()} == {f"sha256:mock-{builds[0].name}"}

    return when_created(target, check)


def test_the_dockerfile_the_build_names_is_in_the_repository():
    # The demo's own Dockerfile (examples/gateway/); the context is the repository root.
    assert (ROOT / DEMO_BUILD.context / DEMO_BUILD.dockerfile).is_file()


@pulumi.runtime.test
def test_demo_containers_join_the_stack_network_under_the_gateway_service_hosts():
    mocks, target = deploy(DEMO)

    def check(_):
        for name, inputs in demo_containers(mocks).items():
            networks = inputs["networksAdvanced"]
            assert [n["name"] for n in networks] == ["obs-dev"], (name, networks)
            if name in GATEWAY_HOSTS:
                # The container name is what Promtail matches; the alias is what Prometheus and Kong resolve.
                assert inputs["name"] == GATEWAY_HOSTS[name]
                assert networks[0]["aliases"] == [GATEWAY_HOSTS[name]]
        assert demo_containers(mocks)[PROVIDER]["name"] == "obs-demo-fake-provider"
        assert demo_containers(mocks)[TRAFFIC]["name"] == "obs-demo-traffic"

    return when_created(target, check)


@pulumi.runtime.test
def test_demo_containers_join_the_named_gateway_network_with_the_stack():
    mocks, target = deploy({**DEMO, "gatewayNetwork": "ai-gateway"})

    def check(_):
        for name, inputs in demo_containers(mocks).items():
            networks = inputs["networksAdvanced"]
            assert [(n["name"], n["aliases"]) for n in networks] == [("ai-gateway", [inputs["name"]])], name
        for name in COMPONENTS:  # so Prometheus and Jaeger are reachable from the demo there
            stack = of_type(mocks, CONTAINER)[name]
            assert [n["name"] for n in stack["networksAdvanced"]] == ["obs-dev", "ai-gateway"]

    return when_created(target, check)


def test_prometheus_scrapes_and_promtail_keeps_exactly_the_demo_gateway_containers():
    settings = demo_settings()
    from stack.components.demo import demo_services

    specs = {s.name: s for s in demo_services(settings)}
    scraped = {
        target
        for job in yaml.safe_load(render_prometheus_config(settings))["scrape_configs"]
        if job["job_name"] in GATEWAY_HOSTS
        for target in job["static_configs"][0]["targets"]
    }
    listening = {f"{specs[n].hostname}:{specs[n].readiness.port if n == 'kong' else specs[n].args[-1]}" for n in GATEWAY_HOSTS}
    assert scraped == listening == {s.address for s in DEFAULT_GATEWAY_SERVICES}

    # Promtail's relabelling as Docker service discovery sees the containers ("/<name>").
    relabels = _gateway_container_relabels(settings)
    name_rule, keep = relabels[0], next(r for r in relabels if r.get("action") == "keep")
    kept = {
        name
        for name, spec in specs.items()
        if re2.fullmatch(keep["regex"], re2.fullmatch(name_rule["regex"], f"/{spec.hostname}").group(1))
    }
    assert kept == set(GATEWAY_HOSTS)  # the provider stands for a third party: not the gateway's logs


@pulumi.runtime.test
def test_kong_runs_db_less_with_the_rendered_telemetry_plugins_and_a_route_to_the_api():
    mocks, target = deploy(DEMO)
    settings = demo_settings()

    def check(_):
        kong = demo_containers(mocks)["kong"]
        envs = envs_of(kong)
        assert envs["KONG_DATABASE"] == "off"
        assert envs["KONG_DECLARATIVE_CONFIG"] == KONG_DECLARATIVE_PATH
        kong_env = [line for line in render_kong_env(settings).splitlines() if line and not line.startswith("#")]
        assert len(kong_env) >= 5 and set(kong_env) <= set(kong["envs"])
        assert kong.get("user") is None  # the image's non-root `kong` user, which file-log to stdout needs
        assert of_type(mocks, IMAGE)["kong-image"]["name"] == DEMO_KONG_IMAGE

        uploaded = {u["file"]: u["content"] for u in kong["uploads"]}
        config = yaml.safe_load(uploaded[KONG_DECLARATIVE_PATH])
        rendered = yaml.safe_load(render_kong_declarative(settings))
        assert [p["name"] for p in config["plugins"]] == ["prometheus", "opentelemetry", "file-log"]
        assert config["plugins"] == rendered["plugins"] and config["_format_version"] == rendered["_format_version"]
        assert uploaded[KONG_DECLARATIVE_PATH].startswith(render_kong_declarative(settings))  # notes kept too
        (service,) = config["services"]
        assert service["url"] == "http://unified-llm-api:8000"
        assert service["routes"] == [{"name": "unified-llm-api", "paths": ["/v1"], "strip_path": False}]
        # Only the proxy is published, on the bind address; the status port stays inside.
        assert [(p["ip"], int(p["external"]), int(p["internal"])) for p in kong["ports"]] == [("127.0.0.1", 8000, 8000)]
        assert kong["healthcheck"]["tests"] == ["CMD", "kong", "health"]

    return when_created(target, check)


def test_demo_kong_is_an_open_source_3_9_image_the_rendered_config_accepts():
    # Open-source Kong images stop at 3.9.x; the rendered plugins need 3.8 or later.
    repository, _, tag = DEMO_KONG_IMAGE.partition(":")
    assert repository == "kong" and re.fullmatch(r"3\.9\.\d+", tag)


@pulumi.runtime.test
def test_demo_services_send_traces_to_jaegers_otlp_http_address_under_their_names():
    mocks, target = deploy(DEMO)
    settings = demo_settings()

    def check(_):
        services = {n: i for n, i in demo_containers(mocks).items() if n not in ("kong", PROVIDER, TRAFFIC)}
        assert len(services) == 3
        for name, inputs in services.items():
            envs = envs_of(inputs)
            assert envs["OTEL_EXPORTER_OTLP_ENDPOINT"] == topology.url(settings, "jaeger", "otlp-http") == "http://obs-jaeger:4318"
            assert envs["OTEL_SERVICE_NAME"] == name
            assert envs["DEMO_ENVIRONMENT"] == "dev"
            assert envs["DEMO_FAKE_PROVIDER_URL"] == "http://obs-demo-fake-provider:8003"
            assert envs["DEMO_INTELLIGENT_ROUTER_URL"] == "http://intelligent-router:8001"
            assert inputs["command"][:4] == ["python", "-m", "uvicorn", FACTORIES[name]]
            assert f"127.0.0.1:{inputs['command'][-1]}{HEALTH_PATH}" in " ".join(inputs["healthcheck"]["tests"])
            assert not inputs.get("ports")  # reached through Kong, not published

    return when_created(target, check)


@pulumi.runtime.test
def test_demo_off_creates_none_of_it():
    mocks, target = deploy()

    def check(_):
        assert set(of_type(mocks, CONTAINER)) == set(COMPONENTS)
        assert not [r for r in mocks.resources if r.type == BUILD]
        assert DEMO_KONG_IMAGE not in {i["name"] for i in of_type(mocks, IMAGE).values()}

    return when_created(target, check)


def test_plan_lists_the_demo_when_it_is_enabled(tmp_path: Path):
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(f"config:\n  {PROJECT}:target: docker\n  {PROJECT}:demo:\n    enabled: true\n")
    result = subprocess.run(
        [sys.executable, "-m", "stack", "plan", str(stack_file)], cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert any(BUILD in r and "obs-demo-gateway:dev" in r and "examples/gateway/Dockerfile" in r for r in rows)
    for name in ("kong", "unified-llm-api", "intelligent-router", "optimization-service", "obs-demo-fake-provider"):
        assert any(r.startswith(CONTAINER) and f"  {name}  ports" in r for r in rows), name


@pytest.mark.parametrize("given, shown", [("yes", "'yes'"), ("on", "'on'"), (1, "1"), ("True ", "'True '"), (None, "null")])
def test_demo_enabled_takes_only_true_or_false(given, shown):
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", "demo": {"enabled": given}}, "dev", "Pulumi.dev.yaml")
    assert caught.value.problems == [f"{PROJECT}:demo.enabled: given {shown}; expected true or false"]


def test_demo_enabled_as_quoted_text_reads_as_the_switch():
    assert parse_settings({"target": "docker", "demo": {"enabled": "true"}}, "dev", "t").demo.enabled is True
    assert parse_settings({"target": "docker", "demo": {"enabled": "false"}}, "dev", "t").demo.enabled is False
    assert parse_settings({"target": "docker"}, "dev", "t").demo.enabled is False


def test_a_bad_demo_switch_stops_the_program_before_any_resource():
    mocks = configure_mocks("dev", {f"{PROJECT}:target": "docker", f"{PROJECT}:demo": '{"enabled": "yes"}'}, [])
    with pytest.raises(pulumi.RunError) as caught:
        run()
    assert f"{PROJECT}:demo.enabled: given 'yes'; expected true or false" in str(caught.value)
    assert mocks.resources == []


def test_the_demo_needs_the_gateway_service_entries_it_stands_for():
    services = [{"name": "kong", "address": "kong:8100"}, {"name": "unified-llm-api", "address": "api:9000"}]
    with pytest.raises(SettingsError) as caught:
        parse_settings({"target": "docker", **DEMO, "gatewayServices": services}, "dev", "t")
    assert caught.value.problems == [
        f"{PROJECT}:demo.enabled: the demo gateway runs kong, unified-llm-api, intelligent-router, optimization-service "
        "under their gatewayServices addresses, but gatewayServices has no entry for intelligent-router, "
        "optimization-service; add them back or turn the demo off"
    ]
    # Without the demo the same services are fine.
    parse_settings({"target": "docker", "gatewayServices": services}, "dev", "t")


def test_a_moved_gateway_service_moves_its_demo_container():
    services = [dict(name=s.name, address=s.address) for s in DEFAULT_GATEWAY_SERVICES]
    services[1]["address"] = "llm-api:9000"
    settings = demo_settings(gatewayServices=services)
    from stack.components.demo import demo_services

    api = next(s for s in demo_services(settings) if s.name == "unified-llm-api")
    assert (api.hostname, api.args[-1]) == ("llm-api", "9000")
    assert yaml.safe_load(
        next(s for s in demo_services(settings) if s.name == "kong").files[KONG_DECLARATIVE_PATH]
    )["services"][0]["url"] == "http://llm-api:9000"
    assert peer_urls(settings)["DEMO_UNIFIED_LLM_API_URL"] == "http://llm-api:9000"


def test_the_demos_default_ports_are_the_default_gateway_services_and_every_app_serves_its_probe():
    # examples/gateway/layout.py is read by the demo and the stack alike; what must still
    # agree is the demo's defaults with settings' defaults, and the apps with the probe path.
    from examples.gateway.fake_provider import create_app
    from examples.gateway.layout import DEFAULT_PORTS

    assert {n: DEFAULT_PORTS[n] for n in FACTORIES if n != PROVIDER} == {
        s.name: int(s.address.rpartition(":")[2]) for s in DEFAULT_GATEWAY_SERVICES if s.name in FACTORIES
    }
    assert HEALTH_PATH in {route.path for route in create_app().routes}

@pulumi.runtime.test
def test_steady_traffic_goes_through_kong_from_inside_the_stack_network():
    """A fresh `make up` with the demo shows live panels without a command typed:
    the traffic container sends requests to Kong's proxy by its network name."""
    services = [dict(name=s.name, address=s.address) for s in DEFAULT_GATEWAY_SERVICES]
    services[0]["address"] = "edge:8100"  # kong, moved: the traffic follows its host
    mocks, target = deploy({**DEMO, "gatewayServices": services})

    def check(_):
        traffic = demo_containers(mocks)[TRAFFIC]
        envs = envs_of(traffic)
        assert envs["DEMO_TRAFFIC_TARGET"] == f"http://edge:{KONG_PROXY_PORT}"
        assert 0.1 <= float(envs["DEMO_TRAFFIC_RATE"]) <= 50
        assert traffic["command"] == ["python", "-m", "uvicorn", TRAFFIC_FACTORY, "--factory", "--host", "0.0.0.0", "--port", str(TRAFFIC_PORT)]
        assert f"127.0.0.1:{TRAFFIC_PORT}{HEALTH_PATH}" in " ".join(traffic["healthcheck"]["tests"])
        assert not traffic.get("ports") and not any(k.startswith("OTEL_") for k in envs)

    return when_created(target, check)
