"""Fixtures of the deploy tests: the recommendations example copied into a temporary
folder, edits that change exactly one target's artifact each, a first local deploy made
once per session and copied for each test, and a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = EXAMPLES / "recommendations"

# target -> (file, old text, new text): an edit of the example that changes one artifact of
# that target and nothing else (tests/deploy/test_local.py checks the "nothing else").
EDITS = {
    "airflow": ("features.flow", "timeout 1h\n  online ttl 3d", "timeout 2h\n  online ttl 3d"),
    "spark": ("features.flow", "seconds_7d = sum(seconds) over 7d", "seconds_7d = sum(seconds) over 14d"),
    "flink": ("features.flow", "checkpoint every 1m", "checkpoint every 2m"),
    "feast": ("features.flow", 'online ttl 3d\n  offline s3("features/title_popularity")',
              'online ttl 4d\n  offline s3("features/title_popularity")'),
    "bentoml": ("models.flow", "## Personalised ranking", "## Personalized ranking"),
    "prometheus": ("slos.flow", "availability(ranker) >= 99.9% over 30d", "availability(ranker) >= 99.5% over 30d"),
}
CHANGED = {"airflow": "airflow/dags/features.title_popularity.py", "spark": "spark/features/title_popularity.py",
           "flink": "flink/features/member_activity.py", "feast": "feast/definitions.py",
           "bentoml": "bentoml/ranker/service.py", "prometheus": "prometheus/dashboards/models/ranker.json"}
# what else these edits change, rightly: the monitoring target cites the proven freshness bound
# (a batch job's timeout, a stream's checkpoint) in the group's rules and the ranker's dashboard
ALSO = {"airflow": ("prometheus/dashboards/models/ranker.json", "prometheus/rules/features/title_popularity.yml"),
        "flink": ("prometheus/dashboards/models/ranker.json", "prometheus/rules/features/member_activity.yml"),
        "prometheus": ("prometheus/rules/models/ranker.yml",)}  # the SLO's alert and its dashboard panel


def changed(target: str) -> list[tuple[str, str]]:
    """The plan's changes after `edit(project, target)`, in plan order (targets in order, paths sorted)."""
    return [("change", CHANGED[target])] + [("change", p) for p in ALSO.get(target, ())]


def applied(target: str) -> dict[str, int]:
    out = {target: 1}
    for path in ALSO.get(target, ()):
        out[path.split("/", 1)[0]] = out.get(path.split("/", 1)[0], 0) + 1
    return out


def edit(project: Path, target: str) -> None:
    name, old, new = EDITS[target]
    text = (project / name).read_text()
    assert old in text, f"the example no longer has {old!r}: update EDITS"
    (project / name).write_text(text.replace(old, new, 1))


def copy_project(dest: Path) -> Path:
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".mlc", ".mlc_cache", "__pycache__", "build"))
    return dest


def prepare(project: Path, root: Path | None = None, env: str = "local", to: str | None = None):
    from mlc.compiler.project import load_project
    from mlc.deploy.release import prepare as prep

    p = prep(load_project([str(project)]).rooted(), env, to if to is not None else (str(root) if root else None),
             use_cache=False)
    assert p.ok, [d.message for d in p.compiled.result.diagnostics]
    return p


@pytest.fixture(scope="session")
def first_deploy(tmp_path_factory) -> tuple[Path, Path]:
    """The example deployed once (release 000001) with the real appliers."""
    from mlc.deploy.release import deploy

    base = tmp_path_factory.mktemp("deployed")
    project = copy_project(base / "project")
    root = base / "root"
    outcome = deploy(prepare(project, root))
    assert outcome.release == "000001"
    return project, root


@pytest.fixture
def deployed(first_deploy, tmp_path):
    """The first deploy for one test to change: a copy of its deploy root, and the project
    itself (at the same path: Feast's file sources are absolute paths under the project
    root, so a moved project would change every view), restored after the test."""
    project, root = first_deploy
    pristine = tmp_path / "pristine"
    shutil.copytree(project, pristine)
    shutil.copytree(root, tmp_path / "root", symlinks=True)
    # as if deployed there: deploy.env names the root (a deploy brings a moved one up to date)
    env = tmp_path / "root" / "deploy.env"
    env.write_text(env.read_text().replace(str(root), str(tmp_path / "root")))
    yield project, tmp_path / "root"
    shutil.rmtree(project)
    shutil.copytree(pristine, project)


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder`: a file's inode, mtime and bytes, a link's target."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_file():
            st = p.stat()
            out[rel] = ("file", st.st_ino, st.st_mtime_ns, p.read_bytes())
        else:
            out[rel] = ("dir",)
    return out


# ------------------------------------------------------------------ S3 (moto_server)
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server (a real HTTP S3 API) on 127.0.0.1, for the whole session."""
    port = _free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def aws(monkeypatch):
    """Credentials through the standard chain (environment variables), nothing else."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "MLC_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
