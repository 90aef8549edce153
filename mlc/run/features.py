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
from typing import BinaryIO

from mlc.run.deployed import Deployed, RunError
from mlc.run.flow import Outcome, Step


def feature_job(deployed: Deployed, kind: str, group: str) -> str | None:
    """The path in the bundle of `group`'s artifact of `kind` (`spark-feature-job`,
    `flink-feature-job`, `flink-publisher`), or None."""
    for a in deployed.artifacts(kind):
        source = (a.get("source") or {}).get("name", "")
        if group in (Path(a["path"]).stem, source, source.rsplit(".", 1)[-1]):
            return a["path"]
    return None


def spark_job(deployed: Deployed, group: str) -> str | None:
    return feature_job(deployed, "spark-feature-job", group)


class Steps:
    """Steps run one after another, shown as each starts and ends; their output goes to one
    log file under the Airflow home (`runs/NAME.log`), each step's byte range recorded for
    the tail a failure shows. A step is a command (`run`) or a function writing to the log
    (`call`); after a failed step the others are not run."""

    def __init__(self, deployed: Deployed, name: str, show: Callable[[str, Step], None]) -> None:
        self.deployed, self.show = deployed, show
        self.env = deployed.process_env()
        self.log = Path(self.env["AIRFLOW_HOME"]) / "runs" / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_bytes(b"")
        self.outcome = Outcome(name, "success", log=self.log)
        self.started = time.perf_counter()

    def call(self, name: str, fn: Callable[[BinaryIO], bool]) -> bool:
        if self.outcome.state != "success":
            return False
        at = self.log.stat().st_size
        step = Step(name, log=(at, at))
        self.outcome.steps.append(step)
        self.show("start", step)
        t0 = time.perf_counter()
        with self.log.open("ab") as out:
            ok = fn(out)
        step.state, step.seconds = ("success" if ok else "failed"), round(time.perf_counter() - t0, 2)
        step.log = (at, self.log.stat().st_size)
        self.show("end", step)
        if not ok:
            self.outcome.state = "failed"
        self.outcome.seconds = time.perf_counter() - self.started
        return ok

    def run(self, name: str, argv: list[str]) -> bool:
        if not Path(argv[0]).is_file():
            raise RunError(f"{argv[0]} is missing", help="install the engines: bash scripts/engines.sh")
        return self.call(name, lambda out: subprocess.run(
            argv, env=self.env, cwd=self.deployed.config.project_root, stdout=out, stderr=subprocess.STDOUT,
            check=False).returncode == 0)


def run(deployed: Deployed, group: str, job: str, show: Callable[[str, Step], None]) -> Outcome:
    steps = Steps(deployed, f"features.{group}", show)
    view = Path(job).stem
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    (steps.run(f"spark {view}", [str(deployed.engine("spark")), str(deployed.bundle / job)])
     and steps.run(f"materialize {view}", [steps.env["MLC_FEAST"], "-c", steps.env["MLC_FEAST_REPO"],
                                           "materialize-incremental", now, "--views", view]))
    return steps.outcome
