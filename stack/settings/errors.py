"""How settings problems are worded: one line each, naming the config key, the
value given and what is allowed, in the words of someone editing
Pulumi.<env>.yaml: no regular expressions, no Python or pydantic type names."""

from __future__ import annotations

import datetime
import difflib
import math
import types
import typing
from typing import Any, Mapping, Optional, Sequence

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

PROJECT = "gateway-observability"
# The attribute of a date or time read from a stack file that holds its text
# as written (YAML reads `2026-03-02` as a date, and shows it back differently).
WRITTEN_AS = "yaml_text"


class SettingsError(Exception):
    """Every configuration problem found, one per line.

    `problems` holds the lines (each naming its config key); `source` names
    where the settings came from (a file name or "the config of stack 'dev'").
    `missing_secrets` (the offline previews only, `render` and `plan`) are
    secrets not set yet: never counted as problems there, said after them.
    """

    def __init__(self, problems: list[str], source: str, missing_secrets: Sequence[str] = ()):
        self.problems = problems
        self.source = source
        self.missing_secrets = list(missing_secrets)
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        message = f"Invalid configuration in {source} ({count}):\n{lines}"
        if self.missing_secrets:
            noted = "\n".join(f"  - {m}" for m in self.missing_secrets)
            message += f"\nNote: `pulumi up` also refuses {source} until these secrets are set:\n{noted}"
        super().__init__(message)


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


def _reads_back_as(text: str) -> bool:
    """Whether `text` written plain inside a YAML flow collection reads back as
    that same text: not a number, true, null or date, no flow indicator
    (, [ ] { }), no comment or `: `, no leading or trailing space."""
    if not text or text != text.strip() or any(c in text for c in ",[]{}") or not text.isprintable():
        return False
    try:
        return yaml.safe_load(text) == text
    except yaml.YAMLError:
        return False


# YAML double-quoted escapes for what cannot stand in the quotes as it is.
_DOUBLE_QUOTED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escaped(char: str) -> str:
    if char in _DOUBLE_QUOTED_ESCAPES:
        return _DOUBLE_QUOTED_ESCAPES[char]
    if char.isprintable():
        return char
    return f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}"


def _quoted(text: str) -> str:
    """Text as a quoted YAML scalar: single quotes ('' for a quote), or double
    quotes with escapes when it holds a line break or another unprintable."""
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(_escaped(c) for c in text) + '"'


def _date_text(value: Any) -> str:
    """A date or time YAML read from the file: the text as written when the
    stack file loader kept it (in WRITTEN_AS), else ISO 8601."""
    return getattr(value, WRITTEN_AS, None) or value.isoformat()


def _show(value: Any, depth: int) -> str:
    """`value` in YAML flow style: {team: ml}, [a, 'yes', 1], text plain when
    it reads back as itself, quoted otherwise."""
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
        text = value if len(value) <= _SHOWN_LENGTH else value[:_SHOWN_LENGTH]  # shown shortened anyway
        return text if _reads_back_as(text) else _quoted(text)
    if isinstance(value, (bytes, bytearray)):
        return "binary data"
    if isinstance(value, (datetime.date, datetime.time)):
        return _date_text(value)
    if depth > 3:
        return "…"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_show(k, depth + 1)}: {_show(v, depth + 1)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_show(v, depth + 1) for v in value) + "]"
    return _quoted(str(value))


def show(value: Any) -> str:
    """A value as the operator wrote it in YAML, shortened to 80 characters:
    null, true, 12, 'text' (quoted, so its ends show), [a, b], {team: ml}.
    A date or time YAML read says so: 2026-03-02 (a date/time)."""
    if isinstance(value, str):
        text = _quoted(value[: _SHOWN_LENGTH])
    else:
        text = _show(value, 0)
        if isinstance(value, (datetime.date, datetime.time)):
            text += " (a date/time)"
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
    return "a date/time" if hasattr(value, "isoformat") else "an unsupported value"


# --- where a location points in the model ------------------------------------


