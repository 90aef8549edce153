"""What the Airflow tests share (imported by conftest.py and the test modules)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
ENGINE = ROOT / ".engines" / "airflow"
AIRFLOW_PY = ENGINE / "bin" / "python"

# Every project whose DAGs must load: the examples and the fixtures, each for both envs.
PROJECTS = {
    "recommendations": ROOT / "examples" / "recommendations",
    "fraud": ROOT / "examples" / "fraud",
    "nightly_batch": ROOT / "examples" / "nightly_batch",
    "chains": FIXTURES / "chains",
    "hostile": FIXTURES / "hostile",
    "coverage": FIXTURES / "coverage",
    "spark_step": FIXTURES / "spark_step",
    "airflow_users": FIXTURES / "airflow_users",
    "artifacts": FIXTURES / "artifacts",
    "policy": FIXTURES / "policy",
}
SPARK_ENGINE = ROOT / ".engines" / "spark"
SERVING_ENGINE = ROOT / ".engines" / "serving"  # the ML stack the training steps import
# Projects whose DAGs run files of another backend in these tests: compiled with it too.
MORE_TARGETS = {FIXTURES / "spark_step": ("spark",)}


def compile_project(project: Path, env: str, out: Path) -> list[str]:
    """`mlc compile --target airflow` in this process; returns the paths of the Airflow files
    written (relative; the bundle's manifest.json and marker are the bundle tests' concern)."""
    from click.testing import CliRunner

    from mlc.cli import main

    more = [arg for name in MORE_TARGETS.get(project, ()) for arg in ("--target", name)]
    result = CliRunner().invoke(main, ["compile", str(project), "--env", env, "--target", "airflow", *more,
                                       "--out", str(out), "--no-cache"])
    assert result.exit_code == 0, f"mlc compile {project.name} --env {env} failed:\n{result.output}"
    return sorted(str(p.relative_to(out)) for p in (out / "airflow").rglob("*") if p.is_file())


def envs_of(project: Path) -> list[str]:
    return ["local", "prod"] if "env prod" in "".join(p.read_text() for p in project.glob("*.flow")) else ["local"]


@dataclass
class AirflowSession:
    python: Path
    home: Path
    dags: Path          # the configured dags_folder; each project's DAGs in a sub-folder
    work: Path          # working directories of the runs

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # DAGs reach the database from several processes of the session (dag.test() writes
            # the whole dags folder); the chains test needs its consumers unpaused.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PATH": f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(extra)
        return env

    def run(self, args: list[str], timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), *args], env=self.env(**extra), capture_output=True, text=True,
                              timeout=timeout, cwd=self.work)
