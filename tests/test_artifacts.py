"""Issue 19: artifacts and data edges, bound parameters, trigger comparisons and joins, backfill
dates and test namespaces (`mlc compile --branch`). Compiler and Airflow lowering only; the
runs in real Airflow are in tests/airflow/test_engine.py and tests/standalone/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlc.cli import main
from mlc.compiler.checks.artifacts import data_edges
from mlc.compiler.driver import check
from mlc.compiler.draw import to_dot, to_mermaid
from mlc.compiler.explain import explain_freshness
from mlc.compiler.graph import build_graph
from mlc.compiler.project import load_project
from mlc.deploy.bundle import compile as compile_bundle
from mlc.dsl.fmt import format_text
from mlc.dsl.parser import parse_text
from mlc.dsl.yaml_emit import module_to_flow, module_to_yaml
from mlc.dsl.yaml_front import parse_yaml

ROOT = Path(__file__).resolve().parent.parent
RECS = ROOT / "examples" / "recommendations"

HEAD = """\
package demo
import std.connectors.{s3, kafka, files}

env local { s3 = files("build/s3"), kafka = files("data/events") }
env prod { s3 = s3(bucket = "ml-artifacts"), kafka = kafka(bootstrap = "b:9092") }
"""

PLATFORM = HEAD + """
source ev: stream kafka(topic = "e") { schema { u: string, ts: timestamp }, event_time ts, watermark 10s }
entity user { key u: string }
features act on user { from ev, n = count(*) over 1h every 5m, checkpoint every 1m, online ttl 1d }
model base deterministic { framework rule, inputs [act.n], output score: float }
model m nondeterministic { framework sklearn, inputs [act.*], output score: float, fallback base when unavailable }

## What `build` writes and `train` reads.
artifact training_set: dataset s3("sets/training_set") {
  schema { u: string, label: int, ds: date }
  partition ds
}
signal published { version: string }
flow build {
  schedule weekly
  step snap spark("jobs/snap.py") { writes training_set, timeout 1h }
}
flow train {
  trigger on_finish(build)
  step fit python("a.b:c") { reads training_set, produces m, timeout 1h }
  step ship bash("echo") { emits signal published(version = run.id), timeout 1m }
  fit >> ship
}
flow score {
  trigger signal(published)
  step run bash("echo") { timeout 1m }
}
"""


def program_of(tmp_path: Path, text: str, name: str = "p.flow"):
    path = tmp_path / name
    path.write_text(text)
    return check(load_project([str(path)]), use_cache=False)


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def at(result, code: str) -> tuple[int, int]:
    d = next(d for d in result.diagnostics if d.code == code)
    return d.span.line, d.span.col


# ---------------------------------------------------------------- the language
def test_artifact_reaches_the_ir_with_its_data_edges_and_locations(tmp_path):
    r = program_of(tmp_path, PLATFORM)
    assert codes(r) == []
    p = r.program
    a = p.artifacts["demo.training_set"]
    assert (a.kind, [f.name for f in a.schema_], a.partition.name, a.doc) == (
        "dataset", ["u", "label", "ds"], "ds", "What `build` writes and `train` reads.")
    assert p.environments["local"].artifacts["demo.training_set"].path == "build/s3/sets/training_set"
    prod = p.environments["prod"].artifacts["demo.training_set"]
    assert (prod.kind, prod.bucket, prod.path) == ("s3", "ml-artifacts", "sets/training_set")
    ends = data_edges(p)["demo.training_set"]
    assert [(f, s.name) for f, s, _ in ends.writers] == [("demo.build", "snap")]
    assert [(f, s.name) for f, s, _ in ends.readers] == [("demo.train", "fit")]


def test_artifact_formats_and_converts_to_yaml_and_back(tmp_path):
    text = PLATFORM.replace("flow build {\n  schedule weekly", 'flow build {\n  schedule weekly from "2024-01-01"')
    formatted, diags = format_text(text, "p.flow")
    assert diags == [] and format_text(formatted, "p.flow")[0] == formatted
    assert 'artifact training_set: dataset s3("sets/training_set") {' in formatted
    assert 'schedule weekly from "2024-01-01"' in formatted and "reads training_set" in formatted
    module, _ = parse_text(text, "p.flow")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "p.flow.yaml").write_text(module_to_yaml(module))
    back, ydiags = parse_yaml((tmp_path / "y" / "p.flow.yaml").read_text(), "p.flow.yaml")
    assert ydiags == []
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "p.flow").write_text(module_to_flow(back))

    def ir(folder):
        r = check(load_project([str(tmp_path / folder)]), use_cache=False)
        assert codes(r) == []
        return strip(json.loads(r.program.model_dump_json(by_alias=True)))

    assert ir("y") == ir("f")
    assert ir("y")["flows"]["demo.build"]["start"] == "2024-01-01"


def strip(value):
    """IR JSON without where things were written."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items()
                if k not in ("loc", "files") and not k.endswith(("_loc", "_locs"))}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value



