"""Loki 3.x single binary: schema v13 on TSDB, filesystem or object storage
(S3, GCS, Azure), WAL and compactor on the data volume, retention applied by
the compactor.

Replicated (the kubernetes target's scalable profile, object storage only; see
service.replicas) it runs in Loki's HA monolithic mode: every replica runs
`-target=all` on the shared object store, the rings gossip over memberlist and
each stream is written to three ingesters."""

from __future__ import annotations

from dashboards.board import DATASOURCE_UIDS
from stack import topology
from stack.alerting import loki_rule_files
from stack.alerting.rule import number
from stack.components.alertmanager import alertmanager_addresses
from stack.components.service import replicas, service_spec
from stack.generated_yaml import render_yaml
from stack.settings import Settings
from stack.spec import DataVolume, HttpProbe, Port, SecretFile, ServiceSpec

CONFIG_DIR = "/etc/loki"
PUSH_PATH = "/loki/api/v1/push"
DATA_DIR = "/loki"
# The ruler reads rule files per tenant; without auth the tenant is "fake".
RULES_DIR = f"{CONFIG_DIR}/rules"
RULES_TENANT_DIR = f"{RULES_DIR}/fake"
# Object-store keys, unless Loki uses workload identity: the S3 and Azure keys
# arrive as secret environment variables, expanded by Loki; the GCS key is a
# JSON file, found by the Google client's Application Default Credentials.
OBJECT_STORE_ENV = {
    "s3": {"LOKI_S3_ACCESS_KEY_ID": "objectStoreAccessKeyId", "LOKI_S3_SECRET_ACCESS_KEY": "objectStoreSecretAccessKey"},
    "azure": {"LOKI_AZURE_ACCOUNT_KEY": "objectStoreAccountKey"},
}
GCS_KEY_FILE = f"{CONFIG_DIR}/secrets/gcs-key.json"
# Azure Workload Identity's webhook mounts the federated token and sets
# AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE only in pods
# carrying this label (azure.github.io/azure-workload-identity, "Quick start").
AZURE_WORKLOAD_IDENTITY_LABEL = {"azure.workload.identity/use": "true"}
# v13 + tsdb from the first day this stack can hold data; a later schema change
# appends a new period here, it never edits this one.
SCHEMA_START = "2024-01-01"
# Ingesters each stream is written to when replicated; a write needs a quorum
# (2 of 3), so one replica may restart without losing writes.
REPLICATION_FACTOR = 3


def _object_store(settings: Settings) -> dict:
    """common.storage for an object store; keys and credentials as Loki 3.7
    names them (pkg/storage/chunk/client/{aws,gcp,azure}). Without keys, each
    client falls back to its cloud's default chain, which is where workload
    identity comes in: the AWS SDK's web identity and Pod Identity providers,
    Google's Application Default Credentials, Azure's federated token."""
    storage = settings.logs.storage
    with_keys = storage.workload_identity is None
    if storage.type == "s3":
        s3 = storage.s3
        config = {
            "endpoint": s3.endpoint,
            "bucketnames": s3.bucket,
            "region": s3.region,
            "s3forcepathstyle": s3.force_path_style,
            "insecure": s3.insecure,
        }
        if with_keys:
            # Expanded from the environment (-config.expand-env): never in this file.
            config.update(access_key_id="${LOKI_S3_ACCESS_KEY_ID}", secret_access_key="${LOKI_S3_SECRET_ACCESS_KEY}")
        return {"s3": config}
    if storage.type == "gcs":
        # No service_account here: the key, when given, is GCS_KEY_FILE (GOOGLE_APPLICATION_CREDENTIALS).
        return {"gcs": {"bucket_name": storage.gcs.bucket}}
    azure = storage.azure
    config = {"environment": azure.cloud, "account_name": azure.account_name, "container_name": azure.container}
    if with_keys:
        config["account_key"] = "${LOKI_AZURE_ACCOUNT_KEY}"
    else:
        config["use_federated_token"] = True
    return {"azure": config}


