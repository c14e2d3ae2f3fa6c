"""The log entry and the stages that handle one entry at a time, as Promtail
3.6.15 runs them.

Sources, all in grafana/loki at v3.6.15 under clients/pkg/logentry/stages/:
- stage.go (toStage): a per-entry stage changes the entry or drops it.
- regex.go and replace.go: with `source`, they work on that extracted value as
  util.go getString renders it and do nothing when it is missing or not
  text, a number or a boolean; without it, on the line.
- replace.go: every participating group of every match is replaced by the
  `replace` template executed with .Value = the group's text; a group
  starting before the end of the previous replaced one is skipped.
- json.go: JMESPath on the decoded object; strings, numbers (float64),
  booleans and null are stored as they are (null too), objects and arrays as
  their json.Marshal text.
- template.go: an empty result deletes the key; a failed execution changes
  nothing.
- output.go: the line becomes `source` (getString); a missing or
  unconvertible source leaves it.
- drop.go, labels.go, structuredmetadata.go, static_labels.go, labeldrop.go,
  timestamp.go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

import re2

from .errors import GoSyntaxError, NotTaught
from .go import go_duration, go_find_all, go_json_marshal, go_json_object, go_string
from .gotemplate import GoTemplate, TemplateExecError
from .jmespath import JmesPath


@dataclass
class Entry:
    """One log line as it moves through the pipeline: its labels, the
    extracted map, structured metadata and timestamp."""

    line: str
    labels: dict[str, str]
    extracted: dict = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    timestamp: Optional[datetime] = None
    dropped: Optional[str] = None  # the drop_counter_reason
    at: float = 0.0  # when Promtail read it, in seconds (drives multiline's max_wait_time)


def source_text(entry: Entry, source: Optional[str]) -> Optional[str]:
    """The text a stage with an optional `source` option works on: the line
    without one; with one, that extracted value as getString renders it, or
    None (the stage does nothing) when it is missing or not text, a number or
    a boolean (regex.go, replace.go Process)."""
    if source is None:
        return entry.line
    if source not in entry.extracted:
        return None
    return go_string(entry.extracted[source])


class Stage:
    """Push-based, as Promtail's channel stages: push() entries, tick() a
    clock, close() at the end; results go to `emit`, drops to `drop`."""

    def __init__(self, emit: Callable[[Entry], None], drop: Callable[[Entry], None]):
        self.emit, self.drop = emit, drop

    def push(self, entry: Entry) -> None:
        raise NotImplementedError

    def tick(self, now: float) -> None:
        pass

    def close(self) -> None:
        pass

    def check_options(self, kind: str, config: dict, keys: set[str]) -> None:
        """Raises NotTaught, naming this stage's module, for an option outside `keys`."""
        unknown = set(config) - keys
        if unknown:
            raise NotTaught(f"{kind} option(s) {sorted(unknown)}", type(self).__module__)


class EntryStage(Stage):
    """A stage that handles one entry at a time (Promtail's toStage)."""

    def __init__(self, emit, drop, config):
        super().__init__(emit, drop)
        self.configure(config)

    def configure(self, config) -> None:
        raise NotImplementedError

    def process(self, entry: Entry) -> Optional[str]:
        """Changes the entry; returns a drop reason to drop it."""
        raise NotImplementedError

    def push(self, entry: Entry) -> None:
        reason = self.process(entry)
        if reason is None:
            self.emit(entry)
        else:
            entry.dropped = reason
            self.drop(entry)


class ReplaceStage(EntryStage):
    """`replace` (replace.go): rewrites the matched groups of the line or of `source`."""

    def configure(self, config):
        self.check_options("replace", config, {"expression", "replace", "source"})
        self.regex = re2.compile(config["expression"])
        self.template = GoTemplate(config.get("replace", ""))
        self.source = config.get("source")

    def process(self, entry):
        text = source_text(entry, self.source)
        if text is None:
            return None
        matches = go_find_all(self.regex, text)
        if not matches:
            return None
        data = {k: s for k, v in entry.extracted.items() if (s := go_string(v)) is not None}
        result, previous_end, captured = [], 0, {}
        try:
            for match in matches:
                for group in range(1, self.regex.groups + 1):
                    start, end = match.span(group)
                    if start < 0:
                        continue
                    data["Value"] = text[start:end]
                    replacement = self.template.execute(data)
                    if previous_end == 0 or previous_end <= start:
                        result += [text[previous_end:start], replacement]
                        previous_end = end
                    captured[text[start:end]] = replacement
        except TemplateExecError:
            return None
        result.append(text[previous_end:])
        if self.source is not None:
            entry.extracted[self.source] = "".join(result)
        else:
            entry.line = "".join(result)
        first = self.regex.search(text)
        for name, index in self.regex.groupindex.items():
            value = first.group(index) or ""
            if value in captured:
                entry.extracted[name] = captured[value]
        return None


class JsonStage(EntryStage):
    """`json` (json.go): extracts JMESPath expressions from a JSON line."""

    def configure(self, config):
        self.check_options("json", config, {"expressions"})
        self.expressions = {name: JmesPath(path or name) for name, path in config["expressions"].items()}

    def process(self, entry):
        document = go_json_object(entry.line)
        if document is None:
            return None  # logged, not dropped (drop_malformed is off)
        for name, path in self.expressions.items():
            value = path.search(document)
            entry.extracted[name] = value if value is None or isinstance(value, (str, float, bool)) else go_json_marshal(value)
        return None


