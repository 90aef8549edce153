"""`mlc init`: a new project that checks clean, formats clean and compiles; nothing overwritten."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mlc.cli import main

FILES = ["envs.flow", "mlc.toml", "pipeline.flow"]


def mlc(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_init_creates_a_project_that_checks_clean(tmp_path: Path) -> None:
    project = tmp_path / "my-Shop"
    r = mlc("init", str(project))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in project.iterdir()) == FILES
    assert f"created {project / 'mlc.toml'}" in r.output
    assert 'name = "my-Shop"' in (project / "mlc.toml").read_text()
    for name in ("envs.flow", "pipeline.flow"):
        text = (project / name).read_text()
        assert text.startswith("# ") and "package my_shop\n" in text  # a comment says what the file is
    r = mlc("check", "--no-cache", str(project))
    assert r.exit_code == 0, r.output
    assert "checked 2 files, 6 declarations: 0 errors, 0 warnings" in r.output
    assert mlc("fmt", "--check", str(project)).exit_code == 0


def test_init_project_compiles_for_both_envs(tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert mlc("init", str(project)).exit_code == 0
    for env in ("local", "prod"):
        out = tmp_path / f"build-{env}"
        r = mlc("compile", "--no-cache", str(project), "--env", env, "--out", str(out), "--emit", "ir")
        assert r.exit_code == 0, r.output
        ir = json.loads((out / "ir.json").read_text())
        assert sorted(ir["envs"]) == ["p.local", "p.prod"]
        assert sorted(ir["sources"]) == ["p.events"] and sorted(ir["entities"]) == ["p.user"]
        assert ir["feature_groups"]["p.user_activity"]["mode"] == "batch"
        assert [s["kind"] for s in ir["flows"]["p.refresh_online"]["steps"]] == ["materialize"]


def test_init_in_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = mlc("init", "--name", "acme.shop")
    assert r.exit_code == 0, r.output
    assert "next: mlc check" in r.output
    assert "package acme.shop\n" in (tmp_path / "pipeline.flow").read_text()
    assert mlc("check", "--no-cache").exit_code == 0


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "mlc.toml").write_text("# mine\n")
    r = mlc("init", str(project))
    assert r.exit_code == 2
    assert "mlc.toml already exists; nothing was written" in r.output
    assert (project / "mlc.toml").read_text() == "# mine\n"
    assert sorted(p.name for p in project.iterdir()) == ["mlc.toml"]


def test_init_twice_changes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert mlc("init", str(project)).exit_code == 0
    before = {p.name: p.read_text() for p in project.iterdir()}
    (project / "pipeline.flow").write_text(before["pipeline.flow"] + "# edited\n")
    r = mlc("init", str(project))
    assert r.exit_code == 2
    assert "envs.flow, mlc.toml, pipeline.flow already exist" in r.output
    assert (project / "pipeline.flow").read_text().endswith("# edited\n")


def test_init_rejects_a_bad_name_and_a_file(tmp_path: Path) -> None:
    r = mlc("init", str(tmp_path / "p"), "--name", "not a name")
    assert r.exit_code == 2 and not (tmp_path / "p").exists()
    (tmp_path / "f").write_text("x")
    assert mlc("init", str(tmp_path / "f")).exit_code == 2


def test_init_names_a_package_from_any_folder_name(tmp_path: Path) -> None:
    project = tmp_path / "2024 ML-Platform"
    assert mlc("init", str(project)).exit_code == 0
    assert "package p_2024_ml_platform\n" in (project / "envs.flow").read_text()
    assert mlc("check", "--no-cache", str(project)).exit_code == 0
