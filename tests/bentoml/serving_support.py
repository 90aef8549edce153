"""The serving engine as the BentoML tests and bench/bench_serving.py drive it: the worker of
the serving environment (worker.py) and `bentoml serve` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SERVING = ROOT / ".engines" / "serving"
PY = SERVING / "bin" / "python"
READY_WITHIN = 120
EXAMPLE = ROOT / "examples" / "fraud"
RECOMMENDATIONS = ROOT / "examples" / "recommendations"


class EngineError(RuntimeError):
    """The serving engine failed: the message holds what it said."""


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
            raise EngineError(f"the serving worker died during {op!r} (exit {self.proc.wait()})")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise EngineError(f"the serving worker failed on {op!r}: {answer['error']}\n{answer['trace']}")
        return answer

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Server:
    """One `bentoml serve` of a generated service folder."""

    def __init__(self, name: str, folder: Path, env: dict, log: Path, target: str = "service:Service") -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([str(SERVING / "bin" / "bentoml"), "serve", target, "--host",
                                      "127.0.0.1", "--port", str(self.port)], cwd=folder, env=env,
                                     stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.ready_after: float | None = None

    def wait_ready(self) -> None:
        deadline = self.started + READY_WITHIN
        while time.perf_counter() < deadline:
            # a service whose __init__ raised keeps its server up, restarting the worker: fail at once
            if self.proc.poll() is not None or "Traceback (most recent call last)" in self.log.read_text():
                raise EngineError(f"bentoml serve ({self.name}) failed (exit {self.proc.poll()}):\n"
                                  f"{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        self.ready_after = time.perf_counter() - self.started
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise EngineError(f"bentoml serve ({self.name}) not ready in {READY_WITHIN}s:\n{self.log.read_text()[-4000:]}")

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


def compile_example(out: Path, example: Path = EXAMPLE) -> Path:
    """An example compiled for its local env, Feast and BentoML targets, into `out`."""
    import sys

    done = subprocess.run([sys.executable, "-m", "mlc", "compile", str(example), "--env", "local", "--out", str(out),
                           "--no-cache", "--target", "feast", "--target", "bentoml"],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise EngineError(f"mlc compile failed:\n{done.stdout}{done.stderr}")
    return out


def start(bundle: Path, base: Path, names: tuple[str, ...], slow_seconds: float) -> tuple[dict, Worker, dict]:
    """The worker set up in `base` (model stores trained by the example's step, the bundle's Feast
    repo applied and materialised), then one server of the generated fraud_scorer service per
    store in `names` (good, broken, slow), started together and waited for. Returns (what the
    worker set up: cards, tag; the worker; {name: Server}) — stop them with `stop`."""
    stores = {k: str(base / f"store-{k}") for k in ("good", "broken", "slow")}
    project_root = base / "project"
    project_root.mkdir()
    env = {**os.environ, "BENTOML_HOME": stores["good"], "BENTOML_DO_NOT_TRACK": "True",
           "MLC_PROJECT_ROOT": str(project_root), "FEAST_USAGE": "False", "PYTHONUNBUFFERED": "1",
           "MLC_FEAST_REPO": str(bundle / "feast"), "PYTHONPATH": str(HERE)}
    worker = Worker(env)
    servers: dict[str, Server] = {}
    try:
        setup = worker("setup", repo=str(bundle / "feast"), project_root=str(project_root), stores=stores,
                       example=str(EXAMPLE), slow_seconds=slow_seconds)
        setup["env"], setup["stores"] = env, stores
        for name in names:
            servers[name] = Server(name, bundle / "bentoml" / "fraud_scorer", {**env, "BENTOML_HOME": stores[name]},
                                   base / f"serve-{name}.log")
        for s in servers.values():
            s.wait_ready()
    except BaseException:
        stop(worker, servers)
        raise
    return setup, worker, servers


def stop(worker: Worker, servers: dict) -> None:
    for s in servers.values():
        s.stop()
    worker.stop()
