"""`feast apply` of a test branch's repository beside production's (`mlc compile --branch`):
even written over production's repository folder, the branch registers its own project in its
own registry, and production's registry is left byte for byte as it was."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from sf_support import copy_project

from mlc.targets.layout import Layout

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BRANCH = "test.alice"


def _compile(project: Path, out: Path, branch: str | None) -> Path:
    cmd = [sys.executable, "-m", "mlc", "compile", "--env", "local", "--out", str(out), "--no-cache",
           "--target", "feast", *(["--branch", branch] if branch else [])]
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out / Layout.feast_repo()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_branch_repository_applied_over_production_keeps_production_registry(feast, tmp_path):
    project = copy_project(EXAMPLES / "fraud", tmp_path / "project")
    env = {"MLC_PROJECT_ROOT": str(project)}
    repo = _compile(project, tmp_path / "prod", None)
    feast.call(cmd="apply", repo=str(repo), env=env)
    before = feast.call(cmd="objects", repo=str(repo), env=env)["objects"]
    prod_registry = repo / "data" / "registry.db"
    digest = _digest(prod_registry)
    kept = tmp_path / "prod_store.yaml"
    shutil.copy(repo / "feature_store.yaml", kept)

    # the branch's repository lands in the same folder (the worst case: one bundle folder for both)
    branch_repo = _compile(project, tmp_path / "branch", BRANCH)
    shutil.copytree(branch_repo, repo, dirs_exist_ok=True)
    feast.call(cmd="apply", repo=str(repo), env=env)
    branched = feast.call(cmd="objects", repo=str(repo), env=env)["objects"]
    assert (repo / "data" / f"{BRANCH}.registry.db").is_file()
    assert _digest(prod_registry) == digest  # production's registry was not written
    assert set(branched["feature_views"]) == set(before["feature_views"]) and branched["feature_views"]

    shutil.copy(kept, repo / "feature_store.yaml")  # production's view of the same folder
    assert feast.call(cmd="objects", repo=str(repo), env=env)["objects"] == before
