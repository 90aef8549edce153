"""Fixtures of the BentoML backend's tests: the fraud example compiled for Feast and BentoML,
the serving engine (`.engines/serving`) set up once by one worker process (the example's own
training step into a model store, the generated Feast repository applied and materialised),
and the generated `fraud_scorer` service served by real `bentoml serve` on 127.0.0.1 — one
server per model store: the trained scorer, a broken artefact, a slow artefact (the same
generated code; only what is stored differs). Servers are stopped at the end of the session.
A missing engine fails the tests, never skips them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SERVING = ROOT / ".engines" / "serving"
PY = SERVING / "bin" / "python"
EXAMPLE = ROOT / "examples" / "fraud"
SLOW_SECONDS = 0.3  # the slow artefact's delay: ten times the scorer's 25ms serve timeout
READY_WITHIN = 120


class Worker:
    """The serving environment's worker (worker.py): one JSON command a line."""

    def __init__(self, env: dict) -> None:
        self.proc = subprocess.Popen([str(PY), str(HERE / "worker.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, text=True)

    def __call__(self, op: str, **args) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(f"the serving worker died during {op!r} (exit {self.proc.wait()})")
        answer = json.loads(line)
        if not answer.pop("ok"):
            pytest.fail(f"the serving worker failed on {op!r}: {answer['error']}\n{answer['trace']}")
        return answer

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Server:
    """One `bentoml serve` of a generated service folder."""

    def __init__(self, name: str, folder: Path, env: dict, log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([str(SERVING / "bin" / "bentoml"), "serve", "service:Service", "--host",
                                      "127.0.0.1", "--port", str(self.port)], cwd=folder, env=env,
                                     stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.ready_after: float | None = None

    def wait_ready(self) -> None:
        deadline = self.started + READY_WITHIN
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"bentoml serve ({self.name}) exited {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        self.ready_after = time.perf_counter() - self.started
                        return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(f"bentoml serve ({self.name}) not ready in {READY_WITHIN}s:\n{self.log.read_text()[-4000:]}")

    def predict(self, inputs) -> tuple[int, object]:
        body = json.dumps({"inputs": inputs}).encode()
        request = urllib.request.Request(self.url + "/predict", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            return r.read().decode()

    def stop(self) -> None:
        """SIGTERM to the server's own process group (it started its workers there), then wait."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    """The fraud example compiled for its local env, Feast and BentoML targets."""
    from click.testing import CliRunner

    from mlc.cli import main

    out = tmp_path_factory.mktemp("bundle") / "out"
    r = CliRunner().invoke(main, ["compile", str(EXAMPLE), "--env", "local", "--out", str(out), "--no-cache",
                                  "--target", "feast", "--target", "bentoml"])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="session")
def serving(bundle, tmp_path_factory):
    """The worker set up (stores trained, Feast applied and materialised), then the three
    servers started together and waited for. Yields {"cards", "servers", "worker", "start_s"}."""
    if not PY.exists():
        pytest.fail("the serving engine environment is missing: run `bash scripts/engines.sh serving`")
    base = tmp_path_factory.mktemp("serving")
    stores = {k: str(base / f"store-{k}") for k in ("good", "broken", "slow")}
    project_root = base / "project"
    project_root.mkdir()
    env = {**os.environ, "BENTOML_HOME": stores["good"], "BENTOML_DO_NOT_TRACK": "True",
           "MLC_PROJECT_ROOT": str(project_root), "FEAST_USAGE": "False", "PYTHONUNBUFFERED": "1"}
    worker = Worker(env)
    servers: list[Server] = []
    try:
        setup = worker("setup", repo=str(bundle / "feast"), project_root=str(project_root), stores=stores,
                       example=str(EXAMPLE), slow_seconds=SLOW_SECONDS)
        folder = bundle / "bentoml" / "fraud_scorer"
        for name in ("good", "broken", "slow"):
            servers.append(Server(name, folder, {**env, "BENTOML_HOME": stores[name],
                                                 "MLC_FEAST_REPO": str(bundle / "feast"),
                                                 "PYTHONPATH": str(HERE)}, base / f"serve-{name}.log"))
        for s in servers:
            s.wait_ready()
        by_name = {s.name: s for s in servers}
        # the first requests of a process import and warm what the next ones reuse
        for s in servers:
            for _ in range(5):
                s.predict(setup["cards"]["legit"]["request"])
        yield {"cards": setup["cards"], "servers": by_name, "worker": worker,
               "start_s": {s.name: round(s.ready_after, 1) for s in servers}}
    finally:
        for s in servers:
            s.stop()
        worker.stop()
