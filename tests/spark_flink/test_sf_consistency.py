"""One definition, two engines, the same table: every aggregation kind of the language,
on-time input with events on window boundaries, nulls, out-of-order rows and integer
averages with remainders; the late-data rule on each engine; bad input at run time.

The program is projects/consistency/stats.flow (windows of 10m and 5m, every 5m,
watermark 1m). Expected values are computed by hand in the comments below.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sf_support import (
    FeatureServer,
    JobFailed,
    T,
    check_rows,
    compile_project,
    copy_project,
    index,
    read_table,
    run_stream_pair,
    write_jsonl,
)

PROJECT = Path(__file__).resolve().parent / "projects" / "consistency"


def ev(user, item, kind, amount, price, ts):
    return {"user_id": user, "item": item, "kind": kind, "amount": amount, "price": price, "ts": ts}


# Arrival order = file order. Windows [end-10m, end), ends every 5m; the 5m features take
# the rows of the same window with ts >= end-5m. Row 5 comes after row 4 but is 30s older:
# within the 1m watermark, so it is on time.
ON_TIME = [
    ev("u1", "a", "view", 1, 0.5, "2024-01-01T00:00:00Z"),      # 1
    ev("u1", "b", "buy", 2, 1.25, "2024-01-01T00:03:00Z"),      # 2
    ev("u2", "a", "buy", 10, 2.0, "2024-01-01T00:04:00Z"),      # 3
    ev("u1", "b", "view", None, 0.5, "2024-01-01T00:05:00Z"),   # 4: on a boundary, amount null
    ev("u1", "c", "buy", 2, None, "2024-01-01T00:04:30Z"),      # 5: out of order, on time; price null
    ev(None, "z", "buy", 99, 9.0, "2024-01-01T00:06:00Z"),      # no key: dropped (moves the watermark)
    ev("u1", None, "view", 4, 0.25, "2024-01-01T00:09:59Z"),    # 6: item null
    ev("u2", "b", "view", 3, 0.5, "2024-01-01T00:10:00Z"),      # 7: on a boundary
    ev("u1", "a", "buy", 5, 1.5, "2024-01-01T00:12:00Z"),       # 8
]

COLUMNS = ["n_10m", "buys_10m", "amount_10m", "price_10m", "avg_10m", "min_10m", "max_10m", "last_item",
           "last_amount", "items_10m", "n_5m", "avg_5m"]


def row(*values):
    return dict(zip(COLUMNS, values))


EXPECTED = {
    # u1, window [-5m, 5m): rows 1, 2, 5
    ("u1", T("00:05")): row(3, 2, 5, 1.75, 5 / 3, 1, 1.25, "c", 2, 3, 3, 5 / 3),
    # u1, [0, 10m): rows 1, 2, 4, 5, 6; 5m part [5m, 10m): rows 4, 6; last item: row 6's is null -> row 4
    ("u1", T("00:10")): row(5, 2, 9, 2.5, 2.25, 1, 1.25, "b", 4, 3, 2, 4.0),
    # u1, [5m, 15m): rows 4, 6, 8; 5m part [10m, 15m): row 8
    ("u1", T("00:15")): row(3, 1, 9, 2.25, 4.5, 4, 1.5, "a", 5, 2, 1, 5.0),
    # u1, [10m, 20m): row 8; 5m part [15m, 20m): nothing
    ("u1", T("00:20")): row(1, 1, 5, 1.5, 5.0, 5, 1.5, "a", 5, 1, 0, None),
    ("u2", T("00:05")): row(1, 1, 10, 2.0, 10.0, 10, 2.0, "a", 10, 1, 1, 10.0),
    ("u2", T("00:10")): row(1, 1, 10, 2.0, 10.0, 10, 2.0, "a", 10, 1, 0, None),
    ("u2", T("00:15")): row(1, 0, 3, 0.5, 3.0, 3, 0.5, "b", 3, 1, 1, 3.0),
    ("u2", T("00:20")): row(1, 0, 3, 0.5, 3.0, 3, 0.5, "b", 3, 1, 0, None),
}

TYPES = {"user_id": "string", "event_timestamp": "timestamp[us, tz=UTC]", "n_10m": "int64",
         "buys_10m": "int64", "amount_10m": "int64", "price_10m": "double", "avg_10m": "double",
         "min_10m": "int64", "max_10m": "double", "last_item": "string", "last_amount": "int64",
         "items_10m": "int64", "n_5m": "int64", "avg_5m": "double"}

# Late input. Watermark = the largest event time seen so far - 1m; a window [s, e) has
# fired once the watermark reaches e - 1ms; a row counts only in windows not yet fired.
LATE = [
    ev("u1", "a", "view", 1, 0.5, "2024-01-01T00:00:00Z"),      # wm -> -1m
    ev("u1", "b", "view", 2, 0.5, "2024-01-01T00:07:00Z"),      # wm -> 6m: fires the window ending 5m
    ev("u1", "c", "view", 4, 0.5, "2024-01-01T00:04:00Z"),      # late for end 5m; counts for end 10m
    ev("u1", "d", "view", 8, 0.5, "2024-01-01T00:16:00Z"),      # wm -> 15m: fires ends 10m and 15m
    ev("u1", "e", "view", 16, 0.5, "2024-01-01T00:09:00Z"),     # late for ends 10m and 15m: dropped
    ev("u1", "f", "view", 32, 0.5, "2024-01-01T00:14:30Z"),     # late for end 15m; counts for end 20m
]
LATE_EXPECTED = {
    ("u1", T("00:05")): {"n_10m": 1, "amount_10m": 1, "last_item": "a", "n_5m": 1},
    ("u1", T("00:10")): {"n_10m": 3, "amount_10m": 7, "last_item": "b", "n_5m": 1},
    ("u1", T("00:15")): {"n_10m": 1, "amount_10m": 2, "last_item": "b", "n_5m": 0},
    ("u1", T("00:20")): {"n_10m": 2, "amount_10m": 40, "last_item": "d", "n_5m": 1},
    ("u1", T("00:25")): {"n_10m": 1, "amount_10m": 8, "last_item": "d", "n_5m": 0},
}


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("consistency")
    project = copy_project(PROJECT, root / "project")
    return project, compile_project(project, "local", root / "build")


def _approx(expected: dict) -> dict:
    return {k: {c: (pytest.approx(v, rel=0, abs=1e-12) if isinstance(v, float) else v) for c, v in r.items()}
            for k, r in expected.items()}


def test_every_aggregation_kind_same_values_on_spark_and_flink(spark, flink, build, tmp_path):
    project, out = build
    src = write_jsonl(tmp_path / "on_time" / "events.jsonl", ON_TIME)
    s_out, f_out = tmp_path / "spark", tmp_path / "flink"
    server = FeatureServer()
    try:
        run_stream_pair(spark, flink, out, project, "user_stats", s_out, f_out, ["--source", f"events={src}"],
                        feature_server=server.url)
    finally:
        server.close()
    s_types, s_rows = read_table(spark, s_out)
    f_types, f_rows = read_table(spark, f_out)
    # One table: the same rows, values and types from both engines.
    assert s_rows == f_rows
    assert s_types == f_types == TYPES
    table = index(s_rows, "user_id")
    assert sorted(table) == sorted(EXPECTED), "one row per user and window end that holds an event"
    check_rows(table, _approx(EXPECTED))
    # avg is a float on both engines, never an integer average (5/3, not 1)
    assert table[("u1", T("00:05"))]["avg_10m"] == 5 / 3
    # The online store gets the same rows, through Feast's POST /push
    assert [p["path"] for p in server.pushed] == ["/push"]
    body = server.pushed[0]["body"]
    assert body["push_source_name"] == "user_stats_push" and body["to"] == "online"
    df = body["df"]
    assert sorted(df) == sorted(TYPES) and len(df["user_id"]) == len(EXPECTED)
    pushed = {(df["user_id"][i], df["event_timestamp"][i]): {c: df[c][i] for c in COLUMNS}
              for i in range(len(df["user_id"]))}
    assert pushed[("u1", "2024-01-01 00:10:00.000000")] == EXPECTED[("u1", T("00:10"))]


@pytest.mark.parametrize("engine", ["flink", "spark"])
def test_late_events_follow_the_watermark_rule(engine, spark, flink, build, tmp_path):
    project, out = build
    src = write_jsonl(tmp_path / "late" / "events.jsonl", LATE)
    dest = tmp_path / engine
    worker = flink if engine == "flink" else spark
    worker.call(cmd="job", file=str(out / engine / "features" / "user_stats.py"),
                argv=["--source", f"events={src}", "--output", str(dest)], cwd=str(project))
    if engine == "flink":
        flink.call(cmd="script", file=str(out / "flink" / "publish" / "user_stats.py"),
                   argv=["--offline", str(dest)], cwd=str(project))
    _types, rows = read_table(spark, dest)
    table = index(rows, "user_id")
    assert sorted(table) == sorted(LATE_EXPECTED)
    check_rows(table, LATE_EXPECTED)


BAD = {
    # `price` is absent from every record
    "missing": ([{k: v for k, v in e.items() if k != "price"} for e in ON_TIME[:3]], "price", "is missing"),
    # `amount` holds a word in one record
    "wrong_type": ([*ON_TIME[:2], {**ON_TIME[2], "amount": "ten"}], "amount", "not of type int"),
}


@pytest.mark.parametrize("engine", ["spark", "flink"])
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_names_the_source_and_the_column(engine, case, spark, flink, build, tmp_path):
    project, out = build
    rows, column, words = BAD[case]
    src = write_jsonl(tmp_path / case / "events.jsonl", rows)
    worker = flink if engine == "flink" else spark
    with pytest.raises(JobFailed) as failed:
        worker.call(cmd="job", file=str(out / engine / "features" / "user_stats.py"),
                    argv=["--source", f"events={src}", "--output", str(tmp_path / "out")], cwd=str(project))
    assert failed.value.type == "DataError", failed.value.answer
    message = failed.value.error
    assert message.startswith("source `events`"), message
    assert f"column `{column}`" in message and words in message, message
