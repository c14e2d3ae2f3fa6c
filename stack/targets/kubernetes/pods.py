"""Every decision about a pod template the kubernetes target makes: probes,
resources, the security profile, environment, ports, the workload kind and
placement (node selectors, tolerations, priority, spreading keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from stack import topology
from stack.settings import Settings
from stack.spec import HttpProbe, ScheduledJob, ServiceSpec
from stack.targets.kubernetes.labels import DEFAULT_UID, PART_OF, image_tag
from stack.targets.kubernetes.network import PEER_PORTS

# Where replicas should not share a failure: node (anti-affinity) and zone (spread).
NODE_TOPOLOGY_KEY = "kubernetes.io/hostname"
ZONE_TOPOLOGY_KEY = "topology.kubernetes.io/zone"


def quantity_memory(memory_bytes: int) -> str:
    """Bytes as a Kubernetes quantity: 2**31 -> '2Gi', 268435456 -> '256Mi', else plain bytes."""
    for unit, size in (("Gi", 2**30), ("Mi", 2**20)):
        if memory_bytes % size == 0:
            return f"{memory_bytes // size}{unit}"
    return str(memory_bytes)


def quantity_cpu(cpus: float) -> str:
    """CPUs as millicores: 0.25 -> '250m'."""
    return f"{round(cpus * 1000)}m"


def run_as(name: str, user: Optional[str]) -> tuple[int, int]:
    """uid and gid from a spec's 'uid[:gid]' (65534 when unset; gid defaults to uid).

    Raises ValueError, naming the pod's component or job `name`, for uid 0:
    no pod of the stack runs as root."""
    if user is None:
        return DEFAULT_UID, DEFAULT_UID
    uid, _, gid = user.partition(":")
    if int(uid) == 0:
        raise ValueError(f"{name}: runs as uid 0; no pod of the stack runs as root")
    return int(uid), int(gid or uid)


STARTUP_PERIOD = 10


def http_probe(probe: HttpProbe) -> dict:
    """A probe's httpGet and timeout; periods and thresholds are the caller's."""
    return {"http_get": {"path": probe.path, "port": probe.port}, "timeout_seconds": 5}


def startup_failures(spec: ServiceSpec) -> int:
    """Failures the startup probe allows: spec.startup_seconds, in STARTUP_PERIOD steps, rounded up."""
    return -(-spec.startup_seconds // STARTUP_PERIOD)


def container_resources(memory_bytes: int, cpus: float) -> dict:
    """Requests equal to limits (the Guaranteed QoS class): memory in bytes, CPUs."""
    amounts = {"memory": quantity_memory(memory_bytes), "cpu": quantity_cpu(cpus)}
    return {"requests": amounts, "limits": amounts}


def container_security(uid: int) -> dict:
    """A container's securityContext: what the restricted profile asks, and a read-only root."""
    return {
        "allow_privilege_escalation": False,
        "capabilities": {"drop": ["ALL"]},
        "read_only_root_filesystem": True,
        "run_as_non_root": uid != 0,
    }


def pod_security(uid: int, gid: int, supplemental_groups: tuple[int, ...] = ()) -> dict:
    """A pod's securityContext: its user and groups, fsGroup, seccomp RuntimeDefault."""
    context = {
        "run_as_non_root": uid != 0,
        "run_as_user": uid,
        "run_as_group": gid,
        "fs_group": gid,
        # Skip a recursive chown of a large volume when its top is already ours.
        "fs_group_change_policy": "OnRootMismatch",
        "seccomp_profile": {"type": "RuntimeDefault"},
    }
    if supplemental_groups:
        context["supplemental_groups"] = list(supplemental_groups)
    return context


def job_labels(settings: Settings, job: ScheduledJob) -> dict[str, str]:
    """A scheduled job's labels: its own name, so no selector of its
    component (Service, NetworkPolicy, PodDisruptionBudget) picks its pods."""
    return {
        "app.kubernetes.io/name": job.name,
        "app.kubernetes.io/instance": topology.instance(settings),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
        "app.kubernetes.io/version": image_tag(job.image),
    }


def env_vars(env: Mapping[str, str], secret_env: Mapping[str, str], secret_name: str) -> list[dict]:
    """Plain variables, then each secret variable from its key in the Secret `secret_name`."""
    plain = [{"name": k, "value": v} for k, v in sorted(env.items())]
    secret = [
        {"name": var, "value_from": {"secret_key_ref": {"name": secret_name, "key": key}}}
        for var, key in sorted(secret_env.items())
    ]
    return plain + secret


def workload_kind(spec: ServiceSpec) -> str:
    """DaemonSet for node paths (one pod per node), StatefulSet for data volumes, else Deployment."""
    if spec.host_paths:
        return "DaemonSet"
    return "StatefulSet" if spec.volumes else "Deployment"


@dataclass(frozen=True)
class PodPort:
    """One port a pod listens on, as containers and Services name it."""

    name: str  # unique within the pod
    number: int
    protocol: str  # TCP or UDP
    peer_only: bool  # PEER_PORTS: used by the component's own pods only


def pod_ports(spec: ServiceSpec) -> list[PodPort]:
    """Every port of the spec over TCP; a peer port (PEER_PORTS) once per
    protocol, as `<name>` for TCP and `<name>-udp` for UDP, since the names
    of a pod's ports must be unique."""
    peer = PEER_PORTS.get(spec.name, {})
    found = []
    for p in spec.ports:
        for protocol in peer.get(p.name, ("TCP",)):
            name = p.name if protocol == "TCP" else f"{p.name}-{protocol.lower()}"
            found.append(PodPort(name, p.number, protocol, p.name in peer))
    return found


def placement(settings: Settings, spec: ServiceSpec) -> dict:
    """The pod spec's node selector, tolerations and priority class (kubernetes.placement)."""
    chosen = settings.kubernetes.placement_of(spec.name)
    fields: dict = {}
    if chosen.node_selector:
        fields["node_selector"] = dict(chosen.node_selector)
    if chosen.tolerations:
        fields["tolerations"] = [t.model_dump(exclude_none=True) for t in chosen.tolerations]
    if chosen.priority_class_name:
        fields["priority_class_name"] = chosen.priority_class_name
    return fields


