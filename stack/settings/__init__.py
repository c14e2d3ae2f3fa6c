"""The stack's settings: what each Pulumi.<env>.yaml key means, its default,
and every check on it. The only package that reads Pulumi config.

Where each thing lives (imports run down this list, never up):
- `errors`: SettingsError and how problems are worded (key, value, what is allowed).
- `values`: shared value types: durations, memory sizes, names, addresses.
- `partial`: validation that carries on past failures, so every problem shows in one run.
- `alerting`: thresholds, SLOs, receivers and routes.
- `storage`: where logs and traces are kept, Loki's limits.
- `demo`: the demo gateway beside the dev stack.
- `kubernetes`: the kubernetes target (namespace, volumes, ingress, gateway pods, profile).
- `remote_write`: Prometheus' remote write to a long-term metrics store.
- `model`: `Settings`, the top-level keys and their defaults, checks across keys.
- `secrets`: which secrets exist and when settings require one.
- `validation`: raw config -> Settings, all problems of all stages at once.
- `pulumi_config`: settings of the running stack (`pulumi up`, mocks).
- `stack_file`: settings from Pulumi.<env>.yaml without Pulumi (`render`, `plan`).

Other modules import from `stack.settings` itself; its names are re-exported here.
"""

from stack.settings.alerting import SEVERITIES, Alerting, Receiver, Routing, ServiceSlo, SeverityRoutes, TeamRoute
from stack.settings.demo import DEMO_SERVICES, Demo
from stack.settings.errors import PROJECT, SettingsError
from stack.settings.model import (
    DEFAULT_GATEWAY_SERVICES,
    DEFAULT_RESOURCES,
    DEFAULT_SLOS,
    ComponentName,
    GatewayService,
    Resources,
    Retention,
    Settings,
)
from stack.settings.pulumi_config import load_from_pulumi
from stack.settings.secrets import (
    RECEIVER_SECRETS,
    SECRET_KEYS,
    all_leaves_encrypted,
    is_encrypted,
    receiver_secret,
    required_plain_secrets,
    secret_keys_needed,
    secret_placeholder,
)
from stack.settings.stack_file import STACK_FILE_NAMING, load_from_stack_file, read_stack_config, stack_config, stack_of
from stack.settings.storage import Logs, Traces
from stack.settings.validation import LoadedSettings, parse_settings, validate_config
from stack.settings.values import Duration, MemoryBytes

__all__ = [
    "DEFAULT_GATEWAY_SERVICES",
    "DEMO_SERVICES",
    "DEFAULT_RESOURCES",
    "DEFAULT_SLOS",
    "PROJECT",
    "RECEIVER_SECRETS",
    "SECRET_KEYS",
    "SEVERITIES",
    "STACK_FILE_NAMING",
    "Alerting",
    "ComponentName",
    "Demo",
    "Duration",
    "GatewayService",
    "LoadedSettings",
    "Logs",
    "MemoryBytes",
    "Receiver",
    "Resources",
    "Retention",
    "Routing",
    "ServiceSlo",
    "Settings",
    "SettingsError",
    "SeverityRoutes",
    "TeamRoute",
    "Traces",
    "all_leaves_encrypted",
    "is_encrypted",
    "load_from_pulumi",
    "load_from_stack_file",
    "parse_settings",
    "read_stack_config",
    "receiver_secret",
    "required_plain_secrets",
    "secret_keys_needed",
    "secret_placeholder",
    "stack_config",
    "stack_of",
    "validate_config",
]
