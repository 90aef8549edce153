"""The deployed release as the engines see it: Airflow's DagBag over the Airflow home of a
local deploy (in .engines/airflow, once per session), and BentoML services built into the
local store (in .engines/serving)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mlc.deploy.release import deploy, rollback
from tests.deploy.conftest import CHANGED, ROOT, edit, prepare

ENGINES = ROOT / ".engines"

DAGBAG = """
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.configuration import conf
bag = DagBag(known_pools={"default_pool"})  # the configured dags folder (examples off: deploy.env)
print(json.dumps({"folder": conf.get("core", "dags_folder"),
                  "errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "dags": {d: {t.task_id: t.execution_timeout.total_seconds() if t.execution_timeout else None
                               for t in dag.tasks} for d, dag in bag.dags.items()}}))
"""


def _deploy_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLC_"))}
    env.update(line.split("=", 1) for line in (root / "deploy.env").read_text().splitlines())
    return env


@pytest.fixture(scope="session")
def dagbag(first_deploy, tmp_path_factory):
    """One DagBag fill in the Airflow engine over a deploy whose current release is the second
    (a DAG's timeout changed), with nothing but the deploy's own variables."""
    import shutil

    project, root = first_deploy
    base = tmp_path_factory.mktemp("dagbag")
    project = Path(shutil.copytree(project, base / "project"))
    root = Path(shutil.copytree(root, base / "root", symlinks=True))
    edit(project, "airflow")
    assert deploy(prepare(project, root)).release == "000002"
    done = subprocess.run([str(ENGINES / "airflow" / "bin" / "python"), "-c", DAGBAG], capture_output=True,
                          text=True, env=_deploy_env(root), cwd=base, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, prepare(project, root), json.loads(done.stdout.strip().splitlines()[-1])


def test_airflow_loads_the_deployed_dags_folder_of_the_current_release(dagbag) -> None:
    root, p, report = dagbag
    assert report["folder"] == str(root / "airflow" / "dags")  # Airflow's default, in the deploy's AIRFLOW_HOME
    assert report["errors"] == {}
    dag_files = [path for path in p.texts if path.startswith("airflow/dags/")   # not the helpers' module
                 and not path.startswith(("airflow/dags/mlc_airflow_runtime_", "airflow/dags/.airflowignore"))]
    assert len(report["dags"]) == len(dag_files)
    # the edited DAG is the current release's: its step's timeout is the new one (2h)
    assert 7200.0 in report["dags"]["features.title_popularity"].values()


SAVE_MODELS = """
import pickle, sys
import bentoml

class Constant:
    def predict_proba(self, rows):
        return [[0.2, 0.8] for _ in rows]
    def predict(self, rows):
        return [0.8 for _ in rows]

for name in sys.argv[1:]:
    with bentoml.models.create(name) as model:
        with open(model.path_of("model.pkl"), "wb") as f:
            pickle.dump(Constant(), f)
"""


def test_bentoml_services_are_built_into_the_local_store_and_follow_rollback(deployed) -> None:
    project, root = deployed
    info = json.loads((root / "current" / "release.json").read_text())
    assert info["applied"]["bentoml"]["services"]["ranker"].startswith("pending: ")  # no model trained yet
    env = {**os.environ, "BENTOML_HOME": str(root / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    done = subprocess.run([str(ENGINES / "serving" / "bin" / "python"), "-c", SAVE_MODELS, "ranker", "popular_titles"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    edit(project, "bentoml")
    outcome = deploy(prepare(project, root))
    assert outcome.applied == {"bentoml": 1}
    tag = json.loads((root / "current" / "release.json").read_text())["applied"]["bentoml"]["services"]["ranker"]
    name, version = tag.split(":")
    assert name == "ranker" and (root / "bentoml" / "bentos" / "ranker" / version / "bento.yaml").is_file()
    built = (root / "bentoml" / "bentos" / "ranker" / version / "src" / "service.py").read_text()
    assert built == prepare(project, root).texts[CHANGED["bentoml"]]
    rollback(prepare(project, root).config)
    info = json.loads((root / "current" / "release.json").read_text())
    assert info["applied"]["bentoml"]["services"]["ranker"].startswith("pending: ")
