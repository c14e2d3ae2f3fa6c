"""The game day's table: incident, how it was played, what paged whom,
after how long, and the floor the configuration allows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gameday.harness import Page


@dataclass
class Row:
    """One incident: its pages, each with (seconds to notify or None, floor
    under the settings it was played with, floor under production settings), seconds."""

    incident: str
    how: str  # live | replayed
    pages: dict[Page, tuple[float | None, int, int]] = field(default_factory=dict)
    error: str = ""


HEADER = (
    "| Incident | Played | Pages (receiver: alert, severity) | Time to notify | Floor | Floor in production |\n"
    "|---|---|---|---|---|---|"
)


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 3600:
        return f"{value / 3600:.1f} h"
    return f"{value:.0f} s"


def table(rows: list[Row]) -> str:
    """The Markdown table, one line per page (an incident without pages says so)."""
    lines = [HEADER]
    for row in rows:
        pages = sorted(row.pages.items(), key=lambda item: (item[1][0] is None, item[1][0] or 0, item[0]))
        if row.error:
            lines.append(f"| {row.incident} | {row.how} | error: {row.error} | | | |")
        elif not pages:
            lines.append(f"| {row.incident} | {row.how} | no page | | | |")
        for i, (page, (seconds, floor, production)) in enumerate(pages):
            first = row.incident if i == 0 else ""
            cells = (first, row.how if i == 0 else "", str(page), _seconds(seconds), _seconds(floor), _seconds(production))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(rows: list[Row], path: Path) -> str:
    text = table(rows)
    path.write_text(text + "\n")
    return text
