"""The dev target: the whole stack as containers on one Docker host.

Translates ServiceSpecs into a network, named volumes, pinned images (or
images built from the repository) and containers; decides nothing about
what runs in them.
"""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_docker as docker

from stack import topology
from stack.components.loki import PUSH_PATH as LOKI_PUSH_PATH
from stack.settings import LoadedSettings, Settings
from stack.spec import ServiceSpec
from stack.targets.secrets import resolve_secrets

HEALTHCHECK = {"interval": "15s", "timeout": "5s", "retries": 5, "start_period": "60s"}


def _healthcheck(spec: ServiceSpec) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(tests=["CMD", *spec.health_command], **HEALTHCHECK)


def _labels(settings: Settings, spec: ServiceSpec) -> list[docker.ContainerLabelArgs]:
    labels = {
        "app.kubernetes.io/name": spec.name,
        "app.kubernetes.io/instance": topology.instance(settings),
        "app.kubernetes.io/part-of": "gateway-observability",
        "app.kubernetes.io/managed-by": "pulumi",
    }
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in labels.items()]


class DockerTarget(pulumi.ComponentResource):
    """Network, volumes, images and containers for every component, and for
    the demo gateway's services when the settings turn it on."""

    def __init__(
        self, name: str, loaded: LoadedSettings, services: list[ServiceSpec], demo: Sequence[ServiceSpec] = (), opts=None
    ):
        super().__init__("gateway-observability:targets:DockerTarget", name, None, opts)
        settings = loaded.settings
        child = pulumi.ResourceOptions(parent=self)
        self.secrets = resolve_secrets(loaded, self)

        self.network = docker.Network(
            "network", name=topology.instance(settings), driver="bridge", opts=child
        )
        networks = [docker.ContainerNetworksAdvancedArgs(name=self.network.name)]
        if settings.gateway_network:
            # Joined, not created: the gateway's own deployment owns it.
            networks.append(docker.ContainerNetworksAdvancedArgs(name=settings.gateway_network))

        self.containers: dict[str, docker.Container] = {}
        self.workloads = self.containers  # what runs each component (the plan waits for them)
        self.built_images: dict[str, docker.Image] = {}
        for spec in services:
            self.containers[spec.name] = self._container(settings, spec, networks, child)

        # The demo stands where the gateway would: on the gateway network when
        # one is named, else on the stack's own. Each container also answers
        # to its host there (an alias), the name Prometheus and Kong call it by.
        demo_network = settings.gateway_network or self.network.name
        for spec in demo:
            aliases = [docker.ContainerNetworksAdvancedArgs(name=demo_network, aliases=[spec.hostname])]
            self.containers[spec.name] = self._container(settings, spec, aliases, child)

        self.endpoints = {
            "grafanaUrl": topology.published_url(settings, "grafana"),
            "prometheusUrl": topology.published_url(settings, "prometheus"),
            "alertmanagerUrl": topology.published_url(settings, "alertmanager"),
            "jaegerUrl": topology.published_url(settings, "jaeger", "ui"),
            "lokiPushUrl": topology.published_url(settings, "loki") + LOKI_PUSH_PATH,
            "otlpGrpcEndpoint": topology.published_url(settings, "jaeger", "otlp-grpc"),
            "otlpHttpEndpoint": topology.published_url(settings, "jaeger", "otlp-http"),
        }
        self.register_outputs(
            {
                **self.endpoints,
                "networkName": self.network.name,
                "containers": {name: c.name for name, c in self.containers.items()},
                "grafanaAdminPassword": self.secrets["grafanaAdminPassword"],
            }
        )

    def _envs(self, spec: ServiceSpec) -> list:
        plain = [f"{k}={v}" for k, v in sorted(spec.env.items())]
        secret = [
            self.secrets[key].apply(lambda value, name=name: f"{name}={value}")
            for name, key in sorted(spec.secret_env.items())
        ]
        return plain + secret

    def _image_id(self, spec: ServiceSpec, child) -> pulumi.Output[str]:
        """The image a container runs: pulled by its pinned tag, or built from
        the repository once per tag and never pushed."""
        if spec.build is None:
            return docker.RemoteImage(f"{spec.name}-image", name=spec.image, keep_locally=True, opts=child).image_id
        if spec.image not in self.built_images:
            self.built_images[spec.image] = docker.Image(
                f"{spec.image.partition(':')[0]}-build",
                image_name=spec.image,
                build=docker.DockerBuildArgs(context=spec.build.context, dockerfile=spec.build.dockerfile),
                skip_push=True,
                opts=child,
            )
        # The local image id: a rebuild with changed sources replaces the container, the tag would not.
        return self.built_images[spec.image].repo_digest

    def _container(self, settings: Settings, spec: ServiceSpec, networks, child) -> docker.Container:
        mounts = []
        for volume_spec in spec.volumes:
            volume_name = f"{spec.hostname}-{volume_spec.name}"
            volume = docker.Volume(f"{spec.name}-{volume_spec.name}", name=volume_name, opts=child)
            mounts.append(docker.ContainerMountArgs(type="volume", source=volume.name, target=volume_spec.mount_path))
        for host_path in spec.host_paths:
            mounts.append(
                docker.ContainerMountArgs(
                    type="bind", source=host_path.host_path, target=host_path.mount_path, read_only=True
                )
            )
        uploads = [docker.ContainerUploadArgs(file=path, content=text) for path, text in sorted(spec.files.items())]
        owner, _, group = (spec.user or "0:0").partition(":")
        uploads += [
            # Readable by the component's own user only.
            docker.ContainerUploadArgs(
                file=secret.mount_path,
                content=self.secrets[secret.secret],
                owner=owner,
                group=group or owner,
                permissions="0400",
            )
            for secret in spec.secret_files
        ]
        return docker.Container(
            spec.name,
            name=spec.hostname,
            image=self._image_id(spec, child),
            command=list(spec.args) or None,
            envs=self._envs(spec) or None,
            user=spec.user,
            ports=[
                docker.ContainerPortArgs(internal=p.number, external=p.number, ip=settings.bind_address)
                for p in spec.ports
                if p.published
            ],
            mounts=mounts,
            uploads=uploads,
            networks_advanced=networks,
            healthcheck=_healthcheck(spec),
            restart="unless-stopped",
            memory=spec.memory_bytes // 2**20,  # the provider takes MB
            cpus=f"{spec.cpus:g}",
            labels=_labels(settings, spec),
            # `pulumi up` fails on a container that never becomes healthy, instead of reporting success.
            wait=True,
            wait_timeout=180,
            opts=child,
        )
