"""Loki on S3, GCS or Azure, with keys kept as secrets or with the cloud's
workload identity (kubernetes target only).

Loki's config checker is not packaged here, so the rendered storage blocks
are asserted exactly; their key names were read from the yaml tags of Loki's
config structs at v3.7.6, the newest 3.7 source at hand for the pinned 3.7.8:
pkg/storage/chunk/client/gcp/gcs_object_client.go (GCSConfig: bucket_name,
service_account: the key's JSON, empty for Application Default Credentials),
pkg/storage/chunk/client/azure/blob_storage_client.go (BlobStorageConfig:
environment (the cloud: blob and sign-in endpoints), account_name, account_key, container_name,
use_federated_token, which reads AZURE_CLIENT_ID, AZURE_TENANT_ID and
AZURE_FEDERATED_TOKEN_FILE) and pkg/storage/chunk/client/aws/s3_storage_client.go
(static keys only when both are set, else the AWS SDK's default chain).
"""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml
from test_kubernetes_target import KUBERNETES_VERSION, manifests, of_kind, workloads

from stack.components.loki import GCS_KEY_FILE, loki_service, render_loki_config
from stack.settings import PROJECT, SettingsError, parse_settings
from stack.settings.validation import validate_config
from stack.spec import SecretFile

S3 = {"type": "s3", "s3": {"endpoint": "s3.eu-west-1.amazonaws.com", "bucket": "gateway-logs", "region": "eu-west-1"}}
GCS = {"type": "gcs", "gcs": {"bucket": "gateway-logs"}}
AZURE = {"type": "azure", "azure": {"accountName": "gatewaylogs", "container": "loki-chunks"}}
IRSA = {"serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/loki"}}
GKE = {"serviceAccountAnnotations": {"iam.gke.io/gcp-service-account": "loki@project.iam.gserviceaccount.com"}}
AKS = {"serviceAccountAnnotations": {"azure.workload.identity/client-id": "00000000-0000-0000-0000-000000000000"}}
KEYS = {
    "s3": {"objectStoreAccessKeyId": "AKIAEXAMPLEEXAMPLE12", "objectStoreSecretAccessKey": "very/secret+key"},
    "gcs": {"objectStoreServiceAccountKey": '{"type": "service_account", "private_key": "-----BEGIN"}'},
    "azure": {"objectStoreAccountKey": "c2VjcmV0LWF6dXJlLWtleQ=="},
}


def settings_for(storage: dict, target: str = "kubernetes", profile: str = "single"):
    config = {"target": target, "logs": {"storage": storage}}
    if target == "kubernetes":
        config["kubernetes"] = {"profile": profile}
    return parse_settings(config, "prod", "test")


def storage_block(settings) -> dict:
    return yaml.safe_load(render_loki_config(settings))["common"]["storage"]


# --- the rendered config -------------------------------------------------------------


def test_gcs_with_a_key_reads_it_from_a_mounted_file_never_from_the_config():
    settings = settings_for(GCS, target="docker")
    assert storage_block(settings) == {"gcs": {"bucket_name": "gateway-logs"}}
    config = yaml.safe_load(render_loki_config(settings))
    assert config["schema_config"]["configs"][0]["object_store"] == "gcs"
    assert config["compactor"]["delete_request_store"] == "gcs"
    spec = loki_service(settings)
    assert spec.secret_files == (SecretFile("objectStoreServiceAccountKey", GCS_KEY_FILE),)
    assert spec.env["GOOGLE_APPLICATION_CREDENTIALS"] == GCS_KEY_FILE
    assert spec.secret_env == {}


def test_azure_with_a_key_expands_it_from_the_environment():
    settings = settings_for({**AZURE, "azure": {**AZURE["azure"], "cloud": "AzureChinaCloud"}}, target="docker")
    assert storage_block(settings) == {
        "azure": {
            "environment": "AzureChinaCloud",
            "account_name": "gatewaylogs",
            "container_name": "loki-chunks",
            "account_key": "${LOKI_AZURE_ACCOUNT_KEY}",
        }
    }
    spec = loki_service(settings)
    assert spec.secret_env == {"LOKI_AZURE_ACCOUNT_KEY": "objectStoreAccountKey"}
    assert "-config.expand-env=true" in spec.args


