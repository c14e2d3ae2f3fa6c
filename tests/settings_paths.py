"""Every settings path, taken from the model itself, what kind of value each
holds, malformed values with the kinds each is certainly wrong for, and
configs that put one value at one path inside an otherwise valid stack config.

Used by the tests that feed malformed values everywhere (directly, through a
stack file, through the command line): a new setting is covered the moment it
is added to the model.
"""

from __future__ import annotations

import datetime
import math
import types
import typing
from typing import Any, Iterator, NamedTuple

from pydantic import BaseModel

from stack.settings import PROJECT, SECRET_KEYS, Settings
from stack.settings.alerting import RECEIVER_KINDS, Receiver
from stack.settings.errors import config_key, unwrap_annotation
from stack.settings.secrets import RECEIVER_SECRETS
from stack.settings.storage import OBJECT_STORES

# --- what a path holds ----------------------------------------------------------

# What a setting holds, as far as which values are certainly wrong for it:
# a section (model), a list, a mapping (dict), true/false, a plain number, any
# text, a checked value (text or a number with a pattern or validator of its
# own), or a secret key.
KINDS = frozenset({"model", "list", "dict", "bool", "number", "text", "checked", "secret"})
CONTAINERS = frozenset({"model", "list", "dict", "secret"})


class SettingsPath(NamedTuple):
    """One location: ('gatewayServices', 0, 'address'), its kind (one of
    KINDS) and whether null is a value it takes."""

    path: tuple
    kind: str
    optional: bool


def _around(annotation: Any) -> tuple[list, bool]:
    """(Annotated metadata, whether null is allowed) of the layers around the
    bare type: what unwrap_annotation peels off."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        metadata, optional = _around(typing.get_args(annotation)[0])
        return list(annotation.__metadata__) + metadata, optional
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        layers = [_around(a) for a in members if a is not type(None)]
        metadata = [m for inner, _ in layers for m in inner]
        return metadata, type(None) in members or any(optional for _, optional in layers)
    return [], False


def _kind(annotation: Any, field_metadata: list) -> tuple[str, bool]:
    """(kind, optional) of a value of this annotation; pydantic keeps a field's
    own Annotated metadata apart from its annotation, hence `field_metadata`."""
    bare = unwrap_annotation(annotation)
    origin = typing.get_origin(bare)
    assert origin not in (typing.Union, types.UnionType), f"a union the generator does not know: {annotation}"
    around, optional = _around(annotation)
    metadata = field_metadata + around
    if _is_model(bare):
        return "model", optional
    if origin in (list, tuple):
        return "list", optional
    if origin is dict:
        return "dict", optional
    if bare is bool:
        return "bool", optional
    if bare in (int, float):
        parses_itself = any(type(m).__name__ == "BeforeValidator" for m in metadata)
        return ("checked" if parses_itself else "number"), optional
    if bare is str and not metadata:
        return "text", optional
    return "checked", optional


# The key used below each mapping of settings (images.<component>, ...).
MAPPING_KEYS: dict[tuple, str] = {
    ("images",): "loki",
    ("resources",): "loki",
    ("alerting", "slos"): "kong",
    ("alerting", "forDurations"): "GatewayServiceDown",
    ("kubernetes", "gateway", "selector"): "app.kubernetes.io/part-of",
    ("kubernetes", "dns", "podSelector"): "k8s-app",
    ("kubernetes", "volumeSizes"): "loki",
    ("kubernetes", "placement"): "loki",
    ("kubernetes", "placement", "loki", "nodeSelector"): "pool",
    ("remoteWrite", "headers"): "X-Scope-OrgID",
    ("logs", "storage", "workloadIdentity", "serviceAccountAnnotations"): "eks.amazonaws.com/role-arn",
}


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _fields(model: type[BaseModel]) -> Iterator[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        yield field.alias or name, field


def _walk(annotation: Any, field_metadata: list, path: tuple) -> Iterator[SettingsPath]:
    if path:
        yield SettingsPath(path, *_kind(annotation, field_metadata))
    inner = unwrap_annotation(annotation)
    origin = typing.get_origin(inner)
    if _is_model(inner):
        for key, field in _fields(inner):
            yield from _walk(field.annotation, list(field.metadata), path + (key,))
    elif origin in (list, tuple):
        yield from _walk(typing.get_args(inner)[0], [], path + (0,))
    elif origin is dict:
        assert path in MAPPING_KEYS, f"{key_of(path)}: a mapping without an example key: add one to MAPPING_KEYS"
        yield from _walk(typing.get_args(inner)[1], [], path + (MAPPING_KEYS[path],))


# A secret key of a receiver in the receiverSecrets map (its name is free).
RECEIVER_SECRET_PATH = (RECEIVER_SECRETS, "gateway-slack")


def settings_paths_with_kinds() -> list[SettingsPath]:
    """Every location in the model (top-level keys, sections, list items,
    mapping entries, leaves) with its kind, then every secret key and one
    receiver's secret, of kind "secret"."""
    secrets = [(key,) for key in SECRET_KEYS] + [RECEIVER_SECRET_PATH]
    return list(_walk(Settings, [], ())) + [SettingsPath(path, "secret", False) for path in secrets]


