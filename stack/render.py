"""Write every file a stack would deploy, without Pulumi, for review and diffs.

Layout: <out>/<component>/<path inside the container>. Secret files hold a
visible placeholder, never a value.
"""

from __future__ import annotations

from pathlib import Path

from stack.components import build_services
from stack.components.kong import kong_files
from stack.settings import LoadedSettings


def rendered_files(loaded: LoadedSettings) -> dict[str, str]:
    """Relative output path -> content, for every service."""
    files = {}
    for spec in build_services(loaded.settings):
        for path, text in spec.files.items():
            files[f"{spec.name}{path}"] = text
        for secret in spec.secret_files:
            files[f"{spec.name}{secret.mount_path}"] = (
                loaded.secrets.get(secret.secret, f"<secret {secret.secret}: generated at deploy time>") + "\n"
            )
    # What the gateway's own Kong needs; applied by the gateway's deployment.
    files.update(kong_files(loaded.settings))
    return dict(sorted(files.items()))


def write_rendered(loaded: LoadedSettings, out: Path) -> list[Path]:
    written = []
    for relative, text in rendered_files(loaded).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
