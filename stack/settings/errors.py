"""How settings problems are worded: one line each, naming the config key, the
value given and what is allowed, in the words of someone editing
Pulumi.<env>.yaml: no regular expressions, no Python or pydantic type names."""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Mapping, Optional

from pydantic import BaseModel

PROJECT = "gateway-observability"


class SettingsError(Exception):
    """Every configuration problem found, one per line.

    `problems` holds the lines (each naming its config key); `source` names
    where the settings came from (a file name or "the config of stack 'dev'").
    """

    def __init__(self, problems: list[str], source: str):
        self.problems = problems
        self.source = source
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid configuration in {source} ({count}):\n{lines}")


def clean_location(location: tuple) -> tuple:
    """A pydantic error location without the validator names it may carry."""
    return tuple(p for p in location if not (isinstance(p, str) and p.startswith("function-")))


def config_key(location: tuple) -> str:
    """('gatewayServices', 0, 'address') -> 'gateway-observability:gatewayServices[0].address'."""
    key = PROJECT + ":"
    for i, part in enumerate(location):
        if isinstance(part, int) and not isinstance(part, bool):
            key += f"[{part}]"
        else:
            key += ("." if i else "") + str(part)
    return key


_SHOWN_LENGTH = 80


def _show(value: Any, depth: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        if value.bit_length() > 200:  # str() refuses ints above 4300 digits; nobody reads 60 digits
            return f"a number of about {int(value.bit_length() * math.log10(2))} digits"
        return str(value)
    if isinstance(value, float):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan" if value != value else repr(value))
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    if depth > 3:
        return "…"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_show(k, depth + 1)}: {_show(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_show(v, depth + 1) for v in value) + "]"
    return repr(str(value))  # dates and times YAML turned into objects: show them as written


def show(value: Any) -> str:
    """A value as the operator wrote it in YAML (null, true, 'text', [..], {..}), shortened."""
    text = _show(value, 0)
    return text if len(text) <= _SHOWN_LENGTH else text[: _SHOWN_LENGTH - 1] + "…"


def kind_of(value: Any) -> str:
    """What a YAML value is, in words: 'a list', 'text', 'a number' ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a date or time" if hasattr(value, "isoformat") else "an unsupported value"


# --- where a location points in the model ------------------------------------


def unwrap_annotation(annotation: Any) -> Any:
    """The type inside Annotated[...] and Optional[...] layers, in any nesting:
    Optional[Annotated[str, Field(...)]] -> str. A union of two or more types
    besides None comes back as it is, since no one of them is the type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def _field_by_key(model: type[BaseModel], key: Any) -> Optional[Any]:
    """The field a config key (camelCase alias) names, or None."""
    return next((f for n, f in model.model_fields.items() if (f.alias or n) == key), None)


def _type_at(root: type[BaseModel], location: tuple) -> Any:
    """The type expected at a config location, or None when it cannot be known."""
    current: Any = root
    for part in location:
        current = unwrap_annotation(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _field_by_key(current, part)
            if field is None:
                return None
            current = field.annotation
        elif origin in (list, tuple):
            current = typing.get_args(current)[0]
        elif origin is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return unwrap_annotation(current)


def _allowed_keys(root: type[BaseModel], location: tuple) -> list[str]:
    """The keys the mapping at `location` accepts, sorted."""
    model = _type_at(root, location)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return sorted(f.alias or n for n, f in model.model_fields.items())


# --- pydantic's errors in the operator's words --------------------------------


def _bound(ctx: Mapping[str, Any], key: str) -> str:
    value = ctx.get(key)
    return f"{value:g}" if isinstance(value, float) else str(value)


# pydantic error type -> what is expected, with the error's context; every type
# the settings models can produce is here (tests/test_settings_messages.py
# walks them all), anything else falls back to a neutral sentence.
_EXPECTED = {
    "string_type": lambda c: "expected text",
    "string_too_short": lambda c: f"expected text of at least {c.get('min_length')} characters",
    "string_too_long": lambda c: f"expected text of at most {c.get('max_length')} characters",
    "int_type": lambda c: "expected a whole number",
    "int_parsing": lambda c: "expected a whole number",
    "int_parsing_size": lambda c: "expected a whole number of a sensible size",
    "int_from_float": lambda c: "expected a whole number",
    "float_type": lambda c: "expected a number",
    "float_parsing": lambda c: "expected a number",
    "finite_number": lambda c: "expected a finite number",
    "bool_type": lambda c: "expected true or false",
    "bool_parsing": lambda c: "expected true or false",
    "list_type": lambda c: "expected a list",
    "tuple_type": lambda c: "expected a list",
    "dict_type": lambda c: "expected a mapping (key: value pairs)",
    "model_type": lambda c: "expected a mapping (key: value pairs)",
    "model_attributes_type": lambda c: "expected a mapping (key: value pairs)",
    "too_short": lambda c: f"expected at least {c.get('min_length')} item(s)",
    "too_long": lambda c: f"expected at most {c.get('max_length')} item(s)",
    "greater_than": lambda c: f"expected a number above {_bound(c, 'gt')}",
    "greater_than_equal": lambda c: f"expected a number of at least {_bound(c, 'ge')}",
    "less_than": lambda c: f"expected a number below {_bound(c, 'lt')}",
    "less_than_equal": lambda c: f"expected a number of at most {_bound(c, 'le')}",
    "literal_error": lambda c: "expected one of " + str(c.get("expected", "")).replace(" or ", ", "),
    "enum": lambda c: "expected one of " + str(c.get("expected", "")).replace(" or ", ", "),
    "recursion_loop": lambda c: "expected a value that does not contain itself",
}


def _expected(error: Mapping[str, Any]) -> str:
    """What the value should have been, for one pydantic error."""
    if error["type"] in ("value_error", "assertion_error"):
        message = str(error["ctx"].get("error", "")) if error.get("ctx") else str(error["msg"])
        return message[:1].lower() + message[1:]
    words = _EXPECTED.get(error["type"])
    return words(error.get("ctx") or {}) if words else "not accepted here"


def _error_key(root: type[BaseModel], location: tuple) -> str:
    """config_key, knowing from the model which parts are list indexes and which
    are mapping keys (YAML allows numbers, null and true as keys)."""
    key = PROJECT + ":"
    for i, part in enumerate(location):
        in_list = typing.get_origin(_type_at(root, location[:i])) in (list, tuple)
        if in_list and isinstance(part, int) and not isinstance(part, bool):
            key += f"[{part}]"
        else:
            key += ("." if i else "") + (part if isinstance(part, str) else show(part))
    return key


def describe(root: type[BaseModel], error: Mapping[str, Any]) -> str:
    """One pydantic validation error of `root` as one line naming key, value and what is allowed."""
    location = clean_location(tuple(error["loc"]))
    given = error.get("input")
    if location[-1:] == ("[key]",):  # a mapping key the mapping does not take, e.g. images.tempo
        # The location holds the key as text (null as 'None'); the input is the key as written.
        return f"{_error_key(root, location[:-2] + (given,))}: key not allowed; {_expected(error)}"
    if error["type"] == "invalid_key":  # a number, null or true where a section takes names
        location = location[:-1] + (given,)
    key = _error_key(root, location)
    if error["type"] in ("extra_forbidden", "invalid_key"):
        allowed = ", ".join(_allowed_keys(root, location[:-1])) or "none"
        value = f" (given {show(given)})" if error["type"] == "extra_forbidden" else ""
        return f"{key}: unknown key{value}; allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{key}: required but not set"
    if not location:  # checks of the whole model name their own keys
        return f"{PROJECT}: {_expected(error)}"
    if isinstance(given, Mapping) and error["type"] in ("value_error", "assertion_error"):
        return f"{key}: {_expected(error)}"  # a section's own check names its values
    return f"{key}: given {show(given)}; {_expected(error)}"
