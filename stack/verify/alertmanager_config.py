"""Is Alertmanager running the configuration this repository renders?

Alertmanager does not serve the file it read: `/api/v2/status` holds
`config.original`, its parsed configuration marshalled back to YAML
(`Config.String()`, config/config.go). Compared with the rendered file that
text differs in ways that carry no meaning, found by running Debian's 0.25 and
reading v0.34's source:
- defaults are filled in: the whole `global` block, `continue: false` on every
  route, `http_config.follow_redirects/enable_http2`, `max_alerts: 0`, and in
  0.34 the webhook's `url_file: ""` and `timeout: 0`;
- secrets print as `<secret>` (0.26+ treats the webhook `url` as a secret URL);
- keys are reordered and matchers requoted (`strconv.Quote`);
- durations print in Go's largest units (`1h` for `60m`);
- relative paths (templates, credential files) are resolved against the folder
  of the configuration file (0.34's resolveFilepaths; 0.25 leaves templates relative).

So the rendered file must be contained in the running configuration, compared
with those normalisations; anything extra in the running one is a default it
filled in, except routing structure (routes, matchers, receivers, inhibitions,
time intervals, templates, `continue`), which must not appear there unless
it is empty.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from stack.settings import Duration

SECRET = "<secret>"  # what Alertmanager prints for a secret it holds
# Routing structure: present in the running config only if the rendered one has it.
STRUCTURAL = frozenset(
    {
        "routes", "matchers", "match", "match_re", "receiver", "continue", "group_by",
        "mute_time_intervals", "active_time_intervals", "inhibit_rules", "source_matchers",
        "target_matchers", "source_match", "source_match_re", "target_match", "target_match_re",
        "equal", "receivers", "time_intervals", "templates",
    }
)
MATCHER_KEYS = frozenset({"matchers", "source_matchers", "target_matchers"})
DURATION_KEYS = frozenset({"group_wait", "group_interval", "repeat_interval", "resolve_timeout"})
_MATCHER_RE = re.compile(r'\s*("(?:[^"\\]|\\.)*"|[^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*')


def _structural(key: str) -> bool:
    return key in STRUCTURAL or key.endswith("_configs")


def _empty(value: Any) -> bool:
    return value in (None, False, "", 0) or value == [] or value == {}


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            return json.loads(text)
        except ValueError:
            return text[1:-1]
    return text


def parse_matcher(text: str) -> tuple[str, str, str] | str:
    """'severity=~"warning|info"' -> ('severity', '=~', 'warning|info'); text it cannot read stays as is."""
    match = _MATCHER_RE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return text
    name, op, value = match.groups()
    return _unquote(name), op, _unquote(value)


def _same_path(rendered: str, running: str, config_dir: str) -> bool:
    """A rendered path (absolute under config_dir, or relative to it) and the
    path Alertmanager shows, which may be resolved against another folder."""
    relative = posixpath.relpath(rendered, config_dir) if rendered.startswith(config_dir + "/") else rendered
    if posixpath.isabs(relative):
        return running == rendered
    return running in (rendered, relative) or running.endswith("/" + relative)


def _leaf_equal(key: str, rendered: Any, running: Any, config_dir: str) -> bool:
    if rendered == running:
        return True
    if running == SECRET and isinstance(rendered, str) and rendered:
        return True
    if isinstance(rendered, str) and isinstance(running, str):
        if key in MATCHER_KEYS:
            return parse_matcher(rendered) == parse_matcher(running)
        if key in DURATION_KEYS:
            try:
                return Duration.parse(rendered) == Duration.parse(running)
            except ValueError:
                return False
        if key == "templates" or key.endswith("_file"):
            return _same_path(rendered, running, config_dir)
    return False


def differences(rendered: Any, running: Any, config_dir: str, path: str = "", key: str = "") -> list[str]:
    """Where the running configuration departs from the rendered one, as
    'path: rendered X, running Y' lines (empty: the same configuration).

    `config_dir` is where the rendered file lives in the container
    (/etc/alertmanager), so its absolute paths compare with resolved ones."""
    where = path or "(top level)"
    if isinstance(rendered, dict):
        if not isinstance(running, dict):
            return [f"{where}: rendered a mapping, running has {running!r}"]
        found = []
        for name, value in rendered.items():
            child = f"{path}.{name}" if path else str(name)
            if name not in running:
                if not _empty(value):
                    found.append(f"{child}: rendered {_show(value)}, missing from the running config")
                continue
            found += differences(value, running[name], config_dir, child, str(name))
        for name, value in running.items():
            if name not in rendered and _structural(str(name)) and not _empty(value):
                child = f"{path}.{name}" if path else str(name)
                found.append(f"{child}: not rendered, running has {_show(value)}")
        return found
    if isinstance(rendered, list):
        if not isinstance(running, list):
            return [f"{where}: rendered a list, running has {_show(running)}"]
        if len(rendered) != len(running):
            return [f"{where}: rendered {len(rendered)} entries, running has {len(running)}"]
        found = []
        for i, (a, b) in enumerate(zip(rendered, running)):
            found += differences(a, b, config_dir, f"{path}[{i}]", key)
        return found
    if _leaf_equal(key, rendered, running, config_dir):
        return []
    return [f"{where}: rendered {_show(rendered)}, running {_show(running)}"]


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"
