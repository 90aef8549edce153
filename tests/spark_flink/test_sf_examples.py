"""Each example's generated jobs, run by the real engines on small hand-made input with
events on window boundaries, nulls and integer averages with remainders. Every expected
value below is computed by hand (see the comments), not read back from a job.

The jobs run with the working directory at a copy of the example and no path arguments
(stream groups' outputs aside), so the env `local` bindings are what is read and written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sf_support import (
    ROOT,
    D,
    T,
    check_rows,
    compile_project,
    copy_project,
    index,
    read_table,
    run_stream_pair,
    write_jsonl,
)

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    root = tmp_path_factory.mktemp("recs")
    project = copy_project(EXAMPLES / "recommendations", root / "project")
    return project, compile_project(project, "local", root / "build")


@pytest.fixture(scope="module")
def fraud(tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud")
    project = copy_project(EXAMPLES / "fraud", root / "project")
    return project, compile_project(project, "local", root / "build")


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    root = tmp_path_factory.mktemp("nightly")
    project = copy_project(EXAMPLES / "nightly_batch", root / "project")
    return project, compile_project(project, "local", root / "build")


# ---------------------------------------------------------------- recommendations
def member_event(member, title, kind, dwell, ts):
    return {"member_id": member, "title_id": title, "kind": kind, "dwell_ms": dwell, "device": "tv", "ts": ts}


def test_member_activity_stream_group_on_flink_and_spark(spark, flink, recs):
    """1h windows every 5m: count(kind == view), count(kind == click), avg(dwell_ms),
    distinct_count(title_id)."""
    project, build = recs
    write_jsonl(project / "data/events/member-interactions/part-0.jsonl", [
        member_event("m1", "t1", "view", 10, "2024-01-01T00:00:00Z"),
        member_event("m1", "t2", "click", 15, "2024-01-01T00:05:00Z"),   # on a window boundary
        member_event(None, "t9", "view", 1, "2024-01-01T00:06:00Z"),     # no key: dropped
        member_event("m1", "t1", "view", None, "2024-01-01T00:30:00Z"),  # dwell null
        member_event("m2", "t3", "view", 7, "2024-01-01T00:59:59Z"),
    ])
    s_out, f_out = project / "build/spark/member_activity", project / "build/flink/member_activity"
    run_stream_pair(spark, flink, build, project, "member_activity", s_out, f_out)
    s_types, s_rows = read_table(spark, s_out)
    f_types, f_rows = read_table(spark, f_out)
    assert s_rows == f_rows and s_types == f_types
    table = index(s_rows, "member_id")
    # m1: events at 0:00, 0:05, 0:30 -> window ends 0:05 ... 1:30 (18); m2 at 0:59:59 -> 1:00 ... 1:55 (12)
    assert len(table) == 30
    assert sorted(ts for (m, ts) in table if m == "m1") == sorted(
        T(f"{h:02d}:{m:02d}") for h in (0, 1) for m in range(0, 60, 5) if (h, m) != (0, 0) and (h, m) <= (1, 30))
    check_rows(table, {
        ("m1", T("00:05")): {"views_1h": 1, "clicks_1h": 0, "avg_dwell": 10.0, "titles_1h": 1},
        ("m1", T("00:10")): {"views_1h": 1, "clicks_1h": 1, "avg_dwell": 12.5, "titles_1h": 2},  # (10+15)/2
        ("m1", T("00:35")): {"views_1h": 2, "clicks_1h": 1, "avg_dwell": 12.5, "titles_1h": 2},  # null skipped
        ("m1", T("01:00")): {"views_1h": 2, "clicks_1h": 1, "avg_dwell": 12.5, "titles_1h": 2},
        ("m1", T("01:05")): {"views_1h": 1, "clicks_1h": 1, "avg_dwell": 15.0, "titles_1h": 2},  # 0:00 left
        ("m1", T("01:10")): {"views_1h": 1, "clicks_1h": 0, "avg_dwell": None, "titles_1h": 1},
        ("m1", T("01:30")): {"views_1h": 1, "clicks_1h": 0, "avg_dwell": None, "titles_1h": 1},
        ("m2", T("01:00")): {"views_1h": 1, "clicks_1h": 0, "avg_dwell": 7.0, "titles_1h": 1},
        ("m2", T("01:55")): {"views_1h": 1, "clicks_1h": 0, "avg_dwell": 7.0, "titles_1h": 1},
    })
    assert s_types["avg_dwell"] == "double" and s_types["views_1h"] == "int64"


PLAYS = {  # ds partition -> rows (the partition column is the folder, as Hive lays it out)
    "2024-01-01": [{"member_id": "m1", "title_id": "t1", "seconds": 100},
                   {"member_id": "m2", "title_id": "t1", "seconds": 50}],
    "2024-01-03": [{"member_id": "m1", "title_id": "t1", "seconds": 600}],
    "2024-01-07": [{"member_id": "m1", "title_id": "t2", "seconds": 10},
                   {"member_id": "m3", "title_id": "t2", "seconds": None},
                   {"member_id": "m4", "title_id": None, "seconds": 5}],   # no key: dropped
}
PLAYS_SCHEMA = [["member_id", "string"], ["title_id", "string"], ["seconds", "int"]]


def write_plays(spark, root: Path) -> Path:
    for ds, rows in PLAYS.items():
        spark.call(cmd="write_parquet", path=str(root / f"ds={ds}" / "part-0.parquet"), schema=PLAYS_SCHEMA, rows=rows)
    return root


def test_title_popularity_batch_group_by_partition_column(spark, recs):
    """7d windows by the `ds` partition, every day (the schedule): count(*), sum, distinct_count."""
    project, build = recs
    write_plays(spark, project / "data/warehouse/plays")
    job = str(build / "spark/features/title_popularity.py")
    spark.call(cmd="job", file=job, argv=[], cwd=str(project))
    _types, rows = read_table(spark, project / "build/s3/features/title_popularity")
    table = index(rows, "title_id")
    # t1: days 01-01 and 01-03 -> window ends 01-02 ... 01-10 (9); t2: 01-07 -> 01-08 ... 01-14 (7)
    assert len(table) == 16
    check_rows(table, {
        ("t1", D("2024-01-02")): {"plays_7d": 2, "seconds_7d": 150, "viewers_7d": 2},
        ("t1", D("2024-01-04")): {"plays_7d": 3, "seconds_7d": 750, "viewers_7d": 2},
        ("t1", D("2024-01-08")): {"plays_7d": 3, "seconds_7d": 750, "viewers_7d": 2},  # [01-01, 01-08)
        ("t1", D("2024-01-09")): {"plays_7d": 1, "seconds_7d": 600, "viewers_7d": 1},  # 01-01 has left
        ("t1", D("2024-01-10")): {"plays_7d": 1, "seconds_7d": 600, "viewers_7d": 1},
        ("t2", D("2024-01-08")): {"plays_7d": 2, "seconds_7d": 10, "viewers_7d": 2},   # a null second
        ("t2", D("2024-01-14")): {"plays_7d": 2, "seconds_7d": 10, "viewers_7d": 2},
    })
    # A daily run: only the windows ending on 01-04 are computed and written.
    spark.call(cmd="job", file=job, argv=["--from", "2024-01-04", "--to", "2024-01-05",
                                         "--output", "build/s3/features/title_popularity_0104"], cwd=str(project))
    _types, rows = read_table(spark, project / "build/s3/features/title_popularity_0104")
    assert rows == [{"title_id": "t1", "event_timestamp": D("2024-01-04"), "plays_7d": 3, "seconds_7d": 750,
                     "viewers_7d": 2}]


def test_member_title_affinity_plain_columns(spark, recs):
    """A group of plain columns: rows pass through, event_timestamp is the ds day."""
    project, build = recs
    schema = [["member_id", "string"], ["title_id", "string"], ["impressions", "int"], ["conv_rate", "float"],
              ["completion_rate", "float"], ["ds", "date"]]
    spark.call(cmd="write_parquet", path=str(project / "data/warehouse/member_title_daily/part-0.parquet"),
               schema=schema, rows=[
                   {"member_id": "m1", "title_id": "t1", "impressions": 10, "conv_rate": 0.5,
                    "completion_rate": 0.25, "ds": "2024-01-01"},
                   {"member_id": "m1", "title_id": "t2", "impressions": 3, "conv_rate": None,
                    "completion_rate": 1.0, "ds": "2024-01-02"},
                   {"member_id": "m2", "title_id": None, "impressions": 1, "conv_rate": 0.1,
                    "completion_rate": 0.1, "ds": "2024-01-02"},
               ])
    spark.call(cmd="job", file=str(build / "spark/features/member_title_affinity.py"), argv=[], cwd=str(project))
    types, rows = read_table(spark, project / "build/s3/features/member_title_affinity")
    assert types == {"member_id": "string", "title_id": "string", "event_timestamp": "timestamp[us, tz=UTC]",
                     "conv_rate": "double", "completion_rate": "double", "impressions": "int64"}
    assert rows == [
        {"member_id": "m1", "title_id": "t1", "event_timestamp": D("2024-01-01"), "conv_rate": 0.5,
         "completion_rate": 0.25, "impressions": 10},
        {"member_id": "m1", "title_id": "t2", "event_timestamp": D("2024-01-02"), "conv_rate": None,
         "completion_rate": 1.0, "impressions": 3},
    ]


def test_spark_step_runs_the_users_job_with_the_envs_configuration(spark, recs):
    """flow build_training_set, step snapshot: the launcher runs jobs/training_set.py.
    (The user's job passes its paths to Spark as they are; the shared worker's JVM has its
    own working folder, so they are given absolute here.)"""
    project, build = recs
    plays = write_plays(spark, project / "data/warehouse/plays")
    spark.call(cmd="script", file=str(build / "spark/steps/build_training_set/snapshot.py"),
               argv=["--lookback", "20000d", "--sample-rate", "1.0", "--plays", str(plays),
                     "--output", str(project / "build/training_set")],
               cwd=str(project))
    _types, rows = read_table(spark, project / "build/training_set")
    got = {(r["member_id"], r["title_id"]): (r["seconds"], r["label"]) for r in rows}
    # (m1, t1): 100 + 600 = 700 s >= 600 -> engaged
    assert got == {("m1", "t1"): (700, 1), ("m2", "t1"): (50, 0), ("m1", "t2"): (10, 0),
                   ("m3", "t2"): (None, None), ("m4", None): (5, 0)}


# ---------------------------------------------------------------- fraud
def txn(txn_id, card, merchant, amount, country, status, ts):
    return {"txn_id": txn_id, "card_id": card, "merchant_id": merchant, "amount_cents": amount,
            "country": country, "channel": "pos", "status": status, "ts": ts}


def test_card_velocity_stream_group_on_flink_and_spark(spark, flink, fraud):
    """Windows of 5m and 1h, every 1m: count(*), sum, max, distinct_count, count(cond)."""
    project, build = fraud
    write_jsonl(project / "data/transactions/card-transactions/part-0.jsonl", [
        txn("t1", "c1", "m1", 100, "US", "approved", "2024-01-01T00:00:00Z"),
        txn("t4", "c2", "m3", 70, "US", "declined", "2024-01-01T00:00:30Z"),
        txn("t2", "c1", "m2", 250, "FR", "declined", "2024-01-01T00:01:00Z"),  # on a boundary
        txn("t3", "c1", "m1", None, "US", "approved", "2024-01-01T00:04:00Z"),  # amount null
    ])
    s_out, f_out = project / "build/spark/card_velocity", project / "build/flink/card_velocity"
    run_stream_pair(spark, flink, build, project, "card_velocity", s_out, f_out)
    s_types, s_rows = read_table(spark, s_out)
    f_types, f_rows = read_table(spark, f_out)
    assert s_rows == f_rows and s_types == f_types
    table = index(s_rows, "card_id")
    # c1: events 0:00 ... 0:04 -> ends 0:01 ... 1:04 (64); c2: 0:00:30 -> 0:01 ... 1:00 (60)
    assert len(table) == 124

    def r(n5, n1h, amount, top, merchants, countries, declines):
        return {"txn_count_5m": n5, "txn_count_1h": n1h, "amount_sum_1h": amount, "max_amount_1h": top,
                "merchants_1h": merchants, "countries_1h": countries, "declines_1h": declines}

    check_rows(table, {
        ("c1", T("00:01")): r(1, 1, 100, 100, 1, 1, 0),
        ("c1", T("00:02")): r(2, 2, 350, 250, 2, 2, 1),
        ("c1", T("00:05")): r(3, 3, 350, 250, 2, 2, 1),
        ("c1", T("00:06")): r(2, 3, 350, 250, 2, 2, 1),   # 5m: [0:01, 0:06)
        ("c1", T("00:07")): r(1, 3, 350, 250, 2, 2, 1),
        ("c1", T("00:09")): r(1, 3, 350, 250, 2, 2, 1),
        ("c1", T("00:10")): r(0, 3, 350, 250, 2, 2, 1),
        ("c1", T("01:01")): r(0, 2, 250, 250, 2, 2, 1),   # 1h: [0:01, 1:01)
        ("c1", T("01:04")): r(0, 1, None, None, 1, 1, 0),  # only t3, whose amount is null
        ("c2", T("00:01")): r(1, 1, 70, 70, 1, 1, 1),
        ("c2", T("01:00")): r(0, 1, 70, 70, 1, 1, 1),
    })


# ---------------------------------------------------------------- nightly batch
def test_account_health_batch_group_with_columns_and_two_windows(spark, nightly):
    """7d and 28d windows every day (cron 0 4 * * *); plain columns take their last value."""
    project, build = nightly
    schema = [["account_id", "string"], ["region", "string"], ["plan", "string"], ["tenure_days", "int"],
              ["hours_streamed", "float"], ["sessions", "int"], ["payment_failed", "bool"]]
    days = {
        "2024-01-01": [{"account_id": "a1", "region": "us", "plan": "basic", "tenure_days": 10,
                        "hours_streamed": 1.5, "sessions": 2, "payment_failed": False}],
        "2024-01-05": [{"account_id": "a1", "region": "us", "plan": "premium", "tenure_days": 14,
                        "hours_streamed": 2.25, "sessions": 3, "payment_failed": True}],
        "2024-01-10": [{"account_id": "a2", "region": "eu", "plan": "standard", "tenure_days": 5,
                        "hours_streamed": None, "sessions": 1, "payment_failed": None}],
    }
    for ds, rows in days.items():
        spark.call(cmd="write_parquet", path=str(project / f"data/warehouse/account_daily/ds={ds}/part-0.parquet"),
                   schema=schema, rows=rows)
    spark.call(cmd="job", file=str(build / "spark/features/account_health.py"), argv=[], cwd=str(project))
    types, rows = read_table(spark, project / "build/s3/features/account_health")
    assert types["plan"] == "string" and types["tenure_days"] == "int64" and types["hours_7d"] == "double"
    table = index(rows, "account_id")
    # a1: 01-01 and 01-05 -> ends 01-02 ... 02-02 (32); a2: 01-10 -> 01-11 ... 02-07 (28)
    assert len(table) == 60

    def r(plan, tenure, h7, h28, s28, failed):
        return {"plan": plan, "tenure_days": tenure, "hours_7d": h7, "hours_28d": h28, "sessions_28d": s28,
                "failed_pay_28d": failed}

    check_rows(table, {
        ("a1", D("2024-01-02")): r("basic", 10, 1.5, 1.5, 2, 0),
        ("a1", D("2024-01-06")): r("premium", 14, 3.75, 3.75, 5, 1),
        ("a1", D("2024-01-09")): r("premium", 14, 2.25, 3.75, 5, 1),   # 7d: [01-02, 01-09)
        ("a1", D("2024-01-13")): r("premium", 14, None, 3.75, 5, 1),   # 7d window empty
        ("a1", D("2024-01-30")): r("premium", 14, None, 2.25, 3, 1),   # 28d: [01-02, 01-30)
        ("a1", D("2024-02-02")): r("premium", 14, None, 2.25, 3, 1),
        ("a2", D("2024-01-11")): r("standard", 5, None, None, 1, 0),   # a null bool is not a failure
    })
