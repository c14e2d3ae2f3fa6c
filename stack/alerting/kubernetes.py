"""Alerts on the cluster under the stack and the gateway (Kubernetes only):
crash loops, OOM kills, CPU throttling, volumes filling up, replicas
missing. Expressions, `for`, severities and thresholds are the
kubernetes-mixin's (kubernetes-monitoring/kubernetes-mixin at
version-1.5.6: alerts/apps_alerts.libsonnet:35-48, 103-165, 273-288;
resource_alerts.libsonnet:255-284; storage_alerts.libsonnet:43-90, with its
config.libsonnet defaults), restricted to the namespaces this stack watches
(the stack's, the node agents' and the gateway's: kube-state-metrics lists
no other) and with the mixin's `cluster` joins left out (one cluster per
Prometheus here). The mixin has no OOM alert; KubeContainerOOMKilled is
this stack's, from kube-state-metrics' last terminated reason.
"""

from __future__ import annotations

from stack import alert_names as names
from stack.alerting.rule import alert
from stack.topology import watched_namespaces
from stack.settings import Settings

KSM, KUBELET, CADVISOR = 'job="kube-state-metrics"', 'job="kubelet"', 'job="cadvisor"'
CPU_THROTTLING_PERCENT = 25  # cpuThrottlingPercent
VOLUME_FREE_CRITICAL, VOLUME_FREE_WARNING = 0.03, 0.15  # storage_alerts thresholds
VOLUME_PREDICTION_WINDOW = "6h"  # volumeFullPredictionSampleTime


def kubernetes_alert_groups(settings: Settings) -> list[dict]:
    """The `kubernetes.alerts` group on Kubernetes, no group elsewhere (no cluster to watch)."""
    if settings.target != "kubernetes":
        return []
    ns = f'namespace=~"{"|".join(watched_namespaces(settings))}"'
    free = f"kubelet_volume_stats_available_bytes{{{KUBELET}, {ns}}} / kubelet_volume_stats_capacity_bytes{{{KUBELET}, {ns}}}"
    used = f"kubelet_volume_stats_used_bytes{{{KUBELET}, {ns}}} > 0"
    read_only = (
        "unless on (namespace, persistentvolumeclaim) "
        f'kube_persistentvolumeclaim_access_mode{{{KSM}, access_mode="ReadOnlyMany"}} == 1'
    )
    rules = [
        alert(
            settings,
            names.KUBE_POD_CRASH_LOOPING,
            f'max_over_time(kube_pod_container_status_waiting_reason{{{KSM}, {ns}, reason="CrashLoopBackOff"}}[5m]) >= 1',
            for_="15m",
            severity="warning",
            summary="Pod is crash looping.",
            description=(
                'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state '
                "(reason: CrashLoopBackOff)."
            ),
        ),
        alert(
            settings,
            names.KUBE_CONTAINER_OOM_KILLED,
            # A restart in the last 10 minutes whose last termination was the OOM killer.
            f"(kube_pod_container_status_restarts_total{{{KSM}, {ns}}} - kube_pod_container_status_restarts_total{{{KSM}, {ns}}} offset 10m >= 1) "
            f'and ignoring (reason) kube_pod_container_status_last_terminated_reason{{{KSM}, {ns}, reason="OOMKilled"}} == 1',
            severity="warning",
            summary="A container was killed for running out of memory.",
            description=(
                "Container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }} was OOM-killed "
                "in the last 10 minutes: raise its memory limit (resources) or find what grew."
            ),
        ),
        alert(
            settings,
            names.CPU_THROTTLING_HIGH,
            f'sum by (namespace, pod, container) (increase(container_cpu_cfs_throttled_periods_total{{{CADVISOR}, {ns}, container!=""}}[5m])) '
            f'/ sum by (namespace, pod, container) (increase(container_cpu_cfs_periods_total{{{CADVISOR}, {ns}, container!=""}}[5m])) '
            f"> ({CPU_THROTTLING_PERCENT} / 100)",
            for_="15m",
            severity="info",
            summary="Processes experience elevated CPU throttling.",
            description=(
                "{{ $value | humanizePercentage }} throttling of CPU in namespace {{ $labels.namespace }} for container "
                "{{ $labels.container }} in pod {{ $labels.pod }}."
            ),
        ),
        alert(
            settings,
            names.KUBE_PERSISTENT_VOLUME_FILLING_UP,
            f"({free}) < {VOLUME_FREE_CRITICAL} and {used} {read_only}",
            for_="1m",
            severity="critical",
            summary="PersistentVolume is filling up.",
            description=(
                "The PersistentVolume claimed by {{ $labels.persistentvolumeclaim }} in namespace {{ $labels.namespace }} "
                "is only {{ $value | humanizePercentage }} free."
            ),
        ),
        alert(
            settings,
            names.KUBE_PERSISTENT_VOLUME_FILLING_UP,
            f"({free}) < {VOLUME_FREE_WARNING} and {used} and "
            f"predict_linear(kubelet_volume_stats_available_bytes{{{KUBELET}, {ns}}}[{VOLUME_PREDICTION_WINDOW}], 4 * 24 * 3600) < 0 {read_only}",
            for_="1h",
            severity="warning",
            summary="PersistentVolume is filling up.",
            description=(
                "Based on recent sampling, the PersistentVolume claimed by {{ $labels.persistentvolumeclaim }} in namespace "
                "{{ $labels.namespace }} is expected to fill up within four days. Currently {{ $value | humanizePercentage }} is available."
            ),
        ),
        alert(
            settings,
            names.KUBE_STATEFULSET_REPLICAS_MISMATCH,
            f"(kube_statefulset_status_replicas_ready{{{KSM}, {ns}}} != kube_statefulset_replicas{{{KSM}, {ns}}}) "
            f"and (changes(kube_statefulset_status_replicas_updated{{{KSM}, {ns}}}[10m]) == 0)",
            for_="15m",
            severity="warning",
            summary="StatefulSet has not matched the expected number of replicas.",
            description=(
                "StatefulSet {{ $labels.namespace }}/{{ $labels.statefulset }} has not matched the expected number of "
                "replicas for longer than 15 minutes."
            ),
        ),
        alert(
            settings,
            names.KUBE_DEPLOYMENT_REPLICAS_MISMATCH,
            f"(kube_deployment_spec_replicas{{{KSM}, {ns}}} > kube_deployment_status_replicas_available{{{KSM}, {ns}}}) "
            f"and (changes(kube_deployment_status_replicas_updated{{{KSM}, {ns}}}[10m]) == 0)",
            for_="15m",
            severity="warning",
            summary="Deployment has not matched the expected number of replicas.",
            description=(
                "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has not matched the expected number of "
                "replicas for longer than 15 minutes."
            ),
        ),
        alert(
            settings,
            names.KUBE_DAEMONSET_NOT_SCHEDULED,
            f"kube_daemonset_status_desired_number_scheduled{{{KSM}, {ns}}} - kube_daemonset_status_current_number_scheduled{{{KSM}, {ns}}} > 0",
            for_="10m",
            severity="warning",
            summary="DaemonSet pods are not scheduled.",
            description=(
                "{{ $value }} Pods of DaemonSet {{ $labels.namespace }}/{{ $labels.daemonset }} are not scheduled."
            ),
        ),
    ]
    return [{"name": "kubernetes.alerts", "rules": rules}]
