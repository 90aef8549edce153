"""`mlc run`, `mlc serve`, `mlc predict` on the deployed fraud example (see conftest.py: the
README's main command, run once), a failing step, and a run before any deploy."""

from __future__ import annotations

import re
import shutil
import subprocess

from conftest import ROOT, mlc

TRAINING_TASKS = ("train", "evaluate", "evaluate-gate", "publish")


def _section(out: str, title: str) -> str:
    start = out.index(f"== fraud: {title}")
    end = out.find("\n== ", start + 1)
    return out[start:end if end >= 0 else None]


def test_main_command_prints_a_model_and_a_fallback_prediction(main_run):
    out = main_run["out"]
    normal = re.search(r"a card with a quiet last hour.*\n(?:serving .*\n)?(path=.*)", out)
    fallback = re.search(r"never seen.*\n(path=.*)\n  detail: (.*)", out)
    assert normal and fallback, out[-4000:]
    assert "path=model  reason=ok  answered_by=fraud_scorer" in normal.group(1)
    score = float(re.search(r"fraud_score=([0-9.]+)", normal.group(1)).group(1))
    confidence = float(re.search(r" confidence=([0-9.]+)", normal.group(1)).group(1))
    assert score < 0.3 and confidence >= 0.7
    assert "path=fallback  reason=missing_features  answered_by=fraud_rules" in fallback.group(1)
    assert "card_velocity__txn_count_1h" in fallback.group(2)
    # the server was stopped: nothing is recorded as serving
    assert not (main_run["deploy"] / "serve" / "fraud_scorer.json").exists()


def test_main_command_serves_the_ranker_with_a_model_and_a_fallback_answer(main_run):
    """The recommendations platform: three feature pipelines, the training flow, the ranker
    served; a member active in the last hour gets the model, one never seen the baseline."""
    out = main_run["out"]
    for group in ("member_activity", "title_popularity", "member_title_affinity"):
        assert f"run of features.{group} succeeded" in out, out[-4000:]
    assert "run of train_ranker succeeded" in out
    normal = re.search(r"member active in the last hour.*\n(?:serving .*\n)?(path=.*)", out)
    fallback = re.search(r"member the platform has never seen.*\n(?:serving .*\n)?(path=.*)\n  detail: (.*)", out)
    assert normal and fallback, out[-4000:]
    assert "path=model  reason=ok  answered_by=ranker" in normal.group(1)
    confidence = float(re.search(r" confidence=([0-9.]+)", normal.group(1)).group(1))
    assert confidence >= 0.6  # below it the baseline would answer
    assert "path=fallback  reason=missing_features  answered_by=popular_titles" in fallback.group(1)
    assert "member_activity__views_1h" in fallback.group(2)
    # the baseline read the hit's plays of the week (materialised by title_popularity's pipeline)
    assert float(re.search(r" score=([0-9.]+)", fallback.group(1)).group(1)) > 0.3
    assert not (main_run["clone"] / "build" / "main" / "deploy-recommendations" / "serve" / "ranker.json").exists()


def test_main_command_runs_on_a_clean_checkout(main_run):
    """Only committed files were there, every example was checked and compiled, and the
    command wrote nothing git would track (everything under build/ or ignored)."""
    clone, out = main_run["clone"], main_run["out"]
    for name in sorted(p.name for p in (clone / "examples").iterdir() if p.is_dir()):
        assert f"== {name}: check, compile into" in out, out[-3000:]
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    assert status.stdout == "", status.stdout


def test_training_flow_shows_every_task_as_it_runs_and_a_summary(main_run):
    text = _section(main_run["out"], "training flow")
    for task in TRAINING_TASKS:
        assert re.search(rf"^  \.\. {re.escape(task)} +running$", text, re.MULTILINE), text
        assert re.search(rf"^  ok {re.escape(task)} +success +[0-9.]+s$", text, re.MULTILINE), text
        assert re.search(rf"^{re.escape(task)} +success +[0-9.]+s$", text, re.MULTILINE), text  # the summary table
    assert "run of retrain_fraud succeeded" in text
    assert "Traceback" not in text  # a progress display, not the tasks' logs


def test_feature_pipeline_runs_the_spark_job_then_materialises(main_run):
    text = _section(main_run["out"], "feature pipeline")
    assert re.search(r"^  ok spark card_velocity +success", text, re.MULTILINE), text
    assert re.search(r"^  ok materialize card_velocity +success", text, re.MULTILINE), text


def test_a_failing_step_is_named_with_its_log_tail_and_exit_1(main_run):
    project = main_run["project"]
    step = project / "scorer" / "eval.py"
    good = step.read_text()
    try:
        step.write_text(good + "\n\ndef main(**context):\n    raise ValueError('no labelled rows for the evaluation window')\n")
        done = mlc("run", "retrain_fraud", str(project), "--to", str(main_run["deploy"]))
    finally:
        step.write_text(good)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"^  ok train +success", out, re.MULTILINE), out
    assert re.search(r"^  !! evaluate +failed", out, re.MULTILINE), out
    assert "step `evaluate` failed; the end of its log:" in out
    tail = out[out.index("step `evaluate` failed"):]
    assert "no labelled rows for the evaluation window" in tail
    assert "publish" in out and "run of retrain_fraud FAILED" in out


def test_run_before_deploy_is_a_diagnostic(tmp_path):
    project = tmp_path / "fraud"
    shutil.copytree(ROOT / "examples" / "fraud", project)
    done = mlc("run", "retrain_fraud", str(project))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "error: env `local` is not deployed at" in done.stderr
    assert "help: deploy it first: mlc deploy --env local" in done.stderr


def test_unknown_flow_and_model_are_diagnostics(main_run):
    project, deploy = str(main_run["project"]), str(main_run["deploy"])
    done = mlc("run", "retrain_frud", project, "--to", deploy)
    assert done.returncode == 1 and "no flow or feature pipeline `retrain_frud`" in done.stderr
    assert "retrain_fraud" in done.stderr
    done = mlc("predict", "fraud_scorer", "card_id=c-1", "--project", project, "--to", deploy)
    assert done.returncode == 1 and "`fraud_scorer` is not being served" in done.stderr
    assert "mlc serve fraud_scorer --env local" in done.stderr
