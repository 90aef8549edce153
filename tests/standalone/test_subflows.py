"""Issue 19 (policy) in a running `airflow standalone` (the session's, see conftest.py): a
subflow step starts one run of its child flow per element, at most `parallel N` at once, waits
for them and reads each run's typed returns as a list; `runs last_only` lets the newest of the
waiting runs do the work and the older waiting ones skip it; `runs first_only` drops the runs
triggered while one works."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

PROGRAM = """\
package sftest

env local {
}

## Squares its number (the child of sf_parent).
flow sf_child {
  param n: int = 1
  step square python("sf_steps:square") { returns { sq: int } }
}

## One sf_child run per number, two at once; their squares, summed.
flow sf_parent {
  param ns: [int] = [1, 2, 3, 4]
  step each  subflow(sf_child, n = x) { foreach x in ns, parallel 2, returns { sq: int }, timeout 10m }
  step total python("sf_steps:total") { env { SQUARES = each.sq }, returns { total: int } }
  each >> total
}

## Only the newest of the runs that wait does the work.
flow sf_latest {
  runs last_only
  step work bash("sleep 6")
}

## Runs triggered while one works are dropped.
flow sf_first {
  runs first_only
  step work bash("sleep 6")
}
"""

STEPS = '''\
"""Steps of the subflow test."""

import json
import os
import time


def square(params, **_context):
    time.sleep(3)   # long enough for the runs of one parent to overlap, if nothing bounded them
    return {"sq": int(params["n"]) ** 2}


def total(**_context):
    return {"total": sum(json.loads(os.environ["SQUARES"]))}
'''


@pytest.fixture(scope="module")
def installed(airflow, tmp_path_factory):
    project = tmp_path_factory.mktemp("sfproj")
    (project / "mlc.toml").write_text('[project]\nname = "sfproj"\nsources = ["."]\n')
    (project / "flows.flow").write_text(PROGRAM)
    (project / "sf_steps.py").write_text(STEPS)
    return airflow.install(project, "sfproj")


def _when(text: str | None) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else float("inf")


def test_a_subflow_waits_for_its_child_runs_and_reads_their_returns(airflow, installed):
    run = airflow.client.trigger("sf_parent", {})
    state, tasks = airflow.wait_run("sf_parent", run["dag_run_id"], timeout=300)
    assert state == "success", (tasks, airflow.log_tail())
    assert [tasks[f"each-runs[{i}]"] for i in range(4)] == ["success"] * 4, tasks
    children = [r for r in airflow.runs("sf_child") if r["dag_run_id"].startswith(run["dag_run_id"])]
    assert sorted(r["conf"]["n"] for r in children) == [1, 2, 3, 4]
    assert all(r["state"] == "success" for r in children)
    # the parent waited: every child run ended before the step that reads them started
    total = airflow.client.call("GET", f"/dags/sf_parent/dagRuns/{run['dag_run_id']}/taskInstances/total")
    assert max(_when(r["end_date"]) for r in children) <= _when(total["start_date"])
    # `parallel 2`: never more than two child runs at once
    spans = [(_when(r["start_date"]), _when(r["end_date"])) for r in children]
    assert max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans) <= 2, spans
    got = airflow.client.call("GET", f"/dags/sf_parent/dagRuns/{run['dag_run_id']}/taskInstances/total/"
                                     "xcomEntries/return_value?deserialize=true")
    value = got["value"]
    assert (json.loads(value) if isinstance(value, str) else value) == {"total": 30}


def test_last_only_keeps_the_newest_waiting_run(airflow, installed):
    ids = []
    for _ in range(3):
        ids.append(airflow.client.trigger("sf_latest", {})["dag_run_id"])
        time.sleep(1.0)
    results = [airflow.wait_run("sf_latest", i, timeout=240) for i in ids]
    assert [state for state, _ in results] == ["success"] * 3, results
    # one at a time (max_active_runs=1); a run whose turn came while a newer one waited skipped
    # its work: the second always (the third was queued by then), the first too when the others
    # were queued before it started; the newest did the work
    works = [tasks["work"] for _, tasks in results]
    assert works[1:] == ["skipped", "success"], results
    assert all(tasks["runs-policy"] == "success" for _, tasks in results)
    starts = [_when(r["start_date"]) for r in airflow.runs("sf_latest") if r["dag_run_id"] in ids]
    ends = [_when(r["end_date"]) for r in airflow.runs("sf_latest") if r["dag_run_id"] in ids]
    assert max(sum(1 for s, e in zip(starts, ends) if s <= t < e) for t in starts) == 1   # never two at once


def test_first_only_drops_the_runs_triggered_while_one_works(airflow, installed):
    ids = []
    for _ in range(3):
        ids.append(airflow.client.trigger("sf_first", {})["dag_run_id"])
        time.sleep(1.0)
    results = [airflow.wait_run("sf_first", i, timeout=240) for i in ids]
    assert [state for state, _ in results] == ["success"] * 3, results
    assert [tasks["work"] for _, tasks in results] == ["success", "skipped", "skipped"], results
    assert results[0][1]["runs-policy-end"] == "success"
    # once it has ended, the next run works again
    state, tasks = airflow.wait_run("sf_first", airflow.client.trigger("sf_first", {})["dag_run_id"], timeout=240)
    assert state == "success" and tasks["work"] == "success", tasks


def test_first_only_a_working_run_marked_failed_does_not_drop_every_later_run(airflow, installed):
    """Marking the working run failed (the UI's "mark failed", a dagrun timeout) skips its
    runs-policy-end: its record never gets an end, and every later run used to be dropped."""
    killed = airflow.client.trigger("sf_first", {})["dag_run_id"]
    deadline = time.monotonic() + 120
    while airflow.client.task_states("sf_first", killed).get("work") != "running":
        assert time.monotonic() < deadline, airflow.client.task_states("sf_first", killed)
        time.sleep(0.5)
    airflow.client.call("PATCH", f"/dags/sf_first/dagRuns/{killed}", {"state": "failed"})
    state, tasks = airflow.wait_run("sf_first", killed, timeout=60)
    assert state == "failed" and tasks["runs-policy-end"] != "success", tasks
    state, tasks = airflow.wait_run("sf_first", airflow.client.trigger("sf_first", {})["dag_run_id"], timeout=240)
    assert state == "success" and tasks["work"] == "success", tasks
