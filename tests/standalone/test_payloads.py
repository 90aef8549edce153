"""Issue 19 in a running `airflow standalone` (the session's, see conftest.py): a field of the
triggering signal arrives as the run's parameter (`param ds: date = pl_landed.ds`); `match ds`
starts a run for a pair of events that agree on `ds` and none for a pair that disagrees (a late
partner still pairs: Airflow's partitioned assets, keyed by `ds`); a
comparison on the payload (`rows >= 1000`) holds back an event that fails it."""

from __future__ import annotations

import time

import pytest

PROGRAM = """\
package pltest

env local {
}

signal pl_landed external { ds: date, rows: int }
signal pl_ready external { ds: date }

## Loads a day once its plays have landed (1000 rows at least) and its catalog is ready.
flow pl_joined {
  trigger signal(pl_landed, rows >= 1000) and signal(pl_ready) match ds
  param ds: date = pl_landed.ds
  step load bash("echo \\"loaded $DS\\"") { env { DS = ds } }
}
"""
DAG = "pl_joined"


@pytest.fixture(scope="module")
def installed(airflow, tmp_path_factory):
    project = tmp_path_factory.mktemp("plproj")
    (project / "mlc.toml").write_text('[project]\nname = "plproj"\nsources = ["."]\n')
    (project / "flows.flow").write_text(PROGRAM)
    return airflow.install(project, "plproj")


def _signal(airflow, installed, name: str, *fields: str) -> None:
    done = installed.mlc("signal", name, *fields)
    assert done.returncode == 0, done.stdout + done.stderr + airflow.log_tail()


def _new_runs(airflow, before: set[str], within: float) -> list[dict]:
    """The runs of the DAG not in `before` that appear within `within` seconds (the first found)."""
    deadline = time.monotonic() + within
    while True:
        new = [r for r in airflow.runs(DAG) if r["dag_run_id"] not in before]
        if new or time.monotonic() > deadline:
            return new
        time.sleep(2)


def _pair(airflow, installed, landed: tuple[str, ...], ready: tuple[str, ...], timeout: float = 150):
    """Publishes both events; the run they start, finished: (run, its task states)."""
    before = {r["dag_run_id"] for r in airflow.runs(DAG)}
    _signal(airflow, installed, "pl_landed", *landed)
    _signal(airflow, installed, "pl_ready", *ready)
    new = _new_runs(airflow, before, timeout)
    assert new, f"no run of {DAG} within {timeout}s\n{airflow.log_tail()}"
    state, tasks = airflow.wait_run(DAG, new[0]["dag_run_id"], timeout=timeout)
    return new[0], state, tasks


def _xcom(airflow, run_id: str, task: str):
    entry = airflow.client.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/return_value")
    return entry["value"]


def test_a_matching_pair_runs_once_with_the_payload_field_as_its_parameter(airflow, installed):
    run, state, tasks = _pair(airflow, installed, ("ds=2024-03-01", "rows=5000"), ("ds=2024-03-01",))
    assert run["run_type"] == "asset_triggered"
    assert state == "success" and tasks == {"trigger-match": "success", "params-bind": "success",
                                            "load": "success"}, tasks
    assert _xcom(airflow, run["dag_run_id"], "params-bind") in ({"ds": "2024-03-01"}, '{"ds": "2024-03-01"}')
    assert _xcom(airflow, run["dag_run_id"], "load") == "loaded 2024-03-01"


def test_a_pair_that_disagrees_on_ds_starts_no_run_and_a_late_partner_pairs(airflow, installed):
    before = {r["dag_run_id"] for r in airflow.runs(DAG)}
    _signal(airflow, installed, "pl_landed", "ds=2024-03-02", "rows=5000")
    _signal(airflow, installed, "pl_ready", "ds=2024-03-03")
    # each event waits for a partner with its own ds (PartitionedAssetTimetable): no run at all
    assert _new_runs(airflow, before, 30) == [], airflow.runs(DAG)
    # the landed event of 03-02 was not consumed: a ready event of that day pairs with it
    _signal(airflow, installed, "pl_ready", "ds=2024-03-02")
    new = _new_runs(airflow, before, 150)
    assert len(new) == 1, (new, airflow.log_tail())
    state, tasks = airflow.wait_run(DAG, new[0]["dag_run_id"], timeout=150)
    assert state == "success" and tasks["load"] == "success", tasks
    assert _xcom(airflow, new[0]["dag_run_id"], "load") == "loaded 2024-03-02"
    time.sleep(5)
    assert [r["dag_run_id"] for r in airflow.runs(DAG) if r["dag_run_id"] not in before] == [
        new[0]["dag_run_id"]]   # exactly one


def test_an_event_below_the_comparison_runs_no_step(airflow, installed):
    run, state, tasks = _pair(airflow, installed, ("ds=2024-03-04", "rows=10"), ("ds=2024-03-04",))
    assert tasks == {"trigger-match": "success", "params-bind": "skipped", "load": "skipped"}, tasks


def test_a_run_by_hand_must_pass_the_bound_parameter(airflow, installed):
    done = installed.mlc("trigger", DAG, "--wait", "150")
    out = done.stdout + done.stderr
    runs = [r for r in airflow.runs(DAG) if r["run_type"] == "manual"]
    assert runs, out + airflow.log_tail()
    state, tasks = airflow.wait_run(DAG, runs[-1]["dag_run_id"], timeout=150)
    assert state == "failed" and tasks["params-bind"] == "failed" and tasks["load"] != "success", tasks
    done = installed.mlc("trigger", DAG, "--conf", "ds=2024-03-09", "--wait", "150")
    runs = [r for r in airflow.runs(DAG) if r["run_type"] == "manual"]
    state, tasks = airflow.wait_run(DAG, runs[-1]["dag_run_id"], timeout=150)
    assert state == "success" and tasks["load"] == "success", (done.stdout + done.stderr, tasks)
    assert _xcom(airflow, runs[-1]["dag_run_id"], "load") == "loaded 2024-03-09"
