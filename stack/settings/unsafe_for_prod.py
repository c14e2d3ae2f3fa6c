"""Settings that are valid but unsafe for production: each says so when the
`prod` stack leaves it that way.

Every default in the settings suits a laptop or a first try; a few of them
would hurt on the stack that pages people: the Watchdog going nowhere,
critical alerts paging nobody, one replica of everything, logs on one
volume, and placeholders (example hosts, buckets, accounts) copied from
Pulumi.prod.yaml or the defaults into links and storage. `plan`, `render`
and `pulumi up` print these as warnings; none of them stops a deployment.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from stack import topology
from stack.settings.errors import config_key
from stack.settings.model import Settings

PROD = "prod"
# What marks a placeholder: a domain reserved for examples (RFC 2606), a name
# starting `example-`, or the AWS documentation's account id.
_EXAMPLE = re.compile(r"(?:^|[./@-])example\.(?:com|org|net)\b|^example-|\b123456789012\b")


def _leaves(value: Any, location: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*location, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*location, index))
    else:
        yield location, value


def example_values(settings: Settings) -> list[str]:
    """One warning per setting whose text is still a placeholder."""
    return [
        f"{config_key(location)} is {value!r}, an example value: set your own"
        for location, value in _leaves(settings.model_dump(by_alias=True, mode="json"))
        if isinstance(value, str) and _EXAMPLE.search(value)
    ]


def unsafe_for_prod(settings: Settings) -> list[str]:
    """The warnings for `settings` if its environment is `prod`, else none.
    Each names the key, what it is, and what it costs; in the order the
    settings are read."""
    if settings.environment != PROD:
        return []
    routing = settings.alerting.routing
    warnings = []
    if routing.heartbeat is None:
        warnings.append(
            f"{config_key(('alerting', 'routing', 'heartbeat'))} is not set: the Watchdog, which always fires, goes "
            "to a null receiver, so nothing notices when alerting itself stops; name a webhook receiver of your "
            "dead man's switch service (docs/alerts-and-routing.md)"
        )
    if not routing.critical:
        warnings.append(f"{config_key(('alerting', 'routing', 'critical'))} is empty: critical alerts page nobody")
    if settings.target == "kubernetes" and settings.kubernetes.profile != "scalable":
        warnings.append(
            f"{config_key(('kubernetes', 'profile'))} is {settings.kubernetes.profile!r}: one replica of every "
            "component, so a node drain or a crash stops alerting; 'scalable' runs their HA modes"
        )
    if settings.target == "kubernetes" and not settings.logs.storage.is_object_store:
        warnings.append(
            f"{config_key(('logs', 'storage', 'type'))} is {settings.logs.storage.type!r}: one Loki pod keeps every "
            "log on one volume; s3, gcs or azure run three replicas on the bucket"
        )
    for component in topology.PUBLIC_COMPONENTS:
        if topology.public_url_is_in_cluster(settings, component):
            warnings.append(
                f"{config_key(('publicUrls', component))} is not set: links to {component} in notifications and "
                f"Grafana point at {topology.public_url(settings, component)}, which only a browser inside the "
                "cluster network opens"
            )
    return warnings + example_values(settings)
