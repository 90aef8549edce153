"""The generated jobs push their freshness to a real Pushgateway (Debian's, from scripts/setup.sh)
on 127.0.0.1, as a deployment's `$MLC_PUSHGATEWAY` makes them (issue 15):

- a batch group's Spark job (nightly_batch's account_health), run in the session's Spark worker;
- a stream group's Flink publisher (fraud's card_velocity), after the real Flink job staged its rows.

Each then reads the Pushgateway's own API back: the series the generated freshness rules select
(names and `job`/`group` labels from `mlc.compiler.metrics`, matchers read from the rule files
compiled beside the jobs) hold the newest event time the written rows reflect (computed by hand;
for a stream group the newest `event_timestamp` of the table read back, for a batch group's windows
the newest source event, not the window rows that slide on past it) and a last write inside the run's own clock
readings. The Pushgateway keeps nothing between runs (no persistence file: Debian's default
would load another run's series) and is stopped by its pid."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from sf_support import ROOT, compile_project, copy_project, read_table, write_jsonl

from mlc.compiler.metrics import (
    FEATURE_LAST_WRITE,
    FEATURE_NEWEST_EVENT,
    PUSH_JOB,
    feature_metrics,
)

EXAMPLES = ROOT / "examples"
# name{matchers} of a series a rule reads
SELECTOR = re.compile(r"\b(mlc_[A-Za-z0-9_]*)\{([^{}]*)\}")
MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A Pushgateway on a free 127.0.0.1 port, in memory only; yields its `host:port`."""
    binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
    if not Path(binary).exists():
        pytest.fail("prometheus-pushgateway is missing: run `bash scripts/setup.sh`")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("pushgateway") / "pushgateway.log"
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}", "--persistence.file="],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Pushgateway exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the Pushgateway was not ready in 30 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pushed(gateway: str, group: str) -> dict[str, tuple[dict, float]]:
    """The Pushgateway's series of a group: name -> (labels, value)."""
    with urllib.request.urlopen(f"http://{gateway}/api/v1/metrics", timeout=10) as r:
        data = json.loads(r.read())["data"]
    found = [g for g in data if g["labels"].get("group") == group]
    assert len(found) == 1, data
    return {name: (s["metrics"][0]["labels"], float(s["metrics"][0]["value"]))
            for name, s in found[0].items() if isinstance(s, dict) and "metrics" in s}


def rule_selectors(build: Path, group: str) -> list[tuple[str, dict[str, str]]]:
    """(series name, equality matchers) of every feature series the group's generated rules read."""
    rules = yaml.safe_load((build / "prometheus/rules/features" / f"{group}.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    found = [(name, dict(MATCHER.findall(body))) for e in exprs for name, body in SELECTOR.findall(e)
             if name in (FEATURE_NEWEST_EVENT, FEATURE_LAST_WRITE)]
    assert {n for n, _ in found} >= {FEATURE_NEWEST_EVENT}, exprs
    return found


def check_push(gateway: str, build: Path, group: str, newest: str, before: float, after: float) -> None:
    series = pushed(gateway, group)
    want = feature_metrics(group)
    assert want["job"] == PUSH_JOB and want["grouping"] == {"group": group}
    for name in (FEATURE_NEWEST_EVENT, FEATURE_LAST_WRITE):
        assert name in series, series
        labels, _ = series[name]
        assert labels["job"] == PUSH_JOB and labels["group"] == group, labels
    for name, matchers in rule_selectors(build, group):
        labels, _ = series[name]
        assert all(labels.get(k) == v for k, v in matchers.items()), (name, matchers, labels)
    expected = dt.datetime.fromisoformat(newest).timestamp()
    assert series[FEATURE_NEWEST_EVENT][1] == expected, (series, newest)
    assert before <= series[FEATURE_LAST_WRITE][1] <= after, (series, before, after)


def test_a_batch_groups_spark_job_pushes_its_freshness(spark, gateway, tmp_path_factory):
    """account_health: 7d and 28d windows every day; a2's only day 01-10 -> its windows end 01-11 ...
    02-07, the newest row written. The rows after 01-11 reflect no newer event (the windows slide
    out): the freshness pushed is 01-10, the newest event, not 02-07, which would keep a stopped
    source looking fresh for 28 days."""
    root = tmp_path_factory.mktemp("push-nightly")
    project = copy_project(EXAMPLES / "nightly_batch", root / "project")
    build = compile_project(project, "local", root / "build", targets=("spark", "prometheus"))
    schema = [["account_id", "string"], ["region", "string"], ["plan", "string"], ["tenure_days", "int"],
              ["hours_streamed", "float"], ["sessions", "int"], ["payment_failed", "bool"]]
    for ds, account in (("2024-01-01", "a1"), ("2024-01-10", "a2")):
        spark.call(cmd="write_parquet", path=str(project / f"data/warehouse/account_daily/ds={ds}/part-0.parquet"),
                   schema=schema, rows=[{"account_id": account, "region": "us", "plan": "basic", "tenure_days": 3,
                                         "hours_streamed": 1.0, "sessions": 1, "payment_failed": False}])
    before = time.time()
    spark.call(cmd="job", file=str(build / "spark/features/account_health.py"), argv=[], cwd=str(project),
               env={"MLC_PUSHGATEWAY": gateway})
    after = time.time()
    _types, rows = read_table(spark, project / "build/s3/features/account_health")
    assert max(r["event_timestamp"] for r in rows) == "2024-02-07T00:00:00.000Z"
    check_push(gateway, build, "account_health", "2024-01-10T00:00:00+00:00", before, after)


def test_a_stream_groups_flink_publisher_pushes_its_freshness(flink, spark, gateway, tmp_path_factory):
    """card_velocity: 5m and 1h windows every 1m; c1's last event at 0:04 -> its last window ends
    1:04, the newest row the publisher publishes."""
    root = tmp_path_factory.mktemp("push-fraud")
    project = copy_project(EXAMPLES / "fraud", root / "project")
    build = compile_project(project, "local", root / "build", targets=("flink", "prometheus"))
    write_jsonl(project / "data/transactions/card-transactions/part-0.jsonl", [
        {"txn_id": "t1", "card_id": "c1", "merchant_id": "m1", "amount_cents": 100, "country": "US",
         "channel": "pos", "status": "approved", "ts": "2024-01-01T00:00:00Z"},
        {"txn_id": "t2", "card_id": "c1", "merchant_id": "m2", "amount_cents": 250, "country": "FR",
         "channel": "pos", "status": "declined", "ts": "2024-01-01T00:04:00Z"},
    ])
    out = project / "build/flink/card_velocity"
    flink.call(cmd="job", file=str(build / "flink/features/card_velocity.py"), argv=["--output", str(out)],
               cwd=str(project))
    before = time.time()
    flink.call(cmd="script", file=str(build / "flink/publish/card_velocity.py"), argv=["--offline", str(out)],
               cwd=str(project), env={"MLC_PUSHGATEWAY": gateway})
    after = time.time()
    _types, rows = read_table(spark, out)
    assert max(r["event_timestamp"] for r in rows) == "2024-01-01T01:04:00.000Z"
    check_push(gateway, build, "card_velocity", "2024-01-01T01:04:00.000Z", before, after)
