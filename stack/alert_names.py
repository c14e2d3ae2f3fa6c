"""The name of every alert the stack generates, once.

The rule generators (stack/alerting) write these names; the settings
(`alerting.forDurations`) check the names an operator gives against them;
Alertmanager's routes and inhibitions refer to them. This module imports
nothing of the stack, so stack.settings can import it without a cycle.

Names follow the monitoring mixins: CamelCase, component first, upstream
names where they exist (PrometheusRuleFailures, AlertmanagerFailedToSendAlerts,
LokiRequestErrors, PromtailRequestsErrors). `ALERT_NAMES` equals the set of
alerts the generators produce (tests/test_settings_for_durations.py checks it
for the reference settings and for settings with every optional part on).
"""

from __future__ import annotations

# --- the gateway (stack/alerting/gateway.py) ----------------------------------
# The service as a whole: no instance answers (critical); one instance of
# several (warning: the others still serve).
SERVICE_DOWN = "GatewayServiceDown"
SERVICE_INSTANCE_DOWN = "GatewayServiceInstanceDown"
SERVICE_ABSENT = "GatewayServiceAbsent"
# Only generated when a gateway service named kong is configured.
KONG_HIGH_SERVER_ERROR_RATE = "KongHighServerErrorRate"
SERVICE_HIGH_LATENCY = "GatewayServiceHighLatency"
PROVIDER_HIGH_LATENCY = "GatewayProviderHighLatency"
TIME_TO_FIRST_TOKEN_HIGH = "GatewayTimeToFirstTokenHigh"
PROVIDER_HIGH_ERROR_RATE = "GatewayProviderHighErrorRate"
PROVIDER_DOWN = "GatewayProviderDown"
ROUTER_FALLBACK_STORM = "GatewayRouterFallbackStorm"
LLM_SPEND_OVER_BUDGET = "GatewayLLMSpendOverBudget"
TOKEN_USAGE_SPIKE = "GatewayTokenUsageSpike"

# --- SLO burn rates (stack/alerting/slo.py): SLI -> alert name ---------------
# Each name is used by four rules (one per burn-rate window) per service.
ERROR_BUDGET_BURN = {
    "availability": "GatewayAvailabilityErrorBudgetBurn",
    "latency": "GatewayLatencyErrorBudgetBurn",
}

# --- the stack itself (stack/alerting/stack_health.py) -----------------------
# Always fires: the dead man's switch.
WATCHDOG = "Watchdog"
PROMETHEUS_RULE_FAILURES = "PrometheusRuleFailures"
PROMETHEUS_BAD_CONFIG = "PrometheusBadConfig"
ALERTMANAGER_FAILED_TO_SEND_ALERTS = "AlertmanagerFailedToSendAlerts"
LOKI_REQUEST_ERRORS = "LokiRequestErrors"
PROMTAIL_REQUESTS_ERRORS = "PromtailRequestsErrors"
PROMTAIL_DROPPING_ENTRIES = "PromtailDroppingEntries"
PROMTAIL_FALLING_BEHIND = "PromtailFallingBehind"
JAEGER_EXPORTER_SEND_FAILURES = "JaegerExporterSendFailures"
# Component -> its `<Component>Down` alert. Prometheus has none: it cannot
# report its own absence (the Watchdog stopping is that signal).
COMPONENT_DOWN = {
    "alertmanager": "AlertmanagerDown",
    "loki": "LokiDown",
    "promtail": "PromtailDown",
    "jaeger": "JaegerDown",
    "grafana": "GrafanaDown",
}

# --- the cluster (stack/alerting/kubernetes.py; Kubernetes only) ------------
# The kubernetes-mixin's names (alerts/apps_alerts.libsonnet, resource_alerts,
# storage_alerts at version-1.5.6); the mixin has no OOM alert, so that one is ours.
KUBE_POD_CRASH_LOOPING = "KubePodCrashLooping"
KUBE_CONTAINER_OOM_KILLED = "KubeContainerOOMKilled"
CPU_THROTTLING_HIGH = "CPUThrottlingHigh"
KUBE_PERSISTENT_VOLUME_FILLING_UP = "KubePersistentVolumeFillingUp"
KUBE_STATEFULSET_REPLICAS_MISMATCH = "KubeStatefulSetReplicasMismatch"
KUBE_DEPLOYMENT_REPLICAS_MISMATCH = "KubeDeploymentReplicasMismatch"
KUBE_DAEMONSET_NOT_SCHEDULED = "KubeDaemonSetNotScheduled"
KUBERNETES_ALERT_NAMES: frozenset[str] = frozenset(
    {
        KUBE_POD_CRASH_LOOPING,
        KUBE_CONTAINER_OOM_KILLED,
        CPU_THROTTLING_HIGH,
        KUBE_PERSISTENT_VOLUME_FILLING_UP,
        KUBE_STATEFULSET_REPLICAS_MISMATCH,
        KUBE_DEPLOYMENT_REPLICAS_MISMATCH,
        KUBE_DAEMONSET_NOT_SCHEDULED,
    }
)

# --- LogQL alerts the Loki ruler runs (stack/alerting/loki_rules.py) ---------
ERROR_LOG_RATE_HIGH = "GatewayErrorLogRateHigh"
REPEATED_PROVIDER_ERRORS = "GatewayRepeatedProviderErrors"
SECRET_LEAKED_TO_LOGS = "GatewaySecretLeakedToLogs"

PROMETHEUS_ALERT_NAMES: frozenset[str] = frozenset(
    {
        SERVICE_DOWN,
        SERVICE_INSTANCE_DOWN,
        SERVICE_ABSENT,
        KONG_HIGH_SERVER_ERROR_RATE,
        SERVICE_HIGH_LATENCY,
        PROVIDER_HIGH_LATENCY,
        TIME_TO_FIRST_TOKEN_HIGH,
        PROVIDER_HIGH_ERROR_RATE,
        PROVIDER_DOWN,
        ROUTER_FALLBACK_STORM,
        LLM_SPEND_OVER_BUDGET,
        TOKEN_USAGE_SPIKE,
        *ERROR_BUDGET_BURN.values(),
        WATCHDOG,
        PROMETHEUS_RULE_FAILURES,
        PROMETHEUS_BAD_CONFIG,
        ALERTMANAGER_FAILED_TO_SEND_ALERTS,
        LOKI_REQUEST_ERRORS,
        PROMTAIL_REQUESTS_ERRORS,
        PROMTAIL_DROPPING_ENTRIES,
        PROMTAIL_FALLING_BEHIND,
        JAEGER_EXPORTER_SEND_FAILURES,
        *COMPONENT_DOWN.values(),
        *KUBERNETES_ALERT_NAMES,
    }
)
LOKI_ALERT_NAMES: frozenset[str] = frozenset({ERROR_LOG_RATE_HIGH, REPEATED_PROVIDER_ERRORS, SECRET_LEAKED_TO_LOGS})

# Every alert name, sorted: what error messages list.
ALERT_NAMES: tuple[str, ...] = tuple(sorted(PROMETHEUS_ALERT_NAMES | LOKI_ALERT_NAMES))
