"""An operator's review before `pulumi up` on a cluster: `render` writes the
Kubernetes objects as manifests (one file per component, as `helm
template`), exactly those the program under `pulumi up` creates, valid for
the pinned Kubernetes version; `plan` shows each workload's image,
replicas, resources, volumes and what rolls its pods."""

from __future__ import annotations

import contextlib
import io
import json

import kubernetes_validate
import pytest
import yaml
from conftest import ROOT
from test_kubernetes_target import KUBERNETES_VERSION

from stack.__main__ import main
from stack.manifests import SECRET_VALUE, kubernetes_objects
from stack.plan import plan_stack
from stack.settings import load_from_stack_file

ENVIRONMENTS = ("staging", "prod")


def render(tmp_path, environment: str) -> dict[str, list[dict]]:
    out = tmp_path / environment
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["render", environment, "--out", str(out)]) == 0
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted((out / "kubernetes").glob("*.yaml"))}


def _key(manifest: dict) -> tuple:
    return manifest["kind"], manifest["metadata"].get("namespace", ""), manifest["metadata"]["name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_render_writes_exactly_the_objects_pulumi_up_creates(tmp_path, environment):
    files = render(tmp_path, environment)
    rendered = [m for documents in files.values() for m in documents]
    stack_file = ROOT / f"Pulumi.{environment}.yaml"
    planned = kubernetes_objects(plan_stack(stack_file, load_from_stack_file(stack_file, allow_missing_secrets=True).missing_secrets))
    assert sorted(map(_key, rendered)) == sorted(map(_key, planned))
    assert len(set(map(_key, rendered))) == len(rendered), "every object once"
    by_key = {_key(m): m for m in planned}
    for manifest in rendered:
        assert manifest == by_key[_key(manifest)], _key(manifest)
    # One file per component, as its label says; what belongs to none in stack.yaml.
    for name, documents in files.items():
        components = {m["metadata"].get("labels", {}).get("app.kubernetes.io/name", "stack") for m in documents}
        assert components == {name.removesuffix(".yaml")}, name


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_rendered_manifest_is_valid_for_the_pinned_kubernetes(tmp_path, environment):
    for name, documents in render(tmp_path, environment).items():
        for manifest in documents:
            try:
                kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {_key(manifest)}: {error.message}")


def test_no_secret_value_reaches_a_rendered_manifest(tmp_path):
    files = render(tmp_path, "prod")
    secrets = [m for documents in files.values() for m in documents if m["kind"] == "Secret"]
    assert secrets and all(set(m.get("stringData", {}).values()) | set(m.get("data", {}).values()) == {SECRET_VALUE} for m in secrets)
    text = json.dumps(files)
    assert "mock-" not in text and "v1:" not in text  # neither the mock's generated values nor ciphertext


def workloads(plan_output: str) -> dict[str, list[str]]:
    lines = plan_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("WORKLOAD"))
    table = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = [cell.strip() for cell in line.split("  ") if cell.strip()]
        table[cells[0]] = cells[1:]
    return table


def plan(tmp_path, config: dict) -> str:
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(yaml.safe_dump({"config": {f"gateway-observability:{k}": v for k, v in config.items()}}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(["plan", str(path)]) == 0
    return out.getvalue()


def test_plan_shows_each_workload_and_what_rolls_its_pods(tmp_path):
    base = {"target": "kubernetes", "kubernetes": {"profile": "scalable", "volumeSize": "50Gi"}}
    before = workloads(plan(tmp_path, base))
    assert before["observability/obs-prometheus"][:4] == ["prom/prometheus:v3.13.4", "2", "1000m / 2Gi", "data 50Gi"]
    assert before["observability/obs-alertmanager"][1:4] == ["3", "250m / 256Mi", "data 1Gi"]
    assert before["observability-node/obs-promtail"][1] == "per node"
    assert set(before) == {f"observability/obs-{c}" for c in ("prometheus", "alertmanager", "loki", "jaeger", "grafana", "kube-state-metrics")} | {
        "observability-node/obs-promtail"
    }
    # A pending period lives in Prometheus' rule files only: only Prometheus' pods roll.
    after = workloads(plan(tmp_path, {**base, "alerting": {"forDurations": {"GatewayServiceDown": "30s"}}}))
    rolled = {name for name in before if before[name][-1] != after[name][-1]}
    assert rolled == {"observability/obs-prometheus"}
