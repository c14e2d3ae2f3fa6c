"""The pages of docs/reference/ are what the code produces (issue 19: references
that cannot go stale), and the settings reference cannot leave a key
undocumented: a field without a docstring, or a validator that does not say
what it accepts, stops the generator."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import pytest
from pydantic import AfterValidator, Field

from stack.reference_pages import PAGES, REFERENCE_DIR, reference_pages, write_reference_pages
from stack.reference_pages.settings import accepts_words, rows_of, setting_rows
from stack.settings import SECRET_KEYS, Settings
from stack.settings.values import StrictModel, accepts


@pytest.mark.parametrize("name", sorted(PAGES))
def test_each_reference_page_is_what_the_code_produces(name):
    on_disk = (REFERENCE_DIR / name).read_text()
    assert on_disk == reference_pages()[name], f"docs/reference/{name} is stale: run `make references`"


def test_the_reference_folder_holds_no_page_the_code_does_not_make():
    assert {p.name for p in REFERENCE_DIR.glob("*.md")} == set(PAGES)


def test_writing_the_pages_removes_one_the_code_no_longer_makes(tmp_path):
    (tmp_path / "retired.md").write_text("# a page of an older version\n")
    written = write_reference_pages(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(PAGES)
    assert [p.name for p in written] == list(PAGES)


def test_every_settings_key_and_secret_has_a_row():
    page = reference_pages()["settings.md"]
    for field in Settings.model_fields.values():
        assert f"| `{field.alias}` |" in page, field.alias
    for key in SECRET_KEYS:
        assert f"| `{key}" in page, key
    # Nested keys too, as a stack file spells them.
    for key in ("retention.traces", "alerting.routing.receivers[].slack.channel", "resources.<component>.cpus", "remoteWrite.queue.capacity"):
        assert f"| `{key}` |" in page, key


def test_every_row_says_what_the_key_accepts_and_means():
    for row in setting_rows():
        assert row.accepts and row.meaning and row.default, row
        # Words, never a Python type name.
        assert not re.search(r"\b(str|float|int|bool|dict|tuple|Annotated|NoneType|typing)\b", row.accepts), row


def test_the_reference_states_a_keys_range_and_its_default_per_environment():
    rows = {row.key: row for row in setting_rows()}
    assert rows["resources.<component>.cpus"].accepts == "a number between 0.05 and 16"
    assert rows["retention.traces"].accepts == "a duration of at least 1d"
    assert rows["remoteWrite.queue.capacity"].accepts == "a whole number between 1 and 1000000"
    assert rows["kubernetes.profile"].accepts == "one of `single`, `scalable`"
    # dev and staging are looser than prod (stack/settings/alerting.py ALERTING_DEFAULTS).
    assert rows["alerting.thresholds.hourlyBudgetUsd"].default == "dev: `5`<br>staging: `20`<br>prod: `100`"
    assert rows["resources.<component>.memory"].default.startswith("prometheus `2Gi`, alertmanager `256Mi`")


def test_a_field_without_a_docstring_stops_the_generator():
    class Undocumented(StrictModel):
        retention_days: int = 7

    with pytest.raises(ValueError, match="retentionDays: Undocumented.retention_days has no docstring"):
        list(rows_of(Undocumented))


def test_a_validator_that_does_not_say_what_it_accepts_stops_the_generator():
    def odd_only(value: int) -> int:
        return value

    with pytest.raises(ValueError, match="odd_only says nothing of what it accepts"):
        accepts_words(Annotated[int, AfterValidator(odd_only)], "oddKey")
    assert accepts_words(Annotated[int, AfterValidator(accepts("an odd number")(odd_only))], "oddKey") == "an odd number"


def test_bounds_inside_an_optional_are_read():
    assert accepts_words(Optional[Annotated[int, Field(ge=2, le=9)]], "key") == "a whole number between 2 and 9"


def _unescaped_bars(line: str) -> int:
    return line.replace("\\|", "").count("|")


def test_a_bar_in_a_description_cannot_break_a_table_row():
    # A panel description holds `error_source!~"client|rate_limit"`: unescaped, its row has a column too many.
    for name, page in reference_pages().items():
        lines, columns = page.splitlines(), None
        for line, following in zip(lines, [*lines[1:], ""]):
            if following.startswith("|---"):
                columns = _unescaped_bars(line)
            elif line.startswith("|"):
                assert _unescaped_bars(line) == columns, (name, line)
