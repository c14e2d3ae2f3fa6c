"""The demo gateway setting (`demo`): on the dev target, run the instrumented
demo gateway of examples/gateway/ (Kong in front of the three services and a
fake LLM provider) beside the stack, so a fresh `make up` has live metrics,
logs and traces to look at as soon as requests go through Kong."""

from __future__ import annotations

from gateway_telemetry.contract import GATEWAY_SERVICES
from stack.settings.errors import config_key
from stack.settings.values import StrictModel, Switch

# The demo runs exactly the contract's services, under the names Prometheus
# scrapes and Promtail keeps (their gatewayServices entries).
DEMO_SERVICES = tuple(service.name for service in GATEWAY_SERVICES)


class Demo(StrictModel):
    """`demo.enabled` builds the demo's image from this repository and runs it,
    with Kong in front, on the gateway network (stack/components/demo.py)."""

    enabled: Switch = False
    """Builds the demo gateway's image from this repository
    (`examples/gateway/Dockerfile`, never pushed) and runs Kong 3.9 (DB-less)
    in front of the Unified LLM API, Intelligent Router, Optimization Service
    and a fake LLM provider, plus a container sending a request a second
    through Kong, on `gatewayNetwork` or else the stack's own network. The
    containers take the hosts and ports of their `gatewayServices` entries,
    so those entries must stay."""


def demo_problems(demo: Demo, service_names: list[str], services_failed: bool) -> list[str]:
    """With the demo on, every demo service must have its gatewayServices entry:
    the demo's containers answer to those entries' hosts and ports.

    `service_names` are the names in gatewayServices; `services_failed` says that
    gatewayServices failed validation as a whole (its problem is reported already)."""
    if not demo.enabled or services_failed:
        return []
    missing = [name for name in DEMO_SERVICES if name not in service_names]
    if not missing:
        return []
    return [
        f"{config_key(('demo', 'enabled'))}: the demo gateway runs {', '.join(DEMO_SERVICES)} under their "
        f"gatewayServices addresses, but gatewayServices has no entry for {', '.join(missing)}; add "
        f"{'it' if len(missing) == 1 else 'them'} back or turn the demo off"
    ]
