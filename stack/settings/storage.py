"""Log and trace settings: where Loki and Jaeger keep data, per-stream log
retention, Loki's ingestion and query limits."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from stack.settings.kubernetes import Annotations
from stack.settings.values import Duration, DurationField, Number, StrictModel, Switch, WholeNumber, accepts, at_least, matching

# A LogQL stream selector: {label="value", other=~"regex"}; the LogQL parser
# in the tests judges it fully, this catches typos at preview.
_MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"]*"'
StreamSelector = Annotated[
    str, matching(rf"\{{{_MATCHER}(\s*,{_MATCHER})*\s*\}}", "expected a LogQL stream selector such as '{level=\"debug\"}'")
]


@accepts("an S3 endpoint such as 's3.eu-west-1.amazonaws.com' or 'http://minio:9000'")
def _check_endpoint(value: str) -> str:
    if not re.fullmatch(r"(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?", value):
        raise ValueError("expected an S3 endpoint such as 's3.eu-west-1.amazonaws.com' or 'http://minio:9000'")
    return value


class StreamRetention(StrictModel):
    """Streams matching `selector` are kept for `period` (on top of retention.logs)."""

    selector: StreamSelector
    """LogQL stream selector of the streams this rule applies to."""
    period: Annotated[DurationField, at_least("24h")]
    """How long matching streams are kept, in place of `retention.logs`
    (Loki's `retention_stream`)."""
    priority: Annotated[WholeNumber, Field(ge=1, le=1000)] = 1
    """When several selectors match a stream, the rule with the higher priority wins."""


class S3Storage(StrictModel):
    """An S3 bucket, on AWS or an S3-compatible store such as MinIO."""

    endpoint: Annotated[str, AfterValidator(_check_endpoint)]
    """The S3 API endpoint Loki talks to: AWS's for the region, or the
    S3-compatible store's."""
    bucket: Annotated[
        str,
        matching(
            r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
            "expected an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit",
        ),
    ]
    """Bucket holding Loki's chunks and index."""
    region: Annotated[
        str, matching(r"[a-z0-9-]{2,30}", "expected a region name such as 'eu-west-1' (lower-case letters, digits and '-')")
    ] = "us-east-1"
    """The bucket's region."""
    force_path_style: Switch = True
    """Path-style URLs (`<endpoint>/<bucket>`) rather than virtual-hosted ones,
    as MinIO and most S3-compatible stores want (Loki's `s3forcepathstyle`)."""
    insecure: Switch = False
    """Plain HTTP to the endpoint instead of HTTPS (Loki's `insecure`)."""


class GcsStorage(StrictModel):
    """A Google Cloud Storage bucket."""

    bucket: Annotated[
        str,
        matching(
            r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]",
            "expected a GCS bucket name: 3 to 63 lower-case letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit",
        ),
    ]
    """Bucket holding Loki's chunks and index."""


class AzureStorage(StrictModel):
    """A container of an Azure storage account (Blob Storage)."""

    account_name: Annotated[str, matching(r"[a-z0-9]{3,24}", "expected an Azure storage account name: 3 to 24 lower-case letters and digits")]
    """Storage account of the container."""
    container: Annotated[
        str,
        matching(
            r"[a-z0-9](-?[a-z0-9])+",
            "expected an Azure container name: 3 to 63 lower-case letters, digits and single '-', "
            "starting and ending with a letter or digit",
        ),
        Field(min_length=3, max_length=63),
    ]
    """Blob container holding Loki's chunks and index."""
    # Loki 3.7, pkg/storage/chunk/client/azure; AzureGermanCloud, closed in 2021, is left out.
    cloud: Literal["AzureGlobal", "AzureChinaCloud", "AzureUSGovernment"] = "AzureGlobal"
    """The Azure cloud the account lives in (Loki's `environment`): it picks the
    blob endpoint and, with `workloadIdentity`, the Microsoft Entra ID endpoint
    the token is exchanged at."""


