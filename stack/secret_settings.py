"""Which secrets the stack takes, when settings make one necessary, and how
they are recognised in config: never part of Settings, they stay Pulumi
secret Outputs (or a visible placeholder in `render`) and reach containers as
mounted files or secret environment variables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional

from stack.settings_errors import PROJECT

if TYPE_CHECKING:
    from stack.settings import Settings

RECEIVER_SECRETS = "receiverSecrets"
SECRET_KEYS = {
    "grafanaAdminPassword": "Grafana admin password; generated (pulumi-random) when unset",
    RECEIVER_SECRETS: "Alertmanager receiver credentials by receiver name",
    "objectStoreAccessKeyId": "S3 access key id for Loki's object storage (logs.storage.type s3)",
    "objectStoreSecretAccessKey": "S3 secret access key for Loki's object storage (logs.storage.type s3)",
    "traceStorePassword": "password of traces.<backend>.username for Elasticsearch/OpenSearch",
}
RECEIVER_CREDENTIALS = {
    "slack": "its Slack incoming-webhook URL",
    "pagerduty": "its PagerDuty Events v2 routing key",
    "email": "the SMTP password of authUsername",
    "webhook": "its bearer token",
}


def secret_placeholder(key: str) -> str:
    return f"<secret {key}: set with pulumi config set --secret>"


def receiver_secret(name: str) -> str:
    """The secrets-map key of one Alertmanager receiver's credential."""
    return f"{RECEIVER_SECRETS}.{name}"


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def all_leaves_encrypted(value: Any) -> bool:
    """A `secure:` value, or a non-empty map of nothing but (`--path --secret`)."""
    if isinstance(value, dict) and value and not is_encrypted(value):
        return all(all_leaves_encrypted(v) for v in value.values())
    return is_encrypted(value)


def split_secrets(raw: Mapping[str, Any], is_secret) -> tuple[dict, dict[str, Any], list[str]]:
    """Plain settings, the secrets given (key -> value as configured) and problems."""
    plain, given, problems = {}, {}, []
    for key, value in raw.items():
        if key not in SECRET_KEYS:
            plain[key] = value
            continue
        if not is_secret(key):
            how = f"--path '{RECEIVER_SECRETS}.<receiver>'" if key == RECEIVER_SECRETS else key
            problems.append(
                f"{PROJECT}:{key}: given in plain text; set it with `pulumi config set --secret {how} ...` "
                f"({SECRET_KEYS[key]})"
            )
        given[key] = value
    return plain, given, problems


def _receiver_secret_names(value: Any) -> Optional[set[str]]:
    """Receivers with a credential; None when the map is encrypted as a whole."""
    if is_encrypted(value):
        return None
    return set(value) if isinstance(value, dict) else set()


def receiver_secret_problems(settings: Settings, value: Any) -> list[str]:
    names = _receiver_secret_names(value) if value is not None else set()
    if names is None:
        return []
    needing = {r.name: r for r in settings.alerting.routing.receivers if r.needs_secret}
    problems = [
        f"{PROJECT}:{RECEIVER_SECRETS}.{name}: required for the {receiver.kind} receiver '{name}' "
        f"({RECEIVER_CREDENTIALS[receiver.kind]}); set it with "
        f"`pulumi config set --secret --path '{RECEIVER_SECRETS}.{name}' ...`"
        for name, receiver in needing.items()
        if name not in names
    ]
    problems += [
        f"{PROJECT}:{RECEIVER_SECRETS}.{name}: no receiver needs a credential of that name "
        f"(receivers that do: {', '.join(needing) or 'none'})"
        for name in sorted(names - set(needing))
    ]
    if value is not None and not isinstance(value, dict):
        problems.append(f"{PROJECT}:{RECEIVER_SECRETS}: expected an object of receiver name -> credential")
    return problems


def required_plain_secrets(settings: Settings) -> dict[str, str]:
    """Single-value secrets the settings make necessary: key -> why."""
    required = {}
    if settings.logs.storage.type == "s3":
        for key in ("objectStoreAccessKeyId", "objectStoreSecretAccessKey"):
            required[key] = "logs.storage.type is s3"
    backend = settings.traces.search_backend
    if backend is not None and backend.username:
        required["traceStorePassword"] = f"traces.{settings.traces.storage}.username is set"
    return required


def secret_keys_needed(settings: Settings, given: Mapping[str, Any]) -> list[str]:
    keys = [k for k in ("grafanaAdminPassword", *required_plain_secrets(settings)) if k in given]
    if RECEIVER_SECRETS in given:
        keys += [receiver_secret(r.name) for r in settings.alerting.routing.receivers if r.needs_secret]
    return keys
