"""The reference pages of docs/reference/, generated from the code they
describe so that none can go stale: `make references` (`python -m stack
references`) writes them, and a test fails when a page on disk differs from
what the code produces.

    reference_pages() -> {"settings.md": "<Markdown>", ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from stack.reference_pages.alerts import alerts_page
from stack.reference_pages.dashboards import dashboards_page
from stack.reference_pages.settings import settings_page
from stack.reference_pages.telemetry import contract_page, redaction_page

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "docs" / "reference"
PAGES: dict[str, Callable[[], str]] = {
    "settings.md": settings_page,
    "alerts.md": alerts_page,
    "telemetry-contract.md": contract_page,
    "redaction-rules.md": redaction_page,
    "dashboards.md": dashboards_page,
}


def reference_pages() -> dict[str, str]:
    """File name -> Markdown of every reference page."""
    return {name: build() for name, build in PAGES.items()}


def write_reference_pages(folder: Path = REFERENCE_DIR) -> list[Path]:
    """Write every page into `folder` and delete any other .md there (a page
    the code no longer makes); returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = reference_pages()
    for stale in folder.glob("*.md"):
        if stale.name not in pages:
            stale.unlink()
    written = []
    for name, text in pages.items():
        (folder / name).write_text(text)
        written.append(folder / name)
    return written
