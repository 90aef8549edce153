"""The Spark and Flink targets judge a program without writing its SQL (`mlc.targets.sql.judge`):
their validation must find exactly what writing every group's job spec finds (same codes,
messages, spans, helps, order), on the examples, on programs of the property test's generator,
and on groups drawn to fail in every place a spec can (the plan, a location, an expression of
an aggregating group that only the written query reads)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlc.compiler import ir
from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.targets import sql as S
from mlc.targets.flink import target as flink
from mlc.targets.layout import Layout
from mlc.targets.spark import target as spark
from program_gen import programs

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (spark, flink)


def rendering(module, program: ir.Program, env: str, monkeypatch: pytest.MonkeyPatch) -> list:
    """`module.validate` as it was before the judge: every group's whole spec written (its SQL too;
    the spec begins with what `_placed` judges, so a location's error comes first in both)."""
    with monkeypatch.context() as m:
        m.setattr(S, "judge", lambda p, plan: module.group_spec(p, env, plan.key))
        return module.validate(program, env, Layout(program))


def judged(program: ir.Program, monkeypatch: pytest.MonkeyPatch) -> list:
    """Every env's validation by both targets, judged and rendered, each on its own copy of the
    program (the backends' memo is per program object: neither path reads what the other kept)."""
    found = []
    for env in sorted(program.environments):
        for module in TARGETS:
            mine, theirs = program.model_copy(), program.model_copy()
            judge = module.validate(mine, env, Layout(mine))
            assert judge == rendering(module, theirs, env, monkeypatch), (module.__name__, env)
            # and group by group: the same PlanError, or none, as writing the spec
            mine, theirs = program.model_copy(), program.model_copy()
            for key in S.stored_groups(program, ("stream",) if module is flink else ("batch", "stream")):
                assert outcome(lambda: S.judge(mine, module._placed(mine, env, key)[0])) == \
                    outcome(lambda: module.group_spec(theirs, env, key)), (module.__name__, env, key)
            found += judge
    return found


def outcome(run) -> tuple | None:
    try:
        run()
    except S.PlanError as e:
        return e.message, e.loc, e.help
    return None


def program_at(root: Path) -> ir.Program | None:
    """The checked program of a project, None when the language rejects it (no backend judges it)."""
    result = check(load_project([str(root)]).rooted(), use_cache=False)
    return None if result.errors else result.program


@pytest.mark.parametrize("example", ["recommendations", "fraud", "nightly_batch", "feast_local"])
def test_examples_judged_as_rendered(example, monkeypatch):
    program = program_at(ROOT / "examples" / example)
    assert program is not None
    judged(program, monkeypatch)


HEAD = """package t
import std.connectors.{kafka, files, hive, s3}
env local { kafka = files("data"), hive = files("tables"), s3 = files("objects") }
env prod { kafka = kafka(bootstrap = "b:9092"), hive = hive(metastore = "thrift://m:9083"), s3 = s3(bucket = "b") }
entity e { key k: string }
"""
SOURCE = """source s{i}: {kind} {connector} {{
  schema {{ k: string, v: int, x: float, ok: bool, {extra}ts: timestamp }}
  event_time ts
  watermark 10s
}}
"""
# what a feature of a group may be: aggregations, plain columns, and expressions, of which
# some only the written query reads (over an aggregating group's row) and some it refuses
FEATURES = ["n = count(*) over 10m", "t = sum(v) over 10m", "a = avg(x) over 1h", "m = max(v) over 10m every 5m",
            "c = count(ok) over 10m", "l = last(v) over 1h", "d = distinct_count(v) over 10m every 1m",
            "v: int", "r = n / 2", "u = upper(\"a\")", "p = 5%", "w = 10s", "bad_list = [1, 2]",
            "bad_number = 1.0e400", "bad_secret = secret(\"x\")", "bad_ref = v * 2", "y = x * 2.0",
            "event_timestamp = count(*) over 1m", "q = sum(v) over 10m every 3m", "tl = last(tags) over 1h"]


@st.composite
def sql_programs(draw) -> str:
    text = HEAD
    groups = []
    for i in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["stream", "table"]))
        connector = draw(st.sampled_from(['kafka(topic = "x", format = json)', 'kafka(topic = "x", format = avro)'])) \
            if kind == "stream" else draw(
            st.sampled_from(['hive(table = "t")', 's3(path = "p", format = parquet)']))
        extra = draw(st.sampled_from(["", "", "window_end: int, ", "tags: [string], "]))  # Flink's window column; a list
        text += SOURCE.format(i=i, kind=kind, connector=connector, extra=extra)
        for j in range(draw(st.integers(1, 2))):
            features = draw(st.lists(st.sampled_from(FEATURES), min_size=1, max_size=5, unique=True))
            # names the language would reject (E0306): a feature over `n` follows it, `tags` is read only where it is
            if "r = n / 2" in features and FEATURES[0] not in features:
                features.insert(0, FEATURES[0])
            features = [f for f in features if "tags" not in f or extra.startswith("tags")]
            body = "\n  ".join(features or ["v: int"])
            more = draw(st.sampled_from(["", "checkpoint every 10s", 'offline s3("o")']))
            groups.append(f"features g{i}_{j} on e {{\n  from s{i}\n  {body}\n  {more}\n}}\n")
    return text + "".join(groups)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=sql_programs())
def test_drawn_groups_judged_as_rendered(tmp_path_factory, monkeypatch, text):
    root = tmp_path_factory.mktemp("judge")
    (root / "mlc.toml").write_text('[project]\nname = "t"\nsources = ["."]\n')
    (root / "p.flow").write_text(text)
    program = program_at(root)
    if program is not None:
        judged(program, monkeypatch)


def test_the_drawn_groups_reach_every_kind_of_finding(tmp_path, monkeypatch):
    """The strategy above is worth its examples only if its programs fail where a spec can:
    in the plan, in a location (E1013), in the written query (both codes, one per target)."""
    bad = HEAD + SOURCE.format(i=0, kind="stream", connector='kafka(topic = "x", format = avro)', extra="") + \
        SOURCE.format(i=1, kind="table", connector='hive(table = "t")', extra="tags: [string], ") + \
        "features g on e {\n  from s0\n  n = count(*) over 10m\n  bad_list = [1, 2]\n}\n" + \
        "features h on e {\n  from s1\n  q = sum(v) over 10m every 3m\n}\n" + \
        "features i on e {\n  from s1\n  tl = last(tags) over 1h\n}\n"
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\nsources = ["."]\n')
    (tmp_path / "p.flow").write_text(bad)
    program = program_at(tmp_path)
    assert program is not None
    found = {(d.code, d.message.split(" in ")[0]) for d in judged(program, monkeypatch)}
    assert ("E1011", "`list` cannot be computed by SQL") in found
    assert ("E1013", "`list` cannot be computed by SQL") in found  # prod: the Flink target says so
    assert any(code == "E1011" and "whole number of its steps" in m for code, m in found)
    assert any(code == "E1011" and "`tags`: a list cannot be a column" in m for code, m in found)
    assert any(code == "E1013" and "format `avro` cannot be read" in m for code, m in found)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(generated=programs())
def test_generated_programs_judged_as_rendered(tmp_path_factory, monkeypatch, generated):
    program = program_at(generated.write(tmp_path_factory.mktemp("gen")))
    if program is not None:
        judged(program, monkeypatch)
