"""Markdown helpers the reference pages share."""

from __future__ import annotations


def cell(text: str) -> str:
    """Text made safe for one Markdown table cell: whitespace collapsed, `|`
    escaped (GitHub reads `\\|` as a literal bar, in code spans too)."""
    return " ".join(str(text).split()).replace("|", "\\|")
