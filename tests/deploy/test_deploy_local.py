"""The local deploy (mlc/deploy/local.py) with the real appliers: layout, idempotence,
incremental apply, atomicity under an injected failure in each applier, rollback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlc.deploy import apply as appliers
from mlc.deploy.local import DeployError
from mlc.deploy.release import deploy, plan, rollback
from tests.deploy.conftest import ALSO, CHANGED, EDITS, applied, changed, edit, prepare, snapshot


def _release(root: Path) -> str:
    return os.path.basename(os.readlink(root / "current"))


def test_a_first_deploy_lays_out_a_release_airflow_reads_through_current(first_deploy) -> None:
    project, root = first_deploy
    p = prepare(project, root)
    assert _release(root) == "000001"
    release = root / "releases" / "000001"
    for path, text in p.texts.items():  # every artifact, byte for byte
        assert (release / path).read_text() == text, path
    assert json.loads((release / "manifest.json").read_text()) == p.manifest
    info = json.loads((release / "release.json").read_text())
    assert info["id"] == "000001" and info["previous"] is None
    assert info["applied"]["feast"]["objects"] == info["applied"]["feast"]["applied"] > 0  # all applied once
    assert (release / "feast" / "data" / "registry.db").is_file()
    # the Airflow home's folders are the current release's, through the pointer
    assert os.readlink(root / "airflow" / "dags") == "../current/airflow/dags"
    assert sorted(p.name for p in (root / "airflow" / "dags").iterdir()) == sorted(
        path.rsplit("/", 1)[1] for path in p.texts if path.startswith("airflow/dags/"))
    env = dict(line.split("=", 1) for line in (root / "deploy.env").read_text().splitlines())
    assert env["MLC_BUNDLE"] == str(root / "current") and env["AIRFLOW_HOME"] == str(root / "airflow")
    assert not any(str(root) in t for t in p.texts.values())  # no deploy path written into compiled files


def test_the_same_program_again_changes_nothing_and_touches_nothing(deployed) -> None:
    project, root = deployed
    before = snapshot(root)
    outcome = deploy(prepare(project, root))
    assert outcome.plan.empty and outcome.release == "000001" and outcome.applied == {}
    assert snapshot(root) == before


def test_an_unchanged_program_still_brings_deploy_env_up_to_date(deployed, monkeypatch, tmp_path) -> None:
    """Runs find the engines through deploy.env: when they moved, deploying the same program
    must say so there, though it has nothing to apply (it kept the first deploy's paths)."""
    project, root = deployed
    moved = tmp_path / "engines"
    monkeypatch.setenv("MLC_ENGINES", str(moved))
    outcome = deploy(prepare(project, root))
    assert outcome.plan.empty and outcome.release == "000001"
    env = dict(line.split("=", 1) for line in (root / "deploy.env").read_text().splitlines())
    assert env["MLC_ENGINES"] == str(moved) and env["MLC_STEP_PYTHON"] == str(moved / "serving" / "bin" / "python")


@pytest.mark.parametrize("target", sorted(EDITS))
def test_one_changed_artifact_is_the_one_applied(deployed, target) -> None:
    project, root = deployed
    edit(project, target)
    p = prepare(project, root)
    the_plan = plan(p)
    assert [(c.action, c.path) for c in the_plan.changes] == changed(target)
    outcome = deploy(p)
    assert outcome.release == "000002" and outcome.applied == applied(target)
    old, new = root / "releases" / "000001", root / "releases" / "000002"
    for path in p.texts:  # unchanged artifacts are the same files (hard links), not written again
        same = (old / path).stat().st_ino == (new / path).stat().st_ino
        assert same == (path != CHANGED[target] and path not in ALSO.get(target, ())), path
    assert (new / CHANGED[target]).read_text() == p.texts[CHANGED[target]]
    info = json.loads((new / "release.json").read_text())
    assert info["previous"] == "000001"
    registry = "feast/data/registry.db"
    assert (new / registry).stat().st_ino != (old / registry).stat().st_ino  # each release its own registry
    if target == "feast":  # one view's ttl changed: one object applied, into the new release's registry
        assert info["applied"]["feast"]["applied"] == 1
        assert (old / registry).read_bytes() != (new / registry).read_bytes()
    else:  # the registry comes along unchanged, and so does what the deploy knows of Feast
        assert (old / registry).read_bytes() == (new / registry).read_bytes()
        assert info["applied"]["feast"] == json.loads((old / "release.json").read_text())["applied"]["feast"]
    if target == "spark":  # and a Feast change after a release that carried the registry applies one object
        edit(project, "feast")
        deploy(prepare(project, root))
        assert json.loads((root / "current" / "release.json").read_text())["applied"]["feast"]["applied"] == 1
    assert deploy(prepare(project, root)).plan.empty  # and then it is up to date


@pytest.mark.parametrize("target", sorted(EDITS))
def test_a_failure_in_any_applier_leaves_the_previous_release_whole_and_current(deployed, target, monkeypatch) -> None:
    project, root = deployed
    edit(project, target)
    applier = appliers.get(target)
    real = applier.apply

    def fails_after_working(changes, release):
        real(changes, release)  # the applier did its work in the new release, then the fault
        raise RuntimeError("injected fault")

    monkeypatch.setattr(applier, "apply", fails_after_working)
    before = snapshot(root)
    with pytest.raises(DeployError) as e:
        deploy(prepare(project, root))
    own = [path for _action, path in changed(target) if path.startswith(target + "/")]
    assert e.value.target == target and e.value.artifact == (own[0] if len(own) == 1 else None)  # the one it applied
    assert "injected fault" in e.value.message
    after = snapshot(root)
    # BentoML's store only grows (a Bento is never replaced; release.json names the current ones)
    before, after = ({k: v for k, v in snap.items() if not k.startswith("bentoml/")} for snap in (before, after))
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:5]
    monkeypatch.undo()
    outcome = deploy(prepare(project, root))  # the fault gone, the same deploy goes through
    assert outcome.release == "000002" and outcome.applied == applied(target)


