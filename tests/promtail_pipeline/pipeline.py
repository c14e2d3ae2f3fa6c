"""A Promtail 3.6.15 pipeline over the stage configs this stack renders, the
`match` stage that nests one, and the runners the tests call.

Sources: grafana/loki at v3.6.15, clients/pkg/logentry/stages/pipeline.go (a
pipeline first copies the entry's labels into the extracted map; nested
`match` pipelines do it again) and match.go (`keep` runs the nested stages on
the entries the selector matches, `drop` drops them; both pass the rest on).
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from .cri import CriStage
from .errors import GoSyntaxError, NotTaught
from .multiline import MultilineStage
from .selector import Selector
from .stages import (
    DropStage,
    Entry,
    JsonStage,
    LabelDropStage,
    LabelsStage,
    OutputStage,
    RegexStage,
    ReplaceStage,
    Stage,
    StaticLabelsStage,
    StructuredMetadataStage,
    TemplateStage,
    TimestampStage,
)


class MatchStage(Stage):
    """`match`: entries the selector matches go through the nested stages
    (`keep`) or are dropped (`drop`); the rest pass on unchanged."""

    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        self.check_options("match", config, {"selector", "stages", "action", "drop_counter_reason", "pipeline_name"})
        self.selector = Selector.parse(config["selector"])
        self.action = config.get("action") or "keep"
        stages = config.get("stages") or []
        if self.action == "keep":
            if not stages:
                raise GoSyntaxError("match stage requires at least one additional stage to be defined in '- stages'")
            self.inner = Pipeline(stages, emit=emit, drop=drop)
        elif self.action == "drop":
            if stages:
                raise GoSyntaxError("match stage configured to drop entries cannot contains stages")
            self.reason = config.get("drop_counter_reason") or "match_stage"
        else:
            raise GoSyntaxError("match stage action should be 'keep' or 'drop'")

    def push(self, entry):
        if not self.selector.matches(entry.labels, entry.line):
            self.emit(entry)
        elif self.action == "keep":
            self.inner.push(entry)
        else:
            entry.dropped = self.reason
            self.drop(entry)

    def tick(self, now):
        if self.action == "keep":
            self.inner.tick(now)

    def close(self):
        if self.action == "keep":
            self.inner.close()


# The stage types the interpreter knows, by their key in a pipeline config.
STAGES: dict[str, type] = {
    "cri": CriStage,
    "multiline": MultilineStage,
    "match": MatchStage,
    "replace": ReplaceStage,
    "json": JsonStage,
    "regex": RegexStage,
    "template": TemplateStage,
    "drop": DropStage,
    "labels": LabelsStage,
    "structured_metadata": StructuredMetadataStage,
    "static_labels": StaticLabelsStage,
    "labeldrop": LabelDropStage,
    "timestamp": TimestampStage,
    "output": OutputStage,
}


class Pipeline:
    """A Promtail pipeline over a list of stage configs (dicts as rendered).

    push() entries in the order Promtail reads them (with `at` set for
    multiline's timer), close() at the end; `output` holds what reaches the
    client, `dropped` what a stage dropped (with its reason). Raises
    NotTaught at construction for a stage or option this interpreter does
    not know, GoSyntaxError for one Promtail would refuse.
    """

    def __init__(self, stages: list[dict], emit: Optional[Callable] = None, drop: Optional[Callable] = None):
        self.output: list[Entry] = []
        self.dropped: list[Entry] = []
        sink = emit or self.output.append
        self.drop = drop or self.dropped.append
        self.stages: list[Stage] = []
        for config in reversed(stages):
            if not isinstance(config, dict) or len(config) != 1:
                raise GoSyntaxError(f"a pipeline stage is a mapping with one key, got {config!r}")
            (kind, body), = config.items()
            if kind not in STAGES:
                raise NotTaught(f"unknown stage {kind}", __name__)
            stage = STAGES[kind](sink, self.drop, body)
            self.stages.insert(0, stage)
            sink = stage.push

    def push(self, entry: Entry) -> None:
        # pipeline.go Run: labels are copied into the extracted map first.
        entry.extracted.update(entry.labels)
        self.tick(entry.at)
        if self.stages:
            self.stages[0].push(entry)

    def tick(self, now: float) -> None:
        for stage in self.stages:
            stage.tick(now)

    def close(self) -> None:
        for stage in self.stages:
            stage.close()


def run_stream(stages: list[dict], events: Iterable[tuple[float, dict[str, str], str]]) -> Pipeline:
    """Every (at_seconds, labels, line) through the pipeline, then the end of
    input; returns the pipeline with its `output` and `dropped` entries."""
    pipeline = Pipeline(stages)
    for at, labels, line in events:
        pipeline.push(Entry(line=line, labels=dict(labels), at=at))
    pipeline.close()
    return pipeline


def run_pipeline(stages: list[dict], line: str, labels: dict[str, str]) -> Entry:
    """One entry through every stage: the entry as it reaches the client, or
    as it was dropped (with `dropped` set)."""
    pipeline = run_stream(stages, [(0.0, labels, line)])
    results = pipeline.output + pipeline.dropped
    assert len(results) == 1, f"one line in, {len(results)} entries out"
    return results[0]