@pytest.mark.parametrize("change, written, code", [
    # same flow: the reader does not run after the writer
    ('step fit python("a.b:c") { reads training_set, produces m, timeout 1h }',
     'step fit python("a.b:c") { reads training_set, produces m, timeout 1h }\n'
     '  step snap2 bash("x") { writes training_set, timeout 1m }\n  ship >> snap2', "E0421"),
    # across flows: nothing starts the reader after the writer
    ("trigger on_finish(build)", "schedule daily", "E0422"),
    # read, never written
    ("{ writes training_set, timeout 1h }", "{ timeout 1h }", "E0423"),
    # written, never read
    ("{ reads training_set, produces m, timeout 1h }", "{ produces m, timeout 1h }", "W0424"),
    # the partition is not a column
    ("partition ds", "partition day", "E0425"),
    # no such kind
    ("dataset s3(", "table s3(", "E0420"),
    # only a dataset is partitioned
    ("dataset s3(", "file s3(", "E0425"),
])
def test_each_data_edge_mistake_is_reported_once(tmp_path, change, written, code):
    r = program_of(tmp_path, PLATFORM.replace(change, written))
    assert codes(r) == [code], [str(d.message) for d in r.diagnostics]


def test_reader_after_its_writer_in_one_flow_and_along_a_signal_chain_is_clean(tmp_path):
    text = PLATFORM.replace('step run bash("echo") { timeout 1m }',
                            'step run bash("echo") { reads training_set, timeout 1m }')
    assert codes(program_of(tmp_path, text)) == []   # build -> train -> (published) -> score


def test_two_ends_of_one_place_must_agree_on_the_schema(tmp_path):
    text = PLATFORM + ('source landed: table s3("sets/training_set") {\n'
                       '  schema { u: string, label: float, ds: date }\n  event_time ds\n}\n')
    r = program_of(tmp_path, text)
    assert codes(r) == ["E0425"]
    assert "`label`: float here, int there" in r.diagnostics[0].notes[0]


# ---------------------------------------------------------------- freshness, graph
def test_a_stale_artifact_upstream_of_a_model_rejects_its_objective_on_the_worst_path(tmp_path):
    r = program_of(tmp_path, PLATFORM + "slo fresh { freshness(m) <= 1d }\n")
    assert codes(r) == ["E0701"]
    notes = "\n".join(r.diagnostics[0].notes)
    assert "artifact training_set: written by step build.snap" in notes and "7d1h" in notes
    text = explain_freshness(r.program, "model", "demo.m")
    assert "artifact training_set" in text and "REJECTED" in text
    assert "at worst 1h1m stale" not in text
    assert "freshness of artifact training_set: at worst 7d1h stale" in explain_freshness(
        r.program, "artifact", "demo.training_set")


def test_the_graph_draws_the_data_edges(tmp_path):
    r = program_of(tmp_path, PLATFORM)
    g = build_graph(r.program)
    kinds = {(u, v, d["kind"]) for u, v, d in g.edges(data=True) if d["kind"] in ("writes", "reads")}
    assert kinds == {("step:demo.build/snap", "artifact:demo.training_set", "writes"),
                     ("artifact:demo.training_set", "step:demo.train/fit", "reads")}
    mermaid = to_mermaid(g)
    assert '-->|"writes"| artifact_demo_training_set' in mermaid and 'artifact_demo_training_set -->|"reads"|' in mermaid
    assert "shape=note" in to_dot(g)