def settings_paths() -> list[tuple]:
    """Every location in the model: top-level keys, sections, list items, mapping entries, leaves."""
    return [p.path for p in _walk(Settings, [], ())]


def key_of(path: tuple) -> str:
    """How problem messages name a path: gateway-observability:gatewayServices[0].address."""
    return config_key(path)


# --- malformed values -----------------------------------------------------------


def deeply_nested(levels: int) -> Any:
    """[{"a": [{"a": ... "bottom"}]}], `levels` lists deep."""
    value: Any = "bottom"
    for _ in range(levels):
        value = [{"a": value}]
    return value


def _containing_itself() -> list:
    value: list = []
    value.append(value)
    return value


# label -> (value, the kinds it is certainly wrong for). A value right for some
# kinds (a string for a text field, 0.5 for a number) still runs there:
# whatever the verdict, it must come without a traceback. Wrong types, nulls,
# huge and non-finite numbers, empty and odd text (other scripts, emoji, a
# right-to-left mark, control characters), a date (YAML makes one of
# 2026-03-02), binary data (YAML's !!binary), keys that are not text, deep
# nesting, empty collections, an encrypted value that is not a ciphertext.
MALFORMED_VALUES: dict[str, tuple[Any, frozenset[str]]] = {
    # Nested junk: no setting is a mapping holding this, or a list holding that.
    "nested junk mapping": ({"nested": [{"junk": None}, [[]]]}, KINDS),
    "nested junk list": ([1, [2, {"three": 3}]], KINDS),
    "null": (None, KINDS),
    "true": (True, CONTAINERS | {"text", "checked"}),
    "zero": (0, CONTAINERS | {"text", "checked"}),
    "-1": (-1, CONTAINERS | {"text", "checked", "bool"}),
    "0.5": (0.5, CONTAINERS | {"text", "checked", "bool"}),
    "1.5": (1.5, CONTAINERS | {"text", "checked", "bool"}),
    "10**30": (10**30, CONTAINERS | {"text", "checked", "bool"}),
    "-10**30": (-(10**30), KINDS),  # every number setting has a lower bound
    "1e400": (math.inf, KINDS),
    "-1e400": (-math.inf, KINDS),
    "nan": (math.nan, KINDS),
    "text 1e400": ("1e400", CONTAINERS | {"bool", "number"}),
    "empty text": ("", CONTAINERS | {"bool", "number", "checked"}),
    "unicode": ("ünïcödé ☃ 🚀 \u202e", CONTAINERS | {"bool", "number", "checked"}),
    "other scripts": ("ünïcødé ✓ 名前 \u202e", CONTAINERS | {"bool", "number", "checked"}),
    "control characters": ("a\x00b\nc", CONTAINERS | {"bool", "number", "checked"}),
    "10k characters": ("x" * 10_000, CONTAINERS | {"bool", "number"}),
    "date": (datetime.date(2026, 3, 2), KINDS),
    "bytes": (b"\x00\xff", CONTAINERS | {"bool", "number"}),
    "list of junk": ([None, {"a": [1, 2]}, "☃"], KINDS),
    "empty list": ([], KINDS - {"list"}),
    "empty map": ({}, KINDS - {"model", "dict"}),
    "map of junk": ({"☃": [{"b": None}], "1": {"c": [[]]}}, KINDS),
    # Python folds True into 1, so the boolean key gets a map of its own.
    "map with non-text keys": ({1: "x", None: 2, 2.5: [3]}, KINDS),
    "map with a boolean key": ({True: [3], "a": 1}, KINDS),
    "40 levels deep": (deeply_nested(40), KINDS),
    "encrypted junk": ({"secure": 12}, KINDS - {"secret"}),
}

