"""Engine fixtures of the Feast tests: ONE Feast worker process (the serving environment,
.engines/serving; `import feast` once per session) and one Spark worker (whose jobs make
the offline tables Feast serves). Both start at once. Nothing is skipped: an engine that
cannot start fails the tests that need it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "spark_flink"))

from sf_support import ROOT, Worker, build_engines, engine_python

FEAST_WORKER = HERE / "feast_worker.py"


class FeastWorker(Worker):
    """The Spark/Flink worker client, talking to feast_worker.py under the serving python."""

    def __init__(self, log_dir: Path) -> None:
        import os
        import threading
        import time

        self.engine = "feast"
        self.log = open(log_dir / "feast-worker.log", "w")  # noqa: SIM115  (open while the worker lives)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "FEAST_USAGE": "False"}
        self.started = time.monotonic()
        self.proc = subprocess.Popen([str(engine_python("serving")), str(FEAST_WORKER)], cwd=log_dir,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1, env=env)
        self.lock = threading.Lock()
        self.pending = 0
        self.ready = None


def build_serving() -> None:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "engines.sh"), "serving"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1500, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/engines.sh serving failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def engine_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engine-logs")


@pytest.fixture(scope="session")
def workers(engine_logs):
    build_serving()
    build_engines()
    started = {"feast": FeastWorker(engine_logs), "spark": Worker("spark", engine_logs)}
    yield started
    for w in started.values():
        w.close()


@pytest.fixture(scope="session")
def feast(workers) -> Worker:
    workers["feast"].wait_ready()
    return workers["feast"]


@pytest.fixture(scope="session")
def spark(workers) -> Worker:
    workers["spark"].wait_ready()
    return workers["spark"]
