"""`mlc run features.NAME` of a stream group whose source the deployed env binds to Kafka (the
fraud example's env `stream`): a bounded run of the group's Flink job over the topic, then its
publisher pushing the rows to the online store through a Feast feature server (docs/run.md,
"Streaming"). Steps:

1. `offsets TOPIC`: the topic's end offsets now, found by the kafka engine's client
   (`templates/kafka_end_offsets.py`). The job reads from the earliest offsets up to these and
   ends: every window fires and its rows are committed (a job that is cancelled instead would
   lose the rows of its last checkpoint interval and the windows the watermark has not passed).
2. `flink GROUP`: the job in the Flink engine, with the engine's Kafka connector jars
   (`ENGINES/flink/jars/`) as pipeline.jars, the broker `mlc.run.kafka.bootstrap` finds
   (--bootstrap, `$MLC_KAFKA_BOOTSTRAP`, `kafka_bootstrap` of the deploy env, `mlc kafka up`'s
   broker, else the env's binding), parallelism 1. Its JSON lines go to a scratch folder
   `ROOT/stream/GROUP/`, emptied at each run: a bounded run recomputes the windows of the
   topic's whole history, so writing them into the offline table would duplicate the rows an
   earlier run wrote there (the offline table is the Spark backfill's, or the cluster job's).
3. `feature server`: `feast serve` of the release's repository on 127.0.0.1 (started before
   the job, so that it comes up while the job runs) answers /health.
4. `publish GROUP`: the publisher pushes the rows of windows ending by the start of the run
   plus one slide — the windows a running job would have fired by now; a bounded run also
   fires those ending up to a window's length after the last event, which would put features
   of the future online — in order, so each entity's latest window is written last.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from mlc.deploy import engines, streaming
from mlc.run import kafka as broker
from mlc.run.background import free_port, stop
from mlc.run.deployed import Deployed, RunError
from mlc.run.features import Steps, feature_job
from mlc.run.flow import Outcome, Step

END_OFFSETS = Path(__file__).resolve().parent / "templates" / "kafka_end_offsets.py"
READY_WITHIN = 120.0


def job_spec(path: Path) -> dict:
    """The literal `SPEC` of a generated Flink job or publisher."""
    found = streaming.spec(path.read_text(encoding="utf-8"))
    if found is None:
        raise RunError(f"{path} has no SPEC: is it a Flink job mlc generated?")
    return found


def kafka_job(deployed: Deployed, group: str) -> str | None:
    """The Flink job of `group` when the deployed env binds its source to Kafka, else None."""
    job = feature_job(deployed, "flink-feature-job", group)
    if job is None or job_spec(deployed.bundle / job)["source"]["location"]["kind"] != "kafka":
        return None
    return job


def _jars(deployed: Deployed) -> list[Path]:
    root = Path(deployed.env.get("MLC_ENGINES", str(deployed.config.engines)))
    found = engines.jars(root, "flink")
    if not found or not all(j.is_file() for j in found):
        raise RunError(f"the Flink engine's Kafka connector jars are missing ({root / 'flink' / 'jars'})",
                       help="install them: bash scripts/engines.sh flink (see `mlc doctor`)")
    return found


@contextmanager
def _feature_server(steps: Steps) -> Iterator[tuple[str, subprocess.Popen]]:
    """`feast serve` of the release's repository on a free port of 127.0.0.1, its output in
    the run's log; stopped (its process group) on exit."""
    env = steps.env
    url = f"http://127.0.0.1:{free_port()}"
    with steps.log.open("ab") as out:
        proc = subprocess.Popen([env["MLC_FEAST"], "-c", env["MLC_FEAST_REPO"], "serve", "-h", "127.0.0.1",
                                 "-p", url.rsplit(":", 1)[1], "--no-access-log"], env=env,
                                cwd=steps.deployed.config.project_root, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield url, proc
    finally:
        stop(proc)


def _ready(url: str, proc: subprocess.Popen, out: BinaryIO) -> bool:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    out.write(f"the feature server at {url} did not answer /health (exit {proc.poll()})\n".encode())
    return False


def run(deployed: Deployed, group: str, job: str, show: Callable[[str, Step], None],
        bootstrap_flag: str | None = None) -> Outcome:
    spec = job_spec(deployed.bundle / job)
    publisher = feature_job(deployed, "flink-publisher", group)
    if publisher is None:
        raise RunError(f"release {deployed.release} has a Flink job for `{group}` but no publisher")
    flink, kafka, jars = deployed.engine("flink"), deployed.engine("kafka"), _jars(deployed)
    loc = spec["source"]["location"]
    steps = Steps(deployed, f"features.{group}", show)
    bootstrap, source = broker.bootstrap(deployed, loc["bootstrap"], bootstrap_flag)
    scratch = deployed.config.root / "stream" / spec["group"]
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    until = datetime.now(UTC) + timedelta(milliseconds=spec["slide_ms"])
    offsets: list[str] = []

    def end_offsets(out: BinaryIO) -> bool:
        done = subprocess.run([str(kafka), str(END_OFFSETS), bootstrap, loc["topic"]], env=steps.env,
                              capture_output=True, check=False, timeout=120)
        out.write(done.stdout + done.stderr)
        if done.returncode == 1:  # no broker answers: say where its address came from
            out.write(broker.where_from(bootstrap, source, deployed).encode())
        offsets.append(done.stdout.decode().strip())
        return done.returncode == 0

    if not steps.call(f"offsets {loc['topic']}", end_offsets):
        return steps.outcome
    with _feature_server(steps) as (url, server):
        (steps.run(f"flink {spec['group']}", [str(flink), str(deployed.bundle / job), "--bootstrap", bootstrap,
                                             "--until-offsets", offsets[0], "--parallelism", "1",
                                             "--jars", ";".join(j.as_uri() for j in jars), "--output", str(scratch)])
         and steps.call("feature server", lambda out: _ready(url, server, out))
         and steps.run(f"publish {spec['group']}", [str(flink), str(deployed.bundle / publisher), "--offline",
                                                   str(scratch), "--feature-server", url, "--online-until",
                                                   until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")]))
    return steps.outcome
