"""`mlc run FLOW --env local`: `dag.test()` of a deployed flow's DAG in the Airflow engine
environment, each task shown as it starts and ends, a summary at the end; a failed task is
named with the tail of its log.

The DAG runs in a child process (`templates/dag_test.py`) with deploy.env's variables and
the project root on PYTHONPATH; its stdout and stderr (the tasks' logs) go to a file under
the Airflow home, its task events come back through a pipe.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlc.run.deployed import Deployed, RunError

RUNNER = Path(__file__).resolve().parent / "templates" / "dag_test.py"
FEATURES = "features."
TAIL_LINES = 40


@dataclass
class Step:
    task: str
    state: str = "running"
    seconds: float | None = None
    log: tuple[int, int] = (0, 0)  # byte range of its output in the run's log file


@dataclass
class Outcome:
    dag_id: str
    state: str
    steps: list[Step] = field(default_factory=list)
    log: Path | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "success" and not self.error

    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.state in ("failed", "running")]

    def tail(self, step: Step, lines: int = TAIL_LINES) -> str:
        if self.log is None:
            return ""
        with self.log.open("rb") as f:
            f.seek(step.log[0])
            text = f.read(max(0, step.log[1] - step.log[0])).decode("utf-8", "replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])


def dag_id(deployed: Deployed, name: str) -> str:
    """The DAG of flow NAME (or of feature group NAME as `features.NAME`) in the release."""
    dags = deployed.artifacts("airflow-dag")
    want = name.removeprefix(FEATURES)

    def names(a: dict) -> set[str]:
        source = (a.get("source") or {}).get("name", "")
        return {Path(a["path"]).stem, source, source.rsplit(".", 1)[-1]}

    for a in dags:
        if want in names(a):
            return Path(a["path"]).stem
    from mlc.diagnostics import did_you_mean

    known = sorted(Path(a["path"]).stem for a in dags)
    hint = did_you_mean(want, known) or ""
    raise RunError(f"no flow or feature pipeline `{name}` in release {deployed.release} "
                   f"(DAGs: {', '.join(known) or 'none'}) {hint}".strip(),
                   help="a flow by its name (mlc run retrain_fraud), a feature group's DAG as features.NAME")


def _ensure_db(deployed: Deployed, env: dict[str, str]) -> None:
    """The Airflow home's metadata database, created once (`airflow db migrate`, ~20 s)."""
    home = Path(env["AIRFLOW_HOME"])
    if (home / "airflow.db").is_file():
        return
    done = subprocess.run([str(deployed.engine("airflow", "airflow")), "db", "migrate"], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RunError(f"airflow db migrate failed in {home}:\n{(done.stdout + done.stderr)[-3000:]}")


def run(deployed: Deployed, name: str, conf: dict[str, str],
        show: Callable[[str, Step], None] = lambda event, step: None) -> Outcome:
    """Runs the DAG of `name`; `show(event, step)` is called at each task's start and end."""
    dag = dag_id(deployed, name)
    python = deployed.engine("airflow")
    env = deployed.process_env()
    _ensure_db(deployed, env)
    log = Path(env["AIRFLOW_HOME"]) / "runs" / f"{dag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    outcome = Outcome(dag, "failed", log=log)
    started = time.perf_counter()
    read, write = os.pipe()
    with log.open("wb") as out:
        proc = subprocess.Popen([str(python), str(RUNNER), dag, str(write), json.dumps(conf)], env=env,
                                cwd=deployed.config.project_root, stdout=out, stderr=subprocess.STDOUT,
                                pass_fds=(write,))
    os.close(write)
    running: dict[str, Step] = {}
    with os.fdopen(read, encoding="utf-8") as events:
        for line in events:
            event = json.loads(line)
            kind = event["event"]
            if kind in ("start", "end"):
                task = event["task"] + (f"[{event['map_index']}]" if event.get("map_index", -1) >= 0 else "")
                at = log.stat().st_size
                if kind == "start":
                    running[task] = step = Step(task, log=(at, at))
                    outcome.steps.append(step)
                else:
                    step = running.pop(task)
                    step.state, step.seconds, step.log = event["state"], event["seconds"], (step.log[0], at)
                show(kind, step)
            elif kind == "done":
                outcome.state = event["state"]
                seen = {s.task for s in outcome.steps}
                outcome.steps += [Step(t, state=s) for t, s in event["tasks"].items() if t not in seen]
            elif kind == "error":
                outcome.error = event["message"]
    code = proc.wait()
    outcome.seconds = time.perf_counter() - started
    if code != 0 and not outcome.error:
        outcome.error = f"the Airflow engine exited with {code}:\n" + "\n".join(
            log.read_text(errors="replace").rstrip().splitlines()[-TAIL_LINES:])
    return outcome


def run_named(deployed: Deployed, name: str, conf: dict[str, str],
              show: Callable[[str, Step], None] = lambda event, step: None, bootstrap: str | None = None) -> Outcome:
    """`features.NAME` of a group without a DAG is its backfill (`features.py`), or a bounded
    run of its Flink job when the env reads its stream from Kafka (`stream.py`); any other
    name, the DAG of that flow or group."""
    if name.startswith(FEATURES):
        from mlc.run import features

        group = name.removeprefix(FEATURES)
        has_dag = any(group in (Path(a["path"]).stem, (a.get("source") or {}).get("name", "").rsplit(".", 1)[-1])
                      for a in deployed.artifacts("airflow-dag"))
        if not has_dag:
            from mlc.run import stream

            kafka = stream.kafka_job(deployed, group)
            if kafka:  # the env reads the group's stream from Kafka: its Flink job, bounded
                return stream.run(deployed, group, kafka, show, bootstrap)
        job = None if has_dag else features.spark_job(deployed, group)
        if job:
            return features.run(deployed, group, job, show)
    return run(deployed, name, conf, show)