@pytest.mark.parametrize(
    "storage, identity, block",
    [
        (S3, IRSA, {"s3": {"endpoint": "s3.eu-west-1.amazonaws.com", "bucketnames": "gateway-logs", "region": "eu-west-1",
                           "s3forcepathstyle": True, "insecure": False}}),
        (GCS, GKE, {"gcs": {"bucket_name": "gateway-logs"}}),
        (AZURE, AKS, {"azure": {"environment": "AzureGlobal", "account_name": "gatewaylogs", "container_name": "loki-chunks",
                                "use_federated_token": True}}),
    ],
    ids=["s3", "gcs", "azure"],
)  # fmt: skip
def test_a_workload_identity_leaves_every_key_out(storage, identity, block):
    settings = settings_for({**storage, "workloadIdentity": identity})
    assert storage_block(settings) == block
    spec = loki_service(settings)
    assert (spec.secret_env, spec.secret_files) == ({}, ())
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in spec.env
    assert spec.service_account_annotations == identity["serviceAccountAnnotations"]
    # Azure's webhook injects the token into labelled pods only.
    assert spec.pod_labels == ({"azure.workload.identity/use": "true"} if storage is AZURE else {})


@pytest.mark.parametrize("storage", [S3, GCS, AZURE], ids=["s3", "gcs", "azure"])
def test_every_object_store_carries_lokis_replicas_in_the_scalable_profile(storage):
    assert loki_service(settings_for(storage, profile="scalable")).replicas == 3
    assert loki_service(settings_for(storage, profile="single")).replicas == 1


# --- settings: what each store needs, and what is refused --------------------------


@pytest.mark.parametrize("store", ["s3", "gcs", "azure"])
def test_each_store_needs_its_keys_unless_it_uses_a_workload_identity(store):
    storage = {"s3": S3, "gcs": GCS, "azure": AZURE}[store]
    raw = {"target": "kubernetes", "logs": {"storage": storage}}
    with pytest.raises(SettingsError) as caught:
        validate_config(raw, "prod", "test", lambda key: True, ())
    for key in KEYS[store]:
        assert f"{PROJECT}:{key}: required because logs.storage.type is {store} (without logs.storage.workloadIdentity)" in str(caught.value)
    validate_config({**raw, **KEYS[store]}, "prod", "test", lambda key: True, ())
    identity = AKS if store == "azure" else {}
    with_identity = {"target": "kubernetes", "logs": {"storage": {**storage, "workloadIdentity": identity}}}
    settings, given = validate_config(with_identity, "prod", "test", lambda key: True, ())
    assert given == {} and settings.logs.storage.workload_identity is not None


