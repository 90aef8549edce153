"""Fixtures of the Airflow backend's tests.

Compiling needs nothing but mlc. Everything that runs Airflow uses the engine environment
`.engines/airflow` (built from engines/airflow.txt by scripts/engines.sh), always in a
subprocess with that environment's python, and shares ONE session: one AIRFLOW_HOME with
a SQLite database migrated once, one process that parses every generated DAG, one process
that runs the `dag.test()`s. A missing engine is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_support import (AIRFLOW_PY, HERE, PROJECTS, ROOT, SERVING_ENGINE, SPARK_ENGINE, AirflowSession, compile_project,
                             envs_of)

@pytest.fixture(scope="session")
def airflow_python() -> Path:
    """The engine environment's python, built (or found up to date) by scripts/engines.sh."""
    done = subprocess.run(["bash", "scripts/engines.sh", "airflow"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not AIRFLOW_PY.exists():
        pytest.fail("the Airflow engine environment could not be built by `bash scripts/engines.sh airflow`:\n"
                    + done.stdout[-3000:] + done.stderr[-3000:])
    return AIRFLOW_PY


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> dict[str, Path]:
    """Every project compiled for each of its envs: {"recommendations/local": out folder}."""
    base = tmp_path_factory.mktemp("compiled")
    out = {}
    for name, project in PROJECTS.items():
        for env in envs_of(project):
            folder = base / f"{name}-{env}"
            compile_project(project, env, folder)
            out[f"{name}/{env}"] = folder
    return out


@pytest.fixture(scope="session")
def airflow(airflow_python, compiled, tmp_path_factory) -> AirflowSession:
    """One AIRFLOW_HOME for the session: DAGs of every project copied under one dags folder,
    `airflow db migrate` run once."""
    base = tmp_path_factory.mktemp("airflow")
    session = AirflowSession(airflow_python, base / "home", base / "dags", base / "work")
    session.home.mkdir()
    session.work.mkdir()
    for key, folder in compiled.items():
        shutil.copytree(folder / "airflow" / "dags", session.dags / key.replace("/", "-"))
    done = session.run(["-m", "airflow", "db", "migrate"], timeout=300)
    assert done.returncode == 0, f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return session


@pytest.fixture(scope="session")
def dagbag_report(airflow) -> dict:
    """Every generated DAG folder parsed and serialised by Airflow, in one process."""
    folders = sorted(p for p in airflow.dags.iterdir() if p.is_dir())
    report = airflow.work / "dagbag.json"
    done = airflow.run([str(HERE / "engine" / "parse_all.py"), str(report), *map(str, folders)])
    assert done.returncode == 0, f"parsing the DAGs failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    data = json.loads(report.read_text())
    return {Path(k).name: v for k, v in data["folders"].items()}


@pytest.fixture(scope="session")
def dag_runs(airflow, compiled) -> dict:
    """`dag.test()` of the recommendations training flow, the hostile flow, the fanout flow and
    a flow with a Spark step, in one process. Steps whose engine another issue proves are marked
    success by pattern (listed in docs/targets/airflow.md): here only `publish` (deploy -> BentoML).
    The training flow's python steps run in the serving engine's interpreter ($MLC_STEP_PYTHON),
    which holds scikit-learn and BentoML, as a deploy configures it.
    The Spark step really runs: SparkSubmitOperator calls the Spark engine's `spark-submit`
    (on PATH, master local[2] from the spark_default connection) on the step's launcher."""
    spark_python = SPARK_ENGINE / "bin" / "python"
    for name, engine in (("spark", SPARK_ENGINE), ("serving", SERVING_ENGINE)):
        if not (engine / "bin" / "python").exists():
            pytest.fail(f"the {name} engine environment is missing: run `bash scripts/engines.sh {name}`")
    spark_cwd = airflow.work / "spark_step"
    train_cwd = airflow.work / "train"
    (train_cwd / "build").mkdir(parents=True)   # the announce step appends to build/releases.log
    plan = [
        {"name": "train", "folder": str(airflow.dags / "recommendations-local"), "dag_id": "train_ranker",
         "cwd": str(train_cwd), "sys_path": [str(PROJECTS["recommendations"])],
         "env": {"RANKER_ARTIFACT_DIR": str(train_cwd / "artifacts"), "BENTOML_HOME": str(train_cwd / "bentoml"),
                 "BENTOML_DO_NOT_TRACK": "True", "MLC_STEP_PYTHON": str(SERVING_ENGINE / "bin" / "python")},
         "mark_success": "publish"},
        {"name": "hostile", "folder": str(airflow.dags / "hostile-local"), "dag_id": "hostile_flow",
         "cwd": str(airflow.work / "hostile")},
        {"name": "fanout", "folder": str(airflow.dags / "coverage-local"), "dag_id": "fanout",
         "cwd": str(airflow.work / "fanout"), "sys_path": [str(PROJECTS["coverage"])]},
        {"name": "spark_step", "folder": str(airflow.dags / "spark_step-local"), "dag_id": "spark_hello",
         "cwd": str(spark_cwd),
         "env": {"MLC_BUNDLE": str(compiled["spark_step/local"]), "MLC_PROJECT_ROOT": str(PROJECTS["spark_step"]),
                 "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
                 "PATH": f"{SPARK_ENGINE / 'bin'}:{os.environ.get('PATH', '')}",
                 "PYSPARK_PYTHON": str(spark_python), "SPARK_LOCAL_IP": "127.0.0.1",
                 "MLC_TEST_OUT": str(spark_cwd / "report.json")}},
        # issue 12: step defaults, start/end dates with catchup, a run with no trigger payload
        {"name": "users_yearly", "folder": str(airflow.dags / "airflow_users-local"), "dag_id": "yearly",
         "cwd": str(airflow.work / "users_yearly")},
        {"name": "users_load", "folder": str(airflow.dags / "airflow_users-local"), "dag_id": "load_raw",
         "cwd": str(airflow.work / "users_load")},
        # issue 19: artifact locations reach the steps; parameters bound to the run's date and to a
        # field of the triggering signal (a run by hand without it fails, with it runs)
        {"name": "artifacts_produce", "folder": str(airflow.dags / "artifacts-local"), "dag_id": "daily_produce",
         "cwd": str(airflow.work / "artifacts_produce"), "sys_path": [str(PROJECTS["artifacts"])],
         "logical_date": "2024-01-03T00:00:00+00:00"},
        {"name": "artifacts_by_hand", "folder": str(airflow.dags / "artifacts-local"), "dag_id": "joined",
         "cwd": str(airflow.work / "artifacts_by_hand")},
        {"name": "artifacts_by_hand_with_ds", "folder": str(airflow.dags / "artifacts-local"), "dag_id": "joined",
         "cwd": str(airflow.work / "artifacts_by_hand_with_ds"), "conf": {"ds": "2024-02-01"}},
        # issue 19 (policy): `when train.auc` takes one branch or the other, retries by class of
        # failure, `on_failure continue`
        *({"name": f"policy_{name}", "folder": str(airflow.dags / "policy-local"), "dag_id": dag_id,
           "cwd": str(airflow.work / f"policy_{name}"), "sys_path": [str(PROJECTS["policy"])], "conf": conf,
           "env": {"MLC_STEP_PYTHON": ""}}   # in this process: the injected failures read `ti`
          for name, dag_id, conf in (("high", "gated", {"auc": 0.91}), ("low", "gated", {"auc": 0.42}),
                                     ("retried", "retried", None), ("tolerant", "tolerant", None))),
    ]
    # issue 19 (runtime): `gated`'s train step has `runtime trainer`; with $MLC_RUNTIMES as the local
    # deploy makes it (mlc.deploy.runtimes: the serving engine satisfies the runtime's pins, linked)
    # the step runs in that environment's python
    from mlc.deploy import runtimes

    assert runtimes.ensure(airflow.work, ROOT / ".engines", "policy_demo.trainer",
                           {"python": "3.11", "pypi": ["scikit-learn==1.7.2"]}).startswith("found")
    plan.append({"name": "policy_runtime", "folder": str(airflow.dags / "policy-local"), "dag_id": "gated",
                 "cwd": str(airflow.work / "policy_runtime"), "sys_path": [str(PROJECTS["policy"])],
                 "conf": {"auc": 0.85},
                 "env": {"MLC_STEP_PYTHON": "", "MLC_RUNTIMES": str(airflow.work / "runtimes")}})
    plan_path = airflow.work / "plan.json"
    plan_path.write_text(json.dumps(plan))
    report = airflow.work / "runs.json"
    done = airflow.run([str(HERE / "engine" / "run_dags.py"), str(plan_path), str(report)], timeout=400)
    assert done.returncode == 0 and report.exists(), \
        f"dag.test() runs failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    data = json.loads(report.read_text())
    for name, run in data.items():
        run["cwd"] = next(Path(p["cwd"]) for p in plan if p["name"] == name)
        run["log"] = done.stdout[-20000:]
    return data

