"""What every component's ServiceSpec shares: name, hostname, pinned image and
resource limits, all derived from settings the same way."""

from __future__ import annotations

from stack import topology
from stack.settings import Settings
from stack.spec import ServiceSpec
from stack.versions import image_reference


def service_spec(settings: Settings, component: str, **fields) -> ServiceSpec:
    resources = settings.resources_for(component)
    return ServiceSpec(
        name=component,
        hostname=topology.hostname(settings, component),
        image=image_reference(component, settings.image_tag(component)),
        memory_bytes=resources.memory,
        cpus=resources.cpus,
        **fields,
    )
