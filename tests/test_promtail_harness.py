"""The Promtail interpreter (tests/promtail_pipeline/) behaves as Promtail
3.6.15 does, on the cases where a plain Python reading would differ. Each
expectation cites the Go source it follows (grafana/loki at v3.6.15, under
clients/pkg/logentry/ unless said otherwise)."""

from __future__ import annotations

import pytest
from promtail_pipeline import (
    GoSyntaxError,
    GoTemplate,
    MISSING,
    Selector,
    TemplateExecError,
    docker_entry_labels,
    go_json_marshal,
    go_unquote,
    relabel,
    run_pipeline,
    run_stream,
)

# --- replace (stages/replace.go) ---------------------------------------------------------


@pytest.mark.parametrize(
    "expression, line, expected",
    [
        # every participating group of every match
        ("(a)(b)?", "ab a", "XX X"),
        # a group starting before the end of the previous replaced one is skipped
        ("(a(b))", "ab", "X"),
        ("(a(b))(c)", "abc abc", "XX XX"),
        # Go's FindAll drops an empty match right after a match (Python keeps it)
        ("(x*)", "axb", "XaXbX"),
        # no match, nothing changes
        ("(z)", "abc", "abc"),
    ],
)
def test_replace_follows_promtails_group_rules(expression, line, expected):
    stages = [{"replace": {"expression": expression, "replace": "X"}}]
    assert run_pipeline(stages, line, {}).line == expected


def test_replace_templates_see_each_group_as_value():
    stages = [{"replace": {"expression": r"key=(\w+)", "replace": "{{ .Value | ToUpper }}"}}]
    assert run_pipeline(stages, "key=abc key=de", {}).line == "key=ABC key=DE"


def test_replace_on_a_source_changes_the_extracted_value_not_the_line():
    stages = [
        {"regex": {"expression": r"^(?P<user>\S+)"}},
        {"replace": {"source": "user", "expression": "(.+)", "replace": "someone"}},
        {"labels": {"user": None}},
    ]
    entry = run_pipeline(stages, "jane logged in", {})
    assert (entry.line, entry.labels) == ("jane logged in", {"user": "someone"})


def test_a_template_the_interpreter_does_not_know_fails_loudly():
    with pytest.raises(AssertionError, match="teach tests/promtail_pipeline/gotemplate.py"):
        run_pipeline([{"replace": {"expression": "(a)", "replace": "{{ sha256sum .Value }}"}}], "a", {})
    with pytest.raises(AssertionError, match="teach tests/promtail_pipeline/gotemplate.py"):
        GoTemplate("{{- .Value -}}")


# --- text/template and the template stage (stages/template.go) ---------------------------


def test_a_missing_value_prints_no_value_and_is_false():
    assert GoTemplate("{{ .nope }}").execute({}) == "<no value>"
    assert GoTemplate("{{ if .nope }}yes{{ else }}no{{ end }}").execute({}) == "no"
    with pytest.raises(TemplateExecError):
        GoTemplate("{{ ToLower .nope }}").execute({})
    assert repr(MISSING) == "<no value>"


def test_an_empty_template_result_deletes_the_key_and_a_failed_one_changes_nothing():
    stages = [
        {"regex": {"expression": r"^(?P<a>\w+) (?P<b>\w+)"}},
        {"template": {"source": "a", "template": '{{ if regexMatch "^x" .Value }}{{ .Value }}{{ end }}'}},
        {"template": {"source": "b", "template": "{{ ToLower .missing }}"}},
        {"labels": {"a": None, "b": None}},
    ]
    assert run_pipeline(stages, "yes No", {}).labels == {"b": "No"}


# --- match (stages/match.go, logql/) -------------------------------------------------------


