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


# The stack `make` works on when ENV is not given (Makefile `ENV ?= dev`).
DEFAULT_STACK = "dev"


def _how_to_set(key: str, stack: str) -> str:
    # `make secret` runs pulumi on the project's local backend and passphrase,
    # as `make up` does; a bare `pulumi config set` would use the user's default one.
    # Another stack is named, or the secret would land in dev's stack file.
    env, stack_flag = ("", "") if stack == DEFAULT_STACK else (f"ENV={stack} ", f" --stack {stack}")
    path = f" --path '{key}'" if "." in key else f" {key}"
    return f"`make secret {env}KEY={key}` (`pulumi config set --secret{stack_flag}{path}` on the project's local backend)"


def is_encrypted(value: Any) -> bool:
    """A value as Pulumi writes an encrypted one in Pulumi.<stack>.yaml: {secure: <ciphertext>}."""
    return isinstance(value, dict) and set(value) == {"secure"}


def all_leaves_encrypted(value: Any) -> bool:
    """A `secure:` value, or a non-empty map of nothing but (`--path --secret`)."""
    if isinstance(value, dict) and value and not is_encrypted(value):
        return all(all_leaves_encrypted(v) for v in value.values())
    return is_encrypted(value)


def split_secrets(
    raw: Mapping[str, Any], is_secret: Callable[[str], bool], stack: str
) -> tuple[dict, dict[str, Any], list[str]]:
    """Plain settings, the secrets given (key -> value as configured) and problems
    (a secret given in plain text, with how to set it on `stack`)."""
    plain, given, problems = {}, {}, []
    for key, value in raw.items():
        if key not in SECRET_KEYS:
            plain[key] = value
            continue
        if not is_secret(key):
            how = _how_to_set(receiver_secret("<receiver>") if key == RECEIVER_SECRETS else key, stack)
            problems.append(f"{PROJECT}:{key}: given in plain text; it is a secret ({SECRET_KEYS[key]}): set it with {how}")
        given[key] = value
    return plain, given, problems


def receiver_secret_problems(settings: Settings, value: Any, failed: Failed) -> list[str]:
    """What is wrong with receiverSecrets itself, `value` as configured: not a
    mapping, or naming a credential no receiver needs."""
    if value is not None and not isinstance(value, dict):
        return [f"{PROJECT}:{RECEIVER_SECRETS}: given {kind_of(value)}; expected a mapping of receiver name -> credential"]
    if is_encrypted(value) or failed.whole("alerting", "routing", "receivers"):
        return []
    needing = {r.name for r in settings.alerting.routing.receivers if r.needs_secret}
    # A receiver that failed validation may need this credential: its own problem is reported.
    unknown = set(value or {}) - needing - failed.names("alerting", "routing", "receivers")
    return [
        f"{PROJECT}:{RECEIVER_SECRETS}.{name}: no receiver needs a credential of that name "
        f"(receivers that do: {', '.join(sorted(needing)) or 'none'})"
        for name in sorted(unknown, key=str)
    ]


def _missing_receiver_secrets(settings: Settings, value: Any, stack: str) -> dict[str, str]:
    if is_encrypted(value) or (value is not None and not isinstance(value, dict)):
        return {}  # encrypted as a whole, its names cannot be read before `pulumi up` decrypts them
    names = set(value or {})
    return {
        receiver_secret(r.name): f"{PROJECT}:{RECEIVER_SECRETS}.{r.name}: required for the {r.kind} receiver '{r.name}' "
        f"({RECEIVER_CREDENTIALS[r.kind]}); set it with {_how_to_set(receiver_secret(r.name), stack)}"
        for r in settings.alerting.routing.receivers
        if r.needs_secret and r.name not in names
    }


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


def missing_secrets(settings: Settings, given: Mapping[str, Any], stack: str) -> dict[str, str]:
    """Secrets the (valid part of the) settings need but were not given: key
    (a SECRET_KEYS key or `receiverSecrets.<receiver>`) -> the message saying
    why it is needed and how to set it on `stack`. `given` maps secret keys to
    their configured values."""
    missing = _missing_receiver_secrets(settings, given.get(RECEIVER_SECRETS), stack)
    missing.update(
        (key, f"{PROJECT}:{key}: required because {why}; set it with {_how_to_set(key, stack)}")
        for key, why in required_plain_secrets(settings).items()
        if key not in given
    )
    return missing


def secret_keys_needed(settings: Settings, given: Mapping[str, Any]) -> list[str]:
    """The secrets the components get: given ones the settings use, receiver credentials one by one.
    The optional ones (the Grafana admin password and database URL) are used whenever given."""
    keys = [k for k in ("grafanaAdminPassword", GRAFANA_DATABASE_URL, *required_plain_secrets(settings)) if k in given]
    if RECEIVER_SECRETS in given:
        keys += [receiver_secret(r.name) for r in settings.alerting.routing.receivers if r.needs_secret]
    return keys
