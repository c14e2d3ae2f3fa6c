"""The dev stack under the Pulumi SDK's mocks: what `pulumi up` would create.

Mocks and config are set BEFORE the program is constructed (in `deploy`);
every test is a @pulumi.runtime.test returning an Output.
"""

from __future__ import annotations

import json
import re

import pulumi
import pytest
from pulumi.runtime.rpc import is_rpc_secret

from stack.plan import configure_mocks
from stack.program import run
from stack.settings import PROJECT
from stack.versions import COMPONENTS

CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
PASSWORD = "super-secret-grafana-password"


def deploy(config: dict | None = None, secrets: dict | None = None):
    values = {"target": "docker", **(config or {})}
    flat = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in {**values, **(secrets or {})}.items()}
    mocks = configure_mocks("dev", flat, [f"{PROJECT}:{k}" for k in secrets or {}])
    target = run()
    return mocks, target


def when_created(target, check):
    """Run `check` once every container (and so everything they depend on) is registered."""
    urns = [c.urn for c in target.containers.values()]
    return pulumi.Output.all(*urns).apply(lambda resolved: check(resolved))


def unwrap_secret(value):
    """The value inside a secret the mock engine received; fails if it was not secret."""
    assert is_rpc_secret(value), "expected a secret input"
    return value["value"]


def of_type(mocks, typ):
    return {r.name: r.inputs for r in mocks.resources if r.type == typ}


def containers(mocks) -> dict:
    """Every component's container inputs; loops over them can never be empty."""
    found = of_type(mocks, CONTAINER)
    assert set(found) == set(COMPONENTS), f"containers: {sorted(found)}"
    return found


@pulumi.runtime.test
def test_every_component_runs_in_a_container_parented_to_the_target():
    mocks, target = deploy()

    def check(urns):
        containers(mocks)
        for urn in urns:
            assert "gateway-observability:targets:DockerTarget$docker:index/container:Container::" in urn, urn

    return when_created(target, check)


@pulumi.runtime.test
def test_images_are_pinned_exactly():
    mocks, target = deploy()

    def check(_):
        images = of_type(mocks, IMAGE)
        assert len(images) == len(COMPONENTS)
        for inputs in images.values():
            tag = inputs["name"].rpartition(":")[2]
            assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), inputs["name"]  # exact release, never `latest`
            assert inputs["keepLocally"] is True

    return when_created(target, check)


@pulumi.runtime.test
def test_every_stateful_component_mounts_its_own_named_volume():
    mocks, target = deploy()

    def check(_):
        volumes = {inputs["name"] for inputs in of_type(mocks, VOLUME).values()}
        for name, inputs in containers(mocks).items():
            mounted = [m for m in inputs["mounts"] if m["type"] == "volume"]
            assert mounted, f"{name} has no data volume"
            for mount in mounted:
                assert mount["source"] in volumes and mount["source"].startswith(f"obs-{name}-")

    return when_created(target, check)


@pulumi.runtime.test
def test_every_container_has_a_healthcheck_on_its_readiness_endpoint_and_restarts():
    mocks, target = deploy()
    expected = {
        "prometheus": ":9090/-/ready",
        "alertmanager": ":9093/-/ready",
        "loki": "/usr/bin/loki -health -health.url=http://127.0.0.1:3100/ready",
        "promtail": "/dev/tcp/127.0.0.1/9080",
        "jaeger": ":13133/status",
        "grafana": ":3000/api/health",
    }

    def check(_):
        for name, inputs in containers(mocks).items():
            test = inputs["healthcheck"]["tests"]
            assert test[0] == "CMD" and expected[name] in " ".join(test), (name, test)
            assert inputs["restart"] == "unless-stopped"
            assert inputs["wait"] is True
            assert inputs["memory"] > 0

    return when_created(target, check)


@pulumi.runtime.test
def test_ports_are_published_only_on_the_bind_address():
    mocks, target = deploy({"bindAddress": "10.1.2.3"})

    def check(_):
        published = {}
        for name, inputs in containers(mocks).items():
            for port in inputs.get("ports") or []:
                assert port["ip"] == "10.1.2.3", (name, port)
                published[name] = published.get(name, set()) | {int(port["external"])}
        assert published == {
            "prometheus": {9090},
            "alertmanager": {9093},
            "loki": {3100},
            "jaeger": {16686, 4317, 4318},
            "grafana": {3000},
        }

    return when_created(target, check)


