"""docs/reference/settings.md from the settings model: every key a stack
file may set (camelCase, as written under `gateway-observability:`), what it
accepts, its default in dev, staging and prod, and what it means.

What it accepts is read from the model: a validator's own words (`accepts`
in stack/settings/values.py), a number's bounds, a Literal's values, the
shape of lists and mappings. What it means is the field's docstring. A field
without either makes `settings_page` raise, so no key goes undocumented."""

from __future__ import annotations

import typing
from typing import Any, Iterator, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainValidator, TypeAdapter, WrapValidator

from stack.reference_pages.markdown import page, table
from stack.settings.errors import annotation_layers, declared_bounds, range_words
from stack.settings.kubernetes import DEFAULT_PLACEMENT, Placement
from stack.settings.model import DEFAULT_RESOURCES, DEFAULT_SLOS, Resources, ServiceSlo, Settings
from stack.settings.secrets import RECEIVER_CREDENTIALS, RECEIVER_SECRETS, SECRET_KEYS
from stack.settings.values import Accepts
from stack.versions import DEFAULT_IMAGE_TAGS

# Each shipped stack's target: what the defaults of that environment are read under.
ENVIRONMENTS = {"dev": "docker", "staging": "kubernetes", "prod": "kubernetes"}
# What a mapping's keys are called in the reference (`resources.<component>.memory`).
MAPPING_KEYS = {
    "images": "component",
    "resources": "component",
    "alerting.slos": "service",
    "alerting.forDurations": "AlertName",
    "kubernetes.volumeSizes": "component",
    "kubernetes.placement": "component",
}
_BASE_TYPES = {str: "text", float: "a number", int: "a whole number", bool: "true or false"}


class Row(typing.NamedTuple):
    key: str
    accepts: str
    default: str
    meaning: str


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _validator_words(metadata: list[Any], where: str) -> list[str]:
    """The words of the innermost validator that has some (a duration's range
    says more than "a duration"), or [] when none does."""
    words = []
    for item in metadata:
        if not isinstance(item, (AfterValidator, BeforeValidator, PlainValidator, WrapValidator)):
            continue  # bounds, serializers
        check = item.func
        if not hasattr(check, "accepts"):
            raise ValueError(f"{where}: validator {check.__qualname__} says nothing of what it accepts (stack.settings.values.accepts)")
        if check.accepts:
            words = [check.accepts]
    return words


def accepts_words(annotation: Any, where: str, outer: list[Any] = ()) -> str:
    """What a value of `annotation` may be, in words; `where` names the key in
    errors; `outer` is metadata pydantic took off the annotation (FieldInfo.metadata)."""
    inner, metadata = annotation_layers(annotation)
    metadata = [*outer, *metadata]
    stated = [item.words for item in metadata if isinstance(item, Accepts)]
    if stated:
        return stated[-1]
    origin = typing.get_origin(inner)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in typing.get_args(inner))
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "a mapping of the keys below" if inner.model_fields else "an empty mapping, `{}`"
    if origin in (list, tuple):
        item = typing.get_args(inner)[0]
        items = "a list of mappings of the keys below" if _model(item) else f"a list, each {accepts_words(item, where)}"
        own = _validator_words(metadata, where)
        return items + (f"; {', '.join(own)}" if own else "")
    if origin is dict:
        key, value = typing.get_args(inner)
        own = _validator_words(metadata, where)
        if own:
            return ", ".join(own)
        value_words = "the keys below" if _model(value) else accepts_words(value, where)
        return f"a mapping: keys {accepts_words(key, where)}; values {value_words}"
    words = _validator_words(metadata, where)
    if not words:
        if inner not in _BASE_TYPES:
            raise ValueError(f"{where}: no words for a value of type {inner!r}: give its validator accepts(...) words")
        words = [_BASE_TYPES[inner]]
    # The words a refused number's message ends with (" between 0.05 and 16").
    return ", ".join(words) + range_words(declared_bounds(metadata))


def _model(annotation: Any) -> type[BaseModel] | None:
    inner, _ = annotation_layers(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if value in ({}, []):
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (int, float)):
        return f"`{_number(value)}`"
    if isinstance(value, (dict, list)):
        value = _without_nulls(value)
        return "`" + yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip() + "`"
    return f"`{value}`"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _defaults_by_environment() -> dict[str, dict]:
    from stack.settings import parse_settings

    return {
        env: parse_settings({"target": target}, env, "reference").model_dump(mode="json", by_alias=True)
        for env, target in ENVIRONMENTS.items()
    }


def _per_environment(values: dict[str, Any]) -> str:
    shown = {env: _shown(value) for env, value in values.items()}
    if len(set(shown.values())) == 1:
        return next(iter(shown.values()))
    return "<br>".join(f"{env}: {text}" for env, text in shown.items())


