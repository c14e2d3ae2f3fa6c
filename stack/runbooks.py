"""The runbooks: one Markdown file per alert in docs/runbooks/, and where an
alert's `runbook_url` points.

A runbook is `docs/runbooks/<AlertName>.md`, laid out the same way every
time, so the on-call engineer knows where to look:

    # <AlertName>
    <one-line summary>
    ## Meaning          what fired and why; a `**Severity:**` line says whom it pages
    ## Impact           who feels it, and how
    ## First checks     exactly three numbered checks, each naming a Grafana
                        board (title or uid) and giving a ```promql or ```logql query
    ## Mitigation
    ## Escalation

`runbook_url` (one setting, `alerting.runbookBaseUrl`):
- unset (the default): the stack's own Grafana serves every runbook as a
  dashboard in the folder GRAFANA_FOLDER (dashboards/runbooks.py;
  stack/components/grafana.py provisions them on Docker and Kubernetes
  alike), and `runbook_url` is `<Grafana's public URL>/d/<runbook_uid(name)>`;
- set: `<base>/<AlertName>`, plus `.md` when the base is this repository's
  docs/runbooks folder on a git host (its path ends in REPOSITORY_FOLDER),
  where each runbook is the file `<AlertName>.md`.

Pure: reads files and Settings, imports no Pulumi and nothing of dashboards/.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Optional

from stack import topology
from stack.settings import Settings

RUNBOOKS_DIR = Path(__file__).resolve().parents[1] / "docs" / "runbooks"
SECTIONS = ("Meaning", "Impact", "First checks", "Mitigation", "Escalation")
FIRST_CHECKS = 3
QUERY_LANGUAGES = ("promql", "logql")
SEVERITY_LINE = "**Severity:**"
SEVERITIES = ("critical", "warning", "info")
# The Grafana folder the runbook dashboards are provisioned in.
GRAFANA_FOLDER = "Runbooks"
# Grafana refuses a dashboard uid longer than this (pkg/util/shortid_generator.go).
GRAFANA_UID_MAX = 40
_UID_DIGEST = 8
# A base URL whose path ends here is this repository's runbook folder on a
# git host (GitHub, GitLab, Gitea, Bitbucket): each runbook is `<name>.md`.
REPOSITORY_FOLDER = "/docs/runbooks"

_FENCE = re.compile(r"^\s*```")
_QUERY = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[A-Za-z]*)[ \t]*\n(?P<body>.*?)\n[ \t]*```[ \t]*$", re.M | re.S)
_CHECK = re.compile(r"^(\d+)\.\s+(.*)$")


@dataclass(frozen=True)
class Runbook:
    """One parsed runbook. `sections` maps each `## ` heading to its text, in
    the file's order (headings inside code blocks are text); `first_checks`
    holds the text of each numbered item of `## First checks`, code included.
    Parsing never fails: runbook_problems says what is missing."""

    name: str  # the alert name: the file's stem
    path: Path
    text: str
    title: str  # the `# ` heading, without the `# `
    summary_lines: tuple[str, ...]  # non-empty lines between the title and the first section
    sections: Mapping[str, str] = field(default_factory=dict)
    first_checks: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The one-line summary ('' when there is none)."""
        return self.summary_lines[0] if self.summary_lines else ""

    def queries(self, text: Optional[str] = None) -> list[tuple[str, str]]:
        """(language, query) of every ```promql / ```logql block in `text`
        (the whole runbook by default), dedented and stripped."""
        found = []
        for match in _QUERY.finditer(self.text if text is None else text):
            if match["lang"] in QUERY_LANGUAGES:
                indent = len(match["indent"])
                body = "\n".join(line[indent:] if line[:indent].isspace() else line.lstrip() for line in match["body"].split("\n"))
                found.append((match["lang"], body.strip()))
        return found

    @property
    def severities(self) -> frozenset[str]:
        """The severities the Meaning section's `**Severity:**` paragraph names
        (the paragraph that starts with it, up to the next blank line)."""
        for paragraph in re.split(r"\n[ \t]*\n", self.sections.get("Meaning", "")):
            if paragraph.strip().startswith(SEVERITY_LINE):
                words = set(re.findall(r"[a-z]+", paragraph.split(SEVERITY_LINE, 1)[1]))
                return frozenset(s for s in SEVERITIES if s in words)
        return frozenset()

    def boards_named(self, boards: Mapping[str, str], text: Optional[str] = None) -> list[str]:
        """The uids of `boards` (uid -> title) that `text` (the whole runbook
        by default) names by title or by uid, in `boards`' order."""
        text = self.text if text is None else text
        return [uid for uid, title in boards.items() if title in text or re.search(rf"(?<![\w-]){re.escape(uid)}(?![\w-])", text)]