@pulumi.runtime.test
def test_containers_join_the_gateway_network_when_named():
    mocks, target = deploy({"gatewayNetwork": "ai-gateway"})

    def check(_):
        for name, inputs in containers(mocks).items():
            networks = [n["name"] for n in inputs["networksAdvanced"]]
            assert networks == ["obs-dev", "ai-gateway"], (name, networks)

    return when_created(target, check)


@pulumi.runtime.test
def test_promtail_reads_the_docker_socket_and_logs_read_only():
    mocks, target = deploy()

    def check(_):
        binds = [m for m in containers(mocks)["promtail"]["mounts"] if m["type"] == "bind"]
        assert {m["target"] for m in binds} == {"/var/run/docker.sock"}
        assert all(m["readOnly"] is True for m in binds)

    return when_created(target, check)


@pulumi.runtime.test
def test_configured_grafana_password_stays_secret_and_is_only_in_its_file():
    mocks, target = deploy(secrets={"grafanaAdminPassword": PASSWORD})

    def check(_):
        grafana = containers(mocks)["grafana"]
        # A secret element makes the engine treat the whole uploads list as secret.
        uploads = {u["file"]: u for u in unwrap_secret(grafana["uploads"])}
        secret_upload = uploads["/run/secrets/grafana-admin-password"]
        assert secret_upload["content"] == PASSWORD
        assert secret_upload["permissions"] == "0400" and secret_upload["owner"] == "472"
        everything_else = [u for f, u in uploads.items() if f != secret_upload["file"]]
        in_the_clear = json.dumps([everything_else, grafana["envs"], [r.inputs for r in mocks.resources if r.name != "grafana"]])
        assert PASSWORD not in in_the_clear
        assert "grafana-admin-password" not in {r.name for r in mocks.resources}  # nothing generated
        assert any("GF_AUTH_ANONYMOUS_ENABLED=false" == e for e in grafana["envs"])

    return when_created(target, check)


@pulumi.runtime.test
def test_unset_grafana_password_is_generated_and_exported_as_a_secret():
    mocks, target = deploy()

    def check(args):
        is_secret, _ = args
        assert is_secret
        generated = [r for r in mocks.resources if r.type == "random:index/randomPassword:RandomPassword"]
        assert len(generated) == 1 and generated[0].inputs["length"] >= 32
        uploads = unwrap_secret(containers(mocks)["grafana"]["uploads"])
        upload = next(u for u in uploads if u["file"].startswith("/run/secrets/"))
        assert upload["content"] == "mock-generated-password"

    password = target.secrets["grafanaAdminPassword"]
    return pulumi.Output.all(pulumi.Output.from_input(password.is_secret()), *[c.urn for c in target.containers.values()]).apply(
        lambda values: check((values[0], values[1:]))
    )


@pulumi.runtime.test
def test_outputs_name_every_endpoint_on_the_bind_address():
    _, target = deploy()
    assert target.endpoints == {
        "grafanaUrl": "http://127.0.0.1:3000",
        "prometheusUrl": "http://127.0.0.1:9090",
        "alertmanagerUrl": "http://127.0.0.1:9093",
        "jaegerUrl": "http://127.0.0.1:16686",
        "lokiPushUrl": "http://127.0.0.1:3100/loki/api/v1/push",
        "otlpGrpcEndpoint": "http://127.0.0.1:4317",
        "otlpHttpEndpoint": "http://127.0.0.1:4318",
    }
    return when_created(target, lambda _: None)


def test_bad_config_stops_the_program_with_one_clear_message_before_any_resource():
    mocks = configure_mocks("dev", {f"{PROJECT}:target": "docker", f"{PROJECT}:scrapeInterval": "1s", f"{PROJECT}:bindAddress": "nowhere"}, [])
    with pytest.raises(pulumi.RunError) as caught:
        run()
    assert "scrapeInterval: given '1s'" in str(caught.value)
    assert "bindAddress: given 'nowhere'" in str(caught.value)
    assert mocks.resources == []


def test_a_secret_given_in_plain_text_is_refused():
    configure_mocks("dev", {f"{PROJECT}:target": "docker", f"{PROJECT}:grafanaAdminPassword": "hunter2"}, [])
    with pytest.raises(pulumi.RunError) as caught:
        run()
    assert "grafanaAdminPassword: given in plain text" in str(caught.value)
    assert "hunter2" not in str(caught.value)


