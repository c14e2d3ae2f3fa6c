"""From raw config to Settings: every problem of every kind in one SettingsError,
whichever stage finds it (field checks, checks across keys, secrets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from stack.settings.errors import SettingsError, clean_location, describe, describe_stack_name, keys_as_written
from stack.settings.model import STAND_INS, Settings, settings_problems
from stack.settings.partial import validate_what_is_valid
from stack.settings.secrets import RECEIVER_SECRETS, missing_secrets, receiver_secret_problems, split_secrets


@dataclass(frozen=True)
class LoadedSettings:
    """Settings plus the secrets the stack was given.

    `secrets` maps a SECRET_KEYS key (or `receiverSecrets.<receiver>`) to a
    Pulumi secret Output under Pulumi, or to a visible placeholder string in
    `render`; unset secrets are absent.
    """

    settings: Settings
    secrets: Mapping[str, Any]
    # Offline previews only (load_from_stack_file): each secret the settings
    # need but lack -> the message `pulumi up` would refuse them with.
    missing_secrets: Mapping[str, str] = field(default_factory=dict)


def _settings_and_problems(plain: Mapping[str, Any], stack: str):
    values = {"environment": stack, **plain}
    settings, errors, failed = validate_what_is_valid(Settings, values, STAND_INS)
    # An environment the stack did not set is its stack's name: say so, not "given".
    from_stack = "environment" not in plain
    problems = [
        describe_stack_name(Settings, e, stack) if from_stack and clean_location(tuple(e["loc"]))[:1] == ("environment",)
        else describe(Settings, e)
        for e in keys_as_written(errors)
    ]
    if settings is not None:
        problems += settings_problems(settings, failed)
    return settings, failed, problems


def parse_settings(raw: Mapping[str, Any], stack: str, source: str) -> Settings:
    """Validate raw config (keys without the project prefix, secrets left out) into Settings.

    `stack` is the default `environment`; `source` names the config in the
    error. Raises SettingsError listing every problem found."""
    settings, _, problems = _settings_and_problems(raw, stack)
    if problems or settings is None:
        raise SettingsError(problems, source)
    return settings


def validate_config(
    raw: Mapping[str, Any],
    stack: str,
    source: str,
    is_secret: Callable[[str], bool],
    problems: Sequence[str] = (),
    allow_missing_secrets: bool = False,
) -> tuple[Settings, dict[str, Any]]:
    """Settings and the secrets given (key -> value as configured) from a stack's
    project config, `raw` (keys without the project prefix).

    `is_secret(key)` says whether the config holds that key encrypted;
    `problems` are any found while reading the config, reported with the rest.
    Raises SettingsError listing every problem: settings, secrets and those.
    With `allow_missing_secrets` (the offline previews), secrets the settings
    need but were not given are never a problem (see secrets.missing_secrets):
    alongside other problems they are said as a note after them, as they are
    on their own; for `pulumi up` they are problems."""
    plain, given, secret_given_plainly = split_secrets(raw, is_secret, stack)
    settings, failed, found = _settings_and_problems(plain, stack)
    found = [*problems, *found, *secret_given_plainly]
    missing = []
    if settings is not None:
        found += receiver_secret_problems(settings, given.get(RECEIVER_SECRETS), failed)
        missing = list(missing_secrets(settings, given, stack).values())
    if allow_missing_secrets:
        if found or settings is None:
            raise SettingsError(found, source, missing_secrets=missing)
    elif found or settings is None or missing:
        raise SettingsError(found + missing, source)
    return settings, given