class RegexStage(EntryStage):
    """`regex` (regex.go): extracts the named groups of the first match."""

    def configure(self, config):
        self.check_options("regex", config, {"expression", "source"})
        self.regex = re2.compile(config["expression"])
        self.source = config.get("source")

    def process(self, entry):
        text = source_text(entry, self.source)
        if text is None:
            return None
        match = self.regex.search(text)
        if match:
            entry.extracted.update({name: match.group(index) or "" for name, index in self.regex.groupindex.items()})
        return None


class TemplateStage(EntryStage):
    """`template` (template.go): sets `source` to the template's output."""

    def configure(self, config):
        self.check_options("template", config, {"source", "template"})
        self.source, self.template = config["source"], GoTemplate(config["template"])

    def process(self, entry):
        data = {}
        for name, value in entry.extracted.items():
            text = go_string(value)
            if text is not None:
                data[name] = text
                if name == self.source:
                    data["Value"] = text
        data["Entry"] = entry.line
        try:
            result = self.template.execute(data)
        except TemplateExecError:
            return None
        if result:
            entry.extracted[self.source] = result
        else:
            entry.extracted.pop(self.source, None)
        return None


class OutputStage(EntryStage):
    """`output` (output.go): the line becomes the extracted `source`."""

    def configure(self, config):
        self.check_options("output", config, {"source"})
        if not config.get("source"):
            raise GoSyntaxError("output source value is required")
        self.source = config["source"]

    def process(self, entry):
        text = source_text(entry, self.source)
        if text is not None:
            entry.line = text
        return None


def wall_clock() -> datetime:
    """time.Now() for the stages that read it (drop's older_than); tests that
    feed lines of a fixed time replace it, to stay true whenever they run."""
    return datetime.now(timezone.utc)


class DropStage(EntryStage):
    """`drop` (drop.go): drops an entry whose joined `source` values match
    `expression`, or whose timestamp is more than `older_than` before the
    wall clock (wall_clock() when the stage runs); options given are ANDed."""

    def configure(self, config):
        self.check_options("drop", config, {"source", "expression", "drop_counter_reason", "separator", "older_than"})
        source = config.get("source")
        self.sources = [source] if isinstance(source, str) else source
        self.regex = re2.compile(config["expression"]) if "expression" in config else None
        self.separator = config.get("separator", ";")
        self.reason = config.get("drop_counter_reason") or "drop_stage"
        self.older_than = timedelta(seconds=go_duration(config["older_than"])) if "older_than" in config else None
        if (self.sources is None) != (self.regex is None) or (self.sources is None and self.older_than is None):
            raise NotTaught("drop without both source and expression, or older_than alone", __name__)

    def process(self, entry):
        if self.older_than is not None:
            # A zero Go time (no timestamp set) is before any cut-off.
            stamp = entry.timestamp or datetime.min.replace(tzinfo=timezone.utc)
            if stamp >= wall_clock() - self.older_than:
                return None
            if self.sources is None:
                return self.reason
        values = []
        for source in self.sources:
            if source in entry.extracted:
                text = go_string(entry.extracted[source])
                if text is None:
                    return None
                values.append(text)
        return self.reason if self.regex.search(self.separator.join(values)) else None


def _label_sources(config: dict) -> dict[str, str]:
    return {name: source or name for name, source in config.items()}


class LabelsStage(EntryStage):
    """`labels` (labels.go): sets labels from extracted values."""

    def configure(self, config):
        self.sources = _label_sources(config)

    def process(self, entry):
        for name, source in self.sources.items():
            if source in entry.extracted and (text := go_string(entry.extracted[source])) is not None:
                entry.labels[name] = text
        return None


class StructuredMetadataStage(EntryStage):
    """`structured_metadata` (structuredmetadata.go): moves extracted values or labels to structured metadata."""

    def configure(self, config):
        self.sources = _label_sources(config)

    def process(self, entry):
        taken = {}
        for name, source in self.sources.items():
            if source in entry.extracted and (text := go_string(entry.extracted[source])) is not None:
                entry.metadata[name] = text
                taken[source] = text
        for name, source in self.sources.items():
            if source not in taken and source in entry.labels:
                entry.metadata[name] = entry.labels[source]
                taken[source] = entry.labels[source]
        for source, value in taken.items():
            if entry.labels.get(source) == value:
                del entry.labels[source]  # moved, not copied
        return None


class StaticLabelsStage(EntryStage):
    """`static_labels` (static_labels.go): sets fixed labels; an empty value sets none."""

    def configure(self, config):
        self.labels = {k: v for k, v in config.items() if v not in (None, "")}

    def process(self, entry):
        entry.labels.update(self.labels)
        return None


class LabelDropStage(EntryStage):
    """`labeldrop` (labeldrop.go): removes labels by name."""

    def configure(self, config):
        if not isinstance(config, list):
            raise GoSyntaxError(f"labeldrop takes a list of label names, got {config!r}")
        self.names = list(config)

    def process(self, entry):
        for name in self.names:
            entry.labels.pop(name, None)
        return None


class TimestampStage(EntryStage):
    """`timestamp` (timestamp.go), RFC3339Nano with action_on_failure skip only."""

    def configure(self, config):
        self.check_options("timestamp", config, {"source", "format", "action_on_failure"})
        if config["format"] != "RFC3339Nano" or config.get("action_on_failure") != "skip":
            raise NotTaught(f"timestamp {config}", __name__)
        self.source = config["source"]

    def process(self, entry):
        text = go_string(entry.extracted.get(self.source))
        if text:
            try:
                entry.timestamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                pass  # skip: the entry keeps the time Docker recorded
        return None
