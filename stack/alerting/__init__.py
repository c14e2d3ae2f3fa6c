"""Prometheus recording and alert rules, generated from settings and the
telemetry contract (mixin style: one config object supplies every selector,
threshold and objective). `rule_files` is what Prometheus loads."""

from __future__ import annotations

from pathlib import Path

# Names Alertmanager's routes and inhibitions use (stack/components/alertmanager.py).
from stack.alert_names import COMPONENT_DOWN, INSTANCE_DOWN, PROVIDER_DOWN, SERVICE_ABSENT, SERVICE_DOWN, SERVICE_INSTANCE_DOWN, WATCHDOG  # noqa: F401
from stack.alerting.gateway import PROVIDER_SYMPTOMS, gateway_alert_groups  # noqa: F401
from stack.alerting.kubernetes import kubernetes_alert_groups
from stack.alerting.loki_rules import loki_rule_groups
from stack.alerting.recording import recording_groups
from stack.alerting.rule import with_pending_periods
from stack.alerting.slo import slo_groups
from stack.alerting.stack_health import DOWN_SEVERITY, stack_alert_groups  # noqa: F401
from stack.generated_yaml import render_yaml
from stack.settings import Settings, parse_settings

# Committed copies of the rules for the production defaults live here, so a
# rule change shows up as a reviewable diff and promtool's unit tests in
# alerts/tests run on them directly. `python -m stack rules` rewrites them.
REFERENCE_DIR = Path(__file__).resolve().parents[2] / "alerts" / "prometheus"
LOKI_REFERENCE_DIR = REFERENCE_DIR.parent / "loki"
REFERENCE_ENVIRONMENT = "prod"


# A service or component that is down: its other alerts are noise until it is back.
DOWN_ALERTS = (
    SERVICE_DOWN,
    SERVICE_INSTANCE_DOWN,
    SERVICE_ABSENT,
    *(COMPONENT_DOWN[c] for c in DOWN_SEVERITY),
    *INSTANCE_DOWN.values(),
)


def rule_groups(settings: Settings) -> dict[str, list[dict]]:
    """Prometheus rule file name -> its rule groups, with the pending periods of
    alerting.forDurations (the Loki ruler's are in loki_rule_groups)."""
    return {
        name: with_pending_periods(settings, groups)
        for name, groups in {
            "gateway-recording.yml": recording_groups(settings),
            "gateway-alerts.yml": gateway_alert_groups(settings),
            "gateway-slo.yml": slo_groups(settings),
            "stack-alerts.yml": stack_alert_groups(settings),
            "kubernetes-alerts.yml": kubernetes_alert_groups(settings),
        }.items()
        if groups  # kubernetes-alerts.yml only on Kubernetes
    }


def rule_files(settings: Settings) -> dict[str, str]:
    return {name: render_yaml({"groups": groups}, "stack/alerting") for name, groups in rule_groups(settings).items()}


def loki_rule_files(settings: Settings) -> dict[str, str]:
    return {"gateway-logs.yml": render_yaml({"groups": loki_rule_groups(settings)}, "stack/alerting")}


def reference_settings() -> Settings:
    return parse_settings({"target": "docker"}, REFERENCE_ENVIRONMENT, "the reference settings")


def kubernetes_reference_settings() -> Settings:
    return parse_settings({"target": "kubernetes"}, REFERENCE_ENVIRONMENT, "the Kubernetes reference settings")


def reference_rule_files() -> dict[str, str]:
    """The committed reference rules: every file of the Docker reference,
    and the files only Kubernetes has (the cluster alerts) from the
    Kubernetes reference."""
    files = rule_files(reference_settings())
    return files | {name: text for name, text in rule_files(kubernetes_reference_settings()).items() if name not in files}


def write_reference_rules() -> list[Path]:
    written = []
    for folder, files in (
        (REFERENCE_DIR, reference_rule_files()),
        (LOKI_REFERENCE_DIR, loki_rule_files(reference_settings())),
    ):
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
            written.append(folder / name)
    return written