def _storage(settings: Settings) -> tuple[dict, str]:
    """common.storage and the schema's object_store for the configured backend."""
    storage = settings.logs.storage
    if storage.is_object_store:
        return _object_store(settings), storage.type
    return {"filesystem": {"chunks_directory": f"{DATA_DIR}/chunks", "rules_directory": f"{DATA_DIR}/rules"}}, "filesystem"


def _credentials(settings: Settings) -> dict:
    """The ServiceSpec fields that hand Loki its object store's credentials."""
    storage = settings.logs.storage
    identity = storage.workload_identity
    if identity is not None:
        labels = AZURE_WORKLOAD_IDENTITY_LABEL if storage.type == "azure" else {}
        return {"service_account_annotations": dict(identity.service_account_annotations), "pod_labels": labels}
    if storage.type == "gcs":
        return {
            "secret_files": (SecretFile("objectStoreServiceAccountKey", GCS_KEY_FILE),),
            "env": {"GOOGLE_APPLICATION_CREDENTIALS": GCS_KEY_FILE},
        }
    return {"secret_env": OBJECT_STORE_ENV.get(storage.type, {})}


def _limits(settings: Settings) -> dict:
    limits = settings.logs.limits
    return {
        "retention_period": str(settings.retention.logs),
        "retention_stream": [
            {"selector": r.selector, "priority": r.priority, "period": str(r.period)} for r in settings.logs.stream_retention
        ],
        "allow_structured_metadata": True,
        "ingestion_rate_mb": limits.ingestion_rate_mb,
        "ingestion_burst_size_mb": limits.ingestion_burst_size_mb,
        "per_stream_rate_limit": f"{number(limits.per_stream_rate_limit_mb)}MB",
        "max_query_series": limits.max_query_series,
        "max_entries_limit_per_query": limits.max_entries_limit_per_query,
        "max_query_length": str(limits.max_query_length),
    }


def ruler_external_labels(settings: Settings) -> dict[str, str]:
    """The labels the ruler adds to each alert: the same `environment` and
    `cluster` Prometheus attaches (prometheus.yml global.external_labels)."""
    return {"environment": settings.environment, "cluster": settings.cluster}


def _ring(settings: Settings) -> tuple[dict, dict]:
    """The `common` keys that place this instance in its rings, and the
    top-level keys to add (`memberlist`): one instance keeps its rings in
    memory; replicas gossip them over memberlist (Loki 3.7 `common` and
    dskit kv/memberlist config), which also elects the one compactor that
    runs (pkg/compactor/compactor.go: a one-token ring, its owner compacts)."""
    peers = replicas(settings, "loki")
    if peers == 1:
        return {"replication_factor": 1, "ring": {"kvstore": {"store": "inmemory"}}}, {}
    port = topology.port("loki", "memberlist")
    common = {
        "replication_factor": min(REPLICATION_FACTOR, peers),
        "ring": {"kvstore": {"store": "memberlist"}},
        # The pod's IP (the kubernetes target sets POD_IP; -config.expand-env
        # expands it), advertised in every ring, to the query frontend and to
        # memberlist (pkg/loki/config_wrapper.go applyInstanceConfigs), rather
        # than whatever Loki finds on eth0/en0.
        "instance_addr": "${POD_IP}",
    }
    memberlist = {
        "bind_port": port,
        # Every pod, as Alertmanager's peers: the headless Service names
        # them, ready or not, so the replicas find each other while starting.
        "join_members": topology.peer_addresses(settings, "loki", peers, "memberlist"),
    }
    return common, {"memberlist": memberlist}


