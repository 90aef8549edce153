"""Property tests over random and mutated programs.

The library is called directly (`parse_text`, `read_source`, `driver.check`) so that any
exception fails the test: the CLI turns an internal error into exit code 2, which would hide
it. Every reported span must lie inside its file.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlc.diagnostics import Diagnostic, Span
from mlc.dsl import ast as A
from mlc.dsl.files import MAX_FILE_BYTES, read_source
from mlc.dsl.parser import DECL_KEYWORDS, MAX_ERRORS_PER_FILE, parse_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SOURCES = {p.relative_to(EXAMPLES).as_posix(): p.read_text(encoding="utf-8")
           for p in sorted(EXAMPLES.glob("*/*.flow"))}

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------- span checks


def _inside(span: Span, lines: list[str], file: str, what: object) -> None:
    assert span.file == file, (what, span)
    assert 1 <= span.line <= span.end_line <= len(lines), (what, span, len(lines))
    assert 1 <= span.col <= len(lines[span.line - 1]) + 1, (what, span)
    assert 1 <= span.end_col <= len(lines[span.end_line - 1]) + 1, (what, span)
    assert (span.line, span.col) <= (span.end_line, span.end_col), (what, span)


def _diagnostics_inside(diags: list[Diagnostic], text: str, file: str) -> None:
    lines = text.split("\n")
    for d in diags:
        assert d.span is not None, d
        _inside(d.span, lines, file, d)
        for label in d.labels:
            _inside(label.span, lines, file, d)


def _nodes(x):
    """Every AST node reachable from x."""
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        yield x
        for f in dataclasses.fields(x):
            yield from _nodes(getattr(x, f.name))
    elif isinstance(x, (list, tuple)) and not isinstance(x, Span):
        for y in x:
            yield from _nodes(y)


def _ast_inside(module: A.Module, text: str, file: str) -> None:
    lines = text.split("\n")
    for node in _nodes(module):
        span = getattr(node, "span", None)
        if isinstance(span, Span):
            _inside(span, lines, file, node)


def check_parse(text: str, file: str = "fuzz.flow") -> list[Diagnostic]:
    module, diags = parse_text(text, file)
    _diagnostics_inside(diags, text, file)
    _ast_inside(module, text, file)
    assert sum(d.is_error for d in diags) <= MAX_ERRORS_PER_FILE + 1
    for d in diags:
        assert "Token(" not in d.message and "$END" not in d.message, d.message
    return diags


# ---------------------------------------------------------------- random programs

TOKENS = [
    *DECL_KEYWORDS, "step", "schedule", "trigger", "param", "from", "online", "offline", "ttl",
    "inputs", "output", "serve", "fallback", "when", "gate", "emits", "signal", "on_finish",
    "and", "or", "not", "in", "over", "every", "key", "schema", "timeout", "retries", "owner",
    "tags", "external", "deterministic", "nondeterministic", "cron", "by", "p99",
    "x", "member_id", "ranker", "std.connectors", "a.b", "run.id",
    "{", "}", "(", ")", "[", "]", ",", ":", "=", "==", "<=", ">=", "<", ">", ">>", ".", ".{", "..",
    "*", "+", "-", "/", "?", "%", "@", "'", '"', "#", "##", "\\",
    '"str"', '"a \\" b"', '"bad \\q"', "0", "42", "0.5", "1.5e3", "-3", "30s", "5m", "1h30m", "2d",
    "16Gi", "1M", "99.9%", "0.0..1.0", "true", "false", "1.5h", "16GB", "é", "\t", "\r",
]
_SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n  ", "", ", ", "\r\n", "\t"])


@st.composite
def token_soup(draw) -> str:
    toks = draw(st.lists(st.sampled_from(TOKENS), max_size=120))
    return "".join(t + draw(_SEPARATORS) for t in toks)


@FUZZ
@given(token_soup())
def test_random_token_soup(text: str) -> None:
    check_parse(text)


@FUZZ
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    check_parse(text)


# ---------------------------------------------------------------- mutated programs


@st.composite
def mutated_example(draw) -> str:
    text = SOURCES[draw(st.sampled_from(sorted(SOURCES)))]
    for _ in range(draw(st.integers(1, 6))):
        n = len(text)
        i = draw(st.integers(0, n))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "swap_lines", "truncate"]))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 30)):]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif kind == "duplicate":
            j = draw(st.integers(i, min(n, i + 80)))
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "swap_lines":
            lines = text.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
        else:
            text = text[:i]
    return text


@FUZZ
@given(mutated_example())
def test_mutated_examples(text: str) -> None:
    check_parse(text)


# ---------------------------------------------------------------- k mistakes, k errors

_CLAUSE_LINE = re.compile(r"^(\s+)(schedule|trigger|param|step|timeout|retries|retry_delay|watermark|"
                          r"event_time|arrives|checkpoint|online|offline|freshness|framework|inputs|"
                          r"output|confidence|fallback|serve|owner|tags|catchup|from)\b")


def _declarations(text: str) -> list[tuple[int, int]]:
    """0-based [start, end) line ranges of the top-level declarations that span several lines."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if re.match(r"(?:%s)\b" % "|".join(DECL_KEYWORDS), line)]
    ranges = list(zip(starts, starts[1:] + [len(lines)], strict=True))
    return [(s, e) for s, e in ranges if "{" in lines[s] and not lines[s].rstrip().endswith("}")]


