"""The stack's commands: render the generated files, plan what `pulumi up`
would create, rewrite the reference rules and the reference pages of docs/reference/
(all offline), and verify a deployed stack (exit 1 when one of its checks fails).

Every failure the user can cause is one message on stderr and exit code 2:
bad settings as the settings layer words them (the same block for `render` and
`plan`), anything else (a missing stack file, an unusable output folder) as one
line naming the command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from stack.settings import STACK_FILE_NAMING, LoadedSettings, SettingsError, load_from_stack_file, stack_of
from stack.settings.unsafe_for_prod import unsafe_for_prod

ROOT = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_INVALID = 0, 2  # 2, as argparse uses for a bad command line


class CommandError(Exception):
    """A problem with the command line itself (a path, a folder): one line."""


class ProgramRefused(Exception):
    """The Pulumi program, run by `plan`, refused settings the stack file's
    loader let through (the program reads config as strings); the message is
    the settings layer's own block."""


def stack_name(stack_file: Path) -> str:
    """Pulumi.<stack>.yaml -> <stack>."""
    return stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")


def _stack_file(env: str) -> Path:
    """An environment name (dev), or the path of a Pulumi.<env>.yaml to check:
    anything with a folder separator or ending in .yaml is a path."""
    is_path = env.endswith((".yaml", ".yml")) or "/" in env or (sys.platform == "win32" and "\\" in env)
    path = Path(env) if is_path else ROOT / f"Pulumi.{env}.yaml"
    if path.is_file() and stack_of(path) is None:
        raise CommandError(f"{env}: {STACK_FILE_NAMING}")
    if path.is_file():
        return path
    known = ", ".join(sorted(stack_name(p) for p in ROOT.glob("Pulumi.*.yaml"))) or "none"
    if is_path:
        what = "is a folder, not a stack file" if path.is_dir() else "does not exist"
        raise CommandError(f"{env} {what}; give an environment ({known}) or the path of a Pulumi.<env>.yaml")
    raise CommandError(f"no stack file {path.name}; known environments: {known}")


def _load_for_preview(stack_file: Path, warn: bool = True) -> LoadedSettings:
    """The stack file's settings for `render` and `plan`, which never see a
    secret's value: a secret it lacks is a placeholder, and a note on stderr
    says that `pulumi up` refuses until it is set. With `warn`, what is
    unsafe for prod (unsafe_for_prod) is printed too; `plan` runs the
    program, which warns itself, as under `pulumi up`."""
    loaded = load_from_stack_file(stack_file, allow_missing_secrets=True)
    if loaded.missing_secrets:
        count = len(loaded.missing_secrets)
        print(
            f"Note: `pulumi up` refuses {stack_file.name} until {'this secret is' if count == 1 else f'these {count} secrets are'} "
            "set (placeholders stand in for them here):",
            file=sys.stderr,
        )
        for message in loaded.missing_secrets.values():
            print(f"  - {message}", file=sys.stderr)
    if warn:
        _warn_unsafe_for_prod(loaded)
    return loaded


def _warn_unsafe_for_prod(loaded: LoadedSettings) -> None:
    for warning in unsafe_for_prod(loaded.settings):
        print(f"warning: {warning}", file=sys.stderr)


def _manifests(stack_file: Path, loaded: LoadedSettings) -> dict[str, str]:
    """The Kubernetes manifests of the stack, from the program under the mocks
    (which refuses what `pulumi up` would, as `plan` reports it)."""
    import pulumi

    from stack.manifests import rendered_manifests

    try:
        return rendered_manifests(stack_file, loaded.missing_secrets)
    except pulumi.RunError as error:
        raise ProgramRefused(str(error)) from None


