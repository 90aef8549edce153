"""The generated DAGs run by real Airflow 3.3 (the engine environment of engines/airflow.txt).

- every DAG of every example and fixture, for each env, loads in a DagBag with no import
  errors and no warnings, and serialises;
- `dag.test()` runs the recommendations training flow with its Python steps executing;
- a hostile bash value is run for real and the canary files it would create never appear;
- an on_finish chain and a signal chain start their consumers through `airflow standalone`
  on 127.0.0.1, with the payload-match skip shown for a non-matching event and the pass
  for a matching one (and what `and` does when one of its events does not match).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_support import PROJECTS, envs_of

# ------------------------------------------------------------------ DagBag


def test_every_generated_dag_loads_and_serialises(dagbag_report, compiled):
    assert len(dagbag_report) == sum(len(envs_of(p)) for p in PROJECTS.values())
    total = 0
    for folder, report in sorted(dagbag_report.items()):
        assert report["import_errors"] == {}, (folder, report["import_errors"])
        assert report["captured_warnings"] == {}, (folder, report["captured_warnings"])
        assert report["dag_warnings"] == [], (folder, report["dag_warnings"])
        files = sorted(p.stem for p in (compiled[folder.replace("-", "/", 1)] / "airflow" / "dags").glob("*.py")
                       if not p.stem.startswith("mlc_airflow_runtime_"))   # the helpers the DAGs share, no DAG
        assert sorted(report["dags"]) == files, folder          # one DAG per file, named as its file
        for dag_id, dag in report["dags"].items():
            assert dag["serialised"], (folder, dag_id, dag.get("serialisation_error"))
            total += 1
    assert total >= 30


def test_flow_facts_reach_the_dag(dagbag_report):
    recs = dagbag_report["recommendations-local"]["dags"]
    train = recs["train_ranker"]
    assert train["owner"] == "personalization" and train["tags"] == ["tier1", "training"]
    assert train["doc_md"].startswith("Train, evaluate and publish the ranker")
    assert "AssetAll" in train["schedule"]
    facts = train["task_facts"]
    assert facts["train"]["retries"] == 1 and facts["train"]["execution_timeout"] == 7200
    assert facts["train"]["executor_config"] == {"mlc_resources": {"cpu": "4", "memory": "16Gi"}}
    assert facts["trigger-match"]["operator"] == "ShortCircuitOperator"
    assert facts["train"]["upstream"] == ["trigger-match"]
    assert facts["publish"]["upstream"] == ["evaluate-gate"]
    assert facts["publish-emits-ranker_published"]["outlets"] == ["mlc.signal.netflix.recs.ranker_published"]
    build = recs["build_training_set"]
    assert build["deadline"] and "0 1 * * *" in build["schedule"]
    assert build["params"]["lookback"] == "28d"
    assert build["task_facts"]["snapshot"]["operator"] == "SparkSubmitOperator"
    assert build["task_facts"]["snapshot"]["outlets"] == ["mlc.artifact.netflix.recs.training_set",
                                                          "mlc.flow.netflix.recs.build_training_set"]
    assert recs["train_ranker"]["task_facts"]["train"]["inlets"] == ["mlc.artifact.netflix.recs.training_set"]
    features = recs["features.title_popularity"]
    assert list(features["task_facts"]) == ["compute", "materialize"] or sorted(features["task_facts"]) == \
        ["compute", "materialize"]
    assert features["task_facts"]["materialize"]["outlets"] == ["mlc.features.netflix.recs.title_popularity"]
    assert features["owner"] == "discovery"
    # prod: resources become a Kubernetes pod override
    prod = dagbag_report["recommendations-prod"]["dags"]["train_ranker"]["task_facts"]["train"]
    assert "pod_override" in prod["executor_config"] and "16Gi" in str(prod["executor_config"])
    cov = dagbag_report["coverage-local"]["dags"]["score_regions"]
    assert "AssetOrTimeSchedule" in cov["schedule"] and "AssetAny" in cov["schedule"]
    assert cov["task_facts"]["score"]["operator"] in ("SparkSubmitOperator", "MappedOperator")
    assert cov["task_facts"]["after"]["trigger_rule"] == "none_failed"


# ------------------------------------------------------------------ dag.test()


def _ok(run: dict) -> None:
    assert "error" not in run, run.get("error")


def test_training_flow_runs_end_to_end(dag_runs):
    run = dag_runs["train"]
    _ok(run)
    assert run["state"] == "success", run["tasks"]
    assert run["tasks"] == {"trigger-match": "success", "train": "success", "evaluate": "success",
                            "evaluate-gate": "success", "publish": "success",
                            "publish-emits-ranker_published": "success", "announce": "success"}
    artifacts = run["cwd"] / "artifacts"
    model = json.loads((artifacts / "model.json").read_text())
    assert model["model"] == "ranker" and model["version"] == run["run_id"] and model["trained_on_rows"] > 0
    # the training set reached the step as the run's artifact location, not a path in its code
    assert model["training_set"] == "build/s3/datasets/training_set"
    # the step ran in the serving engine and saved the model to the BentoML store the run named
    assert (run["cwd"] / "bentoml" / "models" / "ranker" / model["tag"].split(":")[1]).is_dir(), model["tag"]
    metrics = json.loads((artifacts / "metrics.json").read_text())
    assert metrics["auc"] >= 0.80 and metrics["version"] == run["run_id"]
    assert (run["cwd"] / "build" / "releases.log").read_text() == f"ranker {run['run_id']} is live\n"
    assert run["events"] == [{"asset": "mlc.signal.netflix.recs.ranker_published",
                              "extra": {"version": run["run_id"]}, "task_id": "publish-emits-ranker_published"}]


CANARIES = ("canary_subst", "canary_backtick", "canary_semicolon", "canary_newline", "canary_doc", "canary_owner",
            "canary_tag", "canary_param", "canary_payload", "canary_match")


def test_a_spark_step_runs_its_launcher_under_spark_submit(dag_runs):
    """The DAG task submits spark/steps/spark_hello/hello.py (the launcher), not the user's job;
    the launcher applies env `local`'s settings, then runs jobs/hello.py with the flow's params."""
    run = dag_runs["spark_step"]
    _ok(run)
    assert run["tasks"] == {"hello": "success"}, run["log"][-6000:]
    report = json.loads((run["cwd"] / "report.json").read_text())
    assert report == {"time_zone": "UTC", "app_name": "spark_hello.hello", "mlc_env": "local",
                      "binding": "data/warehouse", "argv": ["--day", "2026-12-05"], "rows": 5}


def test_hostile_bash_values_never_run(dag_runs, airflow):
    run = dag_runs["hostile"]
    _ok(run)
    assert run["state"] == "success", run["tasks"]
    out = (run["cwd"] / "hostile_out.txt").read_text()
    note = "\"; __import__('os').system('touch canary_param') #{{ 7 * 7 }}"
    assert out == "|".join(["$(touch canary_subst)", "`touch canary_backtick`", "; touch canary_semicolon; echo ",
                            "{{ 7 * 7 }}{% endraw %}{{ 6 * 6 }}", note,
                            "line one\nline two' \"&& touch canary_newline", "deploy.sh"]) + "\n"
    assert (run["cwd"] / "jinja_out.txt").read_text() == "{{ 7 * 7 }} ${HOME:+home}\n"   # no Jinja ran
    # values that reach mapped instances through XCom stay inert as well
    assert sorted((run["cwd"] / "foreach_out.txt").read_text().splitlines()) == \
        sorted(["{{ 7 * 7 }}", "$(touch canary_foreach)", "\"; touch canary_foreach_quote", "run.bash"])
    found = [p for p in airflow.work.parent.rglob("canary*")] + [p for p in Path.cwd().glob("canary*")]
    assert found == [], found
    assert run["events"][0]["extra"] == {"note": "\")); __import__('os').system('touch canary_payload') #"}


def test_foreach_when_and_gate_run(dag_runs):
    run = dag_runs["fanout"]
    _ok(run)
    assert run["state"] == "success", run["tasks"]
    assert run["tasks"]["per_region-foreach"] == "success"
    mapped = {k: v for k, v in run["tasks"].items() if k.startswith("per_region[")}
    assert sorted(mapped.values()) == ["success", "success"]            # eu filtered out by `when`
    assert sorted(p.name for p in run["cwd"].glob("fanout_*.txt")) == ["fanout_apac.txt", "fanout_tail.txt",
                                                                       "fanout_us.txt"]
    assert (run["cwd"] / "fanout_us.txt").read_text() == "us for {{ region }} us\n"   # env, inert
    assert run["tasks"]["per_region-gate"] == "success" and run["tasks"]["tail"] == "success"
    assert (run["cwd"] / "fanout_tail.txt").read_text() == "tail after 2 regions\n"


# ------------------------------------------------------------------ chains through a real scheduler


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Standalone:
    """`airflow standalone` on 127.0.0.1 over the chains fixture's DAGs and plugins; stopped by
    the test."""

    def __init__(self, airflow, dags: Path, plugins: Path, **extra_env: str) -> None:
        self.airflow = airflow
        self.db = airflow.home / "airflow.db"
        self.port = _free_port()
        self.log = open(airflow.work / "standalone.log", "w")
        env = airflow.env(
            AIRFLOW__CORE__DAGS_FOLDER=str(dags),
            AIRFLOW__CORE__PLUGINS_FOLDER=str(plugins),
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{self.port}",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
            **extra_env,
        )
        self.env = env
        self.proc = subprocess.Popen([str(airflow.python.parent / "airflow"), "standalone"], env=env,
                                     cwd=airflow.work / "chains", stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()

    def query(self, sql: str, *args) -> list[tuple]:
        for _ in range(20):
            try:
                with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as c:
                    return c.execute(sql, args).fetchall()
            except sqlite3.OperationalError:
                time.sleep(0.5)
        raise AssertionError(f"cannot read the metadata database: {sql}")

    def wait(self, what: str, check, timeout: float = 240):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"airflow standalone exited ({self.proc.returncode}) while waiting for {what}:\n"
                                     + self.tail())
            value = check()
            if value:
                return value
            time.sleep(2)   # not faster: each look holds a read lock on the SQLite database
        raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return (self.airflow.work / "standalone.log").read_text()[-6000:]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=3) as r:
                return r.status == 200
        except OSError:
            return False

    def runs(self, dag_id: str) -> list[tuple[str, str, str]]:
        """(run_id, run_type, state) in order of creation."""
        return self.query("SELECT run_id, run_type, state FROM dag_run WHERE dag_id = ? ORDER BY id", dag_id)

    def tasks(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        return dict(self.query("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                               dag_id, run_id))

    def finished_runs(self, dag_id: str, n: int):
        runs = self.runs(dag_id)
        done = [r for r in runs if r[2] in ("success", "failed")]
        return done if len(done) >= n else None

    def trigger(self, dag_id: str, conf: dict, *options: str) -> None:
        done = subprocess.run([str(self.airflow.python.parent / "airflow"), "dags", "trigger", dag_id,
                               "--conf", json.dumps(conf), *options], env=self.env, capture_output=True,
                              text=True, timeout=120, cwd=self.airflow.work)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="module")
def standalone(airflow, compiled):
    """One scheduler over the chains fixture's DAGs, the airflow_users flow that a hand-written
    DAG triggers through a signal bound to an asset address, and the two hand-written DAGs
    (not its `yearly` flow: catching up from its start date would queue hundreds of runs)."""
    (airflow.work / "chains").mkdir(exist_ok=True)
    dags = airflow.work / "standalone-dags"
    shutil.copytree(airflow.dags / "chains-local", dags / "chains")
    (dags / "airflow_users").mkdir()
    # the DAG and the helpers it imports from beside it
    for path in [airflow.dags / "airflow_users-local" / "load_raw.py",
                 *(airflow.dags / "airflow_users-local").glob("mlc_airflow_runtime_*.py")]:
        shutil.copy(path, dags / "airflow_users" / path.name)
    shutil.copytree(PROJECTS["airflow_users"] / "handwritten", dags / "handwritten")
    hook = Hook()  # nightly_report's `alert { late reports }`: the Slack webhook the env binds
    server = Standalone(airflow, dags, compiled["chains/local"] / "airflow" / "plugins",
                        MLC_SECRET_REPORT_HOOK=f"{hook.url}/services/reports")
    server.hook = hook
    try:
        server.wait("the API server's health check", server.healthy)
        wanted = {"produce", "after_produce", "us_only", "both_us", "nightly_report", "land_raw", "load_raw",
                  "read_scores"}
        server.wait("the chains DAGs to be parsed and unpaused", lambda: wanted <= {
            d for (d,) in server.query("SELECT dag_id FROM dag WHERE is_paused = 0")})
        yield server
    finally:
        server.stop()
        hook.stop()


class Hook:
    """An HTTP server on 127.0.0.1 standing in for an alert destination's endpoint: it records
    each POST (path, JSON body) and answers 200."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server calls it by this name
                received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_fixture_projects_sharing_one_metadata_database_have_distinct_dag_ids(dagbag_report):
    """The runs of this session share one Airflow database: two projects' flows with one DAG id
    would run each other's DAG (the artifacts fixture's `produce` once replaced the chains one)."""
    owners: dict[str, list[str]] = {}
    for folder, report in dagbag_report.items():
        if folder.endswith("-local"):
            for dag_id in report["dags"]:
                owners.setdefault(dag_id, []).append(folder)
    assert {d: f for d, f in owners.items() if len(f) > 1} == {}