@pytest.mark.parametrize(
    "selector, labels, line, matches",
    [
        ('{service="kong"}', {"service": "kong"}, "x", True),
        ('{service=~"kong"}', {"service": "kong-2"}, "x", False),  # label regexes are anchored
        ('{service=~"kong.*"}', {"service": "kong-2"}, "x", True),
        ('{stream=""}', {"service": "kong"}, "x", True),  # a missing label is ""
        ('{service!="kong", stream=~"std.+"}', {"service": "api", "stream": "stderr"}, "x", True),
        ('{service=~".+"} |= "sk-"', {"service": "api"}, "key sk-123", True),
        ('{service=~".+"} |= "sk-" != "[REDACTED"', {"service": "api"}, "[REDACTED:openai_key] sk-", False),
        ('{service=~".+"} |~ "\\\\d{3}"', {"service": "api"}, "call 555", True),  # line regexes are not anchored
        ('{service=~".+"} !~ "^\\\\{"', {"service": "api"}, '{"a":1}', False),
        ('{service=~".+"} |= "a\\"b"', {"service": "api"}, 'x a"b', True),
        ('{service=~".*"}', {}, "no labels at all", True),
        ('{service=~".*"} != "sk-" != "@"', {}, "mail x@y.z", False),  # filters AND, left to right
        ('{service=~".*"} != "sk-" != "@"', {}, "neither", True),
        ('{service=~".*"} |~ "sk-|@" |= "c"', {}, "xc@", True),  # an alternation is the only `or`
        ('{service=~".*"} |~ "sk-|@" |= "c"', {}, "x@", False),
        ('{ service = "a" ,stream="b" } // a comment', {"service": "a", "stream": "b"}, "x", True),
    ],
)
def test_match_selectors_mean_what_promtail_means(selector, labels, line, matches):
    assert Selector.parse(selector).matches(labels, line) is matches


@pytest.mark.parametrize(
    "selector",
    [
        '{service=~".+"} |~ `\\d+`',  # the selector lexer has no raw strings
        '{service=~".+"} |~ "\\d+"',  # \d is no Go string escape
        "{}",
        '{service="a"',
        '{service="a"} "x"',
        '{service="a"} |=',
        # Loki's LogQL, not Promtail's grammar (clients/pkg/logentry/logql/expr.y):
        '{service="a"} |= "x" or "y"',  # `or` between filter strings (Loki 3.x)
        '{service="a"} |= "x" or |= "y"',
        '{service="a"} | json',  # parsers
        '{service="a"} | logfmt',
        '{service="a"} | level="error"',  # label filters
        '{service="a"} | line_format "{{.x}}"',
        '{service="a"} |> "<_> x"',  # pattern filters
        '{service="a"} |= ip("10.0.0.1")',
        '{service="a"} |= "x" |= "y" }',
        '{service="a", }',
        '{service=a}',  # values are strings
        "{service='a'}",  # ... double-quoted ones
        '{service=~"(a"}',  # a bad label regex: mustNewMatcher panics
        '{service="a"} |~ "(a"',  # a bad line regex: Filter() fails
        '{service="a"} |~ "a" /* unterminated',
        'service="a"',  # the selector is not optional
        '{service="a"} == "x"',
    ],
)
def test_selectors_promtail_refuses_are_refused(selector):
    with pytest.raises(GoSyntaxError):
        Selector.parse(selector)


def test_nested_stages_of_any_kind_run_in_a_match():
    stages = [
        {
            "match": {
                "selector": '{service="api"} |= "secret"',
                "stages": [
                    {"replace": {"expression": "secret=(\\w+)", "replace": "***"}},
                    {"match": {"selector": '{service="api"} |= "drop-me"', "action": "drop", "drop_counter_reason": "noisy"}},
                    {"static_labels": {"masked": "yes"}},
                ],
            }
        }
    ]
    masked = run_pipeline(stages, "secret=abc", {"service": "api"})
    assert (masked.line, masked.labels) == ("secret=***", {"service": "api", "masked": "yes"})
    assert run_pipeline(stages, "secret=abc drop-me", {"service": "api"}).dropped == "noisy"
    assert run_pipeline(stages, "secret=abc", {"service": "other"}).line == "secret=abc"


# --- json (stages/json.go, go-jmespath) ----------------------------------------------------


def test_json_extracts_as_go_does():
    line = '{"status": 502, "ok": true, "obj": {"z": "<a&b>", "a": [1, 2.5]}, "nothing": null, "s": "x"}'
    stages = [
        {"json": {"expressions": {"status": "", "ok": "", "obj": "", "nothing": "", "s": "", "first": "absent || nothing || s"}}},
        {"labels": {"status": None, "ok": None, "obj": None, "nothing": None, "first": None}},
    ]
    labels = run_pipeline(stages, line, {}).labels
    assert labels == {"status": "502", "ok": "true", "obj": '{"a":[1,2.5],"z":"\\u003ca\\u0026b\\u003e"}', "first": "x"}


