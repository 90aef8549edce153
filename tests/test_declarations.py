"""A release keeps the signals' and flows' params it was deployed with
(`Layout.declarations()`, `mlc.deploy.declarations`), and `mlc signal` / `mlc trigger` type a
payload against those — what runs — not against the source, saying so when the two differ.
No Airflow: every case here ends before a request (a diagnostic) or at a port nothing serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlc.compiler.project import load_project
from mlc.deploy.release import prepare
from mlc.targets.layout import Layout

MLC = [sys.executable, "-m", "mlc"]

PROGRAM = """\
package decltest

env local {
}

signal decl_ready external { region: string, rows: int }

flow decl_load {
  trigger signal(decl_ready, region = "us")
  step load bash("true")
}

flow decl_nightly {
  param top_k: int = 5
  step hello bash("true")
}
"""


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture()
def deployed(tmp_path) -> tuple[Path, Path]:
    """(the project, its deploy folder holding release 000001 of PROGRAM as `prepare` makes it)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlc.toml").write_text('[project]\nname = "decltest"\nsources = ["."]\n')
    (project / "flows.flow").write_text(PROGRAM)
    root = tmp_path / "deploy"
    prepared = prepare(load_project([str(project)]).rooted(), "local", str(root), use_cache=False)
    assert prepared.ok
    release = root / "releases" / "000001"
    for path, text in prepared.texts.items():
        if path.startswith("airflow/"):
            (release / path).parent.mkdir(parents=True, exist_ok=True)
            (release / path).write_text(text)
    (release / "manifest.json").write_text(json.dumps(prepared.manifest))
    (root / "deploy.env").write_text(f"AIRFLOW_HOME={root / 'airflow'}\n")
    os.symlink("releases/000001", root / "current")
    return project, root


def _mlc(project: Path, root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MLC, *args, "--to", str(root)], cwd=project, capture_output=True, text=True, check=False,
                          env={**os.environ, "MLC_AIRFLOW_URL": _dead_url()})


def test_the_release_keeps_the_signals_and_params_as_an_airflow_artifact(deployed):
    _project, root = deployed
    manifest = json.loads((root / "current" / "manifest.json").read_text())
    entry = next(a for a in manifest["artifacts"] if a["path"] == Layout.declarations())
    assert (entry["kind"], entry["target"]) == ("declarations", "airflow")
    kept = json.loads((root / "current" / Layout.declarations()).read_text())
    assert [f["name"] for f in kept["signals"]["decltest.decl_ready"]["fields"]] == ["region", "rows"]
    assert [p["name"] for p in kept["flows"]["decltest.decl_nightly"]["params"]] == ["top_k"]
    assert "loc" not in json.dumps(kept)  # moving a declaration changes nothing that runs


def test_an_unchanged_source_types_without_a_warning(deployed):
    project, root = deployed
    done = _mlc(project, root, "signal", "decl_ready", "rows=many")
    assert done.returncode == 1 and "warning" not in done.stderr, done.stderr
    assert "error[E0303]" in done.stderr and "`rows` of signal `decl_ready` is int" in done.stderr, done.stderr


def test_a_signal_changed_since_the_deploy_is_typed_against_the_release(deployed):
    project, root = deployed
    (project / "flows.flow").write_text(PROGRAM.replace("rows: int", "rows: string, day: date"))
    done = _mlc(project, root, "signal", "decl_ready", "rows=many")  # the source's string; the release's int
    assert done.returncode == 1
    assert ("warning: signal `decl_ready` differs between the source (flows.flow:6: fields region: string, "
            "rows: string, day: date) and release 000001 of env `local` (fields region: string, rows: int): the "
            "payload is typed against the release, which is what runs") in done.stderr, done.stderr
    assert "error[E0303]" in done.stderr and "is int; `rows=many` gives" in done.stderr, done.stderr
    assert "flows.flow:6" in done.stderr  # the diagnostic points at the source's declaration
    done = _mlc(project, root, "signal", "decl_ready", "day=2026-12-01")  # a field the release lacks
    assert done.returncode == 1 and "error[E0302]" in done.stderr and "has no field `day`" in done.stderr, done.stderr
    done = _mlc(project, root, "signal", "decl_ready", "rows=5")  # fits the release: sent (to no server)
    assert done.returncode == 1 and "differs between the source" in done.stderr
    assert "error[E03" not in done.stderr and "no Airflow API server answers" in done.stderr, done.stderr


def test_a_param_changed_since_the_deploy_is_typed_against_the_release(deployed):
    project, root = deployed
    (project / "flows.flow").write_text(PROGRAM.replace("top_k: int = 5", "top_k: string = \"5\""))
    done = _mlc(project, root, "trigger", "decl_nightly", "--conf", "top_k=many")
    assert done.returncode == 1
    assert ("warning: the params of flow `decl_nightly` differ between the source (flows.flow:13: top_k: string) "
            "and release 000001 of env `local` (top_k: int)") in done.stderr, done.stderr
    assert "param `top_k` of flow `decl_nightly` is int; `top_k=many` gives" in done.stderr, done.stderr


def test_a_release_without_declarations_types_against_the_source_and_says_so(deployed):
    project, root = deployed
    (root / "current" / Layout.declarations()).unlink()
    done = _mlc(project, root, "signal", "decl_ready", "rows=many")
    assert "warning: release 000001 of env `local` keeps no declarations" in done.stderr, done.stderr
    assert "error[E0303]" in done.stderr