ROUTING = {
    "receivers": [
        {"name": "oncall-pager", "pagerduty": {}},
        {"name": "gateway-slack", "slack": {"channel": "#ai-gateway-alerts"}},
        {"name": "audit-webhook", "webhook": {"url": "https://audit.example.com/alerts"}},
    ],
    "critical": ["oncall-pager", "gateway-slack"],
    "warning": ["gateway-slack"],
}
RECEIVER_SECRETS = {"oncall-pager": "pd-routing-key-123", "gateway-slack": "https://hooks.slack.com/services/T0/B0/secret"}


@pulumi.runtime.test
def test_receiver_credentials_reach_alertmanager_as_secret_files_only():
    mocks, target = deploy({"alerting": {"routing": ROUTING}}, secrets={"receiverSecrets": RECEIVER_SECRETS})

    def check(_):
        alertmanager = containers(mocks)["alertmanager"]
        uploads = {u["file"]: u for u in unwrap_secret(alertmanager["uploads"])}
        assert uploads["/etc/alertmanager/secrets/oncall-pager"]["content"] == "pd-routing-key-123"
        assert uploads["/etc/alertmanager/secrets/gateway-slack"]["content"] == RECEIVER_SECRETS["gateway-slack"]
        assert uploads["/etc/alertmanager/secrets/oncall-pager"]["owner"] == "65534"
        assert "/etc/alertmanager/secrets/audit-webhook" not in uploads  # no credential needed
        config = uploads["/etc/alertmanager/alertmanager.yml"]["content"]
        assert "routing_key_file: /etc/alertmanager/secrets/oncall-pager" in config
        for value in RECEIVER_SECRETS.values():
            assert value not in config

    return when_created(target, check)


def test_a_receiver_without_its_credential_is_refused_before_any_resource():
    mocks = configure_mocks(
        "dev",
        {
            f"{PROJECT}:target": "docker",
            f"{PROJECT}:alerting": json.dumps({"routing": ROUTING}),
            f"{PROJECT}:receiverSecrets": json.dumps({"oncall-pager": "x", "typo-slack": "y"}),
        },
        [f"{PROJECT}:receiverSecrets"],
    )
    with pytest.raises(pulumi.RunError) as caught:
        run()
    message = str(caught.value)
    assert "receiverSecrets.gateway-slack: required for the slack receiver 'gateway-slack'" in message
    assert "receiverSecrets.typo-slack: no receiver needs a credential of that name" in message
    assert "pulumi config set --secret --path 'receiverSecrets.gateway-slack'" in message
    assert mocks.resources == []


def test_receiver_credentials_in_plain_text_are_refused():
    configure_mocks(
        "dev",
        {
            f"{PROJECT}:target": "docker",
            f"{PROJECT}:alerting": json.dumps({"routing": ROUTING}),
            f"{PROJECT}:receiverSecrets": json.dumps(RECEIVER_SECRETS),
        },
        [],
    )
    with pytest.raises(pulumi.RunError) as caught:
        run()
    assert "receiverSecrets: given in plain text" in str(caught.value)
    assert "pd-routing-key-123" not in str(caught.value)


@pulumi.runtime.test
def test_object_store_credentials_reach_loki_only_as_secret_environment():
    storage = {"storage": {"type": "s3", "s3": {"endpoint": "http://minio:9000", "bucket": "gateway-logs"}}}
    secrets = {"objectStoreAccessKeyId": "AKIAEXAMPLEEXAMPLE12", "objectStoreSecretAccessKey": "very/secret+key"}
    mocks, target = deploy({"logs": storage}, secrets=secrets)

    def check(_):
        loki = containers(mocks)["loki"]
        envs = unwrap_secret(loki["envs"])
        assert "LOKI_S3_ACCESS_KEY_ID=AKIAEXAMPLEEXAMPLE12" in envs
        assert "LOKI_S3_SECRET_ACCESS_KEY=very/secret+key" in envs
        config = next(u["content"] for u in loki["uploads"] if u["file"] == "/etc/loki/loki.yaml")
        assert "very/secret+key" not in config and "${LOKI_S3_SECRET_ACCESS_KEY}" in config

    return when_created(target, check)


def test_s3_storage_without_its_credentials_is_refused():
    storage = {"storage": {"type": "s3", "s3": {"endpoint": "http://minio:9000", "bucket": "gateway-logs"}}}
    mocks = configure_mocks("dev", {f"{PROJECT}:target": "docker", f"{PROJECT}:logs": json.dumps(storage)}, [])
    with pytest.raises(pulumi.RunError) as caught:
        run()
    assert "objectStoreAccessKeyId: required because logs.storage.type is s3" in str(caught.value)
    assert "objectStoreSecretAccessKey: required because logs.storage.type is s3" in str(caught.value)
    assert mocks.resources == []