def _spelt_wrong(word: str) -> str:
    return word[0] + word[2] + word[1] + word[3:] if word[1] != word[2] else word + "x"


def _clause_lines(text: str) -> dict[tuple[int, int], list[int]]:
    """For each multi-line declaration, the lines inside it that start with a clause keyword."""
    lines = text.split("\n")
    found = {(s, e): [i for i in range(s + 1, e) if _CLAUSE_LINE.match(lines[i])] for s, e in _declarations(text)}
    return {k: v for k, v in found.items() if v}


WITH_CLAUSES = sorted(name for name, text in SOURCES.items() if _clause_lines(text))


@st.composite
def program_with_mistakes(draw) -> tuple[str, list[tuple[int, int]]]:
    """An example with one mistake in each of k of its declarations, and those declarations' lines."""
    text = SOURCES[draw(st.sampled_from(WITH_CLAUSES))]
    lines = text.split("\n")
    decls = _clause_lines(text)
    chosen = draw(st.lists(st.sampled_from(sorted(decls)), min_size=1, max_size=min(4, len(decls)), unique=True))
    for start, end in chosen:
        i = draw(st.sampled_from(decls[(start, end)]))
        indent, word = _CLAUSE_LINE.match(lines[i]).groups()
        rest = lines[i][len(indent) + len(word):]
        if draw(st.booleans()):
            lines[i] = indent + _spelt_wrong(word) + rest       # a misspelt keyword
        else:
            lines[i] = indent + word + " @" + rest              # a stray character
    return "\n".join(lines), chosen


@FUZZ
@given(program_with_mistakes())
def test_one_error_per_mistake(case: tuple[str, list[tuple[int, int]]]) -> None:
    text, chosen = case
    diags = check_parse(text)
    errors = [d for d in diags if d.is_error]
    assert len(errors) == len(chosen), [(d.span.line, d.message) for d in errors]
    for d in errors:
        assert any(s < d.span.line <= e for s, e in chosen), (d.span.line, d.message, chosen)


