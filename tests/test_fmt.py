"""`mlc fmt`: golden layouts, idempotence, meaning kept (same IR), comments kept, and the CLI."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlc.cli import main
from mlc.compiler.lower import lower
from mlc.dsl.files import read_source
from mlc.dsl.fmt import MAX_WIDTH, expr_text, format_module, format_text
from program_gen import programs
from mlc.dsl.parser import get_parser, parse_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FMT = FIXTURES / "fmt"
STDLIB = ROOT / "mlc" / "stdlib"


# ---------------------------------------------------------------- helpers


def _is_location(key: str) -> bool:
    return key == "loc" or key.endswith(("_loc", "_locs"))  # `loc`, and maps such as `arg_locs`


def strip_locs(value):
    """The IR as JSON without any source location: what a program means, not where it was written."""
    if isinstance(value, dict):
        return {k: strip_locs(v) for k, v in value.items() if not _is_location(k)}
    if isinstance(value, list):
        return [strip_locs(v) for v in value]
    return value


def ir_of(texts: dict[str, str]) -> dict:
    modules = []
    for path, text in texts.items():
        module, diags = parse_text(text, path)
        assert not [d for d in diags if d.is_error], (path, diags)
        modules.append(module)
    program, _resolver, _diags = lower(modules)
    return strip_locs(program.model_dump(mode="json"))


def fmt(text: str, path: str = "<input>") -> str:
    return fmt_at(text, path, MAX_WIDTH)


def fmt_at(text: str, path: str, width: int) -> str:
    out, diags = format_text(text, path, width)
    assert out is not None, diags
    return out


def _valid_flow_files(folder: Path) -> list[Path]:
    """Every .flow file under `folder` that reads as text and parses without an error."""
    found = []
    for p in sorted(folder.rglob("*.flow")):
        text, diags = read_source(p, str(p))
        if text is None:
            continue
        _module, diags = parse_text(text, str(p))
        if not any(d.is_error for d in diags):
            found.append(p)
    return found


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _text(p: Path) -> str:
    text, _ = read_source(p, str(p))
    assert text is not None
    return text


EXAMPLE_FILES = sorted(EXAMPLES.glob("*/*.flow"))
FIXTURE_FILES = _valid_flow_files(FIXTURES)
STDLIB_FILES = sorted(STDLIB.rglob("*.flow"))
ALL_VALID = EXAMPLE_FILES + FIXTURE_FILES + STDLIB_FILES
GOLDEN = sorted(p for p in FMT.glob("*.flow") if not p.name.endswith(".expected.flow"))


def test_inputs_are_found() -> None:
    assert len(EXAMPLE_FILES) >= 8
    assert len(GOLDEN) >= 4
    assert all(p in FIXTURE_FILES for p in GOLDEN)


# ---------------------------------------------------------------- golden files


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden(path: Path, update_golden: bool) -> None:
    expected_path = path.with_name(path.name[: -len(".flow")] + ".expected.flow")
    out = fmt(_text(path), path.name)
    if update_golden:
        expected_path.write_text(out, encoding="utf-8")
    assert expected_path.is_file(), f"missing {expected_path.name}: run pytest --update-golden"
    assert out == expected_path.read_text(encoding="utf-8")
    assert fmt(out, path.name) == out  # the expected layout is a fixed point


# ---------------------------------------------------------------- idempotence and meaning


@pytest.mark.parametrize("path", ALL_VALID, ids=_rel)
def test_idempotent(path: Path) -> None:
    once = fmt(_text(path), path.name)
    assert fmt(once, path.name) == once


@pytest.mark.parametrize("path", ALL_VALID, ids=_rel)
def test_same_ir_per_file(path: Path) -> None:
    text = _text(path)
    assert ir_of({path.name: fmt(text, path.name)}) == ir_of({path.name: text})


@pytest.mark.parametrize("project", sorted(p for p in EXAMPLES.iterdir() if p.is_dir()), ids=lambda p: p.name)
def test_same_ir_per_example_project(project: Path) -> None:
    """Names resolve across files: the whole program lowers the same after formatting."""
    files = sorted(project.glob("*.flow"))
    before = {f.name: _text(f) for f in files}
    after = {name: fmt(text, name) for name, text in before.items()}
    assert ir_of(after) == ir_of(before)


@pytest.mark.parametrize("path", ALL_VALID, ids=_rel)
def test_every_comment_kept_once(path: Path) -> None:
    text = _text(path)
    before = Counter(c.text.rstrip() for c in parse_text(text, path.name)[0].comments)
    out = fmt(text, path.name)
    after = Counter(c.text.rstrip() for c in parse_text(out, path.name)[0].comments)
    assert after == before


def test_strip_locs_keeps_docs() -> None:
    """The IR comparison would notice a doc comment that moved away from its declaration."""
    a = ir_of({"a.flow": "## The doc.\nentity e { key id: string }\n"})
    b = ir_of({"a.flow": "## The doc.\n\nentity e { key id: string }\n"})
    assert a != b


def test_ir_comparison_notices_a_changed_value() -> None:
    a = ir_of({"a.flow": "flow f { step s noop() { timeout 1h } }\n"})
    b = ir_of({"a.flow": "flow f { step s noop() { timeout 2h } }\n"})
    assert a != b


# ---------------------------------------------------------------- specific layouts


@pytest.mark.parametrize("source, expected", [
    ("a + b * c", "a + b * c"),
    ("(a + b) * c", "(a + b) * c"),
    ("((a))", "a"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a / (b * c)", "a / (b * c)"),
    ("-(a + b)", "-(a + b)"),
    ("- -a", "- -a"),
    ("-a * b", "-a * b"),
    ("not (a and b)", "not (a and b)"),
    ("not a == b", "not a == b"),
    ("(not a) == b", "(not a) == b"),
    ("(a or b) and c", "(a or b) and c"),
    ("a or (b and c)", "a or b and c"),
    ("a or (b or c)", "a or b or c"),  # `and` and `or` are associative: one row
    ("a + (b + c)", "a + (b + c)"),  # `+` is not (floats round): kept
    ("(a == b) == c", "(a == b) == c"),
    ("a + b in [c, d]", "a + b in [c, d]"),
    ("(a in b) == c", "(a in b) == c"),
    ("count(*)", "count(*)"),
    ("max( a ,b )", "max(a, b)"),
])
def test_expressions_minimal_parentheses(source: str, expected: str) -> None:
    module, diags = parse_text(f"features g on e {{ x = {source} }}\n")
    assert not diags
    e = module.decls[0].derived[0].expr
    assert expr_text(e) == expected
    again, _ = parse_text(f"features g on e {{ x = {expected} }}\n")
    assert ir_of({"a.flow": f"features g on e {{ x = {expected} }}\n"}) == \
        ir_of({"a.flow": f"features g on e {{ x = {source} }}\n"})


@pytest.mark.parametrize("source, expected", [
    ("on_finish(a) and (on_finish(b) or on_finish(c))", "on_finish(a) and (on_finish(b) or on_finish(c))"),
    ("(on_finish(a) and on_finish(b)) or on_finish(c)", "on_finish(a) and on_finish(b) or on_finish(c)"),
    ("((on_finish(a)))", "on_finish(a)"),
    ("on_finish(a) or (on_finish(b) or on_finish(c))", "on_finish(a) or (on_finish(b) or on_finish(c))"),
    ("signal( s,k=1 ,j = run.id )", "signal(s, k = 1, j = run.id)"),
])
def test_triggers(source: str, expected: str) -> None:
    out = fmt(f"flow f {{ trigger {source} }}\n")
    assert out == f"flow f {{\n  trigger {expected}\n}}\n"
    assert ir_of({"a.flow": out}) == ir_of({"a.flow": f"flow f {{ trigger {source} }}\n"})


def test_short_block_joins_and_long_block_splits() -> None:
    short = "source s: table files(path = \"p\") {\n  schema {\n    a: int\n    b: int\n  }\n}\n"
    assert fmt(short) == "source s: table files(path = \"p\") {\n  schema { a: int, b: int }\n}\n"
    names = ", ".join(f"column_number_{i}: string" for i in range(6))
    out = fmt(f"source s: table files(path = \"p\") {{ schema {{ {names} }} }}\n")
    assert "  schema {\n    column_number_0: string\n" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_a_comment_keeps_a_block_open() -> None:
    out = fmt("entity e { key id: string  # the id\n}\n")
    assert out == "entity e {\n  key id: string  # the id\n}\n"


def test_long_list_gets_trailing_commas() -> None:
    refs = ", ".join(f"group_{i}.feature_{i}" for i in range(8))
    out = fmt(f"model m {{ inputs [{refs}] }}\n")
    assert "  inputs [\n    group_0.feature_0,\n" in out and "    group_7.feature_7,\n  ]\n" in out


def test_declarations_are_separated_but_like_one_liners_stay_together() -> None:
    src = ("package p\n\nimport std.slo\nentity a { key id: string }\nentity bb { key id: string }\n"
           "slo x = std.slo.fresh_within(a, 1d)\nflow f {}\n\n\n\nflow g {}\n")
    assert fmt(src) == ("package p\nimport std.slo\n\n"
                        "entity a  { key id: string }\nentity bb { key id: string }\n\n"
                        "slo x = std.slo.fresh_within(a, 1d)\n\n"
                        "flow f {}\n\nflow g {}\n")


def test_comment_inside_a_call_moves_before_its_item_and_keeps_the_doc() -> None:
    src = "flow f {\n  ## Doc.\n  step s python(  # inner\n    \"m:f\")\n}\n"
    out = fmt(src)
    assert out == "flow f {\n  # inner\n  ## Doc.\n  step s python(\"m:f\")\n}\n"
    assert ir_of({"a.flow": out}) == ir_of({"a.flow": src})


def test_trailing_doc_comment_above_a_declaration_stays_attached() -> None:
    src = "entity a { key id: string }  ## doc of b\nflow b {}\n"
    out = fmt(src)
    assert out == src
    assert ir_of({"a.flow": out}) == ir_of({"a.flow": src})


def test_crlf_and_tabs_and_no_final_newline() -> None:
    src = "flow f {\r\n\tschedule daily\r\n\t# note\r\n\tstep s noop()\r\n}"
    assert fmt(src) == "flow f {\n  schedule daily\n  # note\n  step s noop()\n}\n"


def test_empty_and_comment_only_files() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("# just a note\n\n\n# another\n") == "# just a note\n\n# another\n"


def test_errors_are_refused() -> None:
    out, diags = format_text("flow f { step s noop( }\n", "bad.flow")
    assert out is None and any(d.is_error for d in diags)
    out, diags = format_text("flow f { schedule daily\n schedule daily }\n", "twice.flow")
    assert out is None and any(d.code == "E0110" for d in diags)


def test_module_without_source_text_keeps_docs() -> None:
    """A module built in code (the YAML front end) has no comments: docs come from `meta.doc`."""
    text = _text(EXAMPLES / "recommendations" / "models.flow")
    module, _ = parse_text(text, "models.flow")
    out = format_module(module, "")
    assert "## The non-ML baseline: the week's most played titles.\nmodel popular_titles" in out
    assert ir_of({"models.flow": out}) == ir_of({"models.flow": text})
    assert fmt(out) == out


# ---------------------------------------------------------------- perturbations (hypothesis)

SAMPLES = [p for p in EXAMPLE_FILES + GOLDEN]


def _tokens(text: str) -> list:
    return list(get_parser().lark.lex(text))


def _code_tokens(text: str) -> list[str]:
    """The program's tokens, without commas (a block on one line has them, one per line not)
    and without empty `{}` (an optional block is shown only when it holds a comment)."""
    out: list[str] = []
    for t in _tokens(text):
        s = str(t)
        if s == ",":
            continue
        if s == "}" and out and out[-1] == "{":
            out.pop()
            continue
        out.append(s)
    return out


@st.composite
def whitespace_perturbation(draw):
    path = draw(st.sampled_from(SAMPLES))
    text = _text(path)
    toks = _tokens(text)
    out = [text[: toks[0].start_pos]]
    for a, b in zip(toks, toks[1:]):
        out.append(str(a))
        gap = text[a.end_pos: b.start_pos]
        if "#" not in gap and draw(st.integers(0, 3)) == 0:
            if "\n" in gap:  # change the indentation, never add a blank line
                head = gap[: gap.rindex("\n") + 1]
                gap = head + " " * draw(st.integers(0, 9))
            else:
                gap = gap + draw(st.sampled_from([" ", "   ", "\t", "\n", "\n      "]))
        out.append(gap)
    out.append(str(toks[-1]))
    out.append(text[toks[-1].end_pos:])
    return path, text, "".join(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whitespace_perturbation())
def test_whitespace_does_not_matter(case) -> None:
    path, original, perturbed = case
    assert fmt(perturbed, path.name) == fmt(original, path.name)


@st.composite
def comment_perturbation(draw):
    path = draw(st.sampled_from(SAMPLES))
    text = _text(path)
    module, _ = parse_text(text, path.name)
    commented = {c.span.line for c in module.comments}
    lines = text.split("\n")
    added = []
    out = []
    for i, line in enumerate(lines, start=1):
        choice = draw(st.integers(0, 5))
        if choice == 0 and line.strip():
            tag = f"# c{len(added)}"
            added.append(tag)
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + tag)
        if choice == 1 and line.strip() and i not in commented:
            tag = f"# c{len(added)}"
            added.append(tag)
            line = line + "  " + tag
        out.append(line)
    return path, text, "\n".join(out), added


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(comment_perturbation())
def test_added_comments_survive_and_nothing_else_moves(case) -> None:
    path, original, perturbed, added = case
    out = fmt(perturbed, path.name)
    assert fmt(out, path.name) == out
    out_comments = Counter(c.text.rstrip() for c in parse_text(out, path.name)[0].comments)
    in_comments = Counter(c.text.rstrip() for c in parse_text(perturbed, path.name)[0].comments)
    assert out_comments == in_comments
    for tag in added:
        assert out_comments[tag] == 1
    assert _code_tokens(out) == _code_tokens(fmt(original, path.name))
    assert ir_of({path.name: out}) == ir_of({path.name: perturbed})


# ---------------------------------------------------------------- generated programs at several widths


@pytest.mark.parametrize("width", [40, 80, 100])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs())
def test_generated_programs_idempotent_and_same_ir(width: int, program) -> None:
    """A width narrower than a token overflows, but the result is still a fixed point."""
    out = {name: fmt_at(text, name, width) for name, text in program.files.items()}
    for name, text in out.items():
        assert fmt_at(text, name, width) == text, name
    assert ir_of(out) == ir_of(program.files)


def test_width_is_the_longest_one_line_block() -> None:
    text = "flow f {\n  step a noop() { retries 2 }\n}\n"
    width = len("  step a noop() { retries 2 }")
    assert fmt_at(text, "f.flow", width) == text
    split = fmt_at(text, "f.flow", width - 1)
    assert split == "flow f {\n  step a noop() {\n    retries 2\n  }\n}\n"
    assert fmt_at(split, "f.flow", width - 1) == split
    assert fmt_at(split, "f.flow", 1) == split  # narrower than a token: it overflows, once


def test_empty_tags_and_schema_are_kept_as_written() -> None:
    for text in ("entity e { key k: string, tags [] }\n", "entity e { key k: string, tags {} }\n",
                 "source s: stream kafka(topic = \"t\") {\n  schema {}\n  event_time ts\n}\n"):
        assert fmt(text) == text
        assert ir_of({"a.flow": fmt(text)}) == ir_of({"a.flow": text})


LONG_CALL = 'env prod {\n  s3 = s3(bucket = "ml-prod", endpoint = "https://s3.example.com", region = "eu-west-1")\n}\n'


def test_long_call_wraps_one_argument_per_line_with_trailing_commas() -> None:
    assert fmt_at(LONG_CALL, "a.flow", 100) == LONG_CALL
    out = fmt_at(LONG_CALL, "a.flow", 40)
    assert out == ('env prod {\n  s3 = s3(\n    bucket = "ml-prod",\n    endpoint = "https://s3.example.com",\n'
                   '    region = "eu-west-1",\n  )\n}\n')
    assert fmt_at(out, "a.flow", 40) == out
    assert fmt_at(out, "a.flow", 100) == LONG_CALL  # a wider width joins it again
    assert ir_of({"a.flow": out}) == ir_of({"a.flow": LONG_CALL})


def test_long_step_call_wraps_before_its_block() -> None:
    text = 'flow f {\n  step load spark_job(main = "jobs/load_everything.py", memory = 4) { retries 2 }\n}\n'
    out = fmt_at(text, "f.flow", 40)
    assert out == ('flow f {\n  step load spark_job(\n    main = "jobs/load_everything.py",\n    memory = 4,\n'
                   '  ) {\n    retries 2\n  }\n}\n')
    assert fmt_at(out, "f.flow", 40) == out
    assert ir_of({"f.flow": out}) == ir_of({"f.flow": text})


def test_long_operator_chain_breaks_before_operators_inside_parentheses() -> None:
    text = ("entity e { key k: string }\nsource s: stream kafka(topic = \"t\") { schema { k: string, amount: float } }\n"
            "features f on e {\n  from s\n  total = sum(amount) + max(amount) * 2 - min(amount) over 1h\n}\n")
    out = fmt_at(text, "a.flow", 40)
    assert "  total = (\n    sum(amount)\n    + max(amount) * 2\n    - min(amount)\n  ) over 1h\n" in out
    assert fmt_at(out, "a.flow", 40) == out
    assert ir_of({"a.flow": out}) == ir_of({"a.flow": text})


# ---------------------------------------------------------------- the command line

MESSY = "flow f{schedule daily step a noop(){retries 2}}\n"
TIDY = "flow f {\n  schedule daily\n  step a noop() { retries 2 }\n}\n"
BROKEN = "flow g { step a noop( }\n"


def _project(tmp_path: Path) -> Path:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n', encoding="utf-8")
    (tmp_path / "messy.flow").write_text(MESSY, encoding="utf-8")
    (tmp_path / "tidy.flow").write_text(TIDY, encoding="utf-8")
    return tmp_path


def _run(args: list[str]):
    return CliRunner().invoke(main, ["fmt", *args], catch_exceptions=False)


def test_cli_check(tmp_path: Path) -> None:
    root = _project(tmp_path)
    r = _run(["--check", str(root)])
    assert r.exit_code == 1
    assert re.search(r"^would reformat .*messy\.flow$", r.stdout, re.M)
    assert "tidy.flow" not in r.stdout
    assert (root / "messy.flow").read_text(encoding="utf-8") == MESSY
    r = _run(["--check", str(root / "tidy.flow")])
    assert r.exit_code == 0


def test_cli_diff(tmp_path: Path) -> None:
    root = _project(tmp_path)
    r = _run(["--diff", str(root)])
    assert r.exit_code == 1
    assert "--- a/" in r.stdout and "+++ b/" in r.stdout
    assert "+  step a noop() { retries 2 }" in r.stdout
    assert (root / "messy.flow").read_text(encoding="utf-8") == MESSY


def test_cli_rewrites_atomically_and_only_changed_files(tmp_path: Path, monkeypatch) -> None:
    root = _project(tmp_path)
    messy, tidy = root / "messy.flow", root / "tidy.flow"
    messy.chmod(0o640)
    tidy_stat = tidy.stat()
    messy_inode = messy.stat().st_ino
    monkeypatch.chdir(root)
    r = _run([])  # the project in the current folder
    assert r.exit_code == 0, r.output
    assert messy.read_text(encoding="utf-8") == TIDY
    assert messy.stat().st_ino != messy_inode  # replaced by a rename, not written in place
    assert messy.stat().st_mode & 0o777 == 0o640
    assert tidy.stat().st_ino == tidy_stat.st_ino and tidy.stat().st_mtime_ns == tidy_stat.st_mtime_ns
    assert sorted(p.name for p in root.iterdir()) == ["messy.flow", "mlc.toml", "tidy.flow"]
    r = _run(["--check"])
    assert r.exit_code == 0


def test_cli_failed_write_leaves_the_file_whole(tmp_path: Path, monkeypatch) -> None:
    root = _project(tmp_path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        _run([str(root / "messy.flow")])
    assert (root / "messy.flow").read_text(encoding="utf-8") == MESSY
    assert sorted(p.name for p in root.iterdir()) == ["messy.flow", "mlc.toml", "tidy.flow"]


def test_cli_syntax_error_file_untouched(tmp_path: Path) -> None:
    root = _project(tmp_path)
    bad = root / "broken.flow"
    bad.write_text(BROKEN, encoding="utf-8")
    r = _run([str(root)])
    assert r.exit_code == 1
    assert bad.read_text(encoding="utf-8") == BROKEN
    assert re.search(r"error\[E\d+\]", r.stderr) and "broken.flow" in r.stderr
    assert (root / "messy.flow").read_text(encoding="utf-8") == TIDY  # the others are still formatted


def test_cli_leaves_yaml_programs_alone(tmp_path: Path) -> None:
    root = _project(tmp_path)
    yaml_file = root / "more.flow.yaml"
    yaml_file.write_text("package: t\n", encoding="utf-8")
    r = _run([str(root)])
    assert r.exit_code == 0, r.output
    assert yaml_file.read_text(encoding="utf-8") == "package: t\n"
    assert "1 file reformatted, 1 unchanged" in r.stderr


def test_cli_usage_error(tmp_path: Path) -> None:
    r = _run([str(tmp_path / "missing.flow")])
    assert r.exit_code == 2


def test_cli_width_option_and_project_setting(tmp_path: Path, monkeypatch) -> None:
    project = _project(tmp_path)
    monkeypatch.chdir(project)
    assert _run(["--check", "tidy.flow"]).exit_code == 0
    narrow = _run(["--check", "--width", "20", "tidy.flow"])
    assert narrow.exit_code == 1 and "would reformat tidy.flow" in narrow.output
    (project / "mlc.toml").write_text('[project]\nname = "t"\n\n[fmt]\nwidth = 20\n', encoding="utf-8")
    assert _run(["--check", "tidy.flow"]).exit_code == 1
    assert _run(["--check", "--width", "100", "tidy.flow"]).exit_code == 0  # the option wins
    (project / "mlc.toml").write_text('[fmt]\nwidth = "wide"\n', encoding="utf-8")
    bad = _run(["--check", "tidy.flow"])
    assert bad.exit_code == 2 and "[fmt] width must be a whole number" in bad.output
    assert _run(["--width", "0", "tidy.flow"]).exit_code == 2
