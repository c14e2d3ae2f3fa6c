"""Write every file a stack would deploy, without Pulumi, for review and diffs.

Layout: <out>/<component>/<path inside the container>. Secret files hold a
visible placeholder, never a value.

The output folder is render's own: a manifest (`MANIFEST`) lists every file
render wrote there, so the next render rewrites those files and deletes the
ones the current settings no longer produce (a removed receiver's secret
placeholder, say), and the folder always equals what the settings produce. A
file render did not write is never touched: a folder holding one is refused.
Files render wrote and a user then edited are overwritten like any other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from stack.components import build_services
from stack.components.kong import kong_files
from stack.settings import LoadedSettings

MANIFEST = ".render-manifest"
_MANIFEST_HEADER = (
    "# Written by `python -m stack render`: the files it wrote in this folder, one per line.\n"
    "# The next render rewrites them and deletes those it no longer produces; it refuses\n"
    "# a folder holding any file not listed here, so nothing else is ever overwritten or deleted.\n"
)


class OutputFolderError(Exception):
    """The output folder cannot take a render; the message is one line naming
    the folder (or file) and what to do."""


@dataclass(frozen=True)
class RenderResult:
    """What one render did: paths written and paths of an earlier render removed."""

    written: list[Path]
    removed: list[Path]


def rendered_files(loaded: LoadedSettings) -> dict[str, str]:
    """Relative output path -> content, for every service."""
    files = {}
    for spec in build_services(loaded.settings, loaded.secrets):
        for path, text in spec.files.items():
            files[f"{spec.name}{path}"] = text
        for secret in spec.secret_files:
            files[f"{spec.name}{secret.mount_path}"] = (
                loaded.secrets.get(secret.secret, f"<secret {secret.secret}: generated at deploy time>") + "\n"
            )
    # What the gateway's own Kong needs; applied by the gateway's deployment.
    files.update(kong_files(loaded.settings))
    return dict(sorted(files.items()))


def _names(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _entries(out: Path) -> list[str]:
    """Every file under `out`, relative and sorted. Symbolic links count as
    files and are not followed."""
    files = []
    for folder, subfolders, names in os.walk(out):
        base = Path(folder)
        for name in [n for n in subfolders if (base / n).is_symlink()]:
            subfolders.remove(name)
            names.append(name)
        files += [(base / name).relative_to(out).as_posix() for name in names]
    return sorted(files)


def _read_manifest(out: Path) -> set[str]:
    listed = set()
    lines = (out / MANIFEST).read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        path = PurePosixPath(line)
        if path.is_absolute() or ".." in path.parts or line != path.as_posix():
            raise OutputFolderError(
                f"{out / MANIFEST} line {number} names {line!r}, not a path inside the folder; "
                "it was edited by hand: empty the folder and render again"
            )
        listed.add(line)
    return listed


def earlier_render(out: Path) -> set[str]:
    """Files an earlier render wrote in `out` (relative paths); empty for a
    folder that does not exist yet or is empty.

    Raises OutputFolderError when `out` is a file, or holds anything render did
    not write (no manifest, or files the manifest does not list)."""
    if not out.exists():
        if out.is_symlink():
            raise OutputFolderError(f"{out} is a broken symbolic link; choose a folder")
        return set()
    if not out.is_dir():
        raise OutputFolderError(f"{out} is a file, not a folder; choose a folder for the rendered files")
    if not (out / MANIFEST).is_file():
        # Only the top level: enough to refuse, and cheap even for a folder such as $HOME.
        present = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir())
        if present:
            raise OutputFolderError(
                f"{out} is not empty and is not the output of an earlier render (no {MANIFEST}); "
                f"render writes only into an empty folder or its own, and this one holds {_names(present)}: "
                "choose another folder or empty this one"
            )
        return set()
    listed = _read_manifest(out)
    strangers = [f for f in _entries(out) if f != MANIFEST and f not in listed]
    if strangers:
        raise OutputFolderError(
            f"{out} holds files render did not write: {_names(strangers)}; "
            "render deletes nothing it did not write, so move them out of the folder or choose another one"
        )
    return listed


def _write_manifest(out: Path, paths: set[str]) -> None:
    (out / MANIFEST).write_text(_MANIFEST_HEADER + "".join(f"{p}\n" for p in sorted(paths)))


def _remove(out: Path, relative: str) -> bool:
    """Delete one file of an earlier render and the folders it leaves empty."""
    path = out / relative
    if not (path.is_file() or path.is_symlink()):
        return False  # already gone (a user deleted it)
    path.unlink()
    for folder in path.parents:
        if folder == out or not folder.is_relative_to(out) or any(folder.iterdir()):
            break
        folder.rmdir()
    return True


def write_rendered(loaded: LoadedSettings, out: Path, extra: dict[str, str] | None = None) -> RenderResult:
    """Make `out` hold exactly the stack's rendered files (and `extra`:
    relative path -> text, the Kubernetes manifests) and their manifest.

    Files of an earlier render that the settings no longer produce are
    deleted; files render wrote before (even if edited since) are overwritten.
    Raises OutputFolderError (one line) when `out` is a file, cannot be
    written, or holds anything render did not write.
    """
    files = {**rendered_files(loaded), **(extra or {})}
    try:
        previous = earlier_render(out)
        stale = sorted(previous - set(files))
        out.mkdir(parents=True, exist_ok=True)
        # Listed before they exist: a render cut short leaves nothing unlisted.
        _write_manifest(out, previous | set(files))
        removed = [out / relative for relative in stale if _remove(out, relative)]
        written = []
        for relative, text in files.items():
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():  # replaced by a link since: write the file, never through the link
                path.unlink()
            path.write_text(text)
            written.append(path)
        _write_manifest(out, set(files))
    except OSError as error:
        where = error.filename or out
        raise OutputFolderError(f"cannot write {where}: {error.strerror or error}") from None
    return RenderResult(written, removed)