def _render(args: argparse.Namespace) -> None:
    from stack.render import OutputFolderError, write_rendered

    stack_file = _stack_file(args.env)
    loaded = _load_for_preview(stack_file, warn=False)
    kubernetes = loaded.settings.target == "kubernetes"
    if not kubernetes:  # on Kubernetes the program runs for the manifests and warns itself, as under `pulumi up`
        _warn_unsafe_for_prod(loaded)
    out = Path(args.out) if args.out is not None else ROOT / "rendered" / stack_name(stack_file)
    # On Kubernetes, also the objects `pulumi up` applies (the program under the mocks).
    manifests = _manifests(stack_file, loaded) if kubernetes else {}
    try:
        result = write_rendered(loaded, out, manifests)
    except OutputFolderError as error:
        raise CommandError(str(error)) from None
    count = len(result.removed)
    removed = f"; removed {count} file{'' if count == 1 else 's'} these settings no longer produce" if count else ""
    print(f"Wrote {len(result.written)} files for {loaded.settings.environment} to {out}{removed}")
    for path in result.removed:
        print(f"  removed {path}")


def _plan(args: argparse.Namespace) -> None:
    import pulumi

    from stack.plan import describe, plan_stack

    stack_file = _stack_file(args.env)
    # The same loader and messages as `render`, before the program runs under the mocks.
    loaded = _load_for_preview(stack_file, warn=False)
    try:
        resources = plan_stack(stack_file, loaded.missing_secrets)
    except pulumi.RunError as error:
        raise ProgramRefused(str(error)) from None
    print(describe(resources), end="")


def _rules(args: argparse.Namespace) -> None:
    from stack.alerting import write_reference_rules

    for path in write_reference_rules():
        print(f"Wrote {path.relative_to(ROOT)}")


def _verify(args: argparse.Namespace) -> int:
    from stack.verify import EndpointError, verify_stack

    stack_file = _stack_file(args.env)
    loaded = load_from_stack_file(stack_file)
    try:
        return verify_stack(stack_name(stack_file), loaded.settings, args.url)
    except EndpointError as error:
        raise CommandError(str(error)) from None


def _references(args: argparse.Namespace) -> None:
    from stack.reference_pages import write_reference_pages

    for path in write_reference_pages():
        print(f"Wrote {path.relative_to(ROOT)}")


# name -> (one-line help shown by --help, handler, whether it takes an environment)
COMMANDS: dict[str, tuple[str, Callable[[argparse.Namespace], int | None], bool]] = {
    "render": ("write every generated file of an environment to a folder", _render, True),
    "plan": ("what `pulumi up` would create, with what each container gets", _plan, True),
    "rules": ("rewrite the reference rule files in alerts/", _rules, False),
    "references": ("rewrite the generated pages of docs/reference/", _references, False),
    "verify": ("ask the deployed stack whether it really works (after `make up`)", _verify, True),
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse measures a command's name without the indentation it prints it
    with (Lib/argparse.py, HelpFormatter.add_argument), so a name longer than
    the others' column (`references`) would go on a line of its own."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            indent = self._current_indent + self._indent_increment
            longest = max(len(name) for name in action.choices) + indent
            self._action_max_length = max(self._action_max_length, longest)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per COMMANDS entry."""
    parser = argparse.ArgumentParser(
        prog="python -m stack",
        description=__doc__.split("\n\n")[0],
        # A fixed width: the same help on every terminal, each command on one line.
        formatter_class=lambda prog: _HelpFormatter(prog, width=100),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>", title="commands")
    for name, (help_text, handler, takes_env) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text, formatter_class=parser.formatter_class)
        if takes_env:
            command.add_argument("env", help="environment name (dev) or path of a Pulumi.<env>.yaml")
        if name == "render":
            command.add_argument("--out", metavar="DIR", help="output folder: empty, new, or an earlier render's (default rendered/<env>)")
        if name == "verify":
            command.add_argument(
                "--url", action="append", default=[], metavar="NAME=URL",
                help="where a component answers instead of its published port, e.g. prometheus=http://127.0.0.1:19090 "
                "(NAME: prometheus, alertmanager, loki, grafana, jaeger, jaeger-otlp); repeatable",
            )
        command.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (0, or 2 for any bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help (0) or a bad command line (2), already printed
        return int(exit.code or 0)
    try:
        # Handlers return nothing, or an exit code of their own (verify: 1 when a check fails).
        code = args.handler(args)
    except (SettingsError, ProgramRefused) as error:
        print(error, file=sys.stderr)
        return EXIT_INVALID
    except CommandError as error:
        print(f"python -m stack {args.command}: {error}", file=sys.stderr)
        return EXIT_INVALID
    return code or EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