class WorkloadIdentity(StrictModel):
    """Loki reaches its object store as its Kubernetes ServiceAccount, through
    the cloud's workload identity (EKS IRSA or Pod Identity, GKE Workload
    Identity Federation, Azure Workload Identity), instead of with keys kept
    as secrets. The cloud's side (the role or service account, its binding to
    the ServiceAccount `<prefix>-loki` in the stack's namespace) is made
    outside this stack; these annotations name it on the ServiceAccount."""

    service_account_annotations: Annotations = {}
    """Annotations of Loki's ServiceAccount naming the cloud's identity:
    `eks.amazonaws.com/role-arn` (IRSA), `iam.gke.io/gcp-service-account`
    (GKE), `azure.workload.identity/client-id` (Azure, required there); none
    for EKS Pod Identity."""


IRSA_ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
# Azure Workload Identity's webhook sets AZURE_CLIENT_ID, which Loki's token
# exchange needs, from this annotation only (azure.github.io/azure-workload-identity).
AZURE_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"


OBJECT_STORES = ("s3", "gcs", "azure")


class LogStorage(StrictModel):
    """Where Loki keeps chunks and index: its volume, or an object store
    (required for Loki's replicas in the scalable profile)."""

    type: Literal["filesystem", "s3", "gcs", "azure"] = "filesystem"
    """`filesystem` keeps logs on Loki's volume, so one Loki even in the
    `scalable` profile (`prod` on Kubernetes warns). An object store lets that
    profile run three replicas, and needs the key of its name (`s3`, `gcs` or
    `azure`); the keys of the other stores are refused."""
    s3: Optional[S3Storage] = None
    """The bucket, with `type: s3`; its keys are the `objectStoreAccessKeyId`
    and `objectStoreSecretAccessKey` secrets unless `workloadIdentity` is set."""
    gcs: Optional[GcsStorage] = None
    """The bucket, with `type: gcs`; its key is the `objectStoreServiceAccountKey`
    secret (the service account key's JSON) unless `workloadIdentity` is set."""
    azure: Optional[AzureStorage] = None
    """The container, with `type: azure`; its key is the `objectStoreAccountKey`
    secret unless `workloadIdentity` is set."""
    workload_identity: Optional[WorkloadIdentity] = None
    """Kubernetes and object stores only: Loki reaches the store as its
    ServiceAccount (EKS IRSA or Pod Identity, GKE Workload Identity Federation,
    Azure Workload Identity), with no key secrets. Unset, the store's keys are
    secrets."""

    @property
    def is_object_store(self) -> bool:
        return self.type in OBJECT_STORES

    @model_validator(mode="after")
    def _store_needs_its_settings(self) -> "LogStorage":
        needs = {"s3": "{endpoint, bucket, region}", "gcs": "{bucket}", "azure": "{accountName, container}"}
        if self.is_object_store and getattr(self, self.type) is None:
            raise ValueError(f"type '{self.type}' needs logs.storage.{self.type} {needs[self.type]}")
        # A block for another store would silently do nothing.
        unused = [store for store in OBJECT_STORES if store != self.type and getattr(self, store) is not None]
        if unused:
            raise ValueError(
                f"{', '.join(unused)} given, but type is '{self.type}': remove "
                f"{' and '.join(f'logs.storage.{store}' for store in unused)} or set type to match"
            )
        identity = self.workload_identity
        if identity is not None and not self.is_object_store:
            raise ValueError("workloadIdentity is how Loki reaches an object store; type 'filesystem' has none: remove it")
        if identity is not None and self.type == "azure" and AZURE_CLIENT_ID_ANNOTATION not in identity.service_account_annotations:
            raise ValueError(
                f"an Azure workload identity needs workloadIdentity.serviceAccountAnnotations.{AZURE_CLIENT_ID_ANNOTATION}: "
                "the client id of the managed identity Loki signs in as"
            )
        return self