NEVER_VALID = [MALFORMED_VALUES["nested junk mapping"][0], MALFORMED_VALUES["nested junk list"][0]]
MALFORMED = [value for value, _ in MALFORMED_VALUES.values()]
# Not in any YAML a person writes, but a program may pass them.
DIRECT_ONLY = [10**5000, ("a", "pair"), b"bytes", _containing_itself()]

# --- configs with one value at one path -----------------------------------------

# A valid value for every required key, so only the value under test is wrong.
EXAMPLES: dict[str, Any] = {
    "target": "docker",
    "environment": "test",
    "name": "kong",  # a service with default SLOs on its own buckets
    "address": "kong:8100",
    "team": "ml",
    "channel": "#alerts",
    "to": "sre@example.com",
    "from": "alertmanager@example.com",
    "smarthost": "smtp.example.com:587",
    "url": "https://hooks.example.com/alerts",
    "selector": '{level="debug"}',
    "period": "3d",
    "endpoint": "s3.example.com",
    "bucket": "gateway-logs",
    "accountName": "gatewaylogs",
    "container": "loki-chunks",
    "serverUrls": ["https://elasticsearch:9200"],
}


def _build(annotation: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    inner = unwrap_annotation(annotation)
    origin = typing.get_origin(inner)
    if origin in (list, tuple):
        return [_build(typing.get_args(inner)[0], path[1:], value)]
    if origin is dict:
        return {path[0]: _build(typing.get_args(inner)[1], path[1:], value)}
    raw = {key: EXAMPLES[key] for key, field in _fields(inner) if field.is_required()}
    if inner is Receiver and path[0] not in RECEIVER_KINDS:
        raw["pagerduty"] = {}  # a receiver has exactly one kind
    raw[path[0]] = _build(dict(_fields(inner))[path[0]].annotation, path[1:], value)
    return raw


def config_with(path: tuple, value: Any) -> dict[str, Any]:
    """A valid project config (keys without the prefix) with `value` at `path`.
    A kubernetes key comes with the kubernetes target (the docker target
    refuses it), an ingress with the host an enabled one needs, and an object
    store's key with the storage type that reads it (another's is refused)."""
    config = _build(Settings, path, value)
    if path[:2] == ("logs", "storage") and len(path) >= 3 and path[2] in OBJECT_STORES:
        config["logs"]["storage"]["type"] = path[2]
    if path[0] == "kubernetes":
        config["target"] = "kubernetes"
        ingress = config["kubernetes"].get("ingress") if isinstance(config["kubernetes"], dict) else None
        if isinstance(ingress, dict) and path[2:] != ("host",):
            ingress.setdefault("host", "grafana.example.com")
    return config


# Encrypted as `pulumi config set --secret` writes them; a map encrypted as a
# whole hides its receiver names, so no receiver credential is missing.
ENCRYPTED_SECRETS = {key: {"secure": "v1:ZXhhbXBsZQ=="} for key in SECRET_KEYS}


def stack_file_config(path: tuple, value: Any) -> dict[str, Any]:
    """The `config:` of a Pulumi.<stack>.yaml with `value` at `path` (a
    setting, a secret key, or RECEIVER_SECRET_PATH); every other secret is set,
    encrypted."""
    if path[0] in SECRET_KEYS:
        settings = {"target": "docker", path[0]: value if len(path) == 1 else {path[1]: value}}
    else:
        settings = config_with(path, value)
    raw = {**ENCRYPTED_SECRETS, **settings}
    return {f"{PROJECT}:{key}": v for key, v in raw.items()}