def test_a_missing_engine_is_a_diagnostic_naming_the_target_and_the_fix(deployed, monkeypatch) -> None:
    project, root = deployed
    edit(project, "feast")
    monkeypatch.setenv("MLC_ENGINES", str(root / "no-engines"))
    with pytest.raises(DeployError) as e:
        deploy(prepare(project, root))
    assert e.value.target == "feast" and "serving" in e.value.message and "engines.sh serving" in e.value.help
    assert _release(root) == "000001"


def test_rollback_restores_the_previous_release(deployed) -> None:
    project, root = deployed
    p1 = prepare(project, root)
    edit(project, "airflow")
    deploy(prepare(project, root))
    dag = root / "airflow" / "dags" / Path(CHANGED["airflow"]).name  # through the Airflow home
    assert dag.read_text() != p1.texts[CHANGED["airflow"]]
    assert rollback(p1.config) == ("000002", "000001")
    assert _release(root) == "000001" and dag.read_text() == p1.texts[CHANGED["airflow"]]
    assert plan(prepare(project, root)).count("change") == len(changed("airflow"))  # the edit is not deployed any more
    with pytest.raises(DeployError, match="first one"):
        rollback(p1.config)
    assert deploy(prepare(project, root)).release == "000003"  # a new release, after the rolled-back one


EXTRA = """package netflix.recs

## A flow added, then removed.
flow extra_flow {
  schedule cron("0 3 * * *")
  catchup false
  step hello bash("echo hello") { timeout 1m }
}
"""


def test_an_added_then_removed_flow_and_pruned_releases(deployed) -> None:
    project, root = deployed
    (project / "mlc.toml").write_text((project / "mlc.toml").read_text() + "\n[deploy.local]\nkeep = 2\n")
    (project / "extra.flow").write_text(EXTRA)
    p = prepare(project, root)
    assert [(c.action, c.path) for c in plan(p).changes] == [("add", "airflow/dags/extra_flow.py"),
                                                             ("add", "prometheus/dashboards/flows/extra_flow.json")]
    assert deploy(p).release == "000002"
    assert (root / "airflow" / "dags" / "extra_flow.py").is_file()
    (project / "extra.flow").unlink()
    p = prepare(project, root)
    assert [(c.action, c.path) for c in plan(p).changes] == [("remove", "airflow/dags/extra_flow.py"),
                                                             ("remove", "prometheus/dashboards/flows/extra_flow.json")]
    outcome = deploy(p)
    assert outcome.release == "000003" and outcome.applied == {"airflow": 0, "prometheus": 0}
    assert not (root / "airflow" / "dags" / "extra_flow.py").exists()
    # keep = 2: the oldest release goes, the current one and the one before it stay
    assert outcome.pruned == ["000001"]
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["000002", "000003"]


def test_a_damaged_release_and_a_dead_deploy_s_leftovers(deployed) -> None:
    project, root = deployed
    left = root / "releases" / "staging-000002-dead"  # a deploy killed part-way
    (left / "airflow").mkdir(parents=True)
    (root / "releases" / "000001" / CHANGED["spark"]).unlink()  # someone deleted a deployed file
    edit(project, "airflow")
    with pytest.raises(DeployError) as e:
        deploy(prepare(project, root))
    assert e.value.target == "spark" and e.value.artifact == CHANGED["spark"] and "by hand" in e.value.help
    assert not left.exists() and _release(root) == "000001"
    assert [p.name for p in (root / "releases").iterdir()] == ["000001"]


def test_the_default_root_is_visible_and_the_project_root_absolute(tmp_path: Path, monkeypatch) -> None:
    """bentoml refuses to build from a hidden folder, so the default root has no dotted part; a
    project given as `.` is recorded absolute (Feast reads MLC_PROJECT_ROOT from its own folder)."""
    from mlc.deploy.config import load

    monkeypatch.chdir(tmp_path)
    config = load(Path("."), {}, "local")
    assert config.root == tmp_path.resolve() / "deploy" / "local"
    assert not any(part.startswith(".") for part in config.root.relative_to(tmp_path.resolve()).parts)
    assert config.project_root == tmp_path.resolve() and config.project_root.is_absolute()
