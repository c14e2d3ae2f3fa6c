"""Settings from Pulumi.<stack>.yaml without Pulumi (`python -m stack render`
and `plan`): the file read as the Pulumi CLI reads it, every problem in it
reported with the settings' own, encrypted values never decrypted."""

from __future__ import annotations

import datetime
import difflib
import json
import re
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from stack.settings.errors import PROJECT, WRITTEN_AS, SettingsError, kind_of, show
from stack.settings.secrets import all_leaves_encrypted, is_encrypted, missing_secrets, secret_keys_needed, secret_placeholder
from stack.settings.validation import LoadedSettings, validate_config

PREFIX = PROJECT + ":"
# Pulumi reads a stack's config from Pulumi.<stack>.yaml only; a stack name is
# letters, digits, '-', '_' and '.'.
_STACK_FILE_NAME = re.compile(r"Pulumi\.([A-Za-z0-9_.-]+)\.yaml")
STACK_FILE_NAMING = "a stack file must be named Pulumi.<stack>.yaml: the stack's name, and so its environment, is taken from it"


def stack_of(path: Path) -> Optional[str]:
    """The stack a Pulumi.<stack>.yaml belongs to (`Pulumi.dev.yaml` -> 'dev'),
    or None for a file not named so."""
    match = _STACK_FILE_NAME.fullmatch(path.name)
    return match.group(1) if match else None


class _WrittenDate(datetime.date):
    """A date YAML read, knowing the text it was written as (errors.WRITTEN_AS)."""


class _WrittenDateTime(datetime.datetime):
    """A date and time YAML read, knowing the text it was written as (errors.WRITTEN_AS)."""


class _StackFileLoader(yaml.SafeLoader):
    """yaml.SafeLoader, and what the Pulumi CLI's reader (Go's yaml.v3) does
    differently: a key given twice in one mapping is refused (yaml.v3's
    decoder compares the keys' kind and text: `a` and `'a'` are the same key),
    found as `duplicates` (file:line:col texts, every one, not only the first).
    Dates and times keep the text they were written as, so a message can show
    what the operator typed."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[yaml.Mark, str, yaml.Mark]] = []

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Mark] = {}
            for key, _ in node.value:
                if key.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may repeat what it merges
                    continue
                identity = (type(key).__name__, key.value if isinstance(key, yaml.ScalarNode) else str(id(key)))
                if identity in first:
                    self.duplicates.append((key.start_mark, key.value, first[identity]))
                else:
                    first[identity] = key.start_mark
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node):
        value = super().construct_yaml_timestamp(node)
        if isinstance(value, datetime.datetime):
            written = _WrittenDateTime.combine(value.date(), value.timetz())
        else:
            written = _WrittenDate(value.year, value.month, value.day)
        setattr(written, WRITTEN_AS, node.value)
        return written


_StackFileLoader.add_constructor("tag:yaml.org,2002:timestamp", _StackFileLoader.construct_yaml_timestamp)


def _document(path: Path) -> Any:
    """The file's YAML, or SettingsError with one line saying why it cannot be read
    (for keys given twice, one line for each)."""
    try:
        loader = _StackFileLoader(path.read_text(encoding="utf-8"))
        try:
            document = loader.get_single_data()
        finally:
            loader.dispose()
        if loader.duplicates:
            raise SettingsError(
                [
                    f"{path.name}:{mark.line + 1}:{mark.column + 1}: {show(key)} is given twice in one mapping "
                    f"(first on line {first.line + 1}); Pulumi refuses a repeated key: keep one"
                    for mark, key, first in sorted(loader.duplicates, key=lambda d: (d[0].line, d[0].column))
                ],
                path.name,
            )
        return document
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


def load_from_stack_file(path: Path, allow_missing_secrets: bool = False) -> LoadedSettings:
    """Read Pulumi.<stack>.yaml without Pulumi; secrets become placeholders.

    Raises SettingsError listing every problem, each naming its key (one
    naming the file when it is not named Pulumi.<stack>.yaml). With
    `allow_missing_secrets` (`render` and `plan`, which never see a secret's
    value), a secret the settings need but the file lacks is a placeholder
    too, and its message is in `missing_secrets` instead of an error."""
    stack = stack_of(path)
    if stack is None:
        raise SettingsError([f"{path.name}: {STACK_FILE_NAMING}"], path.name)
    config, problems = read_stack_config(path)
    raw = _project_settings(config)

    def is_secret(key: str) -> bool:
        return all_leaves_encrypted(raw[key])

    settings, given = validate_config(raw, stack, path.name, is_secret, problems, allow_missing_secrets)
    missing = missing_secrets(settings, given, stack)
    keys = [*secret_keys_needed(settings, given), *missing]
    return LoadedSettings(settings, {key: secret_placeholder(key) for key in keys}, missing)


def _with_placeholders(value: Any, key: str) -> Any:
    if is_encrypted(value):
        return secret_placeholder(key)
    if isinstance(value, dict):
        return {k: _with_placeholders(v, f"{key}.{k}") for k, v in value.items()}
    return value


def stack_config(path: Path, missing_secrets: Iterable[str] = ()) -> tuple[dict[str, str], list[str]]:
    """Pulumi.<stack>.yaml as the engine hands it to a program: a flat string
    map and the keys holding secrets. Used by `plan` to run the real program
    under mocks; encrypted values become placeholders, nothing is decrypted.
    `missing_secrets` (LoadedSettings.missing_secrets' keys) are added as
    placeholder secrets, so the plan shows what `pulumi up` creates once they are set.

    Raises SettingsError when the file cannot be read or its keys are wrong;
    check its settings with `load_from_stack_file` first."""
    config, problems = read_stack_config(path)
    if problems:
        raise SettingsError(problems, path.name)
    config = dict(config)
    for key in missing_secrets:
        top, _, receiver = key.partition(".")
        if receiver:  # receiverSecrets.<receiver>: one entry of the map
            config.setdefault(PREFIX + top, {})[receiver] = {"secure": "missing"}
        else:
            config[PREFIX + key] = {"secure": "missing"}
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
