"""Grafana in the kubernetes target's scalable profile: two replicas only on
an external database (the secret grafanaDatabaseUrl), whose URL reaches
Grafana as a mounted file (GF_DATABASE_URL__FILE) and is in no rendered
file or manifest; without it, one replica on SQLite as before.

`build_services(settings)` sees no secrets, so these tests build Grafana's
spec with `external_database` from the loaded secrets themselves, as the
program is to (`GRAFANA_DATABASE_URL in loaded.secrets`)."""

from __future__ import annotations

import asyncio
import json

import pulumi
import pytest
from test_kubernetes_target import _plain

from stack.components import build_services
from stack.components.grafana import DATABASE_URL_FILE, grafana_service
from stack.components.service import GRAFANA_SCALABLE_REPLICAS, replicas
from stack.plan import configure_mocks
from stack.render import rendered_files
from stack.settings import PROJECT, LoadedSettings, SettingsError, load_from_pulumi, secret_keys_needed, validate_config
from stack.settings.secrets import GRAFANA_DATABASE_URL, secret_placeholder
from stack.targets.kubernetes import KubernetesTarget

DATABASE_URL = "postgres://grafana:db-pw-7d2e9b-never-rendered@db.example.com:5432/grafana"
SCALABLE = {"target": "kubernetes", "kubernetes": {"profile": "scalable"}}


def loaded(raw: dict, database_url: str | None = DATABASE_URL) -> LoadedSettings:
    """Settings and secrets as `pulumi up` gets them, every secret given encrypted."""
    raw = dict(raw)
    if database_url is not None:
        raw[GRAFANA_DATABASE_URL] = database_url
    settings, given = validate_config(raw, "prod", "test", lambda key: True)
    return LoadedSettings(settings, {key: given[key] for key in secret_keys_needed(settings, given)})


def grafana_of(state: LoadedSettings):
    return grafana_service(state.settings, external_database=GRAFANA_DATABASE_URL in state.secrets)


def files_of(state: LoadedSettings) -> dict[str, str]:
    """Every rendered file, Grafana's built with the external database when given."""
    files = rendered_files(state)
    grafana = grafana_of(state)
    files.update({f"grafana{path}": text for path, text in grafana.files.items()})
    files.update({f"grafana{s.mount_path}": state.secrets.get(s.secret, "<generated>") + "\n" for s in grafana.secret_files})
    return files


# --- the spec ------------------------------------------------------------------------


def test_with_the_database_url_the_scalable_profile_runs_two_grafanas_reading_it_from_a_file():
    spec = grafana_of(loaded(SCALABLE))
    assert spec.replicas == GRAFANA_SCALABLE_REPLICAS == 2
    assert spec.env["GF_DATABASE_URL__FILE"] == DATABASE_URL_FILE
    assert "GF_DATABASE_URL" not in spec.env
    assert [(s.secret, s.mount_path) for s in spec.secret_files if s.secret == GRAFANA_DATABASE_URL] == [
        (GRAFANA_DATABASE_URL, DATABASE_URL_FILE)
    ]


@pytest.mark.parametrize("profile", ["scalable", "single"])
def test_without_it_grafana_is_one_replica_on_sqlite_with_no_database_env(profile):
    state = loaded({"target": "kubernetes", "kubernetes": {"profile": profile}}, database_url=None)
    spec = grafana_of(state)
    assert GRAFANA_DATABASE_URL not in state.secrets
    assert spec.replicas == 1
    assert not [name for name in spec.env if name.startswith("GF_DATABASE_")]
    assert [s.secret for s in spec.secret_files] == ["grafanaAdminPassword"]
    assert spec == next(s for s in build_services(state.settings) if s.name == "grafana")


@pytest.mark.parametrize(
    "raw", [{"target": "docker"}, {"target": "kubernetes", "kubernetes": {"profile": "single"}}], ids=["docker", "single"]
)
def test_outside_the_scalable_profile_grafana_stays_one_replica_even_on_a_shared_database(raw):
    spec = grafana_of(loaded(raw))
    assert spec.replicas == 1
    assert spec.env["GF_DATABASE_URL__FILE"] == DATABASE_URL_FILE


def test_the_other_components_replicas_do_not_depend_on_grafanas_database():
    settings = loaded(SCALABLE).settings
    for component in ("prometheus", "alertmanager", "loki", "jaeger"):
        assert replicas(settings, component, external_database=True) == replicas(settings, component)