# ---------------------------------------------------------------- files that are not programs


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_read_or_reported(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("bytes") / "x.flow"
    path.write_bytes(data)
    text, diags = read_source(path, "x.flow")
    if text is None:
        assert len(diags) == 1 and diags[0].is_error
        assert diags[0].code in ("E0010", "E0011")
        assert diags[0].span is not None and diags[0].span.line >= 1
        if diags[0].code == "E0010":  # at the line of the first byte that is not UTF-8
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as e:
                assert diags[0].span.line == data[: e.start].count(b"\n") + 1
    else:
        assert diags == []
        check_parse(text)


def test_binary_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.flow"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    text, diags = read_source(path, "model.flow")
    assert text is None
    assert [(d.code, d.message) for d in diags] == [("E0011", "this is a binary file, not a .flow program")]


def test_non_utf8_file_is_reported_at_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.flow"
    path.write_bytes("package p\nmodel m { owner \"Zoë\" }\n".encode("latin-1"))
    text, diags = read_source(path, "latin1.flow")
    assert text is None
    (d,) = diags
    assert (d.code, d.span.line, d.span.col) == ("E0010", 2, 20)
    assert d.message == "the file is not valid UTF-8 (byte 0xeb)"


def test_too_large_file_is_reported_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.flow"
    with open(path, "wb") as f:  # sparse: nothing is written but the size
        f.truncate(MAX_FILE_BYTES + 1)
    text, diags = read_source(path, "huge.flow")
    assert text is None
    assert [d.code for d in diags] == ["E0012"]
    assert "too large" in diags[0].message


def test_a_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.flow"
    path.write_bytes("\ufeffpackage p\n".encode("utf-8"))
    text, diags = read_source(path, "bom.flow")
    assert diags == [] and text == "package p\n"
    module, diags = parse_text(text, "bom.flow")
    assert diags == [] and module.package == "p"


def test_a_long_program_parses_with_errors_far_down(tmp_path: Path) -> None:
    """Many declarations, a mistake near the end: reported at its absolute line."""
    body = "".join(f"model m{i} {{\n  framework rule\n}}\n" for i in range(2000))
    text = body + "flow f {\n  timeout\n}\n"
    diags = check_parse(text)
    assert [(d.code, d.span.line) for d in diags] == [("E0001", 6002)]


# ---------------------------------------------------------------- the whole pipeline


def _project(tmp_path: Path, files: dict[str, bytes]) -> Path:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "fuzz"\nsources = ["."]\n', encoding="utf-8")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(mutated_example(), min_size=1, max_size=3))
def test_check_never_raises_on_mutated_projects(tmp_path_factory, texts: list[str]) -> None:
    from mlc.compiler import driver
    from mlc.compiler.project import load_project

    root = _project(tmp_path_factory.mktemp("proj"), {f"f{i}.flow": t.encode("utf-8") for i, t in enumerate(texts)})
    result = driver.check(load_project([str(root)]), use_cache=False)
    by_file = {f"f{i}.flow": t for i, t in enumerate(texts)}
    for d in result.diagnostics:
        if d.span is None or Path(d.span.file).name not in by_file or "std" in Path(d.span.file).parts:
            continue
        lines = by_file[Path(d.span.file).name].split("\n")
        _inside(d.span, lines, d.span.file, d)


def test_check_reports_unreadable_files_and_goes_on(tmp_path: Path) -> None:
    from mlc.compiler import driver
    from mlc.compiler.project import load_project

    root = _project(tmp_path, {
        "bin.flow": b"\x00\x01\x02binary",
        "latin.flow": "model m { owner \"Zoë\" }\n".encode("latin-1"),
        "ok.flow": b"package p\nsignal s external\n",
    })
    with open(root / "huge.flow", "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    result = driver.check(load_project([str(root)]), use_cache=False)
    codes = sorted(d.code for d in result.diagnostics if d.code.startswith("E001"))
    assert codes == ["E0010", "E0011", "E0012"]


def test_the_column_of_a_bad_byte_counts_characters(tmp_path: Path) -> None:
    path = tmp_path / "mixed.flow"
    path.write_bytes('package p\nmodel m { owner "é'.encode("utf-8") + b'\xff" }\n')
    _, (d,) = read_source(path, "mixed.flow")
    assert (d.code, d.span.line, d.span.col) == ("E0010", 2, 19)