def _outside_code(lines: list[str]) -> list[bool]:
    """For each line: True when it is not inside (or a fence of) a code block."""
    flags, inside = [], False
    for line in lines:
        if _FENCE.match(line):
            flags.append(False)
            inside = not inside
        else:
            flags.append(not inside)
    return flags


def parse_runbook(path: Path, text: Optional[str] = None) -> Runbook:
    """The runbook at `path` (its name is the file's stem), parsed from
    `text` or the file. Never raises on content (I/O errors do raise)."""
    text = path.read_text() if text is None else text
    lines = text.splitlines()
    outside = _outside_code(lines)
    title, summary, heading = "", [], None
    sections: dict[str, list[str]] = {}
    for line, prose in zip(lines, outside):
        if prose and line.startswith("# ") and not title and heading is None:
            title = line[2:].strip()
        elif prose and line.startswith("## "):
            heading = line[3:].strip()
            sections.setdefault(heading, [])
        elif heading is None:
            if title and line.strip():
                summary.append(line.strip())
        else:
            sections[heading].append(line)
    checks: list[list[str]] = []
    check_lines = sections.get("First checks", [])
    for line, prose in zip(check_lines, _outside_code(check_lines)):
        item = _CHECK.match(line) if prose else None
        if item:
            checks.append([line])
        elif checks:
            checks[-1].append(line)
    return Runbook(
        name=path.stem,
        path=path,
        text=text,
        title=title,
        summary_lines=tuple(summary),
        sections={name: "\n".join(body).strip() for name, body in sections.items()},
        first_checks=tuple("\n".join(check).strip() for check in checks),
    )


def load_runbooks(folder: Path = RUNBOOKS_DIR) -> dict[str, Runbook]:
    """Alert name -> its parsed runbook, for every `*.md` in `folder` (sorted
    by name; each Runbook keeps its path). A missing folder gives {}."""
    if not folder.is_dir():
        return {}
    return {path.stem: parse_runbook(path) for path in sorted(folder.glob("*.md"))}


def runbook_problems(runbook: Runbook, boards: Optional[Mapping[str, str]] = None) -> list[str]:
    """What keeps `runbook` from being complete, in words; [] when it is.

    Complete: the title is the alert's name, one summary line, the SECTIONS
    in that order with nothing in them empty and no other section, a
    `**Severity:**` line in Meaning, exactly FIRST_CHECKS numbered first
    checks, each with a PromQL or LogQL query block and, when `boards`
    (uid -> title) is given, naming one of those boards by title or uid."""
    problems = []
    if runbook.title != runbook.name:
        problems.append(f"the title is {runbook.title!r}, expected '# {runbook.name}'")
    if len(runbook.summary_lines) != 1:
        problems.append(f"expected a one-line summary under the title, found {len(runbook.summary_lines)} lines")
    found = list(runbook.sections)
    missing = [s for s in SECTIONS if s not in found]
    if missing:
        problems.append(f"missing sections: {', '.join(missing)}")
    unknown = [s for s in found if s not in SECTIONS]
    if unknown:
        problems.append(f"unknown sections: {', '.join(unknown)} (expected {', '.join(SECTIONS)})")
    present = [s for s in found if s in SECTIONS]
    if present != [s for s in SECTIONS if s in present]:
        problems.append(f"sections out of order: {', '.join(present)} (expected {', '.join(SECTIONS)})")
    problems += [f"section '{s}' is empty" for s in SECTIONS if s in runbook.sections and not runbook.sections[s]]
    if "Meaning" in runbook.sections and not runbook.severities:
        problems.append(f"Meaning has no '{SEVERITY_LINE} <critical|warning|info>' line")
    if "First checks" in runbook.sections:
        numbers = [int(check.split(".", 1)[0]) for check in runbook.first_checks]
        if numbers != list(range(1, FIRST_CHECKS + 1)):
            problems.append(f"expected first checks numbered 1 to {FIRST_CHECKS}, found {numbers or 'none'}")
        for number, check in zip(numbers, runbook.first_checks):
            if not runbook.queries(check):
                problems.append(f"first check {number} has no ```promql or ```logql query")
            if boards is not None and not runbook.boards_named(boards, check):
                problems.append(f"first check {number} names no Grafana board (by title or uid)")
    return problems


