"""Run the real Pulumi program under the SDK's mock engine: what `pulumi up`
would create, with no CLI, no engine and no cloud."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks, set_all_config, set_mocks

from stack.settings import PROJECT, stack_config


@dataclass(frozen=True)
class PlannedResource:
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


def describe(resources: list[PlannedResource]) -> str:
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
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}".rstrip() for r in rows]
    return "\n".join(lines) + f"\n\n{len(resources)} resources would be created.\n"
