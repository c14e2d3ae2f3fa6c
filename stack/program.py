"""The Pulumi program: settings in, the stack for its target, outputs out.

`__main__.py` calls `run()` under `pulumi up`; `python -m stack plan` and the
tests call it under the SDK's mock engine.
"""

from __future__ import annotations

import pulumi

from stack import topology
from stack.components import build_services
from stack.components.demo import demo_services
from stack.components.grafana import ADMIN_USER as GRAFANA_ADMIN_USER
from stack.settings import SettingsError, load_from_pulumi
from stack.settings.unsafe_for_prod import unsafe_for_prod
from stack.targets.docker import DockerTarget
from stack.targets.kubernetes import KubernetesTarget


def run() -> DockerTarget | KubernetesTarget:
    try:
        loaded = load_from_pulumi()
    except SettingsError as error:
        # A RunError prints just the message: no stack trace for a config typo.
        raise pulumi.RunError(str(error)) from None
    settings = loaded.settings
    for warning in unsafe_for_prod(settings):
        pulumi.log.warn(warning)
    name = topology.instance(settings)
    if settings.target == "kubernetes":
        target = KubernetesTarget(name, loaded, build_services(settings, loaded.secrets))
    else:
        target = DockerTarget(name, loaded, build_services(settings, loaded.secrets), demo_services(settings))
    for key, value in target.endpoints.items():
        pulumi.export(key, value)
    pulumi.export("grafanaAdminUser", GRAFANA_ADMIN_USER)
    pulumi.export("grafanaAdminPassword", target.secrets["grafanaAdminPassword"])
    return target
