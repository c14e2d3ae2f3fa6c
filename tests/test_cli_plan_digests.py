"""`plan` shows a change: per container, a digest of the files, environment
and command it gets and of every other input `pulumi up` would diff (limits,
health check, mounts ...), so a settings change that only moves rendered files
or a limit still changes `make plan`'s output, and shows which containers it
touches. Secrets stay secret."""

from __future__ import annotations

import contextlib
import io

import yaml

from stack.__main__ import main
from stack.plan import SHOWN_ELSEWHERE, PlannedResource, container_digests, plan_stack

BASE = {
    "gateway-observability:target": "docker",
    "gateway-observability:alerting": {
        "routing": {
            "receivers": [{"name": "gateway-slack", "slack": {"channel": "#ai-gateway-alerts"}}],
            "warning": ["gateway-slack"],
        }
    },
    "gateway-observability:receiverSecrets": {"gateway-slack": {"secure": "v1:CIPHERTEXT-OF-THE-SLACK-URL"}},
}
DEFAULT_SERVICES = [
    {"name": "kong", "address": "kong:8100"},
    {"name": "unified-llm-api", "address": "unified-llm-api:8000"},
    {"name": "intelligent-router", "address": "intelligent-router:8001"},
    {"name": "optimization-service", "address": "optimization-service:8002"},
]


def plan(tmp_path, config: dict) -> str:
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["plan", str(path)]) == 0
    return out.getvalue()


def digests(plan_output: str) -> dict[str, tuple[str, ...]]:
    """Container name -> (files, env, command, other) cells of the plan's digest table."""
    lines = plan_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["CONTAINER"])
    assert lines[start].split() == ["CONTAINER", "FILES", "ENV", "COMMAND", "OTHER"]
    table = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        name, cells = line.split(None, 1)
        table[name] = tuple(cell.strip() for cell in cells.split("  ") if cell.strip())
    return table


def changed(before: str, after: str) -> set[str]:
    old, new = digests(before), digests(after)
    assert set(old) == set(new)
    return {name for name in old if old[name] != new[name]}


def test_every_container_has_a_files_env_command_and_other_digest(tmp_path):
    table = digests(plan(tmp_path, BASE))
    assert set(table) == {"obs-prometheus", "obs-alertmanager", "obs-loki", "obs-promtail", "obs-jaeger", "obs-grafana"}
    for name, cells in table.items():
        assert len(cells) == 4, (name, cells)
        assert cells[3].split()[1] == "inputs", cells
        files = cells[0].split()
        assert files[1] in ("file", "files") and len(files[2].rstrip("*")) == 12, cells
    assert table["obs-grafana"][1].split()[1] == "vars"  # Grafana is configured by environment


def test_adding_a_receiver_changes_only_alertmanagers_digest(tmp_path):
    before = plan(tmp_path, BASE)
    routing = BASE["gateway-observability:alerting"]["routing"]
    with_pager = {
        **BASE,
        "gateway-observability:alerting": {"routing": {
            **routing,
            "receivers": [*routing["receivers"], {"name": "oncall-pager", "pagerduty": {}}],
            "critical": ["oncall-pager"],
        }},
        "gateway-observability:receiverSecrets": {
            **BASE["gateway-observability:receiverSecrets"],
            "oncall-pager": {"secure": "v1:CIPHERTEXT-OF-THE-ROUTING-KEY"},
        },
    }
    after = plan(tmp_path, with_pager)
    assert changed(before, after) == {"obs-alertmanager"}
    # The new receiver's credential is one more file; its files digest covers a secret.
    old_files, new_files = digests(before)["obs-alertmanager"][0], digests(after)["obs-alertmanager"][0]
    assert int(new_files.split()[0]) == int(old_files.split()[0]) + 1
    assert new_files.endswith("*")


def test_adding_a_gateway_service_changes_prometheus_and_promtail_digests(tmp_path):
    before = plan(tmp_path, {**BASE, "gateway-observability:gatewayServices": DEFAULT_SERVICES})
    after = plan(tmp_path, {**BASE, "gateway-observability:gatewayServices": [
        *DEFAULT_SERVICES, {"name": "embeddings-api", "address": "embeddings-api:8003"},
    ]})
    touched = changed(before, after)
    assert {"obs-prometheus", "obs-promtail"} <= touched
    assert "obs-alertmanager" not in touched and "obs-jaeger" not in touched
    # The resource table alone is identical: only the digests show the change.
    assert before.split("\n\n")[0] == after.split("\n\n")[0]


