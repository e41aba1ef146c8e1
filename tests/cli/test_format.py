"""Docker's output formats: sizes, ages, aligned tables and --format templates."""

from __future__ import annotations

import io

import pytest

from freight.cli.format import Template, TemplateError, human_duration, human_size, render_table

DATA = {"Id": "abc", "Config": {"Cmd": ["sh", "-c"], "Labels": {"a.b": "x"}, "Env": None},
        "State": {"Status": "running", "Running": True, "Pid": 42}, "N": [1, 2]}


@pytest.mark.parametrize("size, text", [(0, "0B"), (999, "999B"), (1000, "1kB"), (4_260_000, "4.26MB"),
                                        (77_800_000, "77.8MB"), (1_234_000_000, "1.23GB")])
def test_human_size_is_decimal_with_three_digits(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize("seconds, text", [(0.5, "Less than a second"), (1, "1 second"), (45, "45 seconds"),
                                           (61, "About a minute"), (600, "10 minutes"),
                                           (3600, "About an hour"), (5 * 3600, "5 hours"),
                                           (3 * 86400, "3 days"), (20 * 86400, "2 weeks"),
                                           (90 * 86400, "3 months"), (800 * 86400, "2 years")])
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_table_columns_are_padded_like_docker_tabwriter() -> None:
    out = io.StringIO()
    render_table([["REPOSITORY", "TAG", "SIZE"], ["busybox", "latest", "1.98MB"]], out)
    assert out.getvalue() == "REPOSITORY   TAG       SIZE\nbusybox      latest    1.98MB\n"


@pytest.mark.parametrize("template, expected", [
    ("{{.State.Status}}", "running"),
    ("{{.State.Pid}}", "42"),
    ("{{json .Config.Cmd}}", '["sh","-c"]'),
    ("{{.Config.Cmd | json}}", '["sh","-c"]'),
    ("{{index .Config.Cmd 1}}", "-c"),
    ("{{(index .Config.Cmd 0)}}", "sh"),
    ('{{index .Config.Labels "a.b"}}', "x"),
    ("{{upper (index .Config.Cmd 0)}}", "SH"),
    ('{{join .Config.Cmd " "}}', "sh -c"),
    ("{{len .N}}", "2"),
    ("{{range .N}}<{{.}}>{{end}}", "<1><2>"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Env}}env{{else}}none{{end}}", "none"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{.Config.Env}}", "[]"),  # a nil slice, as Go prints it
    ("{{.State.Running}}", "true"),
    ("{{.Config.Labels}}", "map[a.b:x]"),
])
def test_template_evaluation(template: str, expected: str) -> None:
    assert Template(template).render(DATA) == expected


def test_table_template_has_headers() -> None:
    out = io.StringIO()
    Template("table {{.Id}}\t{{.State.Status}}", {"Id": "CONTAINER ID"}).write([DATA], out)
    assert out.getvalue() == "CONTAINER ID   STATE\nabc            running\n"


@pytest.mark.parametrize("template", ["{{.Nope}}", "{{nofunc .Id}}", "{{(index .N 0}}", "{{if .Id}}x"])
def test_template_errors(template: str) -> None:
    with pytest.raises(TemplateError):
        Template(template).render(DATA)
