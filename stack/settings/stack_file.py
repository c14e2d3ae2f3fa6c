"""Settings from Pulumi.<stack>.yaml without Pulumi (`python -m stack render`
and `plan`): the file read as the Pulumi CLI reads it, every problem in it
reported with the settings' own, encrypted values never decrypted."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import yaml

from stack.settings.errors import PROJECT, SettingsError, kind_of, show
from stack.settings.secrets import all_leaves_encrypted, is_encrypted, secret_keys_needed, secret_placeholder
from stack.settings.validation import LoadedSettings, validate_config

PREFIX = PROJECT + ":"


def _document(path: Path) -> Any:
    """The file's YAML, or SettingsError with one line saying why it cannot be read."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        problem = f"cannot read {path}: {error.strerror or error}"
    except UnicodeDecodeError:
        problem = f"{path.name} is not UTF-8 text"
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        context = f" ({error.context})" if error.context and error.problem else ""
        problem = f"{where}: YAML syntax error: {error.problem or error.context}{context}"
    except yaml.YAMLError as error:
        problem = f"{path.name}: YAML syntax error: {error}"
    except ValueError:  # int() refuses numbers above 4300 digits
        problem = f"{path.name}: a number has more digits than can be read (at most 4300)"
    except RecursionError:
        problem = f"{path.name}: values are nested too deeply to read"
    raise SettingsError([problem], path.name)


def _contains_itself(value: Any, inside: frozenset[int] = frozenset()) -> bool:
    """A YAML alias used inside its own anchor (`&a [*a]`) makes a value that contains itself."""
    if not isinstance(value, (dict, list)):
        return False
    if id(value) in inside:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_contains_itself(child, inside | {id(value)}) for child in children)


def read_stack_config(path: Path) -> tuple[dict[Any, Any], list[str]]:
    """The `config:` mapping of a stack file as written, and the problems of its keys.

    A key without a namespace is refused as the Pulumi CLI refuses it (its
    value is still checked as this project's); keys of other namespaces
    (`docker:host`) are the providers' and pass untouched. Raises SettingsError
    when the file is unreadable, not YAML, empty, or not shaped like a stack file."""
    document = _document(path)
    if _contains_itself(document):
        raise SettingsError([f"{path.name}: a YAML alias (*name) is used inside its own anchor (&name)"], path.name)
    if document is None:
        raise SettingsError([f"{path.name} is empty; expected `config:` with at least {PREFIX}target"], path.name)
    if not isinstance(document, dict):
        raise SettingsError(
            [f"{path.name}: expected a mapping with a `config:` section at the top, found {kind_of(document)}"], path.name
        )
    config = document.get("config")
    if config is None:
        return {}, []
    if not isinstance(config, dict):
        raise SettingsError(
            [f"{path.name}: `config:` must be a mapping of {PREFIX}<key>: <value> entries, found {kind_of(config)}"],
            path.name,
        )
    problems = []
    for key in config:
        if not isinstance(key, str):
            problems.append(f"{path.name}: config key {show(key)} is not a name; write {PREFIX}<key>")
            continue
        namespace, colon, name = key.partition(":")
        if not colon:
            problems.append(f"'{key}' has no project prefix; write {PREFIX}{key}")
        elif namespace != PROJECT and difflib.get_close_matches(namespace, [PROJECT], cutoff=0.8):
            problems.append(f"'{key}': '{namespace}' is not this project's namespace; write {PREFIX}{name}")
    return config, problems


def _project_settings(config: dict[Any, Any]) -> dict[str, Any]:
    """Project keys without the prefix; a key missing its prefix counts as the project's."""
    unprefixed = {k: v for k, v in config.items() if isinstance(k, str) and ":" not in k}
    prefixed = {k[len(PREFIX):]: v for k, v in config.items() if isinstance(k, str) and k.startswith(PREFIX)}
    return {**unprefixed, **prefixed}


def load_from_stack_file(path: Path) -> LoadedSettings:
    """Read Pulumi.<stack>.yaml without Pulumi; secrets become placeholders.

    Raises SettingsError listing every problem, each naming its key."""
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config, problems = read_stack_config(path)
    raw = _project_settings(config)
    settings, given = validate_config(raw, stack, path.name, lambda key: all_leaves_encrypted(raw[key]), problems)
    return LoadedSettings(settings, {key: secret_placeholder(key) for key in secret_keys_needed(settings, given)})


def _with_placeholders(value: Any, key: str) -> Any:
    if is_encrypted(value):
        return secret_placeholder(key)
    if isinstance(value, dict):
        return {k: _with_placeholders(v, f"{key}.{k}") for k, v in value.items()}
    return value


def stack_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """Pulumi.<stack>.yaml as the engine hands it to a program: a flat string
    map and the keys holding secrets. Used by `plan` to run the real program
    under mocks; encrypted values become placeholders, nothing is decrypted.

    Raises SettingsError when the file cannot be read or its keys are wrong;
    check its settings with `load_from_stack_file` first."""
    config, problems = read_stack_config(path)
    if problems:
        raise SettingsError(problems, path.name)
    flat, secret_keys = {}, []
    for key, value in config.items():
        if all_leaves_encrypted(value):
            secret_keys.append(key)
        value = _with_placeholders(value, key.partition(":")[2])
        if isinstance(value, (dict, list)):
            flat[key] = json.dumps(value, default=str)
        elif isinstance(value, bool):
            flat[key] = str(value).lower()
        else:
            flat[key] = str(value)
    return flat, secret_keys
