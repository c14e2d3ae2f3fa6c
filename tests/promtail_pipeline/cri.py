"""The `cri` stage of Promtail 3.6.15: the kubelet's log lines taken apart.

Source: grafana/loki at v3.6.15, clients/pkg/logentry/stages/extensions.go
(NewCRI, cri.Run). A nested pipeline (which first copies the labels into the
extracted map) runs a regex stage with
`^(?s)(?P<time>\\S+?) (?P<stream>stdout|stderr) (?P<flags>\\S+?) (?P<content>.*)$`,
a labels stage for `stream`, a timestamp stage (`time`, RFC3339Nano, action
on failure `fudge`) and output stages for `content` and `tags`; a line the
regex does not match passes through as it is. Then a line whose extracted
`flags` is "P" (partial) is held per label set and prefixed to the next
line of that label set; at `max_partial_lines` (100) held label sets, all
are sent on as they are. Held lines are lost when the input ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import re2

from .errors import NotTaught
from .go import go_string
from .stages import Entry, Stage

CRI_LINE = re2.compile(r"^(?s)(?P<time>\S+?) (?P<stream>stdout|stderr) (?P<flags>\S+?) (?P<content>.*)$")
# Go's time.RFC3339Nano layout as time.Parse accepts it: a 'T', seconds, an
# optional fraction (any number of digits), 'Z' or a numeric offset.
RFC3339 = re2.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_PARTIAL_LINES = 100  # MaxPartialLinesSize


def parse_rfc3339(text: str) -> Optional[datetime]:
    """RFC3339Nano text as a datetime (to the microsecond: digits beyond
    are cut, as datetime cannot hold nanoseconds), or None when Go's
    time.Parse would refuse it."""
    if not RFC3339.search(text):
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class CriStage(Stage):
    """`cri`: sets the entry's `stream` label, time and line from a CRI log
    line and joins partial (P) lines to the full (F) line that ends them."""

    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        config = config or {}
        self.check_options("cri", config, {"max_partial_lines"})
        self.max_partial_lines = int(config.get("max_partial_lines") or MAX_PARTIAL_LINES)
        self.partial: dict[frozenset, Entry] = {}
        self.last_time: dict[frozenset, datetime] = {}

    def _base(self, entry: Entry) -> None:
        """The nested pipeline: regex, labels, timestamp (fudge), output."""
        entry.extracted.update(entry.labels)
        match = CRI_LINE.search(entry.line)
        if match:
            entry.extracted.update({name: match.group(index) or "" for name, index in CRI_LINE.groupindex.items()})
        if "stream" in entry.extracted and (stream := go_string(entry.extracted["stream"])) is not None:
            entry.labels["stream"] = stream
        key = frozenset(entry.labels.items())
        text = go_string(entry.extracted.get("time"))
        parsed = parse_rfc3339(text) if text is not None else None
        if parsed is not None:
            entry.timestamp = parsed
            self.last_time[key] = parsed
        elif key in self.last_time:
            # fudge: the stream's last time plus 1ns, which a datetime cannot hold.
            raise NotTaught("cri stage fudging a timestamp by a nanosecond", __name__)
        if "content" in entry.extracted and (content := go_string(entry.extracted["content"])) is not None:
            entry.line = content

    def push(self, entry):
        self._base(entry)
        key = frozenset(entry.labels.items())
        if entry.extracted.get("flags") == "P":
            if len(self.partial) >= self.max_partial_lines:
                held, self.partial = list(self.partial.values()), {key: entry}
                for partial in held:
                    self.emit(partial)
                return
            if key in self.partial:
                entry.line = self.partial[key].line + entry.line
            self.partial[key] = entry
            return
        if key in self.partial:
            entry.line = self.partial.pop(key).line + entry.line
        self.emit(entry)
