"""Validation that keeps going after the first failure.

pydantic stops a model at its field errors: checks that span several settings
(duplicate names, references between sections, required secrets) would then
wait for the next run. Instead the values that failed are taken out (their
defaults stand in) and the rest is validated again, so those checks run on
every part that is valid, in the same run. `Failed` tells a check which parts
were taken out, so it neither repeats a problem already reported nor reports
one that only the removal caused. A section's own rule (a receiver has exactly
one kind) is checked once that section's fields are valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, TypeVar

from pydantic import BaseModel, ValidationError

from stack.settings.errors import clean_location

Model = TypeVar("Model", bound=BaseModel)

# Every round removes at least one value, and settings nest about six deep.
_MAX_ROUNDS = 20


@dataclass(frozen=True)
class Failed:
    """The values taken out of the config because they failed: (location, value, round).

    Locations are config keys as tuples, e.g. ('alerting', 'routing', 'receivers', 0),
    with list indexes as they were in that round; `index_given` maps an index of
    the salvaged model back to the one the operator wrote.
    """

    removed: tuple[tuple[tuple, Any, int], ...] = ()

    def whole(self, *location: Any) -> bool:
        """The value at `location`, or one around it, failed as a whole: defaults stand in for it."""
        return any(location[: len(path)] == path for path, _, _ in self.removed)

    def touches(self, *location: Any) -> bool:
        """Anything at, around or under `location` failed."""
        return any(path[: len(location)] == location or location[: len(path)] == path for path, _, _ in self.removed)

    def names(self, *location: Any, key: str = "name") -> frozenset[str]:
        """The `key` of each list item under `location` that failed; its problem is reported already,
        so a reference to it is not a second one."""
        return frozenset(
            value[key]
            for path, value, _ in self.removed
            if path[:-1] == location and isinstance(path[-1], int) and isinstance(value, Mapping)
            and isinstance(value.get(key), str)
        )

    def index_given(self, location: tuple, index: int) -> int:
        """Where item `index` of the salvaged list at `location` was in the config as given."""
        rounds = sorted({r for _, _, r in self.removed}, reverse=True)
        for round_ in rounds:
            for gone in sorted(p[-1] for p, _, r in self.removed if r == round_ and p[:-1] == location):
                if gone <= index:
                    index += 1
        return index


def _deepest_given(values: Any, location: tuple) -> tuple:
    """The longest prefix of `location` that exists in `values` (mapping keys, list indexes)."""
    found: tuple = ()
    for part in location:
        if isinstance(values, Mapping) and part in values:
            values = values[part]
        elif isinstance(values, list) and isinstance(part, int) and not isinstance(part, bool) and 0 <= part < len(values):
            values = values[part]
        else:
            break
        found += (part,)
    return found


def _value_at(values: Any, location: tuple) -> Any:
    for part in location:
        values = values[part]
    return values


def _without(values: Any, paths: set[tuple], here: tuple = ()) -> Any:
    """`values` minus the values at `paths`; only what leads to a path is copied
    (the rest may be deep, or contain itself)."""
    if not any(p[: len(here)] == here for p in paths):
        return values
    if isinstance(values, Mapping):
        return {k: _without(v, paths, here + (k,)) for k, v in values.items() if here + (k,) not in paths}
    if isinstance(values, list):
        return [_without(v, paths, here + (i,)) for i, v in enumerate(values) if here + (i,) not in paths]
    return values


def validate_what_is_valid(
    model: type[Model], values: dict[str, Any], stand_ins: Mapping[str, Any]
) -> tuple[Optional[Model], list[Mapping[str, Any]], Failed]:
    """Validate `values` (config keys by alias); on failure, take out what failed and try again.

    Returns the model built from the valid parts (None only if nothing could be
    salvaged), the pydantic errors of the first round (the problems to report:
    later rounds only see what removal left) and what was taken out.
    `stand_ins` replace failed top-level keys that have no default.
    """
    errors: list[Mapping[str, Any]] = []
    removed: list[tuple[tuple, Any, int]] = []
    current = dict(values)
    for round_ in range(_MAX_ROUNDS):
        try:
            return model.model_validate(current, by_alias=True, by_name=False), errors, Failed(tuple(removed))
        except ValidationError as error:
            found = error.errors()
        errors = errors or found
        paths = set()
        for problem in found:
            location = clean_location(tuple(problem["loc"]))
            path = _deepest_given(current, location)
            key = (path or location)[:1]
            if len(path) <= 1 and key and key[0] in stand_ins:
                removed.append((key, current.get(key[0]), round_))
                current[key[0]] = stand_ins[key[0]]
            elif path:
                paths.add(path)
            else:
                return None, errors, Failed(tuple(removed))
        # Take out the outermost of nested paths: the inner ones go with it.
        outermost = {p for p in paths if not any(p[: len(q)] == q and p != q for q in paths)}
        removed += [(p, _value_at(current, p), round_) for p in sorted(outermost, key=repr)]
        current = _without(current, outermost)
    return None, errors, Failed(tuple(removed))