def render_loki_config(settings: Settings) -> str:
    storage, object_store = _storage(settings)
    ring, top_level = _ring(settings)
    config = {
        "auth_enabled": False,
        "server": {
            "http_listen_port": topology.port("loki"),
            "grpc_listen_port": topology.port("loki", "grpc"),
            "log_level": "info",
        },
        "common": {
            "path_prefix": DATA_DIR,
            **ring,
            "storage": storage,
        },
        **top_level,
        "schema_config": {
            "configs": [
                {
                    "from": SCHEMA_START,
                    "store": "tsdb",
                    "object_store": object_store,
                    "schema": "v13",
                    # Retention needs a 24h index period.
                    "index": {"prefix": "index_", "period": "24h"},
                }
            ]
        },
        # The WAL replays unflushed chunks after a restart, so it must be on the volume.
        "ingester": {"wal": {"enabled": True, "dir": f"{DATA_DIR}/wal"}},
        "compactor": {
            "working_directory": f"{DATA_DIR}/compactor",
            "compaction_interval": "10m",
            # Without these two, retention_period is configured but nothing is ever deleted.
            "retention_enabled": True,
            "delete_request_store": object_store,
            "retention_delete_delay": "2h",
        },
        "limits_config": _limits(settings),
        "ruler": {
            # Every Alertmanager peer when replicated: a comma-separated list,
            # each URL its own notifier group (pkg/ruler/base/notifier.go
            # buildNotifierConfig), so each peer gets every alert, as from Prometheus.
            "alertmanager_url": ",".join(f"http://{a}" for a in alertmanager_addresses(settings)),
            "enable_api": True,
            "enable_alertmanager_v2": True,
            "storage": {"type": "local", "local": {"directory": RULES_DIR}},
            "rule_path": f"{DATA_DIR}/rules-temp",
            "evaluation_interval": str(settings.evaluation_interval),
            # Added to every alert the ruler sends, as Prometheus adds its
            # global external_labels: LogQL alerts route and render like metric
            # alerts (`ruler.external_labels`, pkg/ruler/base/ruler.go, Loki 3.7).
            "external_labels": ruler_external_labels(settings),
            # A LogQL alert's generatorURL: Grafana Explore on this Loki
            # datasource (external_url is "Base URL of the Grafana instance",
            # datasource_uid its datasource: pkg/ruler/base/ruler.go:81-83,
            # SendAlerts grafanaLinkForExpression, Loki v3.7.6).
            "external_url": topology.public_url(settings, "grafana"),
            "datasource_uid": DATASOURCE_UIDS["loki"],
            # Replicas split the rule groups between them over the ruler ring
            # (the common ring: memberlist), so each group is evaluated once,
            # not once per replica (pkg/ruler/base/ruler.go EnableSharding,
            # pkg/loki/config_wrapper.go:315-323 at v3.7.6).
            **({"enable_sharding": True} if replicas(settings, "loki") > 1 else {}),
        },
        "analytics": {"reporting_enabled": False},
    }
    return render_yaml(config, "stack/components/loki.py")


def loki_service(settings: Settings) -> ServiceSpec:
    ports = (Port("http", topology.port("loki")), Port("grpc", topology.port("loki", "grpc"), published=False))
    if replicas(settings, "loki") > 1:
        # Ring gossip between the pods only: never published (the kubernetes target opens it to the peers).
        ports += (Port("memberlist", topology.port("loki", "memberlist"), published=False),)
    return service_spec(
        settings,
        "loki",
        args=(f"-config.file={CONFIG_DIR}/loki.yaml", "-config.expand-env=true"),
        ports=ports,
        # /ready answers 503 while any module starts (the ingester replays its
        # WAL in starting()) and while a registered ring member is unhealthy
        # (loki v3.7.6 pkg/loki/loki.go:682-746, dskit ring/lifecycler.go:
        # 255-321): a probe on it would kill replicas that wait on a peer or a
        # replay. buildinfo is a static handler served as soon as the HTTP
        # server runs (loki.go:599-603). The Loki chart sets no liveness.
        readiness=HttpProbe(topology.port("loki"), "/ready"),
        liveness=HttpProbe(topology.port("loki"), "/loki/api/v1/status/buildinfo"),
        files={
            f"{CONFIG_DIR}/loki.yaml": render_loki_config(settings),
            **{f"{RULES_TENANT_DIR}/{name}": text for name, text in loki_rule_files(settings).items()},
        },
        **_credentials(settings),
        volumes=(DataVolume("data", DATA_DIR),),
        # The image's own user owns the image's /loki, which seeds the volume;
        # its uid changed when the image went distroless, so none is forced here.
        user=None,
        # Distroless since 3.6: no shell or wget, but Loki checks its own /ready.
        health_command=("/usr/bin/loki", "-health", f"-health.url=http://127.0.0.1:{topology.port('loki')}/ready"),
    )