class LokiLimits(StrictModel):
    """Loki's ingestion and query limits (its `limits_config`)."""

    ingestion_rate_mb: Annotated[Number, Field(gt=0, le=1024)] = 8
    """Log volume Loki accepts, in MB per second (`ingestion_rate_mb`); pushes
    above it are refused."""
    ingestion_burst_size_mb: Annotated[Number, Field(gt=0, le=2048)] = 16
    """Burst Loki accepts above `ingestionRateMb`, in MB (`ingestion_burst_size_mb`)."""
    per_stream_rate_limit_mb: Annotated[Number, Field(gt=0, le=1024)] = 4
    """Log volume one stream may push, in MB per second (`per_stream_rate_limit`)."""
    max_query_series: Annotated[WholeNumber, Field(ge=100, le=1_000_000)] = 5000
    """Most series one LogQL metric query may return (`max_query_series`)."""
    max_entries_limit_per_query: Annotated[WholeNumber, Field(ge=100, le=1_000_000)] = 5000
    """Most log lines one query may return (`max_entries_limit_per_query`)."""
    max_query_length: Annotated[DurationField, at_least("1h")] = Duration.parse("30d")
    """Longest time range one query may cover (`max_query_length`)."""


class Logs(StrictModel):
    """Where Loki keeps logs, for how long per stream, and its limits."""

    storage: LogStorage = LogStorage()
    """Where Loki keeps chunks and index: its volume, or an object store."""
    # Debug logs are the bulk of the volume and the least useful a week later.
    stream_retention: list[StreamRetention] = [
        StreamRetention(selector='{level="debug"}', period=Duration.parse("3d"), priority=1)
    ]
    """Retention periods for chosen streams, in place of `retention.logs`; a
    list given replaces the default rule for debug logs."""
    limits: LokiLimits = LokiLimits()
    """Loki's ingestion and query limits."""


class SearchBackend(StrictModel):
    """An Elasticsearch or OpenSearch cluster Jaeger stores spans in."""

    server_urls: list[
        Annotated[str, matching(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", "expected a server URL such as 'https://elasticsearch:9200'")]
    ] = Field(min_length=1)
    """URLs of the cluster Jaeger writes spans to; the index cleaner uses the first."""
    index_prefix: Annotated[
        str,
        matching(
            r"[a-z0-9][a-z0-9_-]{0,40}",
            "expected an index prefix: lower-case letters, digits, '_' and '-', starting with a letter or digit, at most 41 characters",
        ),
    ] = "jaeger"
    """Prefix of Jaeger's daily span and service indices, the ones the index
    cleaner deletes after `retention.traces`."""
    username: Optional[str] = None
    """Basic-auth user of Jaeger and the index cleaner; with it, the password is
    the `traceStorePassword` secret."""


SEARCH_BACKENDS = ("elasticsearch", "opensearch")


class Traces(StrictModel):
    """Where Jaeger keeps spans."""

    storage: Literal["badger", "elasticsearch", "opensearch"] = "badger"
    """`badger` keeps spans on Jaeger's volume; `elasticsearch` or `opensearch`
    in that cluster, set in the key of the same name (then required)."""
    elasticsearch: Optional[SearchBackend] = None
    """The Elasticsearch cluster, with `storage: elasticsearch` only."""
    opensearch: Optional[SearchBackend] = None
    """The OpenSearch cluster, with `storage: opensearch` only."""

    @model_validator(mode="after")
    def _backend_needs_its_settings(self) -> "Traces":
        if self.storage != "badger" and getattr(self, self.storage) is None:
            raise ValueError(f"storage '{self.storage}' needs traces.{self.storage} {{serverUrls, indexPrefix}}")
        # As logs.storage does: a cluster given for a backend not in use is a
        # mistake (a storage switch forgotten), not something to ignore.
        unused = [backend for backend in SEARCH_BACKENDS if backend != self.storage and getattr(self, backend) is not None]
        if unused:
            raise ValueError(
                f"{', '.join(unused)} given, but storage is '{self.storage}': remove "
                f"{' and '.join(f'traces.{backend}' for backend in unused)} or set storage to match"
            )
        return self

    @property
    def search_backend(self) -> Optional[SearchBackend]:
        return None if self.storage == "badger" else getattr(self, self.storage)
