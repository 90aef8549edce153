"""One type inferrer (mlc/compiler/infer.py) for the checks and the SQL and Airflow backends:
the type errors the docs promise as E0303, the meaning of durations, and the backends
agreeing with the checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlc.compiler import ir
from mlc.compiler.infer import Inferrer, names_lookup
from mlc.targets import sql as S
from mlc.targets.airflow import expr as X
from tests.test_checks import BASE, run


def _lit(kind: str, value, text: str | None = None) -> ir.Expr:
    return ir.Expr(op="lit", kind=kind, value=value, text=text)


def _ref(name: str, target: str | None = None, type: str | None = None) -> ir.Expr:
    """A ref as `mlc.compiler.references` leaves it (the backends read its target and type)."""
    return ir.Expr(op="ref", name=name, target=target, type=type)


def _bin(op: str, *args: ir.Expr) -> ir.Expr:
    return ir.Expr(op="binop", name=op, args=args)


# ---------------------------------------------------------------- E0303 that passed before


@pytest.mark.parametrize("old,new,expected", [
    ("views_1h = count(kind == view)", "views_1h = count(kind == 3)",
     ("E0303", 19, 20, "`==` compares an enum (`kind`) with an int")),
    ("trained(version = run.id)", "trained(version = 1 + run.id)",
     ("E0303", 40, 87, "`+` adds numbers or durations, or joins strings; here it has an int and a string")),
    ("when confidence < 0.5 or unavailable", 'when confidence < "high" or unavailable',
     ("E0303", 35, 26, "`<` compares a float (`confidence`) with a string")),
    ("gate auc >= 0.8", 'gate auc >= "good"',
     ("E0303", 41, 58, "`>=` compares a float (`auc`) with a string")),
])
def test_type_errors_are_e0303_with_both_types(tmp_path: Path, old: str, new: str, expected) -> None:
    assert old in BASE
    assert run(tmp_path, BASE.replace(old, new, 1)) == [expected]


def test_e0303_spans_cover_the_operation(tmp_path: Path) -> None:
    from mlc.compiler.driver import check
    from mlc.compiler.project import load_project

    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    (tmp_path / "main.flow").write_text(BASE.replace("count(kind == view)", "count(kind == 3)"))
    [d] = check(load_project([str(tmp_path)]), use_cache=False).diagnostics
    assert (d.span.line, d.span.col, d.span.end_line, d.span.end_col) == (19, 20, 19, 29)  # `kind == 3`


def test_payload_values_fit_their_fields(tmp_path: Path) -> None:
    text = BASE.replace("signal trained { version: string }", "signal trained { version: string, auc: float }")
    assert run(tmp_path, text.replace("trained(version = run.id)", "trained(version = run.id, auc = auc)")) == []
    got = run(tmp_path, text.replace("trained(version = run.id)", 'trained(version = run.id, auc = "x" + run.id)'))
    assert got == [("E0303", 40, 101, "`auc` of signal `trained` is float; the step gives string")]


def test_operands_of_and_must_be_conditions(tmp_path: Path) -> None:
    got = run(tmp_path, BASE.replace("gate auc >= 0.8", "gate auc and auc > 0.8"))
    assert got == [("E0303", 41, 58, "`and` takes booleans; here it has a float")]


# ---------------------------------------------------------------- durations


def flow(when: str, param: str = "param window: duration = 1h") -> str:
    return BASE + f'flow w {{\n  {param}\n  schedule daily\n  step s bash("true") {{ when {when} }}\n}}\n'


@pytest.mark.parametrize("when,ok", [
    ("window == 1h30m", True), ("window >= 90m + 30s", True), ("window * 2 < 1d", True),
    ('window == "1h30m"', False), ("window == 5400000", False), ("window + 1 > 1h", False),
])
def test_a_duration_compares_with_durations(tmp_path: Path, when: str, ok: bool) -> None:
    got = run(tmp_path, flow(when))
    assert (got == []) == ok, got
    if not ok:
        assert got[0][0] == "E0303" and "duration" in got[0][3]


def test_a_duration_parameter_is_read_as_milliseconds_at_run_time() -> None:
    scope = X.Scope({"window": ir.TypeSpec(name="duration")})
    window = _ref("window", "param:window", "duration")
    e = _bin("==", window, _lit("duration", 5_400_000, "1h30m"))
    code = X.code(e, scope)
    for text, want in (("1h30m", True), ("90m", True), ("5400s", True), ("5400000ms", True), ("1h", False)):
        assert eval(code, {"params": {"window": text}}) is want, (text, code)
    # passed whole, it is the text the run was given
    assert X.code(window, scope) == 'params["window"]'
    # Airflow's templates cannot read the text as milliseconds
    assert X.check(e, X.Scope(scope.params)) is None
    with pytest.raises(X.Unsupported):
        X.code(e, scope, "jinja")


def test_the_airflow_target_reads_the_types_refs_were_resolved_with() -> None:
    # a long row of `+` over a string payload field joins strings (a name table knew no type for it)
    name = _ref("trigger.name", "trigger:name", "string")
    row = _bin("+", *[name] * (X.LONG_CHAIN + 1))
    assert X.code(row, X.Scope({}, trigger=frozenset({"name"}))).startswith('"".join([trigger.get("name")')
    assert X.is_list(_ref("regions", "foreach:regions", "list"))  # a list is rendered as JSON, whatever names it
    assert not X.is_list(_ref("regions", "param:regions", "string"))


def test_percentages_are_fractions_in_both_backends() -> None:
    pct = _lit("percent", 95.0, "95%")
    assert eval(X.code(pct, X.Scope({}))) == 0.95
    assert S.DIALECTS["spark"].expr(pct, S.Scope({})) == "CAST(0.95 AS DOUBLE)"


# ---------------------------------------------------------------- one inferrer


def test_the_sql_targets_type_with_the_same_inferrer() -> None:
    scope = S.table_scope("column", "src", ["a", "b", "s"])
    a, s = _ref("a", "column:src.a", "int"), _ref("s", "column:src.s", "string")
    assert scope.type_of(_bin("+", a, a)) == "int"
    assert scope.type_of(_bin("/", a, a)) == "float"
    assert scope.type_of(_ref("view", "enum:view", "enum")) == "string"            # an enum value is held as text
    assert scope.type_of(_lit("duration", 1000, "1s")) == "int"  # a duration as milliseconds
    assert scope.type_of(_bin("+", a, s)) is None  # E0303 at check time
    assert scope.type_of(ir.Expr(op="call", name="length", args=(s,))) == "int"
    # a ref is read by what it was resolved to, not by its name: a column of another table is not here
    other = _ref("a", "column:elsewhere.a", "int")
    assert scope.type_of(other) is None
    assert S.DIALECTS["spark"].expr(a, scope) == "`a`"
    with pytest.raises(S.PlanError):
        S.DIALECTS["spark"].expr(other, scope)


def test_inferrer_reports_each_mismatch_once() -> None:
    found = []
    t = Inferrer(names_lookup({"d": "duration", "n": "int", "s": "string"}), found.append)
    assert t.type_of(_bin("+", _ref("d"), _ref("d"))) == "duration"
    assert t.type_of(_bin("*", _ref("n"), _ref("d"))) == "duration"
    assert t.type_of(_bin("/", _ref("d"), _ref("d"))) == "float"
    assert found == []
    assert t.type_of(_bin("-", _ref("s"), _ref("n"), _ref("n"))) is None
    assert [d.message for d in found] == ["`-` subtracts numbers or durations; here it has a string and an int"]


def test_a_declared_type_is_written_back_as_the_language_writes_it() -> None:
    from mlc.compiler.infer import type_text
    T = ir.TypeSpec
    person = T(name="struct", fields=(ir.Field(name="name", type=T(name="string")),
                                      ir.Field(name="tags", type=T(name="list", element=T(name="string")))))
    assert type_text(person) == "struct(name: string, tags: [string])"
    assert type_text(T(name="enum", args=("tv", "web"), nullable=True)) == "enum(tv, web)?"