def test_a_retention_change_shows_in_the_command_digest_of_that_container_only(tmp_path):
    before = plan(tmp_path, BASE)
    after = plan(tmp_path, {**BASE, "gateway-observability:retention": {"metrics": "30d"}})
    # The SLO window is the retention when shorter than 30 days: Prometheus' SLO
    # window rules and Grafana's boards (SLO window, storage panel) state it.
    # Prometheus: its rule files and its command (--storage.tsdb.retention.time); Grafana: its files only.
    assert changed(before, after) == {"obs-prometheus", "obs-grafana"}
    old, new = digests(before)["obs-prometheus"], digests(after)["obs-prometheus"]
    assert (old[0] != new[0], old[1] == new[1], old[2] != new[2], old[3] == new[3]) == (True, True, True, True)
    assert digests(before)["obs-grafana"][1:] == digests(after)["obs-grafana"][1:]


def test_the_plan_shows_no_secret_value_or_ciphertext(tmp_path):
    output = plan(tmp_path, BASE)
    assert "CIPHERTEXT" not in output
    assert "mock-generated-password" not in output
    assert "<secret" not in output
    assert "* includes secrets, digested as their placeholders" in output


def test_the_same_settings_give_the_same_plan(tmp_path):
    assert plan(tmp_path, BASE) == plan(tmp_path, BASE)


# --- Every input `pulumi up` would diff, not only files, environment and command ------


def test_a_resources_change_shows_in_that_containers_other_digest_only(tmp_path):
    before = plan(tmp_path, BASE)
    after = plan(tmp_path, {**BASE, "gateway-observability:resources": {"loki": {"memory": "4Gi", "cpus": 2}}})
    assert changed(before, after) == {"obs-loki"}
    old, new = digests(before)["obs-loki"], digests(after)["obs-loki"]
    assert old[:3] == new[:3] and old[3] != new[3]


def test_a_health_check_change_shows_in_that_containers_digest_only(tmp_path, monkeypatch):
    # No setting moves a health check: a new release of the stack does.
    before = plan(tmp_path, BASE)
    monkeypatch.setattr("stack.components.promtail._READY_OVER_DEV_TCP", "exec 3<>/dev/tcp/127.0.0.1/{port}")
    after = plan(tmp_path, BASE)
    assert changed(before, after) == {"obs-promtail"}
    assert digests(before)["obs-promtail"][:3] == digests(after)["obs-promtail"][:3]


def test_a_storage_change_that_drops_a_volume_shows_in_jaegers_digest_only(tmp_path):
    before = plan(tmp_path, BASE)
    elasticsearch = {"storage": "elasticsearch", "elasticsearch": {"serverUrls": ["https://elasticsearch:9200"]}}
    after = plan(tmp_path, {**BASE, "gateway-observability:traces": elasticsearch})
    assert changed(before, after) == {"obs-jaeger"}
    # Badger's data volume is gone: the mounts are in the OTHER digest.
    assert digests(before)["obs-jaeger"][3] != digests(after)["obs-jaeger"][3]


def _changed_rows(resources: list[PlannedResource], index: int, key: str, value) -> set[str]:
    old = container_digests(resources)
    container = resources[index]
    edited = PlannedResource(container.type, container.name, {**container.inputs, key: value})
    new = container_digests([*resources[:index], edited, *resources[index + 1 :]])
    return {name for name in old if old[name] != new[name]}


def test_every_container_input_but_its_name_and_image_is_digested(tmp_path):
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(yaml.safe_dump({"config": BASE}))
    resources = plan_stack(path)
    containers = [i for i, r in enumerate(resources) if r.type == "docker:index/container:Container"]
    seen = set()
    for index in containers:
        name = resources[index].inputs["name"]
        for key, value in resources[index].inputs.items():
            if key in SHOWN_ELSEWHERE:
                continue
            seen.add(key)
            assert _changed_rows(resources, index, key, [value, "changed"]) == {name}, (name, key)
    # What the brief of the digests names, among them: a fault here would leave one out.
    assert {"memory", "cpus", "healthcheck", "user", "mounts", "restart", "networksAdvanced", "ports", "labels"} <= seen
    # The image id is shown as the image row's tag instead; changing it alone changes no digest.
    assert _changed_rows(resources, containers[0], "image", "sha256:other") == set()


def test_the_plan_says_what_the_other_digest_covers(tmp_path):
    output = plan(tmp_path, BASE)
    covered = next(line for line in output.splitlines() if line.startswith("OTHER covers "))
    for key in ("cpus", "healthcheck", "memory", "mounts", "ports", "restart", "user"):
        assert key in covered
    assert "image" not in covered and " name" not in covered