def test_the_recommendations_example_passes_its_training_set_as_an_artifact():
    r = check(load_project([str(RECS)]), use_cache=False)
    assert not r.errors
    steps = {s.name: s for f in r.program.flows.values() for s in f.steps}
    assert [w.name for w in steps["snapshot"].writes] == ["training_set"]
    assert [x.name for x in steps["train"].reads] == ["training_set"]
    assert "MLC_ARTIFACT_TRAINING_SET" in (RECS / "jobs" / "training_set.py").read_text()
    assert "MLC_ARTIFACT_TRAINING_SET" in (RECS / "ranker" / "train.py").read_text()
    result = CliRunner().invoke(main, ["graph", str(RECS)])
    assert '-->|"writes"| artifact_netflix_recs_training_set' in result.output


# ---------------------------------------------------------------- Airflow
def dags(tmp_path: Path, text: str, env: str = "local", branch: str | None = None) -> dict[str, str]:
    (tmp_path / "proj").mkdir(exist_ok=True)
    (tmp_path / "proj" / "p.flow").write_text(text)
    compiled = compile_bundle(load_project([str(tmp_path / "proj")]), env, ["airflow"], use_cache=False,
                              branch=branch)
    assert compiled.ok, [str(d) for d in compiled.result.diagnostics]
    return {Path(a.path).name: a.text for a in compiled.artifacts}


def test_steps_get_the_artifact_location_and_lineage(tmp_path):
    out = dags(tmp_path, PLATFORM)
    build, train = out["build.py"], out["train.py"]
    assert 'env_vars={"MLC_ARTIFACT_TRAINING_SET": "build/s3/sets/training_set"}' in build
    assert "outlets=[asset_artifact_training_set, asset_flow_build]" in build
    assert '"MLC_ARTIFACT_TRAINING_SET": "build/s3/sets/training_set"' in train
    assert "inlets=[asset_artifact_training_set]" in train
    assert 'name="mlc.artifact.demo.training_set"' in train
    prod = dags(tmp_path, PLATFORM, env="prod")
    assert '"MLC_ARTIFACT_TRAINING_SET": "s3://ml-artifacts/sets/training_set"' in prod["train.py"]


def test_a_branch_prefixes_dags_and_assets_but_keeps_external_signals(tmp_path):
    text = PLATFORM + ('signal catalog external { ds: date }\n'
                       'flow listen {\n  trigger signal(catalog)\n  step run bash("echo") { timeout 1m }\n}\n')
    out = dags(tmp_path, text, env="prod", branch="test.alice")
    assert 'dag_id="test.alice.build"' in out["build.py"]
    assert 'name="test.alice.mlc.flow.demo.build"' in out["train.py"]
    assert 'uri="mlc://test.alice/signal/demo.published"' in out["train.py"]
    assert 'name="test.alice.mlc.signal.demo.published"' in out["score.py"]
    assert 'name="mlc.signal.demo.catalog"' in out["listen.py"]         # external: the real events
    assert '"s3://ml-artifacts/branches/test.alice/sets/training_set"' in out["train.py"]
    assert json.loads(out["manifest.json"])["branch"] == "test.alice"
    plain = dags(tmp_path, text, env="prod")
    assert "test.alice" not in "".join(plain.values())


@pytest.mark.parametrize("branch", ["Test Alice", "a/b", "x" * 65, "-x", "a..b"])
def test_a_bad_branch_is_a_diagnostic(tmp_path, branch):
    (tmp_path / "p.flow").write_text(PLATFORM)
    result = CliRunner().invoke(main, ["compile", str(tmp_path / "p.flow"), "--env", "local", "--out",
                                       str(tmp_path / "out"), "--branch", branch, "--no-cache"])
    assert result.exit_code == 1 and "E0426" in result.output and not (tmp_path / "out").exists()


PAYLOADS = HEAD + """
signal landed external { ds: date, rows: int }
signal ready external { ds: date }
flow joined {
  trigger signal(landed, rows >= 1000) and signal(ready) match ds
  param ds: date = landed.ds
  step load bash("echo $DS") { env { DS = ds }, timeout 1m }
}
flow backfill {
  schedule daily from "2024-01-01"
  catchup true
  param day: date = run.date
  step s python("a.b:c") { env { D = day }, when day >= "2024-01-02", timeout 1m }
}
"""


