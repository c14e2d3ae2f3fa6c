"""One pure module per component: Settings in, files and a ServiceSpec out
(kong.py renders what the gateway's Kong needs; it deploys nothing).

Nothing here imports Pulumi, so `python -m stack render` and the tests use
exactly what `pulumi up` deploys.
"""

from __future__ import annotations

from collections.abc import Collection

from stack.components.alertmanager import alertmanager_service
from stack.components.grafana import grafana_service
from stack.components.jaeger import jaeger_service
from stack.components.kube_state_metrics import kube_state_metrics_service
from stack.components.loki import loki_service
from stack.components.prometheus import prometheus_service
from stack.components.promtail import promtail_service
from stack.settings import Settings
from stack.settings.secrets import GRAFANA_DATABASE_URL
from stack.spec import ServiceSpec
from stack.versions import COMPONENTS

_BUILDERS = {
    "prometheus": prometheus_service,
    "alertmanager": alertmanager_service,
    "loki": loki_service,
    "promtail": promtail_service,
    "jaeger": jaeger_service,
    "grafana": grafana_service,
}
assert tuple(_BUILDERS) == COMPONENTS


def build_services(settings: Settings, given_secrets: Collection[str] = ()) -> list[ServiceSpec]:
    """Every component's spec, in dependency-friendly order (storage first, Grafana last).

    `given_secrets`: the secret keys the stack sets (LoadedSettings.secrets);
    Grafana on an external database (grafanaDatabaseUrl) runs differently."""
    builders = {**_BUILDERS, "grafana": lambda s: grafana_service(s, external_database=GRAFANA_DATABASE_URL in given_secrets)}
    services = [builders[name](settings) for name in COMPONENTS]
    # The cluster's own state: only a cluster has one.
    return services + [kube_state_metrics_service(settings)] if settings.target == "kubernetes" else services
