"""Settings from the running stack's config, under `pulumi up` or the SDK's
mocks: the only place that reads `pulumi.Config`."""

from __future__ import annotations

import json
from typing import Any

from stack.settings.errors import PROJECT
from stack.settings.secrets import RECEIVER_SECRETS, secret_keys_needed
from stack.settings.validation import LoadedSettings, validate_config


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON strings."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def load_from_pulumi() -> LoadedSettings:
    """Read the running stack's config; secrets stay Pulumi secret Outputs.

    Raises SettingsError listing every problem."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    # pulumi.Config cannot list keys, and unknown keys must be reported, so
    # read the same map the SDK reads: explicit config over PULUMI_CONFIG.
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    prefix = PROJECT + ":"
    raw = {k[len(prefix):]: _decode(v) for k, v in everything.items() if k.startswith(prefix)}
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | set(runtime_config._SECRET_KEYS.get())
    stack = pulumi.get_stack()
    settings, given = validate_config(raw, stack, f"the config of stack '{stack}'", lambda k: prefix + k in secret_keys)
    config = pulumi.Config(PROJECT)
    by_receiver = config.require_secret_object(RECEIVER_SECRETS) if RECEIVER_SECRETS in given else None
    secrets: dict[str, Any] = {}
    for key in secret_keys_needed(settings, given):
        receiver = key.removeprefix(RECEIVER_SECRETS + ".")
        if receiver == key:
            secrets[key] = config.require_secret(key)
        else:
            secrets[key] = by_receiver.apply(lambda d, n=receiver: str(d[n]))
    return LoadedSettings(settings, secrets)