def test_bound_parameters_comparisons_and_a_join_lower_to_airflow(tmp_path):
    r = program_of(tmp_path, PAYLOADS)
    assert codes(r) == []
    flow = r.program.flows["demo.joined"]
    assert (flow.params[0].default.target, flow.match_keys) == ("signal:demo.landed.ds", ("ds",))
    out = dags(tmp_path, PAYLOADS)
    joined, backfill = out["joined.py"], out["backfill.py"]
    assert 'Param(None, type=["string", "null"], format="date"' in joined
    # a run starts only for events of both signals with the same ds: their siblings keyed by it
    assert "schedule=PartitionedAssetTimetable(assets=AssetAll(asset_signal_landed_by_ds, " \
           "asset_signal_ready_by_ds))" in joined
    assert 'name="mlc.signal.demo.landed~ds"' in joined and "asset_signal_landed," not in joined
    # the newest event of `landed` that passes the trigger's comparison gives `ds`
    assert '_mlc_field(context["triggering_asset_events"], asset_signal_landed_by_ds, {}, "ds", ' \
           'lambda trigger: (trigger.get("rows") >= 1000))' in joined
    assert 'lambda trigger: (trigger.get("rows") >= 1000)' in joined
    assert '_mlc_join(context, [(asset_signal_landed_by_ds, {}, lambda trigger: (trigger.get("rows") >= 1000)), ' \
           '(asset_signal_ready_by_ds, {}, None)], ["ds"])' in joined
    assert "`signal(landed, rows >= 1000) and signal(ready) match ds`" in joined
    assert "match_trigger >> bind_params" in joined and "bind_params >> step_load" in joined
    assert '"DS": "{{ ti.xcom_pull(task_ids=\\"params-bind\\")[\\"ds\\"] }}"' in joined
    assert "start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)" in backfill and "catchup=True" in backfill
    assert '"day": _mlc_bound(params, "day", _mlc_run_date(context), "run.date")' in backfill
    assert 'context["ti"].xcom_pull(task_ids="params-bind")["day"] >= "2024-01-02"' in backfill
    for text in out.values():
        compile(text, "dag.py", "exec")


@pytest.mark.parametrize("change, written, code", [
    ("param ds: date = landed.ds", "param ds: date = landed.day", "E0427"),   # no such field
    ("param ds: date = landed.ds", "param ds: date = other.ds", "E0427"),     # not a signal of the trigger
    ("param ds: date = landed.ds", "param ds: int = landed.ds", "E0303"),     # types differ
    ("rows >= 1000", "ds >= 1000", "E0303"),                                  # a date compared with an int
    ("rows >= 1000", "rowz >= 1000", "E0202"),                                # not a field
    ("match ds", "match rows", "E0428"),                                      # `ready` has no `rows`
])
def test_payload_mistakes(tmp_path, change, written, code):
    r = program_of(tmp_path, PAYLOADS.replace(change, written))
    assert codes(r) == [code], [d.message for d in r.diagnostics]


def test_a_join_needs_two_signals_and_both_ends_of_match_in_one_flow(tmp_path):
    r = program_of(tmp_path, PAYLOADS.replace("signal(landed, rows >= 1000) and signal(ready) match ds",
                                              "signal(landed) match ds"))
    assert codes(r) == ["E0428"]
    r = program_of(tmp_path, PAYLOADS.replace("signal(landed, rows >= 1000) and signal(ready) match ds",
                                              "signal(landed) or signal(ready) match ds"))
    assert codes(r) == ["E0428"] and "not an `and`" in r.diagnostics[0].message
    r = program_of(tmp_path, PAYLOADS.replace('schedule daily from "2024-01-01"',
                                              'schedule daily from "2024-01-01"\n  start "2024-01-01"'))
    assert codes(r) == ["E0110"]
    r = program_of(tmp_path, PAYLOADS.replace("match ds", "match [ds, ds]"))
    assert codes(r) == ["E0110"] and "`ds` is given twice in the `match`" in r.diagnostics[0].message
    assert r.diagnostics[0].labels[0].message == "first given here"


# ---------------------------------------------------------------- golden DAGs
FIXTURE = ROOT / "tests" / "airflow" / "fixtures" / "artifacts"
GOLDEN = ROOT / "tests" / "golden" / "artifacts"


