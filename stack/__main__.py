"""Offline CLI: `python -m stack render <env> [--out DIR]`, `python -m stack plan <env>`
and `python -m stack rules`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stack.settings import SettingsError, load_from_stack_file

ROOT = Path(__file__).resolve().parents[1]


def _stack_file(env: str) -> Path:
    """An environment name (dev), or the path of a Pulumi.<env>.yaml to check."""
    path = Path(env) if env.endswith(".yaml") else ROOT / f"Pulumi.{env}.yaml"
    if not path.is_file():
        known = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))
        raise SettingsError([f"no stack file {path.name}; known environments: {', '.join(known)}"], path.name)
    return path


def _render(args: argparse.Namespace) -> None:
    from stack.render import write_rendered

    loaded = load_from_stack_file(_stack_file(args.env))
    out = Path(args.out or ROOT / "rendered" / _stack_file(args.env).name.removeprefix("Pulumi.").removesuffix(".yaml"))
    written = write_rendered(loaded, out)
    print(f"Wrote {len(written)} files for {args.env} to {out}")


def _plan(args: argparse.Namespace) -> None:
    import pulumi

    from stack.plan import describe, plan_stack

    try:
        resources = plan_stack(_stack_file(args.env))
    except pulumi.RunError as error:
        raise SystemExit(f"{error}") from None
    print(describe(resources), end="")


def _rules(args: argparse.Namespace) -> None:
    from stack.alerting import write_reference_rules

    for path in write_reference_rules():
        print(f"Wrote {path.relative_to(ROOT)}")


def _docs(args: argparse.Namespace) -> None:
    from stack.docs import all_tables

    print("\n\n".join(all_tables()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write every generated file for an environment")
    render.add_argument("env")
    render.add_argument("--out", help="output folder (default: rendered/<env>)")
    render.set_defaults(handler=_render)
    plan = commands.add_parser("plan", help="list what `pulumi up` would create, under the SDK's mocks")
    plan.add_argument("env")
    plan.set_defaults(handler=_plan)
    rules = commands.add_parser("rules", help="rewrite the reference rule files in alerts/prometheus")
    rules.set_defaults(handler=_rules)
    docs = commands.add_parser("docs", help="print the README's contract and alert tables")
    docs.set_defaults(handler=_docs)
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
