"""The Feast target without Feast: golden repositories of the examples per env, determinism,
generated Python that compiles, the pandas meaning of request-time expressions (the SQL
targets' meaning), what `validate` rejects (E1101-E1106) at the `.flow` source, and the
training-set runtime's bookkeeping. Regenerate the golden files with
`pytest tests/test_feast_target.py --update-golden` and review the diff."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
from pathlib import Path

import pytest

from mlc.compiler import ir
from mlc.compiler.project import load_project
from mlc.deploy.bundle import check
from mlc.targets import get
from mlc.targets.feast import expr as X
from mlc.targets.layout import Layout

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden" / "feast"
RUNTIME = ROOT / "mlc/targets/feast/templates/runtime/mlc_feast_runtime.py"
PROJECTS = {
    "recommendations": ROOT / "examples" / "recommendations",
    "fraud": ROOT / "examples" / "fraud",
    "nightly_batch": ROOT / "examples" / "nightly_batch",
    "driver": ROOT / "tests" / "feast" / "projects" / "driver",
}
UTC = dt.UTC


def _result(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        return check(load_project(()), use_cache=False)
    finally:
        os.chdir(old)


def program_of(path: Path) -> ir.Program:
    result = _result(path)
    assert not result.errors, [d.message for d in result.diagnostics]
    return result.program


def envs(project: str) -> list[str]:
    return sorted(program_of(PROJECTS[project]).environments)


def generated(project: str, env: str) -> dict[str, str]:
    """Every file of the repository but the runtime (copied as it is: not a golden file)."""
    program = program_of(PROJECTS[project])
    return {a.path: a.text for a in get("feast").lower(program, env, Layout(program)) if a.kind != "feast-runtime"}


CASES = [(p, e) for p in sorted(PROJECTS) for e in ("local", "prod") if p != "driver" or e == "local"]


@pytest.mark.parametrize(("project", "env"), CASES)
def test_golden(project, env, update_golden):
    got = generated(project, env)
    folder = GOLDEN / project / env
    if update_golden:
        for old in folder.rglob("*") if folder.exists() else ():
            if old.is_file():
                old.unlink()
        for path, text in got.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
    want = {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(want)
    for path, text in got.items():
        assert text == want[path], f"{project}/{env}/{path} differs from the golden file (--update-golden)"


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_deterministic_compiles_and_ships_the_runtime_once(project):
    program = program_of(PROJECTS[project])
    layout = Layout(program)
    first = get("feast").lower(program, "local", layout)
    again = get("feast").lower(program_of(PROJECTS[project]), "local", Layout(program))
    assert [(a.path, a.text) for a in first] == [(a.path, a.text) for a in again]
    by_path = {a.path: a for a in first}
    assert by_path[layout.feast_runtime()].text == RUNTIME.read_text(encoding="utf-8")
    compile(by_path[layout.feast_definitions()].text, "definitions.py", "exec")
    # the CLI imports every .py file of the repo but those .feastignore lists
    ignored = by_path[layout.feast_ignore()].text
    assert "runtime/" in ignored.splitlines()
    assert [p for p in by_path if p.endswith(".py")] == [layout.feast_definitions(), layout.feast_runtime()]
    assert "/work/" not in "".join(a.text for a in first)  # no machine path


def test_every_model_has_one_service_of_exactly_its_inputs():
    program = program_of(PROJECTS["recommendations"])
    layout = Layout(program)
    text = generated("recommendations", "local")["feast/definitions.py"]
    assert layout.model_service("netflix.recs.ranker") == "ranker"
    assert ('FeatureService(name="ranker", features=[view_member_activity, view_title_popularity[["plays_7d", '
            '"viewers_7d"]], view_member_title_affinity[["conv_rate"]], ranking_context]') in text
    assert 'FeatureService(name="popular_titles", features=[view_title_popularity[["plays_7d"]]]' in text


# ---------------------------------------------------------------- expressions: the SQL meaning
def test_division_is_float_and_missing_on_zero():
    scope = X.Scope({"request:g.a": "a", "request:g.b": "b"})
    a = ir.Expr(op="ref", name="a", target="request:g.a", type="int")
    b = ir.Expr(op="ref", name="b", target="request:g.b", type="int")
    e = ir.Expr(op="binop", name="/", args=(a, b))
    code, _ = X.output(e, scope, "float")
    assert code == '(inputs["a"].astype("float64") / inputs["b"].astype("float64").where(inputs["b"].astype("float64") != 0)).astype("float64")'
    lit = ir.Expr(op="binop", name="/", args=(a, ir.Expr(op="lit", kind="int", value=4)))
    assert X.output(lit, scope, "float")[0] == '(inputs["a"].astype("float64") / 4.0).astype("float64")'


def test_enum_members_are_strings_and_values_are_literals():
    scope = X.Scope({"request:g.device": "device"})
    device = ir.Expr(op="ref", name="device", target="request:g.device", type="enum")
    tv = ir.Expr(op="ref", name="tv", target="enum:tv", type="enum")  # as `mlc.compiler.references` resolves it
    e = ir.Expr(op="binop", name="==", args=(device, tv))
    assert X.output(e, scope, "bool")[0] == 'inputs["device"].eq("tv").astype("bool")'
    evil = ir.Expr(op="binop", name="==", args=(
        device, ir.Expr(op="lit", kind="string", value='"]); import os; ("')))
    assert X.output(evil, scope, "bool")[0] == 'inputs["device"].eq("\\"]); import os; (\\"").astype("bool")'


# ---------------------------------------------------------------- validation at the source
PRELUDE = """\
package t
import std.connectors.{files, s3}
env local { files = files("data"), s3 = files("build/s3") }
source daily: table files(path = "daily", format = parquet) {
  schema { card_id: string, merchant_id: string, amount: int, ds: date }
  event_time ds
}
entity card { key card_id: string }
entity merchant { key merchant_id: string }
features spend on card {
  from daily
  amount_7d = sum(amount) over 7d
  schedule daily
  online ttl 1d
  offline s3("features/spend")
}
"""


def diagnostics(tmp_path: Path, text: str) -> list:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\nsources = ["."]\n')
    (tmp_path / "p.flow").write_text(PRELUDE + text)
    return [d for d in _result(tmp_path).diagnostics if d.code.startswith("E11")]


@pytest.mark.parametrize(("code", "text", "words"), [
    ("E1102", ("entity account { key card_id: int }\nfeatures acct on account {\n  from daily\n"
               "  n = count(*) over 1d\n  schedule daily\n  offline s3(\"features/acct\")\n}\n"),
     "join key `card_id` of entity `account` is an int, but the table of `acct` holds a string"),
    ("E1103", "features ctx on card {\n  request { v: string }\n  flag: int = v == \"x\"\n}\n",
     "declared int, but its expression is a bool"),
])
def test_what_feast_lets_through_is_an_error_at_the_source(tmp_path, code, text, words):
    found = diagnostics(tmp_path, text)
    assert [d.code for d in found] == [code], [d.message for d in found]
    assert words in found[0].message
    assert found[0].span is not None and found[0].span.file.endswith("p.flow")
    assert found[0].span.line > PRELUDE.count("\n")  # at the line of the mistake, not the prelude


REGISTERED = """\
source raw: table files(path = "raw", format = FORMAT) {
  schema { card_id: string, amount: int, spent: date, ts: timestamp }
  event_time ts
}
features amounts on card {
  from raw
  registered
  FEATURE
  online ttl 1d
}
"""


@pytest.mark.parametrize(("code", "fmt", "feature", "words", "line"), [
    ("E1105", "json", "amount: int", "source `raw` is files json; Feast's file offline store reads Parquet", 17),
    ("E1103", "parquet", "spent: date", "a date cannot be a feature Feast serves", 24),
])
def test_a_registered_table_feast_cannot_serve(tmp_path, code, fmt, feature, words, line):
    found = diagnostics(tmp_path, REGISTERED.replace("FORMAT", fmt).replace("FEATURE", feature))
    assert [(d.code, d.span.line) for d in found] == [(code, line)], [d.message for d in found]
    assert words in found[0].message


def test_each_mistake_is_reported_once_and_what_reads_it_is_left_out(tmp_path):
    text = REGISTERED.replace("FORMAT", "parquet").replace("FEATURE", "spent: date") + (
        "features stamp on card {\n  from raw\n  registered\n  ts: timestamp\n}\n"
        "features again on card {\n  from raw\n  registered\n  spent: date\n}\n"
        "model m deterministic { inputs [amounts.spent, stamp.ts] }\n")
    found = diagnostics(tmp_path, text)
    assert sorted((d.code, d.span.line) for d in found) == [("E1103", 24), ("E1103", 35)], [d.message for d in found]


def test_a_group_without_an_offline_table_is_left_out_with_what_reads_it(tmp_path):
    found = diagnostics(tmp_path, "features raw on card {\n  from daily\n  n = count(*) over 1d\n  schedule daily\n}\n"
                        "model m deterministic { inputs [raw.n] }\n")
    assert found == []
    program = _result(tmp_path).program
    text = {a.path: a.text for a in get("feast").lower(program, "local", Layout(program))}["feast/definitions.py"]
    assert 'name="raw"' not in text and 'name="m"' not in text and 'name="spend"' in text


# ---------------------------------------------------------------- the training-set runtime
def _runtime():
    spec = importlib.util.spec_from_file_location("test_mlc_feast_runtime", RUNTIME)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rt = _runtime()


def test_step_context_reads_the_dags_variables():
    assert rt.step_context({"MLC_FEAST_REPO": "/b/feast", "MLC_FEATURE_SERVICE": "ranker"}) == ("/b/feast", "ranker")
    with pytest.raises(RuntimeError, match="MLC_FEATURE_SERVICE not set"):
        rt.step_context({"MLC_FEAST_REPO": "/b/feast"})


def test_entity_rows_become_columns_with_utc_label_times_and_positions():
    cols = rt.entity_columns([
        {"card_id": "c1", "label": 1, "at": "2024-01-01T10:00:00Z"},
        {"card_id": "c2", "label": 0, "at": dt.datetime(2024, 1, 2, 3, 0)},
        {"card_id": "c3", "label": 0, "at": dt.date(2024, 1, 3)},
    ], label_time="at")
    assert cols["card_id"] == ["c1", "c2", "c3"] and cols[rt.ROW] == [0, 1, 2]
    assert cols["event_timestamp"] == [dt.datetime(2024, 1, 1, 10, tzinfo=UTC), dt.datetime(2024, 1, 2, 3, tzinfo=UTC),
                                       dt.datetime(2024, 1, 3, tzinfo=UTC)]
    assert "at" not in cols
    with pytest.raises(ValueError, match="no `event_timestamp` column"):
        rt.entity_columns([{"card_id": "c1"}])
    with pytest.raises(ValueError, match="no entity rows"):
        rt.entity_columns([])


def test_restore_puts_back_order_and_the_rows_feast_dropped():
    entity = {"card_id": ["c1", "c2", "c3"], "event_timestamp": [1, 2, 3], rt.ROW: [0, 1, 2]}
    result = [{"card_id": "c3", rt.ROW: 2, "v__f": 30}, {"card_id": "c1", rt.ROW: 0, "v__f": 10}]
    assert rt.restore(result, entity, ["v__f"]) == [
        {"card_id": "c1", "event_timestamp": 1, "v__f": 10},
        {"card_id": "c2", "event_timestamp": 2, "v__f": None},
        {"card_id": "c3", "event_timestamp": 3, "v__f": 30},
    ]
