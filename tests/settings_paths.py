"""Every settings path, taken from the model itself, and configs that put one
value at one path inside an otherwise valid stack config.

Used by the tests that feed malformed values everywhere: a new setting is
covered the moment it is added to the model.
"""

from __future__ import annotations

import datetime
import math
import types
import typing
from typing import Any, Iterator

from pydantic import BaseModel

from stack.settings import PROJECT, SECRET_KEYS, Settings
from stack.settings.alerting import RECEIVER_KINDS, Receiver
from stack.settings.errors import config_key

# Nested junk: no setting is a mapping holding this, or a list holding that.
NEVER_VALID = [{"nested": [{"junk": None}, [[]]]}, [1, [2, {"three": 3}]]]
# Wrong types, nulls, huge and non-finite numbers, empty and odd text (other
# scripts, a right-to-left mark, control characters), a date (YAML makes one
# of 2026-03-02), keys that are not text, deep nesting, empty collections.
MALFORMED = NEVER_VALID + [
    None,
    True,
    -1,
    1.5,
    10**30,
    math.inf,
    -math.inf,
    math.nan,
    "",
    "ünïcødé ✓ 名前 \u202e",
    "x" * 5000,
    "a\x00b\nc",
    datetime.date(2026, 3, 2),
    {1: "x", None: 2},
    [{"a": [{"a": [{"a": [{"a": [{"a": [[[[[[]]]]]]}]}]}]}]}],
    [],
    {},
]


def _containing_itself() -> list:
    value: list = []
    value.append(value)
    return value


# Not in any YAML a person writes, but a program may pass them.
DIRECT_ONLY = [10**5000, ("a", "pair"), b"bytes", _containing_itself()]

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
    "serverUrls": ["https://elasticsearch:9200"],
}
# The key used below each mapping of settings (images.<component>, ...).
MAPPING_KEYS: dict[tuple, str] = {("images",): "loki", ("resources",): "loki", ("alerting", "slos"): "kong"}


def unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _fields(model: type[BaseModel]) -> Iterator[tuple[str, Any]]:
    for name, field in model.model_fields.items():
        yield field.alias or name, field


def _below(annotation: Any, path: tuple) -> Iterator[tuple]:
    inner = unwrap(annotation)
    origin = typing.get_origin(inner)
    if _is_model(inner):
        for key, field in _fields(inner):
            yield path + (key,)
            yield from _below(field.annotation, path + (key,))
    elif origin in (list, tuple):
        yield path + (0,)
        yield from _below(typing.get_args(inner)[0], path + (0,))
    elif origin is dict:
        key = MAPPING_KEYS[path]
        yield path + (key,)
        yield from _below(typing.get_args(inner)[1], path + (key,))


def settings_paths() -> list[tuple]:
    """Every location in the model: top-level keys, sections, list items, mapping entries, leaves."""
    return list(_below(Settings, ()))


def _build(annotation: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    inner = unwrap(annotation)
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
    """A valid project config (keys without the prefix) with `value` at `path`."""
    return _build(Settings, path, value)


# Encrypted as `pulumi config set --secret` writes them; a map encrypted as a
# whole hides its receiver names, so no receiver credential is missing.
ENCRYPTED_SECRETS = {key: {"secure": "v1:ZXhhbXBsZQ=="} for key in SECRET_KEYS}


def stack_file_config(path: tuple, value: Any) -> dict[str, Any]:
    """The `config:` of a Pulumi.<stack>.yaml with `value` at `path` (a setting or a secret key)."""
    settings = config_with(path, value) if path[0] not in SECRET_KEYS else {"target": "docker", path[0]: value}
    raw = {**ENCRYPTED_SECRETS, **settings}
    return {f"{PROJECT}:{key}": v for key, v in raw.items()}


def key_of(path: tuple) -> str:
    """How problem messages name a path: gateway-observability:gatewayServices[0].address."""
    return config_key(path)
