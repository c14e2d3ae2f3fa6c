"""Runs a log line through the Promtail pipeline this stack renders.

Promtail cannot run here (no package), so this interprets exactly the stage
types the rendered config uses, with Promtail's documented semantics and the
RE2 engine (google-re2) for every regex. A stage type or template it does not
know is an error, so the config cannot drift away from what is tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

import re2

from stack.components.promtail import LEVEL_TEMPLATE


@dataclass
class Entry:
    line: str
    labels: dict[str, str]
    extracted: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    timestamp: Optional[datetime] = None
    dropped: Optional[str] = None  # the drop_counter_reason


def _json_path(document, path: str):
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


def _replace(stage: dict, entry: Entry) -> None:
    regex = re2.compile(stage["expression"])
    pieces, last = [], 0
    for match in regex.finditer(entry.line):
        for group in range(1, regex.groups + 1):
            start, end = match.span(group)
            if start >= 0:
                pieces += [entry.line[last:start], stage["replace"]]
                last = end
    entry.line = "".join(pieces) + entry.line[last:]


def _json(stage: dict, entry: Entry) -> None:
    try:
        document = json.loads(entry.line)
    except ValueError:
        return  # Promtail logs and moves on: nothing extracted
    for name, path in stage["expressions"].items():
        value = _json_path(document, path)
        if value is not None:
            entry.extracted[name] = value if isinstance(value, str) else json.dumps(value)


def _regex(stage: dict, entry: Entry) -> None:
    match = re2.compile(stage["expression"]).search(entry.line)
    if match:
        entry.extracted.update({k: v for k, v in match.groupdict().items() if v is not None})


def _template(stage: dict, entry: Entry) -> None:
    if stage["template"] != LEVEL_TEMPLATE:
        raise AssertionError(f"unknown template {stage['template']!r}: teach tests/promtail_pipeline.py")
    value = entry.extracted.get(stage["source"]) or entry.extracted.get("plain_level")
    if value:
        entry.extracted[stage["source"]] = value.lower()


def _match(stage: dict, entry: Entry) -> None:
    # Only the shape the config uses: {label=~".+"} |~ "regex".
    selector, _, line_filter = stage["selector"].partition(" |~ ")
    label = re2.search(r'\{(\w+)=~"\.\+"\}', selector).group(1)
    if entry.labels.get(label) and re2.search(json.loads(line_filter), entry.line):
        for inner in stage["stages"]:
            (kind, config), = inner.items()
            if kind != "static_labels":
                raise AssertionError(f"unknown stage {kind} inside match")
            entry.labels.update(config)


def _drop(stage: dict, entry: Entry) -> None:
    value = entry.extracted.get(stage["source"])
    if value is not None and re2.search(stage["expression"], value):
        entry.dropped = stage["drop_counter_reason"]


def _labels(stage: dict, entry: Entry) -> None:
    for name, source in stage.items():
        value = entry.extracted.get(source or name)
        if value:
            entry.labels[name] = value


def _structured_metadata(stage: dict, entry: Entry) -> None:
    for name, source in stage.items():
        value = entry.extracted.get(source or name)
        if value:
            entry.metadata[name] = value


def _timestamp(stage: dict, entry: Entry) -> None:
    assert stage["format"] == "RFC3339Nano" and stage["action_on_failure"] == "skip"
    value = entry.extracted.get(stage["source"])
    if value:
        try:
            entry.timestamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass  # skip: the entry keeps the time Docker recorded


STAGES = {
    "replace": _replace,
    "json": _json,
    "regex": _regex,
    "template": _template,
    "match": _match,
    "drop": _drop,
    "labels": _labels,
    "structured_metadata": _structured_metadata,
    "timestamp": _timestamp,
}


def run_pipeline(stages: list[dict], line: str, labels: dict[str, str]) -> Entry:
    """One (already joined) entry through every stage but multiline."""
    entry = Entry(line=line, labels=dict(labels))
    for stage in stages:
        (kind, config), = stage.items()
        if kind == "multiline":
            continue  # joining is tested by its firstline regex on its own
        if kind not in STAGES:
            raise AssertionError(f"unknown stage {kind}: teach tests/promtail_pipeline.py")
        STAGES[kind](config, entry)
        if entry.dropped:
            break
    return entry
