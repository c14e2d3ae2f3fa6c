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
KONG_UPSTREAM_TARGET_UNHEALTHY = "KongUpstreamTargetUnhealthy"
SERVICE_HIGH_LATENCY = "GatewayServiceHighLatency"
PROVIDER_HIGH_LATENCY = "GatewayProviderHighLatency"
TIME_TO_FIRST_TOKEN_HIGH = "GatewayTimeToFirstTokenHigh"
TIME_TO_FIRST_TOKEN_REGRESSION = "GatewayTimeToFirstTokenRegression"
PROVIDER_HIGH_ERROR_RATE = "GatewayProviderHighErrorRate"
PROVIDER_RATE_LIMITED = "GatewayProviderRateLimited"
# A provider failing every call while others serve: a cause (failover
# absorbs it), so a warning; what users feel pages through the SLO burn.
PROVIDER_DOWN = "GatewayProviderDown"
ROUTER_FALLBACK_STORM = "GatewayRouterFallbackStorm"
FALLBACK_CHAINS_FAILING = "GatewayFallbackChainsFailing"
# Traffic arrives but the router decides nothing: a total failure, paged.
ROUTER_STALLED = "GatewayRouterStalled"
CACHE_HIT_RATIO_COLLAPSE = "GatewayCacheHitRatioCollapse"
LLM_SPEND_OVER_BUDGET = "GatewayLLMSpendOverBudget"
LLM_SPEND_PROJECTED_OVER_BUDGET = "GatewayLLMSpendProjectedOverBudget"
TOKEN_USAGE_SPIKE = "GatewayTokenUsageSpike"

# --- SLO burn rates (stack/alerting/slo.py): SLI -> alert name ---------------
# Each name is used by four rules (one per burn-rate window) per service
# that has the SLI (stack/slis.py).
ERROR_BUDGET_BURN = {
    "availability": "GatewayAvailabilityErrorBudgetBurn",
    "latency": "GatewayLatencyErrorBudgetBurn",
    "time_to_first_token": "GatewayTimeToFirstTokenErrorBudgetBurn",
    "time_per_output_token": "GatewayTimePerOutputTokenErrorBudgetBurn",
}
# A series an SLO reads is gone while its service serves: the SLO is blind.
SLI_ABSENT = "GatewaySLIAbsent"
# Another series the gateway's alerts read is gone while the work that makes
# it goes on: those alerts are blind (stack/alerting/gateway.py WATCHED_METRICS).
METRIC_ABSENT = "GatewayMetricAbsent"

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
# The prometheus and alertmanager mixins' names.
PROMETHEUS_NOT_CONNECTED_TO_ALERTMANAGERS = "PrometheusNotConnectedToAlertmanagers"
ALERTMANAGER_MEMBERS_INCONSISTENT = "AlertmanagerMembersInconsistent"
# Component -> its `<Component>Down` alert. Prometheus has none: it cannot
# report its own absence (the Watchdog stopping is that signal).
COMPONENT_DOWN = {
    "alertmanager": "AlertmanagerDown",
    "loki": "LokiDown",
    "promtail": "PromtailDown",
    "jaeger": "JaegerDown",
    "grafana": "GrafanaDown",
}
# Replicated components whose replicas work as one: one replica down of
# several is a warning (the down alert above pages for lost quorum).
# Prometheus' replicas each evaluate every rule, so one down is a warning too.
INSTANCE_DOWN = {
    "alertmanager": "AlertmanagerInstanceDown",
    "loki": "LokiInstanceDown",
    "prometheus": "PrometheusInstanceDown",
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
        KONG_UPSTREAM_TARGET_UNHEALTHY,
        SERVICE_HIGH_LATENCY,
        PROVIDER_HIGH_LATENCY,
        TIME_TO_FIRST_TOKEN_HIGH,
        TIME_TO_FIRST_TOKEN_REGRESSION,
        PROVIDER_HIGH_ERROR_RATE,
        PROVIDER_RATE_LIMITED,
        PROVIDER_DOWN,
        ROUTER_FALLBACK_STORM,
        FALLBACK_CHAINS_FAILING,
        ROUTER_STALLED,
        CACHE_HIT_RATIO_COLLAPSE,
        LLM_SPEND_OVER_BUDGET,
        LLM_SPEND_PROJECTED_OVER_BUDGET,
        TOKEN_USAGE_SPIKE,
        *ERROR_BUDGET_BURN.values(),
        SLI_ABSENT,
        METRIC_ABSENT,
        WATCHDOG,
        PROMETHEUS_RULE_FAILURES,
        PROMETHEUS_BAD_CONFIG,
        ALERTMANAGER_FAILED_TO_SEND_ALERTS,
        LOKI_REQUEST_ERRORS,
        PROMTAIL_REQUESTS_ERRORS,
        PROMTAIL_DROPPING_ENTRIES,
        PROMTAIL_FALLING_BEHIND,
        JAEGER_EXPORTER_SEND_FAILURES,
        PROMETHEUS_NOT_CONNECTED_TO_ALERTMANAGERS,
        ALERTMANAGER_MEMBERS_INCONSISTENT,
        *COMPONENT_DOWN.values(),
        *INSTANCE_DOWN.values(),
        *KUBERNETES_ALERT_NAMES,
    }
)
LOKI_ALERT_NAMES: frozenset[str] = frozenset({ERROR_LOG_RATE_HIGH, REPEATED_PROVIDER_ERRORS, SECRET_LEAKED_TO_LOGS})

# Every alert name, sorted: what error messages list.
ALERT_NAMES: tuple[str, ...] = tuple(sorted(PROMETHEUS_ALERT_NAMES | LOKI_ALERT_NAMES))
