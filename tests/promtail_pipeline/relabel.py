"""Prometheus relabelling as Promtail 3.6.15's Docker target applies it.

Sources: github.com/prometheus/prometheus model/relabel/relabel.go (Process,
at the version grafana/loki v3.6.15's go.mod requires): regexes anchored as
^(?s:...)$, a missing source label is "", `replace` expands $1/${name} in the
target and the replacement and removes the target when the result is empty,
with a fast path for the default regex. grafana/loki at v3.6.15,
clients/pkg/promtail/targets/docker/target.go (handleOutput): the discovered
labels plus __meta_docker_container_log_stream ("stdout"/"stderr") are
relabelled per line, then every label starting with "__" is removed.
"""

from __future__ import annotations

from typing import Optional

import re2

from .errors import NotTaught
from .go import go_expand


def _relabel_regex(pattern: str):
    return re2.compile(f"^(?s:{pattern})$")


def relabel(configs: list[dict], labels: dict[str, str]) -> Optional[dict[str, str]]:
    """model/relabel.Process for the actions this stack uses (replace, keep,
    drop); None when the target is dropped. Raises NotTaught for any
    other action or option."""
    labels = dict(labels)
    for config in configs:
        unknown = set(config) - {"source_labels", "separator", "regex", "target_label", "replacement", "action"}
        if unknown:
            raise NotTaught(f"relabel option(s) {sorted(unknown)}", __name__)
        action = config.get("action", "replace")
        regex_text = config.get("regex", "(.*)")
        regex = _relabel_regex(regex_text)
        value = config.get("separator", ";").join(labels.get(name, "") for name in config.get("source_labels", []))
        if action == "keep":
            if not regex.search(value):
                return None
        elif action == "drop":
            if regex.search(value):
                return None
        elif action == "replace":
            target, replacement = config["target_label"], config.get("replacement", "$1")
            if value == "" and regex_text == "(.*)" and "$" not in target and "$" not in replacement:
                labels[target] = replacement  # relabel.go's fast path
                continue
            match = regex.search(value)
            if match is None:
                continue
            target = go_expand(target, regex, value, match)
            if not target:
                continue
            result = go_expand(replacement, regex, value, match)
            if result:
                labels[target] = result
            else:
                labels.pop(target, None)
        else:
            raise NotTaught(f"relabel action {action!r}", __name__)
    return labels


def docker_entry_labels(relabel_configs: list[dict], discovered: dict[str, str], log_stream: str) -> Optional[dict[str, str]]:
    """The labels a line from one Docker container stream enters the pipeline
    with (targets/docker/target.go handleOutput); None when relabelling drops it."""
    labels = relabel(relabel_configs, {**discovered, "__meta_docker_container_log_stream": log_stream})
    if labels is None:
        return None
    return {k: v for k, v in labels.items() if not k.startswith("__")}
