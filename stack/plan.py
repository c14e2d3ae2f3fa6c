"""Run the real Pulumi program under the SDK's mock engine: what `pulumi up`
would create, with no CLI, no engine and no cloud.

Besides the resources, the plan shows per container a digest of what it is
given (its uploaded files, environment and command): the Docker provider
replaces a container when any of them changes, so a changed digest between two
plans is what `pulumi up` would replace, even when only a rendered file moved.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, set_all_config, set_mocks
from pulumi.runtime.rpc import is_rpc_secret, unwrap_rpc_secret

from stack.settings import PROJECT, stack_config


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
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "mock-generated-password"
        self.resources.append(PlannedResource(args.typ, args.name, dict(args.inputs)))
        return f"{args.name}-id", outputs

    def call(self, args: MockCallArgs):
        return {}, None


def configure_mocks(stack: str, config: dict[str, str], secret_keys: list[str]) -> RecordingMocks:
    """Mocks and config must be in place BEFORE the program is constructed."""
    mocks = RecordingMocks()
    set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    set_all_config(config, secret_keys)
    return mocks


def plan_stack(stack_file: Path) -> list[PlannedResource]:
    """Every resource the real program registers for Pulumi.<stack>.yaml under
    the mocks. The stack's settings must already have been validated (the CLI
    loads them first); the program raises pulumi.RunError for any it refuses."""
    from stack.program import run

    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    mocks = configure_mocks(stack, *stack_config(stack_file))

    @pulumi.runtime.test
    def construct():
        target = run()
        return pulumi.Output.all(*[c.urn for c in target.containers.values()])

    construct()
    return mocks.resources


# The engine registers resources concurrently; print them in a fixed order.
_DISPLAY_ORDER = ("DockerTarget", "Network", "Volume", "RemoteImage", "Container", "RandomPassword")


def _display_key(resource: PlannedResource) -> tuple:
    kind = resource.type.rsplit(":", 1)[-1]
    rank = _DISPLAY_ORDER.index(kind) if kind in _DISPLAY_ORDER else len(_DISPLAY_ORDER)
    return rank, resource.name


# What the Docker provider replaces a container for, as the inputs name them.
# (column, Container input, what one item of it is)
DIGESTED_INPUTS = (("files", "uploads", "file"), ("env", "envs", "var"), ("command", "command", "arg"))


def _plain(value: Any) -> tuple[Any, bool]:
    """The value with secret wrappers removed, and whether any was found.

    Under `plan` a secret is never a real one: encrypted config arrives as its
    placeholder (stack_config) and generated passwords as the mock's constant,
    so a digest over it says which secrets a container gets, not their values."""
    if is_rpc_secret(value):
        return _plain(unwrap_rpc_secret(value))[0], True
    if isinstance(value, dict):
        items = {k: _plain(v) for k, v in value.items()}
        return {k: v for k, (v, _) in items.items()}, any(s for _, s in items.values())
    if isinstance(value, list):
        items = [_plain(v) for v in value]
        return [v for v, _ in items], any(s for _, s in items)
    return value, False


def input_digest(value: Any, unit: str) -> tuple[str, bool]:
    """`<count> <unit>s <first 12 hex digits of sha256>` over one container
    input (canonical JSON, so the same input gives the same digest in any
    process), '-' when the input is unset; and whether it holds a secret."""
    plain, secret = _plain(value)
    if not plain:
        return "-", False
    digest = hashlib.sha256(json.dumps(plain, sort_keys=True, ensure_ascii=True).encode()).hexdigest()[:12]
    return f"{len(plain)} {unit}{'' if len(plain) == 1 else 's'} {digest}", secret


def container_digests(resources: list[PlannedResource]) -> dict[str, dict[str, str]]:
    """Container name -> {"files"|"env"|"command": "<count> <unit>s <digest>"};
    a digest ending in '*' covers secrets (digested as their placeholders)."""
    table = {}
    for resource in resources:
        if resource.type != "docker:index/container:Container":
            continue
        row = {}
        for column, key, unit in DIGESTED_INPUTS:
            digest, secret = input_digest(resource.inputs.get(key), unit)
            row[column] = digest + ("*" if secret else "")
        table[str(resource.inputs.get("name"))] = row
    return dict(sorted(table.items()))


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
        else:
            detail = str(inputs.get("name", ""))
        rows.append((resource.type, resource.name, detail))
    lines = _columns(rows)

    digests = container_digests(resources)
    if digests:
        header = ("CONTAINER", *(column.upper() for column, _, _ in DIGESTED_INPUTS))
        table = [header] + [(name, *row.values()) for name, row in digests.items()]
        lines += ["", *_columns(table), ""]
        lines.append("`pulumi up` replaces a container when its files, environment or command change: compare")
        lines.append("these digests between two plans to see which ones a settings change touches.")
        if any(d.endswith("*") for row in digests.values() for d in row.values()):
            lines.append("* includes secrets, digested as their placeholders: plan never reads a secret's value.")
    return "\n".join(lines) + f"\n\n{len(resources)} resources would be created.\n"
