"""The `multiline` stage of Promtail 3.6.15, the one stage with a clock.

Source: grafana/loki at v3.6.15, clients/pkg/logentry/stages/multiline.go: one
buffer per label set; entries pass through until their stream's first start
line; lines joined with "\\n"; flushed on a new start line, at `max_lines`,
after `max_wait_time` without a line for that stream, and at the end; the
block keeps the start line's labels, time and extracted map.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import re2

from .go import go_duration
from .stages import Entry, Stage


@dataclass
class _Block:
    lines: list[str] = field(default_factory=list)
    start: Optional[Entry] = None
    last_line_at: float = 0.0


class MultilineStage(Stage):
    """`multiline`: joins a start line and the lines after it into one entry,
    per stream; tick() lets `max_wait_time` flush a quiet stream's block."""

    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        self.check_options("multiline", config, {"firstline", "max_lines", "max_wait_time"})
        self.firstline = re2.compile(config["firstline"])
        self.max_lines = int(config.get("max_lines", 128))
        self.max_wait = go_duration(config.get("max_wait_time", "3s"))
        self.blocks: dict[frozenset, _Block] = {}

    def _flush(self, block: _Block) -> None:
        if not block.lines:
            return
        start = block.start
        self.emit(Entry("\n".join(block.lines), dict(start.labels), dict(start.extracted), timestamp=start.timestamp, at=start.at))
        block.lines = []

    def push(self, entry):
        key = frozenset(entry.labels.items())
        block = self.blocks.get(key)
        starts = self.firstline.search(entry.line) is not None
        if block is None:
            if not starts:
                self.emit(entry)  # before its stream's first start line
                return
            block = self.blocks[key] = _Block()
        if starts:
            self._flush(block)
            block.start = entry
        block.lines.append(entry.line)
        block.last_line_at = entry.at
        if len(block.lines) == self.max_lines:
            self._flush(block)

    def tick(self, now):
        # A stream's timer restarts with each of its lines; when it fires first
        # or at the same instant as the next line arrives, the block goes out.
        for block in sorted(self.blocks.values(), key=lambda b: b.last_line_at):
            if block.lines and block.last_line_at + self.max_wait <= now:
                self._flush(block)

    def close(self):
        for block in self.blocks.values():
            self._flush(block)
