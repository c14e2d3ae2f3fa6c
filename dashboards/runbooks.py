"""The runbooks (docs/runbooks, read by stack/runbooks.py) as Grafana
dashboards: one per runbook, uid stack.runbooks.runbook_uid(alert name), a
Markdown text panel holding the runbook as written, and links to the boards
it names. stack/components/grafana.py provisions them in the "Runbooks"
folder when the stack's Grafana serves the runbooks (alerting.runbookBaseUrl
unset), so an alert's runbook_url opens one.

    render_runbook_dashboards(settings) -> {"<uid>.json": "<dashboard JSON>"}

They are not in BUILDERS: a runbook is text, not a board of panels over
data, and the boards' conventions (units, thresholds, variables) do not
apply.
"""

from __future__ import annotations

import json
import math
from typing import Mapping, Optional

from grafana_foundation_sdk.builders import dashboard, text
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, GridPos
from grafana_foundation_sdk.models.text import TextMode

from dashboards import boards
from dashboards.board import GRID_COLUMNS, TAG
from stack.runbooks import Runbook, load_runbooks, runbook_uid
from stack.settings import Settings

RUNBOOK_TAG = "runbook"
# Grid rows (30 px) per line of Markdown, and the bounds: a long runbook
# scrolls inside its panel rather than growing without end.
_ROWS_PER_LINE, _MIN_ROWS, _MAX_ROWS = 0.8, 12, 120


def board_titles(settings: Settings) -> dict[str, str]:
    """uid -> title of every board dashboards/ builds for `settings`."""
    return {board.uid: board.title for board in boards(settings)}


def runbook_dashboard(runbook: Runbook, titles: Mapping[str, str]) -> dict:
    """The Grafana JSON model (a dict) of `runbook`'s dashboard; `titles`
    (uid -> title) are the boards it may link to."""
    rows = math.ceil(runbook.text.count("\n") * _ROWS_PER_LINE) + 2
    panel = (
        text.Panel()
        .id(1)
        .title(runbook.summary)
        .mode(TextMode.MARKDOWN)
        .content(runbook.text)
        .grid_pos(GridPos(h=min(max(rows, _MIN_ROWS), _MAX_ROWS), w=GRID_COLUMNS, x=0, y=0))
    )
    board = (
        dashboard.Dashboard(f"Runbook: {runbook.name}")
        .uid(runbook_uid(runbook.name))
        .description(runbook.summary)
        .tags([RUNBOOK_TAG])
        .time("now-3h", "now")
        .timezone("browser")
        .readonly()
    )
    # The boards the runbook names, one click away with the time range kept.
    for uid in runbook.boards_named(titles):
        board = board.link(
            dashboard.DashboardLink(titles[uid]).type(DashboardLinkType.LINK).url(f"/d/{uid}").keep_time(True)
        )
    board = board.link(
        dashboard.DashboardLink("AI gateway boards").type(DashboardLinkType.DASHBOARDS).tags([TAG]).as_dropdown(True).keep_time(True)
    )
    board = board.link(dashboard.DashboardLink("Runbooks").type(DashboardLinkType.DASHBOARDS).tags([RUNBOOK_TAG]).as_dropdown(True))
    board = board.with_panel(panel)
    return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


def render_runbook_dashboards(settings: Settings, runbooks: Optional[Mapping[str, Runbook]] = None) -> dict[str, str]:
    """File name (`<uid>.json`) -> dashboard JSON of every runbook (`runbooks`,
    default stack.runbooks.load_runbooks()); sorted keys, two-space indent,
    final newline: the same runbooks and settings give the same bytes."""
    runbooks = load_runbooks() if runbooks is None else runbooks
    titles = board_titles(settings)
    return {
        f"{runbook_uid(name)}.json": json.dumps(runbook_dashboard(runbook, titles), indent=2, sort_keys=True) + "\n"
        for name, runbook in sorted(runbooks.items())
    }
