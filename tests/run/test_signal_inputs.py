"""`mlc signal` / `mlc trigger` inputs without an engine: the payload typed against the
signal's fields, params against the flow's, the names from the IR, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlc.compiler.project import load_project
from mlc.deploy.bundle import check
from mlc.run.deployed import RunError
from mlc.run.signals import (
    Diagnosed,
    asks,
    conf,
    find_dag,
    find_flow,
    find_signal,
    payload,
)
from mlc.targets.airflow.target import dag_ids, signal_asset
from mlc.targets.layout import Layout

ROOT = Path(__file__).resolve().parent.parent.parent

PROGRAM = """\
package shop

env local {
}

signal stock_counted external { store: string, items: int, ratio: float, ok: bool, day: date,
                                 at: timestamp, every: duration, tier: enum(gold, silver) }
signal priced external { uri "s3://prices/current", version: string }

flow restock {
  trigger signal(stock_counted, store = "north")
  param limit: int = 3
  param window: duration = 1h
  step order bash("echo order")
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    root = tmp_path_factory.mktemp("shop")
    (root / "mlc.toml").write_text('[project]\nname = "shop"\nsources = ["."]\n')
    (root / "shop.flow").write_text(PROGRAM)
    result = check(load_project((str(root),)))
    assert not result.errors, result.diagnostics
    return result.program


def test_the_payload_is_typed_against_the_fields(program):
    _, signal = find_signal(program, "stock_counted")
    got = payload(signal, ["store=north", "items=12", "ratio=0.5", "ok=true", "day=2026-12-01",
                           "at=2026-12-01T06:00:00Z", "every=1h30m", "tier=gold"])
    assert got == {"store": "north", "items": 12, "ratio": 0.5, "ok": True, "day": "2026-12-01",
                   "at": "2026-12-01T06:00:00Z", "every": 5_400_000, "tier": "gold"}
    assert payload(signal, ["items:=7", "store:=\"7\""]) == {"items": 7, "store": "7"}


@pytest.mark.parametrize("pair, code, words", [
    ("stor=north", "E0302", "did you mean `store`?"),
    ("items=twelve", "E0303", '"twelve", not a whole number'),
    ("items=1.5", "E0303", "not a whole number"),
    ("ok=yes", "E0303", "not true or false"),
    ("day=2026-02-30", "E0303", "no such day"),
    ("day=2026-12-01T06:00", "E0303", "write the day alone"),
    ("every=90", "E0303", "not a duration"),
    ("tier=gld", "E0303", "did you mean `gold`?"),
    ("store:=null", "E0303", "not nullable"),
])
def test_a_wrong_field_or_value_is_a_diagnostic(program, pair, code, words):
    _, signal = find_signal(program, "stock_counted")
    with pytest.raises(Diagnosed) as e:
        payload(signal, [pair])
    d = e.value.diagnostic
    text = d.message + " " + (d.help or "") + " ".join(d.notes)
    assert d.code == code and words in text, text
    assert d.span is not None and d.span.file.endswith("shop.flow")  # at the declaration


def test_malformed_pairs_and_repeats_are_errors(program):
    _, signal = find_signal(program, "stock_counted")
    for pairs, words in ((["store"], "write field=text or field:=JSON"), (["items:=x"], "is not JSON"),
                         (["store=a", "store=b"], "given twice")):
        with pytest.raises(RunError, match=words):
            payload(signal, pairs)


def test_names_come_from_the_ir(program):
    key, signal = find_signal(program, "stock_counted")
    layout = Layout(program)
    assert signal_asset(layout, key, signal)[0] == "mlc.signal.shop.stock_counted"
    key2, priced = find_signal(program, "shop.priced")
    assert signal_asset(layout, key2, priced)[0] == "s3://prices/current"  # bound to its uri
    assert dag_ids(program, layout)[find_flow(program, "restock")] == "restock"
    assert asks(program, key) == {"restock": 'store = "north"'}
    with pytest.raises(RunError, match="did you mean `stock_counted`"):
        find_signal(program, "stock_countd")
    with pytest.raises(RunError, match="did you mean `restock`"):
        find_flow(program, "restok")


def test_trigger_params_are_typed(program):
    dag = find_dag(program, "restock")
    assert (dag.dag_id, dag.path) == ("restock", "airflow/dags/restock.py")
    assert conf(dag, ["limit=5", "window=30m"]) == {"limit": 5, "window": "30m"}  # a duration stays text
    with pytest.raises(RunError, match="param `limit` of flow `restock` is int"):
        conf(dag, ["limit=many"])
    with pytest.raises(RunError, match="did you mean `limit`"):
        conf(dag, ["limt=5"])


def test_a_feature_group_dag_is_features_dot_name():
    program = check(load_project((str(ROOT / "examples" / "recommendations"),))).program
    dag = find_dag(program, "features.title_popularity")
    assert (dag.dag_id, dag.path, dag.flow) == ("features.title_popularity",
                                                "airflow/dags/features.title_popularity.py", None)
    with pytest.raises(RunError, match="has no param"):
        conf(dag, ["x=1"])
    with pytest.raises(RunError, match="has no DAG"):
        find_dag(program, "features.member_activity")  # a stream group
    with pytest.raises(RunError, match="did you mean `title_popularity`"):
        find_dag(program, "features.title_popularty")
