"""The kubernetes target's settings: the `kubernetes` block, keys only one
target reads, and the staging and prod stack files."""

from __future__ import annotations

import pytest
from conftest import ROOT

from stack.settings import SettingsError, parse_settings
from stack.settings.stack_file import load_from_stack_file


def problems(raw: dict, environment: str = "staging") -> str:
    with pytest.raises(SettingsError) as caught:
        parse_settings(raw, environment, "Pulumi.staging.yaml")
    return str(caught.value)


def test_kubernetes_is_a_target_with_defaults_for_everything():
    settings = parse_settings({"target": "kubernetes"}, "staging", "t")
    k8s = settings.kubernetes
    assert (k8s.namespace, k8s.volume_size, k8s.context, k8s.storage_class) == ("observability", "10Gi", None, None)
    assert k8s.gateway.namespace == "ai-gateway" and k8s.gateway.selector == {"app.kubernetes.io/part-of": "ai-gateway"}
    assert not k8s.ingress.enabled


def test_an_unknown_target_names_both_that_exist():
    assert "target: given 'nomad'; expected 'docker' (one host, for dev) or 'kubernetes' (a cluster, for staging and prod)" in problems(
        {"target": "nomad"}
    )


def test_every_bad_kubernetes_value_is_named_at_once():
    text = problems(
        {
            "target": "kubernetes",
            "kubernetes": {
                "namespace": "Observability",
                "volumeSize": "10GB",
                "storageClass": "fast_ssd",
                "ingress": {"enabled": True},
                "gateway": {"selector": {}},
            },
        }
    )
    assert "(5 problems)" in text
    assert "kubernetes.namespace: given 'Observability'; expected a Kubernetes name" in text
    assert "kubernetes.volumeSize: given '10GB'; expected a volume size such as '10Gi'" in text
    assert "kubernetes.storageClass: given 'fast_ssd'" in text
    assert "kubernetes.ingress: an enabled ingress needs a host" in text
    assert "kubernetes.gateway.selector: expected at least one label" in text


@pytest.mark.parametrize(
    "target, raw, key",
    [
        ("kubernetes", {"gatewayNetwork": "ai-gateway"}, "gatewayNetwork"),
        ("kubernetes", {"demo": {"enabled": True}}, "demo.enabled"),
        ("kubernetes", {"bindAddress": "0.0.0.0"}, "bindAddress"),
        ("docker", {"kubernetes": {"namespace": "obs"}}, "kubernetes"),
    ],
)
def test_a_key_the_target_does_not_read_is_refused_not_ignored(target, raw, key):
    other = "docker" if target == "kubernetes" else "kubernetes"
    text = problems({"target": target, **raw}, "staging" if target == "kubernetes" else "dev")
    assert f"{key}: only the {other} target reads it, and this stack's target is {target}; remove it" in text


def test_the_docker_keys_at_their_defaults_are_fine_on_kubernetes():
    parse_settings({"target": "kubernetes", "demo": {"enabled": False}}, "staging", "t")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_staging_and_prod_stack_files_are_valid(stack):
    loaded = load_from_stack_file(ROOT / f"Pulumi.{stack}.yaml", allow_missing_secrets=True)
    assert loaded.settings.target == "kubernetes" and loaded.settings.environment == stack
    assert loaded.settings.cluster == stack


def test_staging_needs_no_secret_and_prod_only_its_paging_credentials():
    """No secret can be committed, so prod's paging receivers lack theirs
    until the operator sets them: `render` and `plan` list them, `pulumi up`
    refuses them, naming the prod stack in how to set them."""
    assert load_from_stack_file(ROOT / "Pulumi.staging.yaml").missing_secrets == {}
    missing = load_from_stack_file(ROOT / "Pulumi.prod.yaml", allow_missing_secrets=True).missing_secrets
    assert list(missing) == ["receiverSecrets.oncall-pager", "receiverSecrets.gateway-slack"]
    with pytest.raises(SettingsError) as caught:
        load_from_stack_file(ROOT / "Pulumi.prod.yaml")
    assert str(caught.value).count("\n  - ") == 2
    assert "`make secret ENV=prod KEY=receiverSecrets.oncall-pager`" in str(caught.value)
    assert "`pulumi config set --secret --stack prod --path 'receiverSecrets.gateway-slack'`" in str(caught.value)


def test_prod_keeps_more_and_puts_grafana_behind_an_ingress():
    staging = load_from_stack_file(ROOT / "Pulumi.staging.yaml").settings
    prod = load_from_stack_file(ROOT / "Pulumi.prod.yaml", allow_missing_secrets=True).settings
    assert prod.retention.metrics > staging.retention.metrics and prod.retention.logs > staging.retention.logs
    assert prod.kubernetes.ingress.enabled and prod.kubernetes.ingress.host


def test_prod_runs_the_scalable_profile_and_staging_the_single_one():
    from stack.components import build_services

    for stack, expected in (
        ("staging", {"prometheus": 1, "alertmanager": 1, "loki": 1}),
        ("prod", {"prometheus": 2, "alertmanager": 3, "loki": 3}),  # Loki on S3 in prod
    ):
        settings = load_from_stack_file(ROOT / f"Pulumi.{stack}.yaml", allow_missing_secrets=True).settings
        replicas = {spec.name: spec.replicas for spec in build_services(settings)}
        assert {name: replicas[name] for name in expected} == expected, stack
        assert all(count == 1 for name, count in replicas.items() if name not in expected)


def test_the_profile_takes_single_or_scalable():
    assert "kubernetes.profile: given 'huge'" in problems({"target": "kubernetes", "kubernetes": {"profile": "huge"}})


def test_the_program_itself_refuses_prod_until_its_paging_secrets_are_set():
    """What `pulumi up` runs: without placeholders for the missing secrets (only
    the offline previews add them), the program stops before any resource."""
    import pulumi

    from stack.plan import plan_stack

    with pytest.raises(pulumi.RunError) as caught:
        plan_stack(ROOT / "Pulumi.prod.yaml")
    assert "receiverSecrets.oncall-pager: required for the pagerduty receiver" in str(caught.value)
    assert "receiverSecrets.gateway-slack: required for the slack receiver" in str(caught.value)
    missing = load_from_stack_file(ROOT / "Pulumi.prod.yaml", allow_missing_secrets=True).missing_secrets
    planned = plan_stack(ROOT / "Pulumi.prod.yaml", missing)
    assert any(r.type == "kubernetes:apps/v1:StatefulSet" and r.name == "alertmanager" for r in planned)