def test_chains_start_consumers_through_the_scheduler(standalone):
    s = standalone
    # 1. A non-matching event: region = "eu".
    s.trigger("produce", {"region": "eu"})
    (produce_eu,) = s.wait("produce(eu) to finish", lambda: s.finished_runs("produce", 1))
    assert produce_eu[2] == "success", s.tasks("produce", produce_eu[0])
    events = s.query("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                     "WHERE a.name = 'mlc.signal.chains.region_ready'")
    assert [json.loads(x) for (x,) in events] == [{"region": "eu"}]
    # on_finish: after_produce starts and runs its step
    (after,) = s.wait("after_produce to run", lambda: s.finished_runs("after_produce", 1))
    assert after[1] == "asset_triggered" and after[2] == "success"
    assert s.tasks("after_produce", after[0]) == {"note": "success"}
    # signal with a payload match, non-matching event: the run happens, its steps are skipped
    (us1,) = s.wait("us_only to run for the eu event", lambda: s.finished_runs("us_only", 1))
    assert us1[1] == "asset_triggered" and us1[2] == "success"
    assert s.tasks("us_only", us1[0]) == {"trigger-match": "success", "note": "skipped"}
    # `and` with one non-matching event: both events arrived, the run starts, the gate skips it
    (both1,) = s.wait("both_us to run", lambda: s.finished_runs("both_us", 1))
    assert s.tasks("both_us", both1[0]) == {"trigger-match": "success", "note": "skipped"}

    # 2. A matching event: region = "us".
    s.trigger("produce", {"region": "us"})
    s.wait("produce(us) to finish", lambda: s.finished_runs("produce", 2))
    us = s.wait("us_only to run for the us event", lambda: s.finished_runs("us_only", 2))
    assert s.tasks("us_only", us[1][0]) == {"trigger-match": "success", "note": "success"}
    both = s.wait("both_us to run again", lambda: s.finished_runs("both_us", 2))
    assert s.tasks("both_us", both[1][0]) == {"trigger-match": "success", "note": "success"}
    after = s.wait("after_produce to run again", lambda: s.finished_runs("after_produce", 2))
    assert after[1][2] == "success"


def test_a_hand_written_dag_starts_a_flow_whose_steps_read_the_payload(standalone):
    """land_raw (hand-written) emits s3://lake/raw/landed/ with {"region": "us"}; flow load_raw
    (signal raw_landed bound to that address) starts, its step reads trigger.region, and its
    `emits signal scores_ready` reaches the hand-written read_scores through s3://lake/scores/."""
    s = standalone
    s.trigger("land_raw", {"region": "us"})
    (land,) = s.wait("land_raw to finish", lambda: s.finished_runs("land_raw", 1))
    assert land[2] == "success", s.tasks("land_raw", land[0])
    # (the session's dag.test() of load_raw left a manual run in the same database)
    (load,) = s.wait("load_raw to run", lambda: [r for r in s.runs("load_raw")
                                                 if r[1] == "asset_triggered" and r[2] in ("success", "failed")])
    assert load[2] == "success", s.tasks("load_raw", load[0])
    assert s.tasks("load_raw", load[0]) == {"copy": "success", "score": "success",
                                            "score-when": "success", "score-emits-scores_ready": "success"}
    assert (s.airflow.work / "chains" / "payload.txt").read_text() == "region=us\n"
    (read,) = s.wait("read_scores to run", lambda: s.finished_runs("read_scores", 1))
    assert read[1] == "asset_triggered" and read[2] == "success"
    extras = s.query("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                     "WHERE a.uri LIKE 's3://lake/scores%'")
    assert [json.loads(x) for (x,) in extras] == [{"region": "us"}]


def test_a_missed_completion_objective_fires_its_callback(standalone):
    """report_on_time: nightly_report must finish by 02:00, an hour after its logical date. A
    run dated 2020 is past its deadline at once: the scheduler queues the DeadlineAlert's
    callback and the triggerer runs the generated `mlc_deadlines.completion_missed`, which sends
    the flow's `late` destination (a Slack webhook: the fixture's HTTP server) the message. A run
    dated now finishes within the hour: no callback, nothing sent."""
    s = standalone
    now = datetime.now(timezone.utc).replace(microsecond=0)
    s.trigger("nightly_report", {}, "--logical-date", "2020-01-01T01:00:00+00:00", "--run-id", "late_run")
    s.trigger("nightly_report", {}, "--logical-date", now.isoformat(), "--run-id", "on_time_run")

    def callbacks(run_id: str) -> list[tuple[str, str]]:
        return [(state, output) for state, output, data in s.query("SELECT state, output, data FROM callback")
                if run_id in (data or "")]

    ((state, output),) = s.wait("the late run's deadline callback to finish",
                                lambda: [c for c in callbacks("late_run") if c[0] in ("success", "failed")])
    assert state == "success", output
    assert output == ("mlc: completion objective report_on_time missed: flow nightly_report had not "
                      "finished by 02:00 UTC (run late_run)")
    # `alert { late reports }`: the callback posted the same message to the Slack webhook, over HTTP
    assert ("/services/reports", {"channel": "#reports", "text": output}) in s.hook.received, s.hook.received
    assert s.query("SELECT d.missed FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
                   "WHERE r.run_id = 'late_run'") == [(1,)]

    s.wait("both nightly_report runs to finish", lambda: {r for r, _t, state in s.runs("nightly_report")
                                                           if state == "success"} >= {"late_run", "on_time_run"})
    assert callbacks("on_time_run") == []
    assert [body for _path, body in s.hook.received if "on_time_run" in body["text"]] == []
    assert s.query("SELECT d.missed FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
                   "WHERE r.run_id = 'on_time_run' AND d.missed = 1") == []


# ------------------------------------------------------------------ issue 12: what Airflow users write


def test_defaults_dates_and_asset_uris_reach_airflow(dagbag_report):
    users = dagbag_report["airflow_users-local"]
    assert users["import_errors"] == {} and users["captured_warnings"] == {}
    yearly = users["dags"]["yearly"]
    assert yearly["catchup"] is True
    assert (yearly["start_date"], yearly["end_date"]) == ("2026-01-01T00:00:00+00:00", "2030-12-31T00:00:00+00:00")
    a, b = yearly["task_facts"]["a"], yearly["task_facts"]["b"]
    assert (a["retries"], a["execution_timeout"], a["owner"]) == (0, 300, "ml-platform")
    assert (b["retries"], b["execution_timeout"], b["owner"]) == (2, 300, "ml-platform")
    load = users["dags"]["load_raw"]
    assert "s3://lake/raw/landed" in load["schedule"]   # Airflow's own normalised uri
    assert load["task_facts"]["score-emits-scores_ready"]["outlets"] == ["s3://lake/scores/"]
    assert load["task_facts"]["copy"]["retries"] == 1


def test_a_dated_flow_runs_and_a_run_without_a_signal_has_no_payload(dag_runs):
    yearly = dag_runs["users_yearly"]
    _ok(yearly)
    assert yearly["state"] == "success" and yearly["tasks"] == {"a": "success", "b": "success"}
    load = dag_runs["users_load"]
    _ok(load)
    # started by hand: `trigger.region` is "" in the step's env and null in its `when`
    assert (load["cwd"] / "payload.txt").read_text() == "region=\n"
    assert load["tasks"]["copy"] == "success" and load["tasks"]["score-when"] == "success"
    assert load["tasks"]["score"] == "skipped" and load["events"] == []


# ---------------------------------------------------------------- issue 19: artifacts and bound parameters
def test_artifact_locations_reach_the_steps_and_run_date_binds_a_parameter(dag_runs, dagbag_report):
    """`writes`/`reads` pass the artifact's location (MLC_ARTIFACT_DAILY_COUNTS, resolved for the
    env) to the steps, which write and read there; `param day: date = run.date` is the logical
    date of a backfill run; the tasks carry the artifact as outlet and inlet (lineage)."""
    run = dag_runs["artifacts_produce"]
    assert run.get("state") == "success", run
    cwd = run["cwd"]
    assert (cwd / "store/sets/daily_counts/day=2024-01-03/part-0.json").exists()
    read = json.loads((cwd / "read.json").read_text())
    assert read == {"location": "store/sets/daily_counts", "rows": [{"day": "2024-01-03", "rows": 3}]}
    assert (cwd / "day.txt").read_text().strip() == "2024-01-03"
    produce = dagbag_report["artifacts-local"]["dags"]["daily_produce"]
    facts = produce["task_facts"]
    assert facts["write"]["outlets"] == facts["read"]["inlets"] == ["mlc.artifact.fx.artifacts.daily_counts"]
    assert produce["catchup"] and produce["start_date"].startswith("2024-01-01")


def test_a_run_by_hand_must_pass_a_parameter_bound_to_the_trigger(dag_runs):
    without = dag_runs["artifacts_by_hand"]
    assert without["tasks"]["params-bind"] == "failed" and without["tasks"]["load"] != "success", without
    given = dag_runs["artifacts_by_hand_with_ds"]
    assert given.get("state") == "success", given
    assert (given["cwd"] / "ds.txt").read_text().strip() == "2024-02-01"


# ------------------------------------------------------------------ issue 19: run policy


def test_when_reads_a_typed_return_and_takes_one_branch(dag_runs):
    for name, taken, skipped in (("policy_high", "publish", "report"), ("policy_low", "report", "publish")):
        run = dag_runs[name]
        assert "error" not in run, run.get("error")
        assert run["state"] == "success", (name, run["tasks"])
        assert run["tasks"]["train"] == "success"
        assert run["tasks"][taken] == "success" and run["tasks"][skipped] == "skipped", (name, run["tasks"])
        assert sorted(p.name for p in (run["cwd"] / "marks").iterdir()) == [taken]


def test_a_step_with_a_runtime_runs_in_its_environment(dag_runs):
    """`runtime trainer` locally: $MLC_RUNTIMES/<key>/bin/python (the environment the local deploy
    links or builds) runs the step's function; its typed return still reaches the `when`."""
    from airflow_support import SERVING_ENGINE

    run = dag_runs["policy_runtime"]
    assert "error" not in run, run.get("error")
    assert run["state"] == "success" and run["tasks"]["train"] == "success", run["tasks"]
    assert run["tasks"]["publish"] == "success" and run["tasks"]["report"] == "skipped", run["tasks"]
    ran_in = Path((run["cwd"] / "python.txt").read_text())
    assert ran_in.name == "policy_demo.trainer" and ran_in.resolve() == SERVING_ENGINE.resolve(), ran_in
    # without $MLC_RUNTIMES the same step ran in the Airflow process's own interpreter
    assert Path((dag_runs["policy_high"]["cwd"] / "python.txt").read_text()).resolve() != SERVING_ENGINE.resolve()


def test_retries_by_class_of_failure(dag_runs):
    run = dag_runs["policy_retried"]
    assert "error" not in run, run.get("error")
    # Airflow's one count is the largest class's (3); a platform failure used two retries and
    # passed on the third try, an error of the code stopped after its one retry
    assert run["tasks"]["flaky"] == "success" and run["tries"]["flaky"] == 3, run
    assert run["tasks"]["broken"] == "failed" and run["tries"]["broken"] == 2, run
    assert run["state"] == "failed"
    log = run["printed"]
    assert "mlc: platform failure, retry 1 of 3" in log and "mlc: error failure, retry 1 of 1" in log
    assert "error failure, not retried (1 of 1 retries used)" in log
    assert "mlc alert to oncall: mlc: flow retried failed" in log   # `alert { failure oncall }`, env local: log()


def test_on_failure_continue_keeps_the_rest_of_the_run(dag_runs):
    run = dag_runs["policy_tolerant"]
    assert "error" not in run, run.get("error")
    assert run["tasks"]["optional"] == "failed" and run["tasks"]["optional-done"] == "success", run["tasks"]
    assert run["tasks"]["sibling"] == "success" and run["tasks"]["after"] == "success", run["tasks"]
    assert run["state"] == "success"
    assert run["tasks"]["runs-policy"] == "success"   # `runs last_only`: no newer run waits
    assert sorted(p.name for p in (run["cwd"] / "marks").iterdir()) == ["after", "sibling"]
    # the failure is still reported to `alert { failure oncall }` (env local: log()), as a warning;
    # the run itself did not fail, so the DAG's failure alert stays silent
    assert "mlc warning to oncall: mlc: flow tolerant: step optional failed" in run["printed"]
    assert "flow tolerant failed" not in run["printed"]


def test_run_policy_facts_reach_the_dag(dagbag_report):
    local = dagbag_report["policy-local"]["dags"]
    assert local["retried"]["max_active_runs"] == 1 and local["tolerant"]["max_active_runs"] == 1
    assert local["sweep"]["max_active_runs"] == 2
    facts = local["retried"]["task_facts"]["broken"]
    assert facts["retries"] == 3
    sweep = local["sweep"]["task_facts"]
    assert sweep["each-runs"]["operator"] == "MappedOperator"
    assert sweep["summary"]["upstream"] == ["each"] and sweep["each"]["upstream"] == ["each-runs"]
    prod = dagbag_report["policy-prod"]["dags"]["gated"]["task_facts"]["train"]
    assert "registry.example.com/recs/trainer:1.4" in str(prod["executor_config"])

