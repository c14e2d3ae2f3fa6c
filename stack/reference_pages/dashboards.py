"""docs/reference/dashboards.md from the board builders (dashboards/): every
board and every panel, what it shows (the first sentence of its
description) and its unit, for the reference settings."""

from __future__ import annotations

import re

from stack.alerting import reference_settings
from stack.reference_pages.markdown import FOR_THE_REFERENCE_SETTINGS, page, table


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".")


def dashboards_page() -> str:
    from dashboards import boards  # the SDK is only needed here

    settings = reference_settings()
    built = boards(settings)
    services = "|".join(re.escape(s.name) for s in settings.gateway_services)
    blocks = [
        f"Every board of Grafana's *AI Gateway* folder and every panel on it, {FOR_THE_REFERENCE_SETTINGS}. "
        "How to read them and where to start: [Dashboards](../dashboards.md).",
        table(("board", "uid", "what it is for"), [(f"[{b.title}](#{b.uid})", f"`{b.uid}`", b.description) for b in built]),
    ]
    for board in built:
        rows, seen = [], set()
        for panel in (p for top in board.build()["panels"] for p in (top, *top.get("panels", [])) if p["type"] != "row"):
            # The SLO board repeats its panels per service: one row says it.
            title = re.sub(f"^({services}) ", "<service> ", panel["title"])
            if title not in seen:
                seen.add(title)
                rows.append((title, _first_sentence(panel["description"]), panel["fieldConfig"]["defaults"]["unit"]))
        blocks += [f"## {board.uid}", f"**{board.title}**", table(("panel", "shows", "unit"), rows)]
    return page("Dashboards reference", "the boards' code in dashboards/ (stack/reference_pages/dashboards.py)", *blocks)
