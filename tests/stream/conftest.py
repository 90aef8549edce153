"""Fixtures of the streaming end-to-end test, each once per session: a Kafka-protocol broker on
127.0.0.1 (the kafka engine's Tansu, a free port), one Feast worker for online reads (tests/feast's,
the serving engine), and the fraud example deployed to env `stream` (its source bound to Kafka)
with its scorer trained and served (`mlc serve`). A missing engine fails, never skips."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlc.run.background import free_port, stop

ROOT = Path(__file__).resolve().parent.parent.parent
MLC = [str(ROOT / ".venv" / "bin" / "mlc")]
ENGINES = ROOT / ".engines"
TOPIC = "card-transactions"
PRODUCE = Path(__file__).resolve().parent / "produce.py"


def _tests_module(path: Path, name: str):
    """A helper module of another test folder, loaded by path (its name would clash as `conftest`)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


feast_support = _tests_module(ROOT / "tests" / "feast" / "conftest.py", "feast_support")


@pytest.fixture(scope="session")
def engines() -> None:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "engines.sh"), "flink", "kafka", "serving"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        pytest.fail(f"scripts/engines.sh flink kafka serving failed:\n{done.stderr[-3000:]}")


@contextmanager
def tansu(log: Path) -> Iterator[str]:
    """`tansu broker` on a free port of 127.0.0.1, in memory, its output in `log`; its `host:port`."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(ENGINES / "kafka" / "bin" / "tansu"), "broker", "--listener-url", url,
                                 "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "ready in" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Tansu broker did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def broker(engines, tmp_path_factory) -> Iterator[str]:
    """The session's broker (tansu above)."""
    with tansu(tmp_path_factory.mktemp("broker") / "tansu.log") as address:
        yield address


def produce(bootstrap: str, records: list[dict]) -> int:
    """Produces `records` to the topic with the kafka engine's client; the topic's end offset."""
    done = subprocess.run([str(ENGINES / "kafka" / "bin" / "python"), str(PRODUCE), bootstrap, TOPIC],
                          input="".join(json.dumps(r) + "\n" for r in records), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.fixture(scope="session")
def feast(engines, tmp_path_factory):
    worker = feast_support.FeastWorker(tmp_path_factory.mktemp("feast-worker"))
    yield worker
    worker.close()


def mlc(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*MLC, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def platform(engines, tmp_path_factory) -> dict:
    """The fraud example deployed to env `stream`, its scorer trained (the training step's
    function, in the serving engine) and served (`mlc serve`); the server stopped at the end."""
    base = tmp_path_factory.mktemp("stream-platform")
    project, deploy = base / "fraud", base / "deploy"
    subprocess.run(["cp", "-r", str(ROOT / "examples" / "fraud"), str(project)], check=True)
    done = mlc("deploy", str(project), "--env", "stream", "--to", str(deploy))
    assert done.returncode == 0, done.stderr
    env = dict(line.split("=", 1) for line in (deploy / "deploy.env").read_text().splitlines() if "=" in line)
    # trained, then served, in the background: both come up while the first stream run runs;
    # a failed training ends it, and its traceback is in the log the predictions' asserts show
    script = '"$1" -c "from scorer.train import main; main()" && shift && exec "$@"'
    with (base / "serve.log").open("wb") as out:
        server = subprocess.Popen(["bash", "-c", script, "train-then-serve", env["MLC_STEP_PYTHON"], *MLC, "serve",
                                   "fraud_scorer", str(project), "--env", "stream", "--to", str(deploy)],
                                  cwd=project, env={**os.environ, **env, "PYTHONPATH": str(project),
                                                    "FRAUD_ARTIFACT_DIR": str(base / "artifacts")},
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    yield {"project": project, "deploy": deploy, "env": env, "serve_log": base / "serve.log"}
    stop(server, within=30)
