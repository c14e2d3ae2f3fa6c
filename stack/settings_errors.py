"""How settings problems are worded: one line each, naming the config key,
the value given and what is allowed."""

from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel

PROJECT = "gateway-observability"


class SettingsError(Exception):
    """Every configuration problem found, one per line."""

    def __init__(self, problems: list[str], source: str):
        self.problems = problems
        self.source = source
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid configuration in {source} ({count}):\n{lines}")


def config_key(location: tuple) -> str:
    key = PROJECT + ":"
    for i, part in enumerate(location):
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if i else "") + str(part)
    return key


def _allowed_keys(root: type[BaseModel], location: tuple) -> list[str]:
    model: Any = root
    for part in location[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if f.alias == part or n == part), None)
        annotation = field.annotation if field else None
        args = getattr(annotation, "__args__", ()) or ()
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
    if model is None:
        return []
    return sorted(f.alias or n for n, f in model.model_fields.items())


def describe(root: type[BaseModel], error: Mapping[str, Any]) -> str:
    location = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    given = error.get("input")
    if location[-1:] == ("[key]",):  # a mapping key outside its Literal, e.g. images.bogus
        location = location[:-1]
        message = str(error["msg"]).replace("Input should be", "expected one of").replace(" or ", ", ")
        return f"{config_key(location)}: unknown key; {message}"
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(root, location)) or "none"
        return f"{config_key(location)}: unknown key (given {given!r}); allowed keys: {allowed}"
    if error["type"] == "missing":
        return f"{config_key(location)}: required but not set"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not location:  # model-level checks name their own keys
        return f"{PROJECT}: {message}"
    if isinstance(given, dict):  # a section's own check: its message names the values
        return f"{config_key(location)}: {message}"
    return f"{config_key(location)}: given {given!r}; {message[0].lower()}{message[1:]}"
