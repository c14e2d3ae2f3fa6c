"""Run the real Pulumi program under the SDK's mock engine: what `pulumi up`
would create, with no CLI, no engine and no cloud.

Besides the resources, the plan shows per container a digest of every input
`pulumi up` would diff (its uploaded files, environment, command, and all the
rest: limits, health check, user, mounts, ports, networks, labels, restart
policy), so a changed digest between two plans is a container `pulumi up`
would update or replace, even when only a rendered file or a limit moved.
"""

from __future__ import annotations

import asyncio

import hashlib
import logging
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, set_all_config, set_mocks
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from stack.settings import PROJECT, stack_config, stack_of


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registered: its type token, logical name and
    inputs as the mock engine received them (camelCase keys, numbers as
    floats, secrets wrapped)."""

    type: str
    name: str
    inputs: dict


class RecordingMocks(Mocks):
    """Answers every resource with its own inputs and remembers it."""

    def __init__(self) -> None:
        self.resources: list[PlannedResource] = []

    def new_resource(self, args: MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:mock-{args.name}"
        if args.typ == "docker:index/image:Image":  # a local build: repoDigest is the image id
            outputs["repoDigest"] = f"sha256:mock-{args.name}"
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "mock-generated-password"
        self.resources.append(PlannedResource(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs):
        return {}, None


class _LowerCaseLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def _program_log() -> logging.Logger:
    """Where the program's pulumi.log messages go under the mocks: stderr,
    as `pulumi up` shows them ("warning: ...")."""
    log = logging.getLogger("stack.plan.program")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LowerCaseLevel())
        log.addHandler(handler)
        log.propagate = False
        # The SDK's own debug lines (every RPC) are not the program's to show.
        log.setLevel(logging.INFO)
    return log


def configure_mocks(stack: str, config: dict[str, str], secret_keys: list[str]) -> RecordingMocks:
    """Mocks and config must be in place BEFORE the program is constructed."""
    mocks = RecordingMocks()
    set_mocks(mocks, project=PROJECT, stack=stack, preview=False, logger=_program_log())
    set_all_config(config, secret_keys)
    return mocks


def plan_stack(stack_file: Path, missing_secrets: Iterable[str] = ()) -> list[PlannedResource]:
    """Every resource the real program registers for Pulumi.<stack>.yaml under
    the mocks, with placeholders for `missing_secrets` (keys the file lacks).
    The stack's settings must already have been validated (the CLI loads them
    first); the program raises pulumi.RunError for any it refuses."""
    from stack.program import run

    # The SDK's mock runner drives the main thread's event loop; asyncio.run()
    # elsewhere in the process (a server, a test) leaves none behind, so give
    # this run its own.
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = configure_mocks(stack_of(stack_file), *stack_config(stack_file, missing_secrets))

    @pulumi.runtime.test
    def construct():
        target = run()
        return pulumi.Output.all(*[resource.urn for resource in target.workloads.values()])

    construct()
    return mocks.resources


# The engine registers resources concurrently; print them in a fixed order.
_DISPLAY_ORDER = (
    *("DockerTarget", "Network", "Volume", "RemoteImage", "Image", "Container"),
    *("KubernetesTarget", "Provider", "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"),
    *("ConfigMap", "Secret", "Service", "StatefulSet", "Deployment", "DaemonSet", "PodDisruptionBudget", "NetworkPolicy", "Ingress"),
    "RandomPassword",
)


def _display_key(resource: PlannedResource) -> tuple:
    kind = resource.type.rsplit(":", 1)[-1]
    rank = _DISPLAY_ORDER.index(kind) if kind in _DISPLAY_ORDER else len(_DISPLAY_ORDER)
    return rank, resource.name


# Container inputs the plan shows elsewhere, left out of the digests: the name
# is the row's key; the image is the image row's pinned tag (or build), since
# the container's own `image` input is the image id, which under the mocks
# names the resource and would digest nothing.
SHOWN_ELSEWHERE = ("name", "image")
# The digest table's columns: (column, Container input, what one item of it
# is). The last column, OTHER, digests every input in no other column and not
# shown elsewhere (limits, health check, user, mounts, ports, networks,
# labels, restart policy, wait ...): all of them, found in the inputs, so an
# input the Docker target starts to set is covered without a change here.
DIGESTED_INPUTS = (("files", "uploads", "file"), ("env", "envs", "var"), ("command", "command", "arg"))
OTHER_COLUMN = ("other", "input")


def unwrap_secrets(value: Any) -> tuple[Any, bool]:
    """The value with secret wrappers removed, and whether any was found.

    Under `plan` a secret is never a real one: encrypted config arrives as its
    placeholder (stack_config) and generated passwords as the mock's constant,
    so a digest over it says which secrets a container gets, not their values."""
    if is_rpc_secret(value):
        return unwrap_secrets(unwrap_rpc_secret(value))[0], True
    if isinstance(value, dict):
        items = {k: unwrap_secrets(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [unwrap_secrets(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def input_digest(value: Any, unit: str) -> tuple[str, bool]:
    """`<count> <unit>s <first 12 hex digits of sha256>` over one container
    input (canonical JSON, so the same input gives the same digest in any
    process), '-' when the input is unset; and whether it holds a secret."""
    plain, secret = unwrap_secrets(value)
    if not plain:
        return "-", False
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True, ensure_ascii=True).encode()).hexdigest()[:12]
    return f"{len(plain)} {unit}{'' if len(plain) == 1 else 's'} {digest}", secret


def other_inputs(inputs: dict) -> dict:
    """A container's inputs that the OTHER column digests: all of them except
    those of the other columns and those shown elsewhere (SHOWN_ELSEWHERE)."""
    taken = {key for _, key, _ in DIGESTED_INPUTS} | set(SHOWN_ELSEWHERE)
    return {key: value for key, value in inputs.items() if key not in taken}


def container_digests(resources: list[PlannedResource]) -> dict[str, dict[str, str]]:
    """Container name -> {"files"|"env"|"command"|"other": "<count> <unit>s <digest>"};
    a digest ending in '*' covers secrets (digested as their placeholders)."""
    table = {}
    for resource in resources:
        if resource.type != "docker:index/container:Container":
            continue
        row = {}
        for column, key, unit in DIGESTED_INPUTS:
            digest, secret = input_digest(resource.inputs.get(key), unit)
            row[column] = digest + ("*" if secret else "")
        column, unit = OTHER_COLUMN
        digest, secret = input_digest(other_inputs(resource.inputs), unit)
        row[column] = digest + ("*" if secret else "")
        table[str(resource.inputs.get("name"))] = row
    return dict(sorted(table.items()))


WORKLOAD_KINDS = ("StatefulSet", "Deployment", "DaemonSet")


def workload_rows(resources: list[PlannedResource]) -> list[tuple[str, ...]]:
    """One row per Kubernetes workload: namespace/name, image, replicas
    (`per node` for a DaemonSet), the container's CPU and memory limits, its
    claims' sizes, and a digest of the pod template: what rolls the pods when
    it changes (the config checksum annotation included)."""
    rows = []
    for resource in resources:
        kind = resource.type.rsplit(":", 1)[-1]
        if not resource.type.startswith("kubernetes:") or kind not in WORKLOAD_KINDS:
            continue
        spec, _ = unwrap_secrets(resource.inputs.get("spec") or {})
        metadata = resource.inputs.get("metadata") or {}
        container = spec["template"]["spec"]["containers"][0]
        limits = container.get("resources", {}).get("limits", {})
        claims = ", ".join(
            f"{c['metadata']['name']} {c['spec']['resources']['requests']['storage']}" for c in spec.get("volumeClaimTemplates", [])
        )
        replicas = "per node" if kind == "DaemonSet" else str(int(spec.get("replicas", 1)))
        digest, _ = input_digest(spec["template"], "template")
        rows.append((f"{metadata.get('namespace')}/{metadata.get('name')}", container["image"], replicas,
                     f"{limits.get('cpu', '-')} / {limits.get('memory', '-')}", claims or "-", digest.rsplit(" ", 1)[-1]))
    return sorted(rows)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [("  ".join(f"{c:<{w}}" for c, w in zip(r, widths)) + "  " + r[-1]).rstrip() for r in rows]


def describe(resources: list[PlannedResource]) -> str:
    """The plan as text: one row per resource in a fixed order, then the
    digest table of what each container is given."""
    rows = [("TYPE", "NAME", "DETAIL")]
    for resource in sorted(resources, key=_display_key):
        inputs = resource.inputs
        if resource.type.endswith("Container"):
            ports = ", ".join(f"{p['ip']}:{int(p['external'])}->{int(p['internal'])}" for p in inputs.get("ports") or [])
            volumes = ", ".join(f"{m['source']}:{m['target']}" for m in inputs.get("mounts") or [] if m["type"] == "volume")
            detail = f"{inputs.get('name')}  ports [{ports}]  volumes [{volumes}]"
        elif resource.type.endswith("RemoteImage"):
            detail = inputs.get("name", "")
        elif resource.type == "docker:index/image:Image":
            build = inputs.get("build") or {}
            detail = f"{inputs.get('imageName')}  built from {build.get('context')} with {build.get('dockerfile')}, not pushed"
        elif resource.type.startswith("kubernetes:"):
            metadata = inputs.get("metadata") or {}
            detail = "/".join(str(part) for part in (metadata.get("namespace"), metadata.get("name")) if part)
        else:
            detail = str(inputs.get("name", ""))
        rows.append((resource.type, resource.name, detail))
    lines = _columns(rows)

    workloads = workload_rows(resources)
    if workloads:
        lines += ["", *_columns([("WORKLOAD", "IMAGE", "REPLICAS", "CPU / MEMORY", "VOLUMES", "POD TEMPLATE"), *workloads]), ""]
        lines.append("`pulumi up` rolls a workload's pods when its POD TEMPLATE digest changes (a rendered file")
        lines.append("changes it through the checksum/config annotation): compare two plans to see which roll.")

    digests = container_digests(resources)
    if digests:
        header = ("CONTAINER", *(column.upper() for column, _, _ in DIGESTED_INPUTS), OTHER_COLUMN[0].upper())
        table = [header] + [(name, *row.values()) for name, row in digests.items()]
        lines += ["", *_columns(table), ""]
        others = sorted({key for r in resources if r.type == "docker:index/container:Container" for key in other_inputs(r.inputs)})
        lines.append("`pulumi up` updates or replaces a container when any of these change: compare the digests")
        lines.append("between two plans to see which containers a settings change touches.")
        lines.append(f"OTHER covers {', '.join(others)}.")
        if any(d.endswith("*") for row in digests.values() for d in row.values()):
            lines.append("* includes secrets, digested as their placeholders: plan never reads a secret's value.")
    return "\n".join(lines) + f"\n\n{len(resources)} resources would be created.\n"