@pytest.mark.parametrize(
    "config, message",
    [
        ({"target": "docker", "logs": {"storage": {**S3, "workloadIdentity": IRSA}}},
         "logs.storage.workloadIdentity: only the kubernetes target reads it, and this stack's target is docker; remove it"),
        ({"target": "kubernetes", "logs": {"storage": {"workloadIdentity": {}}}},
         "workloadIdentity is how Loki reaches an object store; type 'filesystem' has none"),
        ({"target": "kubernetes", "logs": {"storage": {"type": "azure"}}}, "type 'azure' needs logs.storage.azure {accountName, container}"),
        ({"target": "docker", "logs": {"storage": {"type": "gcs", "gcs": {"bucket": "Gateway_Logs"}}}},
         "logs.storage.gcs.bucket: given 'Gateway_Logs'; expected a GCS bucket name"),
        ({"target": "docker", "logs": {"storage": {"type": "azure", "azure": {"accountName": "gateway-logs", "container": "loki"}}}},
         "logs.storage.azure.accountName: given 'gateway-logs'; expected an Azure storage account name"),
        ({"target": "docker", "logs": {"storage": {"type": "azure", "azure": {"accountName": "gatewaylogs", "container": "loki--chunks"}}}},
         "logs.storage.azure.container: given 'loki--chunks'; expected an Azure container name"),
        ({"target": "kubernetes", "logs": {"storage": {**S3, "workloadIdentity": {"serviceAccountAnnotations": {"role arn": "x"}}}}},
         "expected Kubernetes annotation keys such as 'eks.amazonaws.com/role-arn'; 'role arn' is not one"),
        ({"target": "docker", "logs": {"storage": {**GCS, "s3": S3["s3"], "azure": AZURE["azure"]}}},
         "logs.storage: s3, azure given, but type is 'gcs': remove logs.storage.s3 and logs.storage.azure or set type to match"),
        ({"target": "kubernetes", "logs": {"storage": {**AZURE, "workloadIdentity": {}}}},
         "an Azure workload identity needs workloadIdentity.serviceAccountAnnotations.azure.workload.identity/client-id"),
        ({"target": "docker", "logs": {"storage": {**AZURE, "azure": {**AZURE["azure"], "cloud": "AzureGermanCloud"}}}},
         "logs.storage.azure.cloud: given 'AzureGermanCloud'; expected one of 'AzureGlobal', 'AzureChinaCloud', 'AzureUSGovernment'"),
    ],
    ids=["docker", "filesystem", "azure-without-settings", "gcs-bucket", "azure-account", "azure-container", "annotation-key",
         "other-store-blocks", "azure-without-client-id", "azure-cloud"],
)  # fmt: skip
def test_bad_object_store_settings_are_clear_errors(config, message):
    with pytest.raises(SettingsError) as caught:
        parse_settings(config, "prod", "test")
    assert message in str(caught.value)


# --- on Kubernetes -----------------------------------------------------------------


def identity_plan(storage: dict, identity: dict) -> list[dict]:
    return manifests("prod", {"logs": {"storage": {**storage, "workloadIdentity": identity}}})


@pytest.mark.parametrize(
    "storage, identity, endpoints",
    [
        (S3, IRSA, []),
        (S3, {}, [("169.254.170.23/32", 80), ("fd00:ec2::23/128", 80)]),
        (GCS, GKE, [("169.254.169.254/32", 80), ("169.254.169.252/32", 988)]),
        (AZURE, AKS, []),
    ],
    ids=["s3-irsa", "s3-pod-identity", "gcs", "azure"],
)
def test_lokis_serviceaccount_and_network_policy_carry_the_workload_identity(storage, identity, endpoints):
    found = identity_plan(storage, identity)
    for manifest in found:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    account = of_kind(found, "ServiceAccount")["observability/obs-loki"]
    assert account["metadata"].get("annotations", {}) == identity.get("serviceAccountAnnotations", {})
    assert account["automountServiceAccountToken"] is False  # the identity's webhook mounts its own token
    labels = workloads(found)["loki"]["spec"]["template"]["metadata"]["labels"]
    assert (labels.get("azure.workload.identity/use") == "true") is (storage is AZURE)
    egress = of_kind(found, "NetworkPolicy")["observability/obs-loki"]["spec"]["egress"]
    blocks = [(rule["to"][0]["ipBlock"]["cidr"], rule["ports"][0]["port"]) for rule in egress if "ipBlock" in rule.get("to", [{}])[0]]
    assert blocks == endpoints
    anywhere = [p["port"] for rule in egress if "to" not in rule for p in rule["ports"]]
    assert 443 in anywhere  # the store and the cloud's token service
    # Every other ServiceAccount stays unannotated.
    annotated = [name for name, m in of_kind(found, "ServiceAccount").items() if m["metadata"].get("annotations")]
    assert annotated == (["observability/obs-loki"] if identity else [])


def test_with_keys_lokis_serviceaccount_has_no_identity_and_the_key_is_a_secret_file():
    found = manifests("prod", {"logs": {"storage": GCS}}, KEYS["gcs"])
    assert "annotations" not in of_kind(found, "ServiceAccount")["observability/obs-loki"]["metadata"]
    secret = of_kind(found, "Secret")["observability/obs-loki-secrets"]
    assert set(secret.get("stringData", secret.get("data", {}))) == {"objectStoreServiceAccountKey"}
    container = workloads(found)["loki"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": GCS_KEY_FILE} in container["env"]
    assert any(m["mountPath"] == GCS_KEY_FILE for m in container["volumeMounts"])
