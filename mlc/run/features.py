"""`mlc run features.NAME` of a feature group without a DAG of its own (a stream group: its
Flink job runs continuously): a backfill — the group's Spark job over its source's data in
the Spark engine, writing the offline table — then its view materialised into the online
store by the serving engine's Feast, as a DAG's materialize task does."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mlc.run.deployed import Deployed, RunError
from mlc.run.flow import Outcome, Step


def spark_job(deployed: Deployed, group: str) -> str | None:
    for a in deployed.artifacts("spark-feature-job"):
        source = (a.get("source") or {}).get("name", "")
        if group in (Path(a["path"]).stem, source, source.rsplit(".", 1)[-1]):
            return a["path"]
    return None


def run(deployed: Deployed, group: str, job: str, show: Callable[[str, Step], None]) -> Outcome:
    env = deployed.process_env()
    log = Path(env["AIRFLOW_HOME"]) / "runs" / f"features.{group}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    view = Path(job).stem
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    commands = [
        (f"spark {view}", [str(deployed.engine("spark")), str(deployed.bundle / job)]),
        (f"materialize {view}", [env["MLC_FEAST"], "-c", env["MLC_FEAST_REPO"], "materialize-incremental", now,
                                 "--views", view]),
    ]
    outcome = Outcome(f"features.{group}", "running", log=log)
    started = time.perf_counter()
    for name, argv in commands:
        if not Path(argv[0]).is_file():
            raise RunError(f"{argv[0]} is missing", help="install the engines: bash scripts/engines.sh")
        at = log.stat().st_size
        step = Step(name, log=(at, at))
        outcome.steps.append(step)
        show("start", step)
        t0 = time.perf_counter()
        with log.open("ab") as out:
            code = subprocess.run(argv, env=env, cwd=deployed.config.project_root, stdout=out,
                                  stderr=subprocess.STDOUT, check=False).returncode
        step.state, step.seconds = ("success" if code == 0 else "failed"), round(time.perf_counter() - t0, 2)
        step.log = (at, log.stat().st_size)
        show("end", step)
        if code != 0:
            outcome.state = "failed"
            break
    else:
        outcome.state = "success"
    outcome.seconds = time.perf_counter() - started
    return outcome