def incomplete_runbooks(
    alert_names: Iterable[str],
    runbooks: Optional[Mapping[str, Runbook]] = None,
    boards: Optional[Mapping[str, str]] = None,
) -> dict[str, list[str]]:
    """Alert name -> why its runbook is not complete ('no runbook ...' when
    there is none), for each of `alert_names` whose runbook is missing or
    incomplete, sorted by name; {} when every one is complete. `runbooks`
    defaults to load_runbooks(); `boards` (uid -> title) as in runbook_problems."""
    runbooks = load_runbooks() if runbooks is None else runbooks
    result = {}
    for name in sorted(set(alert_names)):
        runbook = runbooks.get(name)
        if runbook is None:
            problems = [f"no runbook: write docs/runbooks/{name}.md"]
        else:
            problems = runbook_problems(runbook, boards)
        if problems:
            result[name] = problems
    return result


def stale_runbooks(alert_names: Iterable[str], runbooks: Optional[Mapping[str, Runbook]] = None) -> list[str]:
    """Sorted names of runbooks for alerts not in `alert_names` (deleted or
    renamed alerts); `runbooks` defaults to load_runbooks()."""
    runbooks = load_runbooks() if runbooks is None else runbooks
    return sorted(set(runbooks) - set(alert_names))


def runbook_uid(alert_name: str) -> str:
    """The Grafana dashboard uid of an alert's runbook: the alert name itself
    (letters and digits, which Grafana's uids allow) when it has at most
    GRAFANA_UID_MAX characters; else its first 31 characters, '-' and the
    first 8 hex digits of its SHA-256, so two long names never share one."""
    if len(alert_name) <= GRAFANA_UID_MAX:
        return alert_name
    digest = hashlib.sha256(alert_name.encode()).hexdigest()[:_UID_DIGEST]
    return f"{alert_name[:GRAFANA_UID_MAX - _UID_DIGEST - 1]}-{digest}"


def served_by_grafana(settings: Settings) -> bool:
    """Whether the stack's Grafana serves the runbooks (`alerting.runbookBaseUrl` unset)."""
    return settings.alerting.runbook_base_url is None


def runbook_url(settings: Settings, alert_name: str) -> str:
    """The `runbook_url` annotation of `alert_name`'s rules:
    `<Grafana's public URL>/d/<runbook_uid>` when the stack's Grafana serves
    the runbooks, else `<alerting.runbookBaseUrl>/<alert_name>` (a trailing
    '/' of the base dropped), with `.md` added when the base's path ends in
    REPOSITORY_FOLDER."""
    base = settings.alerting.runbook_base_url
    if base is None:
        return f"{topology.public_url(settings, 'grafana')}/d/{runbook_uid(alert_name)}"
    base = base.rstrip("/")
    suffix = ".md" if base.endswith(REPOSITORY_FOLDER) else ""
    return f"{base}/{alert_name}{suffix}"
