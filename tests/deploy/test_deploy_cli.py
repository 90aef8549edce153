"""`mlc plan`, `mlc deploy` and `mlc doctor` as a user runs them: output and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import CHANGED, edit

MLC = [sys.executable, "-m", "mlc"]


def mlc(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([*MLC, *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_plan_before_and_after_a_deploy_with_detailed_exit_codes(deployed) -> None:
    project, root = deployed
    to = ["--to", str(root)]
    done = mlc(project, "plan", "--env", "local", *to, "--detailed-exitcode")
    assert done.returncode == 0, done.stderr
    assert "No changes." in done.stdout and "release 000001" in done.stdout
    assert mlc(project, "plan", "--env", "local", *to).returncode == 0
    edit(project, "spark")
    edit(project, "airflow")
    done = mlc(project, "plan", "--env", "local", *to, "--detailed-exitcode")
    assert done.returncode == 2, done.stderr
    lines = done.stdout.splitlines()
    assert f"    ~ {CHANGED['spark']}  [spark-feature-job]  <- netflix.recs.title_popularity" in lines
    assert f"    ~ {CHANGED['airflow']}  [airflow-dag]  <- netflix.recs.title_popularity" in lines
    assert "  airflow (1 change)" in lines and "  spark (1 change)" in lines
    assert "  prometheus (2 change)" in lines  # the monitoring cites the proven freshness the edit changed
    # + runtime spec, declarations, the DAGs' helper module and .airflowignore
    assert lines[-1] == "Plan: 0 to add, 4 to change, 0 to remove (35 unchanged)."
    assert mlc(project, "plan", "--env", "local", *to).returncode == 0  # without the flag: success is 0
    doc = json.loads(mlc(project, "plan", "--env", "local", *to, "--json").stdout)
    assert doc["format"] == "mlc-plan/1" and doc["summary"] == {"add": 0, "change": 4, "remove": 0, "unchanged": 35}
    done = mlc(project, "deploy", "--env", "local", *to)
    assert done.returncode == 0, done.stderr
    assert "released 000002" in done.stderr and "airflow 1" in done.stderr and "spark 1" in done.stderr
    assert mlc(project, "plan", "--env", "local", *to, "--detailed-exitcode").returncode == 0
    done = mlc(project, "deploy", "--env", "local", *to)
    assert done.returncode == 0 and "no changes" in done.stderr
    done = mlc(project, "deploy", "--env", "local", *to, "--rollback")
    assert done.returncode == 0 and "release 000001 is current again" in done.stderr
    assert mlc(project, "plan", "--env", "local", *to, "--detailed-exitcode").returncode == 2


def test_errors_exit_1_with_a_diagnostic_not_a_traceback(deployed) -> None:
    project, root = deployed
    to = ["--to", str(root)]
    done = mlc(project, "plan", "--env", "locall", *to, "--detailed-exitcode")
    assert done.returncode == 1 and "no env `locall`" in done.stderr and "did you mean `local`?" in done.stderr
    done = mlc(project, "deploy", "--env", "prod")
    assert done.returncode == 1 and "[deploy.prod]" in done.stderr and "Traceback" not in done.stderr
    (project / "features.flow").write_text((project / "features.flow").read_text().replace("over 7d", "over 7x", 1))
    done = mlc(project, "plan", "--env", "local", *to, "--detailed-exitcode")
    assert done.returncode == 1 and "error[" in done.stderr and "nothing deployed" in done.stderr


def test_a_failed_apply_names_the_target_and_the_artifact_and_keeps_the_release(deployed) -> None:
    project, root = deployed
    edit(project, "feast")
    done = mlc(project, "deploy", "--env", "local", "--to", str(root), env={"MLC_ENGINES": str(root / "none")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "deploy failed (target `feast`)" in done.stderr and "engines.sh serving" in done.stderr
    assert "whole and current" in done.stderr
    assert (root / "current").resolve().name == "000001"


def test_doctor_reports_each_engine_and_how_to_install_what_is_missing(tmp_path) -> None:
    done = mlc(tmp_path, "doctor")
    assert done.returncode == 0, done.stdout
    for name in ("airflow", "spark", "flink", "serving", "kafka"):
        assert f"ok {name}" in done.stdout
    fake = tmp_path / "engines"
    (fake / "spark" / "bin").mkdir(parents=True)
    (fake / "spark" / "bin" / "python").touch()
    (fake / "spark" / ".requirements.sha256").write_text("not the requirements' digest\n")
    done = mlc(tmp_path, "doctor", "--engines", str(fake))
    assert done.returncode == 1
    assert re.search(r"!! spark +stale", done.stdout) and re.search(r"!! airflow +missing", done.stdout)
    rows = [line for line in done.stdout.splitlines() if line.startswith(("  ok ", "  !! "))]
    # the state column is aligned whatever the longest name (prometheus-pushgateway)
    assert len({line.index(line.split()[2]) for line in rows}) == 1, done.stdout
    assert done.stdout.splitlines()[-1].strip().endswith("scripts/engines.sh airflow flink kafka serving spark")


def test_doctor_of_named_engines_judges_those_only(tmp_path) -> None:
    """scripts/main.sh asks for the engines it runs: a missing broker or Prometheus must not
    make it rebuild them; java is judged only for Spark and Flink."""
    done = mlc(tmp_path, "doctor", "airflow", "serving")
    assert done.returncode == 0, done.stdout
    assert "ok airflow" in done.stdout and "ok serving" in done.stdout
    assert not {"kafka", "spark", "java", "promtool"} & set(done.stdout.split()), done.stdout
    done = mlc(tmp_path, "doctor", "--engines", str(tmp_path / "none"), "spark")
    assert done.returncode == 1 and re.search(r"!! spark +missing", done.stdout) and " java " in done.stdout
    assert "airflow" not in done.stdout
    assert done.stdout.splitlines()[-1].strip().endswith("scripts/engines.sh spark")
    done = mlc(tmp_path, "doctor", "broker")
    assert done.returncode == 2 and "no engine broker (engines: airflow, flink, kafka, serving, spark)" in done.stderr


def test_no_compiled_file_names_a_path_of_this_machine(tmp_path) -> None:
    """Steps reach the engines, the bundle and the project through the deploy's environment
    (deploy.env: MLC_ENGINES, MLC_STEP_PYTHON, MLC_FEAST, MLC_BUNDLE, MLC_PROJECT_ROOT ...),
    never through a path written into a compiled file: every example, in every env it
    declares, with every backend, names neither this checkout, the engines, nor the output."""
    import re

    root = Path(__file__).resolve().parents[2]
    machine = [str(root), str(Path.home()), ".engines", str(tmp_path)]
    for example in sorted(p for p in (root / "examples").iterdir() if (p / "mlc.toml").is_file()):
        envs = sorted({m for f in example.rglob("*.flow") for m in re.findall(r"^env (\w+)", f.read_text(), re.MULTILINE)})
        assert envs, example
        for env in envs:
            out = tmp_path / example.name / env
            done = mlc(example, "compile", "--env", env, "--out", str(out))
            assert done.returncode == 0, done.stderr
            for f in out.rglob("*"):
                if f.is_file():
                    text = f.read_text(encoding="utf-8", errors="replace")
                    assert not [m for m in machine if m in text], (f, [m for m in machine if m in text])


def test_the_plan_names_several_artifacts_of_a_target_in_the_plural() -> None:
    from mlc.deploy.apply.prometheus import APPLIER
    from mlc.deploy.plan import Change

    rules = [Change("add", f"prometheus/rules/r{i}.yml", "rules", "prometheus") for i in range(6)]
    assert APPLIER.plan(rules) == ["write 6 rule files or dashboards"]
    assert APPLIER.plan(rules[:1] + [Change("remove", "prometheus/x.yml", "rules", "prometheus")]) == [
        "write 1 rule file or dashboard", "remove 1 rule file or dashboard"]
