"""Golden tests of syntax errors: each `tests/fixtures/syntax/NAME.flow` is parsed, and its
diagnostics rendered as text (`NAME.txt`) and as JSON (`NAME.json`) must match the files
beside it byte for byte. Regenerate with `pytest --update-golden` (or MLC_UPDATE_GOLDEN=1)
and review the diff: the expected text is what a user should see.

`EXPECTED` states, independently of the golden files, the code, line:col and message of
every error of every fixture — one error per mistake, in words, at the place of the mistake.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mlc.diagnostics import (
    JSON_FORMAT_VERSION,
    Diagnostic,
    SourceMap,
    render_json,
    render_text,
)
from mlc.dsl.parser import parse_text

SYNTAX = Path(__file__).resolve().parent / "fixtures" / "syntax"

EXPECTED: dict[str, list[tuple[str, str, str]]] = {
    "unclosed_flow": [
        ("E0002", "7:54", "expected `}` to close flow `train` opened at 5:1"),
    ],
    "unclosed_step": [
        ("E0002", "7:3", "expected `}` to close step `fit` opened at 4:3"),
    ],
    "missing_open_brace": [
        ("E0002", "3:35", "expected `{` to open step `batch`"),
        ("E0002", "9:51", "expected `{` to open source `plays`"),
    ],
    "list_without_brackets": [
        ("E0005", "4:10", "`inputs` takes a bracketed list"),
        ("E0005", "6:8", "`tags` takes a bracketed list"),
    ],
    "unknown_clause": [
        ("E0006", "4:5", "unknown clause `retires` in step `fit`"),
        ("E0006", "7:3", "unknown clause `shedule` in flow `train`"),
        ("E0006", "13:3", "unknown clause `oneline` in features `member_activity`"),
        ("E0006", "16:40", "unknown clause `onwer` in entity `member`"),
    ],
    "unknown_declaration": [
        ("E0006", "3:1", "unknown declaration `flwo`"),
        ("E0001", "7:1", "`step` cannot start a declaration"),
        ("E0001", "12:1", "unmatched `}`: no `{` is open here"),
    ],
    "three_mistakes": [
        ("E0001", "7:20", "expected a duration (like `5m`) after `delay` in source `plays`"),
        ("E0007", "14:11", "`1.5h` is not a duration"),
        ("E0002", "21:3", "expected `]` to close `[` opened at 20:10"),
    ],
    "strings": [
        ("E0004", "2:17", "unterminated string"),
        ("E0003", "3:17", "unexpected character `'`"),
        ("E0103", "4:15", "invalid escape in string"),
    ],
    "numbers": [
        ("E0007", "4:13", "`1.5h` is not a duration"),
        ("E0007", "5:17", "`30sec` is not a duration"),
        ("E0007", "6:31", "`16GB` is not a size"),
        ("E0007", "11:21", "`1 h` is not a duration"),
        ("E0007", "15:34", "`10` is not a duration: it has no unit"),
    ],
    "missing_value": [
        ("E0001", "4:3", "expected `cron`, `every` or a name after `schedule` in flow `train`"),
        ("E0001", "7:5", "expected a duration (like `5m`) after `timeout` in step `fit`"),
        ("E0001", "14:9", "expected an expression after `=` in features `g`"),
    ],
    "unclosed_brackets": [
        ("E0002", "1:46", "expected `)` to close `(` opened at 1:28"),
        ("E0002", "7:3", "expected `]` to close `[` opened at 6:10"),
        ("E0001", "11:23", "unmatched `)`: no `(` is open here"),
    ],
    "common_mistakes": [
        ("E0001", "6:11", "steps are chained with `>>`, not `->`"),
        ("E0001", "9:8", "`owner` takes no colon"),
        ("E0001", "10:21", "`on_finish` takes its flow in parentheses"),
        ("E0001", "11:20", "`python` takes an entry point as a string"),
        ("E0001", "14:18", "`signal` takes its signal in parentheses"),
        ("E0001", "18:17", "a cron expression is written as a string"),
        ("E0001", "25:37", "`=` does not compare"),
        ("E0001", "26:19", "`replicas` takes no colon"),
    ],
    "type_arguments": [
        ("E0001", "3:19", "`decimal` takes no size here: the type is `float`"),
        ("E0001", "3:43", "`varchar` takes no size here: the type is `string`"),
        ("E0001", "6:23", "a type's arguments are names, not numbers"),
    ],
    "slo_mistakes": [
        ("E0001", "1:38", "a latency objective needs a percentile"),
        ("E0001", "2:49", "a time of day is written as a string"),
        ("E0003", "3:46", "unexpected character `%`"),
    ],
    "duplicate_clauses": [
        ("E0110", "3:3", "`schedule` is given twice in this flow"),
        ("E0110", "4:49", "`retries` is given twice in this step"),
        ("E0110", "9:3", "an entity has one key clause: a single key or one composite `key (...)`"),
        ("E0110", "12:23", "`owner` is given twice in this signal"),
    ],
    "misplaced_words": [
        ("E0001", "1:18", "unexpected `deterministic` after `{` in model `baseline`"),
        ("E0001", "4:6", "`decimal` takes no size here: the type is `float`"),
        ("E0001", "7:24", "unexpected `{` after `.` in the file"),
    ],
    "unexpected_end": [
        ("E0001", "5:30", "unexpected end of the declaration after `nondeterministic`"),
    ],
}

# The help that names the repair, where there is one obvious repair.
EXPECTED_HELP: dict[tuple[str, str], str] = {
    ("unclosed_step", "7:3"): "add `}` at the end of line 6",
    ("missing_open_brace", "3:35"): "add `{` at the end of line 3",
    ("list_without_brackets", "4:10"): "write `inputs [member_activity.views_1h, title_popularity.plays_7d]`",
    ("unknown_clause", "7:3"): "did you mean `schedule`?",
    ("unknown_declaration", "3:1"): "did you mean `flow`?",
    ("three_mistakes", "14:11"): "write `90m`",
    ("numbers", "6:31"): "write `16G`",
    ("numbers", "11:21"): "write the unit right after the number: `1h`",
    ("numbers", "15:34"): "add its unit: `10s`, `10m`, `10h`, ...",
    ("strings", "3:17"): 'strings are written in double quotes: "like this"',
    ("slo_mistakes", "1:38"): "write `latency(ranker) p99 <= 50ms` (or p50, p95)",
    ("slo_mistakes", "2:49"): 'write `by "06:00"`',
    ("common_mistakes", "6:11"): "write `extract >> publish`",
    ("common_mistakes", "9:8"): 'write `owner "analytics"`',
    ("common_mistakes", "10:21"): "write `on_finish(report)`",
    ("common_mistakes", "11:20"): 'write `python("notify.send:main")`',
    ("common_mistakes", "14:18"): "write `signal(ready)`",
    ("common_mistakes", "18:17"): 'write `cron("0 2 * * *")`',
    ("common_mistakes", "25:37"): "write `confidence == 0.5` (or `<`, `>=`, ...)",
    ("common_mistakes", "26:19"): "write `replicas 2`",
    ("type_arguments", "3:19"): "write `float`",
    ("type_arguments", "3:43"): "write `string`",
    ("type_arguments", "6:23"): "name them, as in `enum(low, high)`",
    ("slo_mistakes", "3:46"): "write the percentage with no space: `99.9%`",
    ("misplaced_words", "1:18"): "write the marker in the model's header: `model baseline deterministic { ... }`",
    ("misplaced_words", "7:24"): "write `.{` with no space in between: `import std.connectors.{kafka, s3}`",
}

FIXTURES = sorted(p.stem for p in SYNTAX.glob("*.flow"))


def _parse(name: str) -> tuple[str, list[Diagnostic]]:
    text = (SYNTAX / f"{name}.flow").read_text(encoding="utf-8")
    _, diags = parse_text(text, f"{name}.flow")
    return text, diags


def _check_golden(path: Path, actual: str, update: bool) -> None:
    if update:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.name}; run pytest --update-golden and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} differs; if the change is intended, run --update-golden"


def test_every_fixture_has_expectations() -> None:
    assert FIXTURES == sorted(EXPECTED), "add the fixture's errors to EXPECTED"


@pytest.mark.parametrize("name", FIXTURES)
def test_errors_in_words_at_the_mistake(name: str) -> None:
    _, diags = _parse(name)
    got = [(d.code, f"{d.span.line}:{d.span.col}", d.message) for d in diags]
    assert got == EXPECTED[name]
    for d in diags:
        key = (name, f"{d.span.line}:{d.span.col}")
        if key in EXPECTED_HELP:
            assert d.help == EXPECTED_HELP[key]


@pytest.mark.parametrize("name", FIXTURES)
def test_golden_text(name: str, update_golden: bool) -> None:
    text, diags = _parse(name)
    sources = SourceMap()
    sources.add(f"{name}.flow", text)
    _check_golden(SYNTAX / f"{name}.txt", render_text(diags, sources), update_golden)


@pytest.mark.parametrize("name", FIXTURES)
def test_golden_json(name: str, update_golden: bool) -> None:
    _, diags = _parse(name)
    rendered = render_json(diags)
    _check_golden(SYNTAX / f"{name}.json", rendered + "\n", update_golden)
    doc = json.loads(rendered)
    assert doc["format_version"] == JSON_FORMAT_VERSION
    assert doc["valid"] is False and doc["error_count"] == len(EXPECTED[name])
    for item, (code, where, message) in zip(doc["diagnostics"], EXPECTED[name], strict=True):
        line, col = map(int, where.split(":"))
        assert (item["code"], item["message"], item["severity"]) == (code, message, "error")
        assert item["range"]["file"] == f"{name}.flow"
        assert (item["range"]["start"]["line"], item["range"]["start"]["column"]) == (line, col)


_NOT_WORDS = re.compile(r"Token\(|__ANON|\$END|Traceback|\b(?:LBRACE|RBRACE|LPAR|RPAR|LSQB|RSQB|NAME|"
                        r"STRING|INT|FLOAT|DURATION|COMMA|COLON|EQUAL|DOT|STAR)\b")


def _words_only(d: Diagnostic) -> None:
    for text in (d.message, d.help or "", *d.notes, *(lb.message for lb in d.labels)):
        assert not _NOT_WORDS.search(text), text


@pytest.mark.parametrize("name", FIXTURES)
def test_no_token_dumps(name: str) -> None:
    _, diags = _parse(name)
    for d in diags:
        _words_only(d)


def test_three_mistakes_give_three_errors() -> None:
    _, diags = _parse("three_mistakes")
    assert len(diags) == 3 and len({d.span.line for d in diags}) == 3


def test_every_declaration_survives_a_mistake_in_another() -> None:
    text = (SYNTAX / "three_mistakes.flow").read_text(encoding="utf-8")
    module, _ = parse_text(text, "three_mistakes.flow")
    assert [d.name.value for d in module.decls] == ["netflix.recs", "plays", "title_popularity", "ranker",
                                                    "train_ranker"]


def test_a_mistake_inside_a_one_line_declaration_keeps_the_declaration() -> None:
    module, diags = parse_text('entity member { key member_id: string, onwer "identity" }\n'
                               "model m { oops }\n", "t.flow")
    assert [d.code for d in diags] == ["E0006", "E0001"]
    assert [d.name.value for d in module.decls] == ["member", "m"]
    assert [k.name.value for k in module.decls[0].keys] == ["member_id"]


@pytest.mark.parametrize("clause", ["inputs", "tags"])
def test_a_list_over_several_lines_without_its_bracket(clause: str) -> None:
    item = "a.x" if clause == "inputs" else '"x"'
    text = f"model m {{\n  {clause}\n    {item},\n    {item},\n  ]\n  framework rule\n}}\n"
    module, diags = parse_text(text, "t.flow")
    assert [(d.code, d.span.line) for d in diags] == [("E0005", 3)]
    assert module.decls[0].framework.value == "rule"


def test_errors_are_capped_per_file() -> None:
    from mlc.dsl.parser import MAX_ERRORS_PER_FILE

    text = "".join(f"flow f{i} {{ step a python('x') }}\n" for i in range(3 * MAX_ERRORS_PER_FILE))
    _, diags = parse_text(text, "t.flow")
    assert MAX_ERRORS_PER_FILE <= len(diags) <= MAX_ERRORS_PER_FILE + 1
    assert all(d.code == "E0003" for d in diags)


def test_repairs_keep_comments_where_they_are_written() -> None:
    """A repair may put a bracket just before a comment: the comment keeps its place."""
    cases = {
        "model m {\n  framework rule\n  inputs a.x, b.y# the inputs\n}\n": ("E0005", 3, 18),
        'flow f {\n  step a python("x")# no block\n    retries 1\n  }\n}\n': ("E0002", 2, 21),
        'flow f {\n  step a python("x") {  # open\n    retries 1  # one\n  step b python("y")\n}\n': ("E0002", 2, 25),
    }
    for text, (code, line, col) in cases.items():
        module, diags = parse_text(text, "t.flow")
        assert [d.code for d in diags] == [code], text
        lines = text.split("\n")
        for c in module.comments:
            assert lines[c.span.line - 1][c.span.col - 1:] == c.text
        assert (module.comments[0].span.line, module.comments[0].span.col) == (line, col)