def test_golden_dags_of_artifacts_bound_parameters_and_joins(tmp_path, update_golden):
    """The DAGs of the artifacts fixture (the one tests/airflow runs with dag.test()), byte for
    byte: artifact env and lineage, run.date and payload bindings, a comparison and a join."""
    compiled = compile_bundle(load_project([str(FIXTURE)]), "local", ["airflow"], use_cache=False)
    assert compiled.ok
    got = {Path(a.path).name: a.text for a in compiled.artifacts if a.path.startswith("airflow/dags/")}
    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for name, text in got.items():
            (GOLDEN / name).write_text(text)
    assert sorted(got) == sorted(p.name for p in GOLDEN.iterdir())
    for name, text in got.items():
        assert text == (GOLDEN / name).read_text(), f"{name} differs from tests/golden/artifacts (--update-golden)"


def test_a_branch_that_makes_a_dag_id_too_long_is_reported_when_compiling(tmp_path):
    (tmp_path / "p.flow").write_text(f"package p\nenv local {{ }}\nflow {'f' * 240} {{\n  step a bash(\"x\")\n}}\n")
    project = load_project([str(tmp_path / "p.flow")])
    assert compile_bundle(project, "local", ["airflow"], use_cache=False).ok
    compiled = compile_bundle(project, "local", ["airflow"], use_cache=False, branch="test.alice")
    assert not compiled.ok and [d.code for d in compiled.result.diagnostics] == ["E1001"]


def test_a_step_that_emits_a_joined_signal_publishes_its_keyed_sibling_with_mlc_signals_key(tmp_path):
    """`match ds` flows listen to siblings keyed by `ds`: an emitting step adds the sibling to its
    outlets with the partition key `mlc signal` computes (`match_key`), for one key or several."""
    from mlc.targets.airflow.target import match_key

    text = PAYLOADS + 'flow maker {\n  step make bash("x") { timeout 1m, emits signal ready(ds = "2024-03-01") }\n}\n'
    out = dags(tmp_path, text)
    assert "outlets=[asset_signal_ready, asset_signal_ready_by_ds]" in out["maker.py"]
    assert '_mlc_keyed(context["outlet_events"][asset_signal_ready_by_ds], payload, ["ds"])' in out["maker.py"]
    runtime = next(v for k, v in out.items() if k.startswith("mlc_airflow_runtime_") and "_mlc_keyed" in v)
    space: dict = {}
    exec(compile(runtime, "runtime.py", "exec"), space)

    class Outlet:
        def __init__(self) -> None:
            self.extra, self.keys = None, []

        def add_partitions(self, key):
            self.keys = [key]

    for payload, keys in [({"ds": "2024-03-01"}, ("ds",)), ({"ds": "2024-03-01", "n": 3}, ("ds", "n")),
                          ({"n": 3}, ("ds",))]:
        outlet = Outlet()
        space["_mlc_keyed"](outlet, payload, list(keys))
        assert outlet.extra == payload and outlet.keys == ([match_key(payload, keys)] if match_key(payload, keys)
                                                           else [])


def test_trigger_fields_come_from_an_event_that_passes_the_comparison(tmp_path):
    text = PAYLOADS.replace('step load bash("echo $DS") { env { DS = ds }, timeout 1m }',
                            'step load bash("echo $DS $R") { env { DS = ds, R = trigger.ds }, timeout 1m }')
    joined = dags(tmp_path, text)["joined.py"]
    assert '_mlc_trigger(events, [(asset_signal_landed_by_ds, {}, lambda trigger: (trigger.get("rows") >= 1000)), ' \
           '(asset_signal_ready_by_ds, {})])' in joined


def test_an_unknown_connector_is_one_error_not_a_contradicting_binding_error(tmp_path):
    """`store` is not a connector: E0202 alone, not also E0503 saying files cannot serve it
    while asking for files."""
    result = program_of(tmp_path, 'package p\nimport std.connectors.{files}\nenv local { store = files("data") }\n'
                                  'artifact a: dataset store("sets/a") { schema { id: string } }\n'
                                  'flow f {\n  step w python("x:y") { writes a }\n  step r python("x:z") { reads a }\n'
                                  '  w >> r\n}\n')
    assert codes(result) == ["E0202"] and at(result, "E0202") == (4, 21)
