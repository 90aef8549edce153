"""The Spark and Flink targets without the engines: golden output per example and env,
determinism, no machine paths, generated code that compiles, the SQL of each dialect, and
the diagnostics of what the engines cannot run. Regenerate the golden files with
`pytest tests/spark_flink/test_sf_targets.py --update-golden` and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlc.compiler import ir
from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.targets import TARGETS, get
from mlc.targets.layout import Layout
from mlc.targets import sql as S
from tests.runtimes import without_environment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GOLDEN = HERE / "golden"
PROJECTS = {
    "recommendations": ROOT / "examples" / "recommendations",
    "fraud": ROOT / "examples" / "fraud",
    "nightly_batch": ROOT / "examples" / "nightly_batch",
    "consistency": HERE / "projects" / "consistency",
}


def program_of(path: Path) -> ir.Program:
    """The program of a project, compiled from inside its folder as `mlc compile` is (the
    generated files name their .flow file relative to it)."""
    old = os.getcwd()
    os.chdir(path)
    try:
        result = check(load_project(()), use_cache=False)
    finally:
        os.chdir(old)
    assert not result.errors, [d.message for d in result.diagnostics]
    return result.program


def program_from_text(tmp_path: Path, text: str) -> ir.Program:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\nsources = ["."]\n')
    (tmp_path / "p.flow").write_text(text)
    return program_of(tmp_path)


RUNTIMES = {"spark-runtime": ROOT / "mlc/targets/spark/templates/runtime/mlc_spark_runtime.py",
            "flink-runtime": ROOT / "mlc/targets/flink/templates/runtime/mlc_flink_runtime.py"}


def lowered(project: str, env: str) -> list:
    program = program_of(PROJECTS[project])
    return [a for target in ("spark", "flink") for a in get(target).lower(program, env, Layout(program))]


def artifacts(project: str, env: str) -> dict[str, str]:
    """Every generated file but the runtime modules (copied as they are: not golden files)."""
    return {a.path: a.text for a in lowered(project, env) if a.kind not in RUNTIMES}


def test_registry_names_both_targets():
    assert TARGETS["spark"] == "mlc.targets.spark" and TARGETS["flink"] == "mlc.targets.flink"


@pytest.mark.parametrize("env", ["local", "prod"])
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_golden(project, env, update_golden):
    got = artifacts(project, env)
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


@pytest.mark.parametrize("env", ["local", "prod"])
@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_each_job_references_its_runtime_shipped_once(project, env):
    program = program_of(PROJECTS[project])
    layout = Layout(program)
    got = lowered(project, env)
    runtimes = {a.kind: a for a in got if a.kind in RUNTIMES}
    jobs = [a for a in got if a.kind not in RUNTIMES]
    engines = {a.path.split("/")[0] for a in jobs}
    assert sorted(runtimes) == sorted(f"{e}-runtime" for e in engines)  # only where a job needs it
    for kind, a in runtimes.items():
        assert a.path == {"spark-runtime": layout.spark_runtime(), "flink-runtime": layout.flink_runtime()}[kind]
        # as its template, but for the env's variables the Spark runtime holds (tests/test_branch_steps.py)
        assert without_environment(a.text) == RUNTIMES[kind].read_text(encoding="utf-8") and a.source is None
    for a in jobs:
        runtime = runtimes[a.path.split("/")[0] + "-runtime"]
        assert runtime.path in a.references, a.path
        # a job file is its header, its SPEC and a call: no function of its own
        assert "\ndef " not in a.text and "\nSPEC = " in a.text and "sys.exit(runtime." in a.text, a.path
        assert len(a.text.splitlines()) < 120, a.path


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_output_is_deterministic_safe_and_compiles(project):
    first, second = artifacts(project, "prod"), artifacts(project, "prod")
    assert first == second
    for path, text in {**first, **artifacts(project, "local")}.items():
        for machine in (str(ROOT), "/tmp/", "/home/", "/root"):
            assert machine not in text, f"{path} names a machine path ({machine})"
        if path.endswith(".py"):
            compile(text, path, "exec")  # valid Python
    # credentials travel as the name of an environment variable, never as a value
    fraud = artifacts("fraud", "prod")["flink/features/card_velocity.py"]
    assert "MLC_SECRET_FRAUD_KAFKA_SASL" in fraud and '"kafka.payments:9092"' in fraud


def test_stream_groups_go_to_both_engines_and_batch_groups_to_spark():
    got = artifacts("recommendations", "local")
    assert sorted(p for p in got if p.startswith(("spark/features", "flink/features"))) == [
        "flink/features/member_activity.py",
        "spark/features/member_activity.py", "spark/features/member_title_affinity.py",
        "spark/features/title_popularity.py",
    ]
    assert "spark/steps/build_training_set/snapshot.py" in got
    assert "flink/publish/member_activity.py" in got


def test_prod_bindings():
    got = artifacts("recommendations", "prod")
    spark = got["spark/features/title_popularity.py"]
    assert '"table": "warehouse.plays"' in spark and "thrift://metastore:9083" in spark
    assert '"s3a://ml-artifacts/features/title_popularity"' in spark
    flink = got["flink/features/member_activity.py"]
    assert '"topic": "member-interactions"' in flink and '"bootstrap": "broker:9092"' in flink
    assert '"s3://ml-artifacts/features/member_activity"' in flink


# ---------------------------------------------------------------- SQL dialects
def lit(kind, value):
    return ir.Expr(op="lit", kind=kind, value=value)


def test_string_literals_are_escaped_per_dialect():
    scope = S.Scope({})
    text = "it's a \\ path"
    assert S.DIALECTS["spark"].expr(lit("string", text), scope) == "'it\\'s a \\\\ path'"
    assert S.DIALECTS["flink"].expr(lit("string", text), scope) == "'it''s a \\ path'"


def test_division_is_float_and_null_on_zero_on_both_engines():
    scope = S.table_scope("column", "t.s", ["a", "b"])
    a = ir.Expr(op="ref", name="a", target="column:t.s.a", type="int")
    b = ir.Expr(op="ref", name="b", target="column:t.s.b", type="int")
    e = ir.Expr(op="binop", name="/", args=(a, b))
    for d in S.DIALECTS.values():
        assert d.expr(e, scope) == "(CAST(`a` AS DOUBLE) / NULLIF(CAST(`b` AS DOUBLE), CAST(0 AS DOUBLE)))"


def test_intervals():
    flink, spark = S.DIALECTS["flink"], S.DIALECTS["spark"]
    assert flink.interval(3_600_000) == "INTERVAL '1' HOUR"
    assert flink.interval(90 * 60_000) == "INTERVAL '90' MINUTE"
    assert flink.interval(100 * 86_400_000) == "INTERVAL '100' DAY(3)"
    assert spark.interval(1) == "INTERVAL '0.001' SECOND"


BASE = """
package t
import std.connectors.{kafka, files}
env local { kafka = files("data") }
source s: stream kafka(topic = "x") {
  schema { k: string, v: int, ts: timestamp }
  event_time ts
  watermark 10s
}
entity e { key k: string }
"""


@pytest.mark.parametrize("group, words", [
    ("a = count(*) over 10m every 5m\n  b = count(*) over 10m every 1m", "advance at different steps"),
    ("a = sum(v) over 10m every 3m", "not a whole number of its steps"),
    ("event_timestamp = count(*) over 1m", "the name of another column"),
])
def test_what_the_engines_cannot_run_is_a_diagnostic(tmp_path, group, words):
    program = program_from_text(tmp_path, BASE + f"features g on e {{\n  from s\n  {group}\n  checkpoint every 10s\n}}\n")
    for target in ("spark", "flink"):
        diags = get(target).validate(program, "local", Layout(program))
        assert diags and diags[0].code == "E1011" and words in diags[0].message, diags
        assert diags[0].span is not None  # points at the line
        with pytest.raises(ValueError):
            get(target).lower(program, "local", Layout(program))


def test_missing_checkpoint_is_a_warning_for_flink(tmp_path):
    program = program_from_text(tmp_path, BASE + "features g on e {\n  from s\n  n = count(*) over 1m\n}\n")
    diags = get("flink").validate(program, "local", Layout(program))
    assert [d.code for d in diags] == ["W1014"]


def test_a_source_column_named_like_an_engine_window_column(tmp_path):
    """Found by the property test: a column `w` once clashed with Spark's window struct (now
    `__mlc_w`); Flink's window functions add window_start/window_end/window_time, so a stream
    group's source may not have those (E1011 at check time, at the column)."""
    text = ("package p\nimport std.connectors.{kafka, files}\nenv local { kafka = files(\"data/events\") }\n"
            "entity e { key k: string }\n"
            "source s: stream kafka(topic = \"t\", format = json) {\n"
            "  schema { k: string, w: int, COLUMN: int, ts: timestamp }\n  event_time ts\n  watermark 10s\n}\n"
            "features g on e {\n  from s\n  n = count(*) over 1h\n  checkpoint every 1m\n}\n")
    program = program_from_text(tmp_path, text.replace("COLUMN", "v"))
    spark = S.DIALECTS["spark"].features_sql(S.plan_group(program, "p.g"), "mlc_input")
    assert "`__mlc_w`" in spark and "AS `w`" not in spark
    assert get("flink").validate(program, "local", Layout(program)) == []
    program = program_from_text(tmp_path, text.replace("COLUMN", "window_end"))
    diags = get("flink").validate(program, "local", Layout(program))
    assert [d.code for d in diags] == ["E1011"] and "`window_end`" in diags[0].message
    assert diags[0].span.line == 6 and diags[0].span.col > 20  # the column, not the source
