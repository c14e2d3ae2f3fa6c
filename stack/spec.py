"""Target-neutral description of one component's service.

Components build a ServiceSpec from Settings; targets (Docker, Kubernetes)
translate it into resources and decide nothing about the component itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional


@dataclass(frozen=True)
class Port:
    name: str
    number: int
    # Published on the bind address in Docker / exposed by the Service on
    # Kubernetes; unpublished ports are reachable inside the stack network only.
    published: bool = True


@dataclass(frozen=True)
class DataVolume:
    """Persistent storage that must survive container or pod replacement."""

    name: str
    mount_path: str


@dataclass(frozen=True)
class HostPath:
    """A path of the host (node) mounted read-only, e.g. container logs."""

    host_path: str
    mount_path: str


@dataclass(frozen=True)
class SecretFile:
    """A secret (a settings.SECRET_KEYS key, or a generated one) mounted as a file."""

    secret: str
    mount_path: str


@dataclass(frozen=True)
class ApiAccess:
    """Read access (get, list, watch) to objects of the Kubernetes API a
    component needs: `resources` such as ("pods", "services") of
    `api_group` ("" is the core API, "apps" StatefulSets and Deployments),
    in `namespace`, or cluster-wide when None. Only the kubernetes target
    reads it."""

    resources: tuple[str, ...]
    namespace: Optional[str] = None
    api_group: str = ""


@dataclass(frozen=True)
class HttpProbe:
    port: int
    path: str


# How long a component may take, from its process start, to answer its
# liveness endpoint (the kubelet's startup probe budget) when nothing slow
# stands before its HTTP listener.
DEFAULT_STARTUP_SECONDS = 120


@dataclass(frozen=True)
class ImageBuild:
    """An image built from this repository instead of pulled: the build
    context and the Dockerfile, both relative to the repository root (the
    Pulumi project directory, where `pulumi up` runs the program)."""

    context: str
    dockerfile: str


@dataclass(frozen=True)
class ScheduledJob:
    """A program a component needs run to completion on a schedule, beside
    its service (Jaeger's index cleaner deleting old Elasticsearch indices).

    `schedule` is a cron expression (five fields) read in UTC; `env` plain variables and `secret_env`
    variable -> secret key, as on ServiceSpec. The job runs as `user`
    ('uid[:gid]', the image's own user when it is known), reaches what its
    component reaches outside the cluster, and nothing inside it.

    Only the kubernetes target runs jobs (as CronJobs). The Docker target
    ignores them: Docker has no scheduler, and docs/operating.md points Docker
    users at their search backend's own lifecycle policies (ILM / ISM)."""

    name: str  # DNS label, unique in the namespace: jaeger-es-index-cleaner
    image: str
    args: tuple[str, ...]
    schedule: str
    memory_bytes: int
    cpus: float
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    user: Optional[str] = None


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # component name: prometheus, loki, ...
    hostname: str  # how the other components reach it
    image: str
    args: tuple[str, ...]
    ports: tuple[Port, ...]
    # Answers 200 when the component can serve: gates traffic (readiness),
    # and the Docker health check. It may wait on work, peers or a replay.
    readiness: HttpProbe
    memory_bytes: int
    cpus: float
    # container path -> file content; rendered configuration, no secrets
    files: Mapping[str, str] = field(default_factory=dict)
    secret_files: tuple[SecretFile, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    # environment variable -> secret key, for programs that read credentials
    # only from the environment (Loki's ${VAR} expansion)
    secret_env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[DataVolume, ...] = ()
    host_paths: tuple[HostPath, ...] = ()
    # numeric uid[:gid] the image runs as; data volumes are owned by it
    user: Optional[str] = None
    # Groups the process also belongs to (kubernetes target), for files it
    # only reads: Promtail reading the node's root-group log files.
    supplemental_groups: tuple[int, ...] = ()
    # Run inside the container to check `readiness`; what works depends on
    # what the image ships (wget, bash, the program's own -health flag).
    health_command: tuple[str, ...] = ()
    # Set when `image` is built from the repository (and tagged `image`), not pulled.
    build: Optional[ImageBuild] = None
    # What the component reads from the Kubernetes API (discovery); the kubernetes target grants it.
    api_access: tuple[ApiAccess, ...] = ()
    # Pods of the component (kubernetes target); peers find each other by
    # topology.peer_addresses. The Docker target runs one container.
    replicas: int = 1
    # Run to completion on a schedule beside the service (kubernetes target only).
    jobs: tuple[ScheduledJob, ...] = ()
    # On the component's ServiceAccount and pods (kubernetes target only): how
    # a cloud's workload identity recognises it (Loki's object store).
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    # Answers 200 whenever the process serves HTTP at all: never waits on
    # work to do, on peers, or on a replay finishing, so a probe on it
    # restarts only a hung process (the kubelet's liveness and startup
    # probes). None: `readiness` is such an endpoint too.
    liveness: Optional[HttpProbe] = None
    # The longest a healthy start takes until `liveness` answers: the
    # startup probe's budget, in seconds.
    startup_seconds: int = DEFAULT_STARTUP_SECONDS
    # TCP ports the component opens outside the cluster (any address), that
    # its own component decides (the kubelets Prometheus scrapes, Grafana's
    # external database); the kubernetes target opens them in its egress.
    outside_ports: tuple[int, ...] = ()
    # Each client of the component's Service keeps talking to one replica
    # (kubernetes target: sessionAffinity ClientIP), for replicas whose
    # answers differ a little (a Prometheus pair's samples).
    sticky_clients: bool = False
