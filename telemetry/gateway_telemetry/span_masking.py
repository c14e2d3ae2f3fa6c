"""Masking for spans: nothing a span carries leaves the process before the same
rules as a log line have run on it.

An exception's message, its stack trace, a status description, a query string
or a user agent a client sent, a model a request named: any of them can hold
an API key, and a span exporter sends them to the trace backend as they are.
`MaskingSpanExporter` wraps the process's exporter (configure_tracing puts it
around every exporter, the tests' in-memory one included) and hands it copies
of the spans with masking.mask_text on the name and status description and
masking.mask_attributes on the attributes of the span, of each event (the
exception event's `exception.message` and `exception.stacktrace`) and of each
link. It runs on the batch processor's thread, off the request path; a clean
text is remembered by masking, so a span of repeated names and routes costs a
few set lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from gateway_telemetry.masking import mask_attributes, mask_text


def mask_span(span: ReadableSpan) -> ReadableSpan:
    """`span`, or a copy of it with every text masked (the same span when
    nothing needed masking). Ids, times, kind, resource and scope are kept."""
    name = mask_text(span.name)
    # ReadableSpan.attributes makes a new read-only view on every access
    # (opentelemetry-sdk 1.45, sdk/trace/__init__.py): read it once, so
    # "unchanged" can be told by identity.
    original = span.attributes
    attributes = mask_attributes(original)
    events = tuple(_masked_event(event) for event in span.events)
    links = tuple(_masked_link(link) for link in span.links)
    status = span.status
    if status.description:
        description = mask_text(status.description)
        if description != status.description:
            status = Status(status.status_code, description)
    unchanged = (
        name == span.name
        and attributes is original
        and status is span.status
        and all(new is old for new, old in zip(events, span.events))
        and all(new is old for new, old in zip(links, span.links))
    )
    if unchanged:
        return span
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _masked_event(event: Event) -> Event:
    attributes = mask_attributes(event.attributes)
    name = mask_text(event.name)
    if attributes is event.attributes and name == event.name:
        return event
    return Event(name, attributes, event.timestamp)


def _masked_link(link: Link) -> Link:
    attributes = mask_attributes(link.attributes)
    return link if attributes is link.attributes else Link(link.context, attributes)


class MaskingSpanExporter(SpanExporter):
    """A SpanExporter that masks every span (mask_span) before `exporter`
    sends it; `after_export` (no arguments) is called after each batch."""

    def __init__(self, exporter: SpanExporter, after_export: Callable[[], None] | None = None) -> None:
        self.exporter = exporter
        self.after_export = after_export

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            return self.exporter.export([mask_span(span) for span in spans])
        finally:
            if self.after_export is not None:
                self.after_export()

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)
