"""Secrets the target hands to containers: the ones the stack was given, plus
the ones it generates when unset. Both stay Pulumi secret Outputs."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from stack.settings import LoadedSettings


def resolve_secrets(loaded: LoadedSettings, parent: pulumi.Resource) -> dict[str, pulumi.Output[str]]:
    secrets = {key: pulumi.Output.secret(value) for key, value in loaded.secrets.items()}
    if "grafanaAdminPassword" not in secrets:
        generated = random.RandomPassword(
            "grafana-admin-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        # Already secret in a real deployment; wrapping keeps it so under mocks too.
        secrets["grafanaAdminPassword"] = pulumi.Output.secret(generated.result)
    return secrets
