"""Engine fixtures: one Spark (local[2]) and one Flink worker process per test session.

Each runs in its engine's own environment (.engines/spark, .engines/flink, built by
`scripts/engines.sh` from engines/*.txt) and keeps its JVM for the whole session; tests
send it generated jobs to run (sf_support.Worker). Both start at once (their JVMs start
side by side). Nothing is skipped: an engine that cannot start fails the tests that need it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sf_support import KAFKA_JARS, ROOT, Worker, build_engines


@pytest.fixture(scope="session")
def engine_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("engine-logs")


@pytest.fixture(scope="session")
def workers(engine_logs):
    build_engines()
    started = {name: Worker(name, engine_logs) for name in ("spark", "flink")}
    yield started
    for w in started.values():
        w.close()


@pytest.fixture(scope="session")
def spark(workers) -> Worker:
    workers["spark"].wait_ready()
    return workers["spark"]


@pytest.fixture(scope="session")
def flink(workers) -> Worker:
    workers["flink"].wait_ready()
    return workers["flink"]


@pytest.fixture(scope="session")
def kafka_jars() -> list[Path]:
    """flink-connector-kafka and kafka-clients, taken out of the PyPI wheel that
    redistributes them (never installed into pyflink): scripts/flink_kafka_jars.sh."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "flink_kafka_jars.sh")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/flink_kafka_jars.sh failed:\n{done.stderr[-3000:]}")
    jars = sorted(KAFKA_JARS.glob("*.jar"))
    assert len(jars) == 2, jars
    return jars