def test_a_field_of_a_string_is_null_in_jmespath():
    stages = [{"json": {"expressions": {"id": "id.w3c || id"}}}, {"labels": {"id": None}}]
    assert run_pipeline(stages, '{"id": "abc"}', {}).labels == {"id": "abc"}
    assert run_pipeline(stages, '{"id": {"w3c": "def"}}', {}).labels == {"id": "def"}
    assert run_pipeline(stages, '{"id": {"b3": ""}}', {}).labels == {"id": '{"b3":""}'}


def test_go_json_marshal_sorts_keys_and_escapes_html():
    assert go_json_marshal({"b": 1e21, "a": 1e-7, "c": "\u2028"}) == '{"a":1e-7,"b":1e+21,"c":"\\u2028"}'


def test_go_strings_decode_like_strconv_unquote():
    assert go_unquote('"a\\tb\\u00e9\\x41\\101"') == "a\tb\u00e9AA"
    for bad in ('"\\q"', "`raw`", '"\\xff"', "'c'"):
        with pytest.raises(GoSyntaxError):
            go_unquote(bad)


# --- multiline (stages/multiline.go) -------------------------------------------------------

MULTILINE = [{"multiline": {"firstline": "^START", "max_wait_time": "3s", "max_lines": 3}}]


def test_lines_before_a_streams_first_start_line_pass_through():
    shipped = run_stream(MULTILINE, [(0, {"s": "a"}, "orphan"), (0.1, {"s": "a"}, "START 1"), (0.2, {"s": "a"}, "more")])
    assert [e.line for e in shipped.output] == ["orphan", "START 1\nmore"]


def test_each_label_set_has_its_own_buffer():
    shipped = run_stream(
        MULTILINE,
        [(0, {"s": "a"}, "START a"), (0.1, {"s": "b"}, "START b"), (0.2, {"s": "a"}, "a2"), (0.3, {"s": "b"}, "b2")],
    )
    assert sorted(e.line for e in shipped.output) == ["START a\na2", "START b\nb2"]


def test_a_block_is_flushed_at_max_lines_and_continues_under_its_start_line():
    shipped = run_stream(MULTILINE, [(i / 10, {"s": "a"}, line) for i, line in enumerate(["START", "2", "3", "4"])])
    assert [(e.line, e.at) for e in shipped.output] == [("START\n2\n3", 0.0), ("4", 0.0)]


def test_a_quiet_stream_is_flushed_after_max_wait_time_others_are_not():
    shipped = run_stream(
        MULTILINE,
        [(0, {"s": "a"}, "START a"), (1.0, {"s": "b"}, "START b"), (3.5, {"s": "b"}, "b2"), (3.6, {"s": "b"}, "b3")],
    )
    # "a" went quiet for 3 s before b2 arrived; "b" waited only until the end.
    assert [e.line for e in shipped.output] == ["START a", "START b\nb2\nb3"]


def test_the_block_keeps_its_start_lines_labels_time_and_extracted_values():
    stages = [{"regex": {"expression": "^(?P<first>\\w+)"}}, *MULTILINE, {"labels": {"first": None}}]
    shipped = run_stream(stages, [(0, {"s": "a"}, "START here"), (0.1, {"s": "a"}, "tail")])
    assert [(e.line, e.labels) for e in shipped.output] == [("START here\ntail", {"s": "a", "first": "START"})]


# --- relabelling (model/relabel, targets/docker) ------------------------------------------


def test_relabel_regexes_are_anchored_and_empty_results_delete_the_label():
    configs = [
        {"source_labels": ["__name"], "regex": "/(.*)", "target_label": "name"},
        {"source_labels": ["__missing"], "target_label": "name"},
        {"source_labels": ["__name"], "regex": "api", "action": "keep"},
    ]
    assert relabel(configs[:1], {"__name": "/api"}) == {"__name": "/api", "name": "api"}
    assert relabel(configs[:2], {"__name": "/api"}) == {"__name": "/api"}
    assert relabel(configs[2:], {"__name": "/api"}) is None  # "api" does not match all of "/api"


def test_the_docker_target_adds_the_log_stream_and_hides_meta_labels():
    configs = [{"source_labels": ["__meta_docker_container_log_stream"], "target_label": "stream"}]
    assert docker_entry_labels(configs, {"__meta_docker_container_name": "/api"}, "stderr") == {"stream": "stderr"}