@pytest.mark.parametrize("raw", [SCALABLE, {"target": "docker"}], ids=["scalable", "docker"])
def test_the_url_is_in_its_secret_file_and_in_no_other_rendered_file(raw):
    files = files_of(loaded(raw))
    assert files[f"grafana{DATABASE_URL_FILE}"] == DATABASE_URL + "\n"
    assert [path for path, text in files.items() if "db-pw-7d2e9b" in text] == [f"grafana{DATABASE_URL_FILE}"]


def test_render_writes_a_placeholder_where_the_url_would_go():
    settings, given = validate_config({**SCALABLE, GRAFANA_DATABASE_URL: {"secure": "v1:ZXhhbXBsZQ=="}}, "prod", "t", lambda k: True)
    state = LoadedSettings(settings, {key: secret_placeholder(key) for key in secret_keys_needed(settings, given)})
    files = files_of(state)
    assert files[f"grafana{DATABASE_URL_FILE}"] == secret_placeholder(GRAFANA_DATABASE_URL) + "\n"
    assert not [path for path, text in files.items() if "postgres://" in text]


# --- the settings ----------------------------------------------------------------------


def test_the_database_url_is_optional_and_used_whenever_given():
    settings, given = validate_config(SCALABLE, "prod", "test", lambda key: True)
    assert GRAFANA_DATABASE_URL not in secret_keys_needed(settings, given)
    settings, given = validate_config({"target": "docker", GRAFANA_DATABASE_URL: DATABASE_URL}, "dev", "t", lambda k: True)
    assert GRAFANA_DATABASE_URL in secret_keys_needed(settings, given)


def test_a_plain_text_database_url_is_refused_without_echoing_it():
    with pytest.raises(SettingsError) as caught:
        validate_config({**SCALABLE, GRAFANA_DATABASE_URL: DATABASE_URL}, "prod", "test", lambda key: False)
    [problem] = caught.value.problems
    assert f"{PROJECT}:{GRAFANA_DATABASE_URL}: given in plain text" in problem
    assert "make secret ENV=prod KEY=grafanaDatabaseUrl" in problem
    assert "db-pw-7d2e9b" not in problem


# --- the Kubernetes objects, under the SDK's mocks ---------------------------------------


def kubernetes_manifests(secrets: dict) -> list[dict]:
    """Every Kubernetes object of a scalable prod stack given `secrets`, Grafana's
    spec built with the external database when load_from_pulumi hands its URL on."""
    flat = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in {**SCALABLE, **secrets}.items()}
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = configure_mocks("prod", flat, [f"{PROJECT}:{k}" for k in secrets])

    @pulumi.runtime.test
    def construct():
        state = load_from_pulumi()
        services = [grafana_of(state) if s.name == "grafana" else s for s in build_services(state.settings)]
        target = KubernetesTarget(f"{state.settings.name_prefix}-prod", state, services)
        return pulumi.Output.all(*[o.urn for o in target.objects])

    construct()
    return [_plain(r.inputs) for r in mocks.resources if r.type.startswith("kubernetes:") and r.type != "pulumi:providers:kubernetes"]


def grafana_workload(found: list[dict]) -> dict:
    [workload] = [
        m for m in found
        if m["kind"] in ("Deployment", "StatefulSet") and m["metadata"]["labels"]["app.kubernetes.io/name"] == "grafana"
    ]  # fmt: skip
    return workload


def test_kubernetes_runs_two_grafanas_with_the_url_only_in_a_secret_mounted_as_a_file():
    found = kubernetes_manifests({GRAFANA_DATABASE_URL: DATABASE_URL})
    workload = grafana_workload(found)
    assert workload["spec"]["replicas"] == 2
    assert "obs-grafana" in {m["metadata"]["name"] for m in found if m["kind"] == "PodDisruptionBudget"}
    assert "db-pw-7d2e9b" not in json.dumps([m for m in found if m["kind"] != "Secret"])
    assert "db-pw-7d2e9b" in json.dumps([m for m in found if m["kind"] == "Secret"])
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "GF_DATABASE_URL__FILE", "value": DATABASE_URL_FILE} in container["env"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == DATABASE_URL_FILE)
    assert mount["readOnly"] is True and mount["subPath"] == GRAFANA_DATABASE_URL


def test_kubernetes_without_the_url_runs_one_grafana_with_no_database_env():
    workload = grafana_workload(kubernetes_manifests({}))
    assert workload["spec"]["replicas"] == 1
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert not [e for e in container["env"] if e["name"].startswith("GF_DATABASE_")]