def _resolved_default(key: str) -> str | None:
    """Defaults the code resolves per stack, component or service, not held in the field."""
    if key == "environment":
        return "the stack's name"
    if key == "kubernetes.placement.<component>.tolerations":
        return "promtail: " + _shown(TypeAdapter(Placement).dump_python(DEFAULT_PLACEMENT["promtail"], mode="json", by_alias=True)["tolerations"]) + "; the others none"
    if key == "images":
        return ", ".join(f"{name} `{tag}`" for name, tag in DEFAULT_IMAGE_TAGS.items()) + " (`stack/versions.py`)"
    if key.startswith("resources.<component>."):
        field = key.rsplit(".", 1)[1]
        dumped = {name: TypeAdapter(Resources).dump_python(r, mode="json", by_alias=True)[field] for name, r in DEFAULT_RESOURCES.items()}
        return ", ".join(f"{name} {_shown(value)}" for name, value in dumped.items())
    if key.startswith("alerting.slos.<service>."):
        field = key.rsplit(".", 1)[1]
        base = ServiceSlo().model_dump(mode="json", by_alias=True)[field]
        special = {s: slo.model_dump(mode="json", by_alias=True)[field] for s, slo in DEFAULT_SLOS.items()}
        others = [f"{s} {_shown(v)}" for s, v in special.items() if v != base]
        return _shown(base) + (f" ({', '.join(others)})" if others else "")
    return None


def rows_of(model: type[BaseModel], prefix: str = "", defaults: dict[str, Any] | None = None) -> Iterator[Row]:
    """One row per field of `model` under `prefix`, then the rows of its own keys.
    `defaults` is the dumped value of this model per environment, or None where
    the model sits in a list or mapping (its fields' own defaults apply)."""
    for name, field in model.model_fields.items():
        alias = field.alias or name
        key = f"{prefix}{alias}"
        if not field.description:
            raise ValueError(f"{key}: {model.__name__}.{name} has no docstring saying what it means")
        if field.is_required():
            default = "required"  # a required key's default may still be resolved below
        elif defaults is not None:
            default = _per_environment({env: values[alias] for env, values in defaults.items()})
        else:
            default = _shown(TypeAdapter(field.annotation).dump_python(field.get_default(call_default_factory=True), mode="json", by_alias=True))
        default = _resolved_default(key) or default
        if _model(field.annotation) and default != "unset":
            default = "see its keys"
        yield Row(key, accepts_words(field.annotation, key, field.metadata), default, " ".join(field.description.split()))
        inner, _ = annotation_layers(field.annotation)
        origin = typing.get_origin(inner)
        if _model(inner):
            nested = {env: values[alias] for env, values in defaults.items()} if defaults is not None else None
            if nested is not None and any(v is None for v in nested.values()):
                nested = None
            yield from rows_of(_model(inner), f"{key}.", nested)
        elif origin in (list, tuple) and _model(typing.get_args(inner)[0]):
            yield from rows_of(_model(typing.get_args(inner)[0]), f"{key}[].", None)
        elif origin is dict and _model(typing.get_args(inner)[1]):
            yield from rows_of(_model(typing.get_args(inner)[1]), f"{key}.<{MAPPING_KEYS.get(key, 'key')}>.", None)


def setting_rows() -> list[Row]:
    """Every key of the settings model, in the model's order, nested keys after their parent."""
    return list(rows_of(Settings, "", _defaults_by_environment()))


def _table(rows: list[Row]) -> str:
    return table(("key", "accepts", "default", "meaning"), [(f"`{r.key}`", r.accepts, r.default, r.meaning) for r in rows])


def _secrets_table() -> str:
    rows = []
    for key, what in SECRET_KEYS.items():
        shown = f"{key}.<receiver>" if key == RECEIVER_SECRETS else key
        if key == RECEIVER_SECRETS:
            what += ": " + "; ".join(f"{kind}: {credential}" for kind, credential in RECEIVER_CREDENTIALS.items())
        rows.append((f"`{shown}`", what, f"`make secret ENV=<stack> KEY={shown}`"))
    return table(("secret", "what it holds", "set with"), rows)


def _section_of(key: str) -> str:
    """The top-level key a row belongs to: `alerting` for `alerting.routing.receivers[].name`."""
    return key.split(".")[0].removesuffix("[]")


def settings_page() -> str:
    """The whole page, Markdown: one section per top-level key that holds
    keys of its own, the plain top-level keys first, then the secrets."""
    rows = setting_rows()
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(_section_of(row.key), []).append(row)
    plain = [section[0] for section in sections.values() if len(section) == 1]
    blocks = [
        "Every key a stack file may set, under the `gateway-observability:` namespace and in camelCase "
        "(`gateway-observability:retention.metrics`). How to set them, and how problems are reported: "
        "[Settings](../settings.md). Defaults are the code's for each environment; `Pulumi.<env>.yaml` "
        "may set others (dev keeps metrics 8 days, prod sets its receivers and storage). A default shown as "
        "`dev: ... staging: ... prod: ...` differs by environment; any other stack name gets prod's. "
        "A `[]` in a key is an entry of a list; `<component>`, `<service>` and `<AlertName>` stand for a key you choose.",
        "## Top-level keys",
        _table(plain),
    ]
    for name, section in sections.items():
        if len(section) > 1:
            blocks += [f"## `{name}`", _table(section)]
    blocks += [
        "## Secrets",
        "Never in a stack file in plain text (refused): each is set with `make secret`, encrypted with the stack's "
        "passphrase, and reaches its component as a mounted file or a secret environment variable.",
        _secrets_table(),
    ]
    return page("Settings reference", "the settings model's validators, defaults and docstrings (stack/reference_pages/settings.py)", *blocks)