def annotation_layers(annotation: Any) -> tuple[Any, list[Any]]:
    """The type inside Annotated[...] and Optional[...] layers, in any nesting,
    and every metadata item met on the way (a Field(...) among them given as
    its own constraints): Optional[Annotated[int, Field(ge=1)]] -> (int, [Ge(1)]).
    A union of two or more types besides None comes back as it is, since no
    one of them is the type."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *more = typing.get_args(annotation)
            for item in more:
                metadata += item.metadata if isinstance(item, FieldInfo) else [item]
        elif origin in (typing.Union, types.UnionType):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation, metadata
            annotation = rest[0]
        else:
            return annotation, metadata


def unwrap_annotation(annotation: Any) -> Any:
    """The type inside Annotated[...] and Optional[...] layers (annotation_layers)."""
    return annotation_layers(annotation)[0]


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


def _bounds_at(root: type[BaseModel], location: tuple) -> dict[str, Any]:
    """The numeric bounds (ge, gt, le, lt) the field at `location` declares,
    in its Field(...) or its Annotated type; {} when it has none."""
    parent = unwrap_annotation(_type_at(root, location[:-1])) if location else None
    if not (isinstance(parent, type) and issubclass(parent, BaseModel)):
        return {}
    field = _field_by_key(parent, location[-1])
    if field is None:
        return {}
    return declared_bounds([*field.metadata, *annotation_layers(field.annotation)[1]])


def declared_bounds(metadata: Sequence[Any]) -> dict[str, Any]:
    """The numeric bounds (ge, gt, le, lt) among a field's metadata, the
    outermost first: {"gt": 0, "le": 1}."""
    bounds: dict[str, Any] = {}
    for item in metadata:
        for name in ("ge", "gt", "le", "lt"):
            value = getattr(item, name, None)
            if value is not None:
                bounds.setdefault(name, value)
    return bounds


def range_words(bounds: Mapping[str, Any]) -> str:
    """ " between 0.05 and 16", " of at least 1", ...: what a number's range
    adds to "expected a number"."""
    low = ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    high = ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    if low and high and low[0] == "ge" and high[0] == "le":
        return f" between {_bound(bounds, 'ge')} and {_bound(bounds, 'le')}"
    words = []
    if low:
        words.append(f"{'of at least' if low[0] == 'ge' else 'above'} {_bound(bounds, low[0])}")
    if high:
        words.append(f"{'at most' if high[0] == 'le' else 'below'} {_bound(bounds, high[0])}")
    return (" " + " and ".join(words)) if words else ""


# A value of the wrong type for a number that has a range: the message says the range too.
_NUMBER_TYPE_ERRORS = frozenset({"float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"})


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
    "string_unicode": lambda c: "expected text",  # YAML !!binary that is not UTF-8
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
        keys = _allowed_keys(root, location[:-1])
        allowed = ", ".join(keys) or "none"
        value = f" (given {show(given)})" if error["type"] == "extra_forbidden" else ""
        close = difflib.get_close_matches(str(location[-1]), keys, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ";"
        return f"{key}: unknown key{value}{hint} allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{key}: required but not set"
    if not location:  # checks of the whole model name their own keys
        return f"{PROJECT}: {_expected(error)}"
    if isinstance(given, Mapping) and error["type"] in ("value_error", "assertion_error"):
        return f"{key}: {_expected(error)}"  # a section's own check names its values
    expected = _expected(error)
    if error["type"] in _NUMBER_TYPE_ERRORS:
        expected += range_words(_bounds_at(root, location))
    return f"{key}: given {show(given)}; {expected}"


def describe_stack_name(root: type[BaseModel], error: Mapping[str, Any], stack: str) -> str:
    """An `environment` error when the stack did not set it and the environment
    is the stack's name: the operator's fix is a stack (and file) name, or the key."""
    key = _error_key(root, clean_location(tuple(error["loc"])))
    expected = _expected(error).removeprefix("expected ")
    return (
        f"{key}: not set, so it is the stack's name, {_quoted(stack)} (as in Pulumi.{stack}.yaml), which is not "
        f"{expected}; rename the stack (e.g. {_suggested_label(stack)}) or set {key}"
    )


def _suggested_label(stack: str) -> str:
    """A stack name that would do as an environment: lower case, '-' for anything else."""
    label = "".join(c if c.isascii() and c.isalnum() else "-" for c in stack.lower()).strip("-")
    label = "-".join(part for part in label.split("-") if part)[:42].rstrip("-")
    return label if label[:1].isalpha() else f"env-{label}".rstrip("-")


def keys_as_written(errors: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The errors with every mapping key in their locations as the operator
    wrote it. pydantic turns a key that is not text into text in a location
    (null -> 'None', true -> 1) but keeps the key itself as the input of the
    key's own error (location ending in '[key]'): put that back."""
    written = {
        clean_location(tuple(e["loc"]))[:-1]: e.get("input")
        for e in errors
        if clean_location(tuple(e["loc"]))[-1:] == ("[key]",)
    }
    if not written:
        return errors
    fixed = []
    for error in errors:
        location = clean_location(tuple(error["loc"]))
        for end in range(1, len(location) + 1):
            if location[-1:] != ("[key]",) and location[:end] in written:
                location = location[: end - 1] + (written[location[:end]],) + location[end:]
        fixed.append({**error, "loc": location})
    return fixed
