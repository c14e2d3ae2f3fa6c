"""Which secrets the stack takes, when settings make one necessary, and how
they are recognised in config: never part of Settings, they stay Pulumi
secret Outputs (or a visible placeholder in `render`) and reach containers as
mounted files or secret environment variables."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from stack.settings.errors import PROJECT, kind_of
from stack.settings.model import Settings
from stack.settings.partial import Failed

RECEIVER_SECRETS = "receiverSecrets"
REMOTE_WRITE_CREDENTIAL = "remoteWriteCredential"
GRAFANA_DATABASE_URL = "grafanaDatabaseUrl"
SECRET_KEYS = {
    "grafanaAdminPassword": "Grafana admin password; generated (pulumi-random) when unset",
    GRAFANA_DATABASE_URL: "URL of an external database for Grafana (postgres://user:password@host:5432/grafana); SQLite on its volume when unset",
    RECEIVER_SECRETS: "Alertmanager receiver credentials by receiver name",
    "objectStoreAccessKeyId": "S3 access key id for Loki's object storage (logs.storage.type s3)",
    "objectStoreSecretAccessKey": "S3 secret access key for Loki's object storage (logs.storage.type s3)",
    "objectStoreServiceAccountKey": "GCS service account key, the JSON file's content (logs.storage.type gcs)",
    "objectStoreAccountKey": "Azure storage account key (logs.storage.type azure)",
    "traceStorePassword": "password of traces.<backend>.username for Elasticsearch/OpenSearch",
    REMOTE_WRITE_CREDENTIAL: "bearer token or basic-auth password for remoteWrite.url (remoteWrite.auth bearer or basic)",
}
# The keys Loki reaches each object store with, unless logs.storage.workloadIdentity is set.
OBJECT_STORE_SECRETS = {
    "s3": ("objectStoreAccessKeyId", "objectStoreSecretAccessKey"),
    "gcs": ("objectStoreServiceAccountKey",),
    "azure": ("objectStoreAccountKey",),
}
RECEIVER_CREDENTIALS = {
    "slack": "its Slack incoming-webhook URL",
    "pagerduty": "its PagerDuty Events v2 routing key",
    "email": "the SMTP password of authUsername",
    "webhook": "its bearer token",
}


def secret_placeholder(key: str) -> str:
    """What `render` writes where a secret's value would go."""
    return f"<secret {key}: set with pulumi config set --secret>"


def receiver_secret(name: str) -> str:
    """The secrets-map key of one Alertmanager receiver's credential."""
    return f"{RECEIVER_SECRETS}.{name}"


def _how_to_set(key: str) -> str:
    # `make secret` runs pulumi on the project's local backend and passphrase,
    # as `make up` does; a bare `pulumi config set` would use the user's default one.
    path = f" --path '{key}'" if "." in key else f" {key}"
    return f"`make secret KEY={key}` (`pulumi config set --secret{path}` on the project's local backend)"


def is_encrypted(value: Any) -> bool:
    """A value as Pulumi writes an encrypted one in Pulumi.<stack>.yaml: {secure: <ciphertext>}."""
    return isinstance(value, dict) and set(value) == {"secure"}


def all_leaves_encrypted(value: Any) -> bool:
    """A `secure:` value, or a non-empty map of nothing but (`--path --secret`)."""
    if isinstance(value, dict) and value and not is_encrypted(value):
        return all(all_leaves_encrypted(v) for v in value.values())
    return is_encrypted(value)


def split_secrets(raw: Mapping[str, Any], is_secret: Callable[[str], bool]) -> tuple[dict, dict[str, Any], list[str]]:
    """Plain settings, the secrets given (key -> value as configured) and problems."""
    plain, given, problems = {}, {}, []
    for key, value in raw.items():
        if key not in SECRET_KEYS:
            plain[key] = value
            continue
        if not is_secret(key):
            how = _how_to_set(receiver_secret("<receiver>") if key == RECEIVER_SECRETS else key)
            problems.append(f"{PROJECT}:{key}: given in plain text; it is a secret ({SECRET_KEYS[key]}): set it with {how}")
        given[key] = value
    return plain, given, problems


def _receiver_problems(settings: Settings, value: Any, failed: Failed) -> list[str]:
    if value is not None and not isinstance(value, dict):
        return [f"{PROJECT}:{RECEIVER_SECRETS}: given {kind_of(value)}; expected a mapping of receiver name -> credential"]
    if is_encrypted(value):
        return []  # encrypted as a whole: its names cannot be read before `pulumi up` decrypts them
    names = set(value or {})
    needing = {r.name: r for r in settings.alerting.routing.receivers if r.needs_secret}
    problems = [
        f"{PROJECT}:{RECEIVER_SECRETS}.{name}: required for the {receiver.kind} receiver '{name}' "
        f"({RECEIVER_CREDENTIALS[receiver.kind]}); set it with {_how_to_set(receiver_secret(name))}"
        for name, receiver in needing.items()
        if name not in names
    ]
    if not failed.whole("alerting", "routing", "receivers"):
        # A receiver that failed validation may need this credential: its own problem is reported.
        unknown = names - set(needing) - failed.names("alerting", "routing", "receivers")
        problems += [
            f"{PROJECT}:{RECEIVER_SECRETS}.{name}: no receiver needs a credential of that name "
            f"(receivers that do: {', '.join(needing) or 'none'})"
            for name in sorted(unknown, key=str)
        ]
    return problems


def required_plain_secrets(settings: Settings) -> dict[str, str]:
    """Single-value secrets the settings make necessary: key -> why."""
    required = {}
    storage = settings.logs.storage
    if storage.workload_identity is None:
        for key in OBJECT_STORE_SECRETS.get(storage.type, ()):
            required[key] = f"logs.storage.type is {storage.type} (without logs.storage.workloadIdentity)"
    backend = settings.traces.search_backend
    if backend is not None and backend.username:
        required["traceStorePassword"] = f"traces.{settings.traces.storage}.username is set"
    remote_write = settings.remote_write
    if remote_write is not None and remote_write.needs_credential:
        required[REMOTE_WRITE_CREDENTIAL] = f"remoteWrite.auth is {remote_write.auth}"
    return required


def secret_problems(settings: Settings, given: Mapping[str, Any], failed: Failed) -> list[str]:
    """Secrets the (valid part of the) settings need but were not given, and receiver
    credentials no receiver needs. `given` maps secret keys to their configured values."""
    problems = _receiver_problems(settings, given.get(RECEIVER_SECRETS), failed)
    problems += [
        f"{PROJECT}:{key}: required because {why}; set it with {_how_to_set(key)}"
        for key, why in required_plain_secrets(settings).items()
        if key not in given
    ]
    return problems


def secret_keys_needed(settings: Settings, given: Mapping[str, Any]) -> list[str]:
    """The secrets the components get: given ones the settings use, receiver credentials one by one.
    The optional ones (the Grafana admin password and database URL) are used whenever given."""
    keys = [k for k in ("grafanaAdminPassword", GRAFANA_DATABASE_URL, *required_plain_secrets(settings)) if k in given]
    if RECEIVER_SECRETS in given:
        keys += [receiver_secret(r.name) for r in settings.alerting.routing.receivers if r.needs_secret]
    return keys
