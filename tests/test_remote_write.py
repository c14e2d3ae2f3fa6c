"""remoteWrite: Prometheus also writes to a long-term metrics store. The
rendered `remote_write` for each auth kind, the credential kept out of every
rendered file and mounted as a file on both targets, promtool's verdict, and
the settings' messages."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pulumi
import pytest
import yaml
from conftest import require_tool
from test_docker_target import containers, deploy, unwrap_secret, when_created
from test_kubernetes_target import manifests, planned, workloads

from stack.components.prometheus import REMOTE_WRITE_CREDENTIAL_FILE, prometheus_service, render_prometheus_config
from stack.render import rendered_files, write_rendered
from stack.settings import LoadedSettings, SettingsError, parse_settings, secret_keys_needed, validate_config
from stack.settings.remote_write import RESERVED_HEADERS

URL = "https://mimir.example.com/api/v1/push"
TOKEN = "rw-token-4f1c9a7e-never-in-a-config"
AUTH = {
    "none": {"url": URL},
    "bearer": {"url": URL, "auth": "bearer"},
    "basic": {"url": URL, "auth": "basic", "username": "prometheus"},
}
EXPECTED_AUTH_BLOCK = {
    "none": {},
    "bearer": {"authorization": {"type": "Bearer", "credentials_file": "/etc/prometheus/secrets/remote-write-credential"}},
    "basic": {"basic_auth": {"username": "prometheus", "password_file": "/etc/prometheus/secrets/remote-write-credential"}},
}


def loaded(remote_write: dict, target: str = "docker", credential: str | None = TOKEN) -> LoadedSettings:
    """Settings and secrets as `pulumi up` gets them: the credential given encrypted
    and handed to the components through secret_keys_needed, like every secret."""
    raw = {"target": target, "remoteWrite": remote_write}
    if credential is not None:
        raw["remoteWriteCredential"] = credential
    settings, given = validate_config(raw, "dev", "test", lambda key: True)
    return LoadedSettings(settings, {key: given[key] for key in secret_keys_needed(settings, given)})


def remote_write_of(settings) -> list | None:
    return yaml.safe_load(render_prometheus_config(settings)).get("remote_write")


def problems(raw: dict, is_secret=lambda key: True) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate_config({"target": "docker", **raw}, "dev", "test", is_secret)
    return caught.value.problems


# --- rendering -------------------------------------------------------------------


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_without_the_key_there_is_no_remote_write_and_nothing_mounted(target):
    settings = parse_settings({"target": target}, "dev", "test")
    assert settings.remote_write is None
    assert remote_write_of(settings) is None
    assert prometheus_service(settings).secret_files == ()


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
@pytest.mark.parametrize("auth", list(AUTH))
def test_each_auth_kind_renders_its_block_and_mounts_the_credential_only_when_sent(auth, target):
    stack = loaded(AUTH[auth], target)
    assert remote_write_of(stack.settings) == [{"url": URL, **EXPECTED_AUTH_BLOCK[auth]}]
    mounted = {(f.secret, f.mount_path) for f in prometheus_service(stack.settings).secret_files}
    assert mounted == (set() if auth == "none" else {("remoteWriteCredential", REMOTE_WRITE_CREDENTIAL_FILE)})


def test_headers_and_queue_are_rendered_as_given_and_left_to_prometheus_when_unset():
    given = {**AUTH["bearer"], "headers": {"X-Scope-OrgID": "ai-gateway"}, "queue": {"capacity": 20000, "maxSamplesPerSend": 4000}}
    [endpoint] = remote_write_of(loaded(given).settings)
    assert endpoint["headers"] == {"X-Scope-OrgID": "ai-gateway"}
    assert endpoint["queue_config"] == {"capacity": 20000, "max_samples_per_send": 4000}
    [only_capacity] = remote_write_of(loaded({**AUTH["bearer"], "queue": {"capacity": 5000}}).settings)
    assert only_capacity["queue_config"] == {"capacity": 5000}
    [plain] = remote_write_of(loaded(AUTH["bearer"]).settings)
    assert "queue_config" not in plain and "headers" not in plain


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_the_credential_is_in_its_secret_file_and_in_no_other_rendered_file(auth, target):
    files = rendered_files(loaded(AUTH[auth], target))
    secret_path = "prometheus" + REMOTE_WRITE_CREDENTIAL_FILE
    assert files[secret_path] == TOKEN + "\n"
    holding = [path for path, text in files.items() if TOKEN in text]
    assert holding == [secret_path]


# --- the real checker ------------------------------------------------------------


def promtool_check(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), "check", "config", str(config)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("auth", list(AUTH))
def test_promtool_accepts_the_rendered_config_with_the_secret_file_beside_it(auth, tmp_path):
    given = {**AUTH[auth], "headers": {"X-Scope-OrgID": "ai-gateway"}, "queue": {"capacity": 20000, "maxSamplesPerSend": 4000}}
    write_rendered(loaded(given), tmp_path)
    config = tmp_path / "prometheus/etc/prometheus/prometheus.yml"
    assert (tmp_path / ("prometheus" + REMOTE_WRITE_CREDENTIAL_FILE)).exists() is (auth != "none")
    result = promtool_check(config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    "spoil",
    [
        # The check above can fail: promtool reads remote_write strictly.
        lambda text: text.replace("credentials_file:", "credential_file:"),
        lambda text: text.replace("X-Scope-OrgID:", "Authorization:"),
    ],
    ids=["misspelled-field", "authorization-header"],
)
def test_promtool_rejects_a_spoiled_remote_write(spoil, tmp_path):
    given = {**AUTH["bearer"], "headers": {"X-Scope-OrgID": "ai-gateway"}}
    config = tmp_path / "prometheus.yml"
    text = render_prometheus_config(loaded(given).settings).replace("rules/*.yml", "no-rules/*.yml")
    spoiled = spoil(text)
    assert spoiled != text
    config.write_text(spoiled)
    assert promtool_check(config).returncode != 0


def test_every_header_the_settings_refuse_as_reserved_promtool_refuses_too(tmp_path):
    # RESERVED_HEADERS copies Prometheus' list; the real checker keeps the copy honest.
    for header in sorted(RESERVED_HEADERS):
        config = tmp_path / f"{header}.yml"
        config.write_text(yaml.safe_dump({"remote_write": [{"url": URL, "headers": {header: "v"}}]}))
        assert promtool_check(config).returncode != 0, header
        assert len(problems({"remoteWrite": {"url": URL, "headers": {header: "v"}}})) == 1, header


# --- both targets ----------------------------------------------------------------


@pulumi.runtime.test
def test_docker_uploads_the_credential_as_a_secret_file_of_prometheus_only():
    mocks, target = deploy({"remoteWrite": AUTH["bearer"]}, {"remoteWriteCredential": TOKEN})

    def check(_):
        prometheus = containers(mocks)["prometheus"]
        uploads = {u["file"]: u for u in unwrap_secret(prometheus["uploads"])}
        credential = uploads[REMOTE_WRITE_CREDENTIAL_FILE]
        assert credential["content"] == TOKEN
        assert credential["permissions"] == "0400" and credential["owner"] == "65534"
        everything_else = [u for f, u in uploads.items() if f != REMOTE_WRITE_CREDENTIAL_FILE]
        assert TOKEN not in json.dumps([everything_else, [r.inputs for r in mocks.resources if r.name != "prometheus"]])

    return when_created(target, check)


def test_kubernetes_keeps_the_credential_in_a_secret_mounted_as_a_file():
    config, secrets = {"remoteWrite": AUTH["basic"]}, {"remoteWriteCredential": TOKEN}
    resources, _ = planned("prod", config, secrets)
    found = manifests("prod", config, secrets)
    assert "prometheus-secrets" in {r.name for r in resources if r.type == "kubernetes:core/v1:Secret"}
    assert TOKEN not in json.dumps([m for m in found if m["kind"] != "Secret"])
    container = workloads(found)["prometheus"]["spec"]["template"]["spec"]["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == REMOTE_WRITE_CREDENTIAL_FILE)
    assert mount["readOnly"] is True and mount["subPath"] == "remoteWriteCredential"


# --- settings ----------------------------------------------------------------------


def test_bad_values_are_reported_each_once_and_all_at_once():
    found = problems(
        {
            "remoteWrite": {
                "url": "ftp://mimir.example.com/push",
                "auth": "digest",
                "headers": {"Authorization": "Bearer abc", "X-Scope-OrgID": "ai-gateway"},
                "queue": {"capacity": 0},
            }
        }
    )
    assert found == [
        "gateway-observability:remoteWrite.url: given 'ftp://mimir.example.com/push'; expected the http(s) URL of a "
        "remote-write endpoint, such as 'https://mimir.example.com/api/v1/push' (no user:password@, query or fragment: "
        "a credential goes in remoteWrite.auth)",
        "gateway-observability:remoteWrite.auth: given 'digest'; expected one of 'none', 'bearer', 'basic'",
        "gateway-observability:remoteWrite.headers.Authorization: key not allowed; a header that carries a credential "
        "would stand in plain text in prometheus.yml; set remoteWrite.auth (bearer or basic) and the "
        "remoteWriteCredential secret instead",
        "gateway-observability:remoteWrite.queue.capacity: given 0; expected a number of at least 1",
    ]


def test_basic_without_username_is_reported_with_the_section_s_other_problems():
    found = problems({"remoteWrite": {"url": URL, "auth": "basic", "headers": {"X-Api-Key": "abc"}}, "remoteWriteCredential": "x"})
    assert found == [
        "gateway-observability:remoteWrite.headers.X-Api-Key: key not allowed; a header that carries a credential "
        "would stand in plain text in prometheus.yml; set remoteWrite.auth (bearer or basic) and the "
        "remoteWriteCredential secret instead",
        "gateway-observability:remoteWrite.auth: given 'basic'; needs remoteWrite.username (the password is the "
        "remoteWriteCredential secret)",
    ]


@pytest.mark.parametrize(
    "remote_write, expected",
    [
        ({"url": "https://user:pw@mimir.example.com/push"}, "remoteWrite.url: given 'https://user:pw@mimir.example.com/push'; expected"),
        ({"url": URL + "?token=abc"}, "remoteWrite.url: given"),
        ({"url": URL, "auth": "bearer", "username": "p"}, "remoteWrite.username: given 'p'; only auth 'basic' reads it"),
        ({"url": URL, "headers": {"Content-Type": "x"}}, "remoteWrite.headers.Content-Type: key not allowed; a header Prometheus sets"),
        ({"url": URL, "headers": {"X-Scope-OrgID": " padded"}}, "remoteWrite.headers.X-Scope-OrgID: given ' padded'; expected"),
        ({"url": URL, "queue": {"maxSamplesPerSend": 10**6}}, "remoteWrite.queue.maxSamplesPerSend: given 1000000; expected"),
        ({"url": URL, "tenant": "x"}, "remoteWrite.tenant: unknown key (given 'x'); allowed keys: auth, headers, queue, url, username"),
        ({"auth": "bearer"}, "remoteWrite.url: required but not set"),
    ],
)
def test_one_bad_value_gives_one_message_naming_its_key(remote_write, expected):
    found = problems({"remoteWrite": remote_write, "remoteWriteCredential": "x"})
    assert len(found) == 1 and found[0].startswith("gateway-observability:" + expected), found


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_a_missing_credential_is_reported_like_every_other_secret(auth):
    assert problems({"remoteWrite": AUTH[auth]}) == [
        f"gateway-observability:remoteWriteCredential: required because remoteWrite.auth is {auth}; set it with "
        "`make secret KEY=remoteWriteCredential` (`pulumi config set --secret remoteWriteCredential` on the project's "
        "local backend)"
    ]


def test_a_plain_text_credential_is_refused():
    found = problems({"remoteWrite": AUTH["bearer"], "remoteWriteCredential": TOKEN}, is_secret=lambda key: False)
    assert len(found) == 1 and found[0].startswith("gateway-observability:remoteWriteCredential: given in plain text")
    assert TOKEN not in found[0]


def test_auth_none_needs_no_credential():
    stack = loaded(AUTH["none"], credential=None)
    assert stack.secrets == {}
