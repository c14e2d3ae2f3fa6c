"""What every component's ServiceSpec shares: name, hostname, pinned image and
resource limits, all derived from settings the same way."""

from __future__ import annotations

from stack import topology
from stack.settings import Settings
from stack.spec import HttpProbe, ServiceSpec
from stack.versions import image_reference


def wget_probe(probe: HttpProbe) -> tuple[str, ...]:
    """The health command for images with busybox or alpine wget."""
    return ("wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{probe.port}{probe.path}")


def service_spec(settings: Settings, component: str, **fields) -> ServiceSpec:
    resources = settings.resources_for(component)
    fields.setdefault("health_command", wget_probe(fields["readiness"]))
    return ServiceSpec(
        name=component,
        hostname=topology.hostname(settings, component),
        image=image_reference(component, settings.image_tag(component)),
        memory_bytes=resources.memory,
        cpus=resources.cpus,
        **fields,
    )
