"""The stream job's life on a cluster, as an S3 release's `jobs/streaming.json` tells it
(mlc/deploy/streaming.py): its commands, run as written by the Flink CLI of the flink engine
against a Flink session cluster on 127.0.0.1 (a JobManager and a TaskManager of that engine),
the job reading a Kafka-protocol broker of its own. Start returns once the job is submitted
and it runs; the upgrade stops it with a savepoint and starts it again from that savepoint;
stop ends it with a savepoint; the publisher runs from the same fetched folder.

What the test fills in, as the operator would (the release's `placeholders`): the jars, the
job's id (found by the release's job name) and the savepoint's path (what `flink stop`
printed). What differs from production: the state goes to a local folder, not s3:// (the
cluster has no S3 file system), and the broker's address and the output folder are this
test's (`--bootstrap`, `--output` after the release's arguments). `fetch` is a copy of the
bundle's flink/ folder: tests/deploy/test_deploy_s3.py checks the release's objects are
those files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ENGINES, MLC, ROOT, produce, tansu

from mlc.deploy import engines as E
from mlc.deploy.streaming import streaming
from mlc.run.background import free_port, stop

PYFLINK = ENGINES / "flink" / "lib" / "python3.11" / "site-packages" / "pyflink"
GROUP = "card_velocity"


def _env(conf: Path) -> dict[str, str]:
    java = shutil.which("java")
    assert java, "java is missing: mlc doctor names the install command"
    return {**os.environ, "FLINK_CONF_DIR": str(conf), "FLINK_LOG_DIR": str(conf.parent / "log"),
            "JAVA_HOME": str(Path(java).resolve().parent.parent),
            "PATH": f"{ENGINES / 'flink' / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # the client's python


def _get(rest: str, path: str) -> dict:
    with urllib.request.urlopen(rest + path, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def cluster(engines, tmp_path_factory) -> Iterator[dict]:
    """A Flink session cluster of the flink engine on 127.0.0.1: one JobManager, one TaskManager
    (its `start-foreground` scripts, each in its own process group, stopped at the end)."""
    base = tmp_path_factory.mktemp("flink-cluster")
    conf = base / "conf"
    conf.mkdir()
    for f in (PYFLINK / "conf").glob("log4j*.properties"):
        shutil.copy(f, conf)
    opts = re.search(r"^\s*all: (.*)$", (PYFLINK / "conf" / "config.yaml").read_text(), re.MULTILINE).group(1)
    rest = free_port()
    (conf / "config.yaml").write_text(f"""env: {{java: {{opts: {{all: "{opts}"}}}}}}
jobmanager: {{bind-host: 127.0.0.1, rpc: {{address: 127.0.0.1, port: {free_port()}}}, memory: {{process: {{size: 768m}}}}}}
taskmanager: {{bind-host: 127.0.0.1, host: 127.0.0.1, numberOfTaskSlots: 2, memory: {{process: {{size: 1024m}}}}}}
rest: {{address: 127.0.0.1, bind-address: 127.0.0.1, port: {rest}}}
parallelism: {{default: 1}}
""")
    env = _env(conf)
    procs = []
    for role in ("jobmanager", "taskmanager"):
        with (base / f"{role}.out").open("wb") as out:
            procs.append(subprocess.Popen(["bash", str(PYFLINK / "bin" / f"{role}.sh"), "start-foreground"], env=env,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
    url = f"http://127.0.0.1:{rest}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if _get(url, "/overview")["taskmanagers"] == 1:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "".join((base / f"{r}.out").read_text(errors="replace")[-1500:] for r in ("jobmanager", "taskmanager"))
                pytest.fail(f"the Flink session cluster did not come up at {url}:\n{logs}")
            time.sleep(1)
        yield {"rest": url, "env": env, "base": base}
    finally:
        for p in procs:
            stop(p, within=30)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[dict, Path]:
    """jobs/streaming.json of the fraud example's env `stream` (its source read from Kafka), and
    the working folder its `fetch` filled (flink/ of the release)."""
    base = tmp_path_factory.mktemp("stream-release")
    bundle = base / "bundle"
    done = subprocess.run([*MLC, "compile", "--env", "stream", "--target", "flink", "--out", str(bundle)],
                          cwd=ROOT / "examples" / "fraud", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    texts = {a["path"]: (bundle / a["path"]).read_text() for a in manifest["artifacts"] if a.get("target")}
    doc = json.loads(streaming(manifest, texts, "s3://bucket/fraud/releases/000001/", f"{(base / 'state').as_uri()}/"))
    work = base / "work"
    work.mkdir()
    assert doc["fetch"][-1] == "flink/"
    shutil.copytree(bundle / "flink", work / "flink")
    return doc, work


def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    return [str(PYFLINK / "bin" / "flink") if a == "flink" else values.get(a, a) for a in argv]


def _run(cluster: dict, work: Path, argv: list[str], timeout: float = 240) -> str:
    try:
        done = subprocess.run(argv, cwd=work, env=cluster["env"], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv[:6])} ... did not return within {timeout:.0f} s")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def _jobs(cluster: dict, name: str) -> list[dict]:
    return [j for j in _get(cluster["rest"], "/jobs/overview")["jobs"] if j["name"] == name]


def _running(cluster: dict, name: str, within: float = 120) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        running = [j for j in _jobs(cluster, name) if j["state"] == "RUNNING" and j["tasks"]["running"] == j["tasks"]["total"]]
        if running:
            assert len(running) == 1, running
            return running[0]["jid"]
        time.sleep(1)
    pytest.fail(f"no running job named {name}: {_jobs(cluster, name)}")


def test_the_release_starts_upgrades_and_stops_the_stream_job_on_a_cluster(cluster, release, tmp_path):
    doc, work = release
    [job] = doc["jobs"]
    assert job["group"] == GROUP and set(doc["placeholders"]) >= {"JOB_ID", "SAVEPOINT_PATH", "KAFKA_JARS"}
    output = tmp_path / "offline"
    here = ["--output", output.as_uri()]
    values = {"KAFKA_JARS": ";".join(j.as_uri() for j in E.jars(ENGINES, "flink"))}
    now = datetime.now(UTC)
    events = [{"txn_id": f"t-{i}", "card_id": "c-x", "merchant_id": "m-bakery", "amount_cents": 100 + i,
               "country": "FR", "channel": "pos", "status": "approved",
               "ts": (now - timedelta(minutes=40 - 5 * i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")} for i in range(3)]
    with tansu(tmp_path / "tansu.log") as broker:
        here += ["--bootstrap", broker]
        assert produce(broker, events) == 3

        # start: returns once submitted (the client does not wait for an unbounded job's end)
        out = _run(cluster, work, _fill(job["start"], values) + here)
        assert f"{GROUP}: submitted job" in out, out[-2000:]
        first = _running(cluster, job["name"])
        # it reads the topic: windows the watermark passed are committed at a checkpoint
        deadline = time.monotonic() + 150
        while not list((output / "_mlc_stream").rglob("part-*")) and time.monotonic() < deadline:
            time.sleep(2)
        assert list((output / "_mlc_stream").rglob("part-*")), "the job committed no rows"

        # upgrade: stop with a savepoint under the release's savepoints, start from it
        stop_cmd, start_cmd = job["upgrade"]
        out = _run(cluster, work, _fill(stop_cmd, {**values, "JOB_ID": first}))
        savepoint = re.search(r"Savepoint completed\. Path: (\S+)", out).group(1)
        assert savepoint.startswith(stop_cmd[3].rstrip("/").replace("file:///", "file:/")), (savepoint, stop_cmd)
        out = _run(cluster, work, _fill(start_cmd, {**values, "SAVEPOINT_PATH": savepoint}) + here)
        second = _running(cluster, job["name"])
        assert second != first
        restored = _get(cluster["rest"], f"/jobs/{second}/checkpoints")["latest"]["restored"]
        assert restored["is_savepoint"] and restored["external_path"] == savepoint, restored

        # stop: with a savepoint, and nothing of the job runs any more
        _run(cluster, work, _fill(job["stop"], {**values, "JOB_ID": second}))
        states = {j["jid"]: j["state"] for j in _jobs(cluster, job["name"])}
        assert states == {first: "FINISHED", second: "FINISHED"}, states

    # the publisher, from the same folder (here without a feature server: the offline table only)
    publisher = job["publisher"]
    done = subprocess.run([str(E.program(ENGINES, "flink")), publisher["path"], "--offline", str(output)], cwd=work,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(output.rglob("*.parquet"))
    assert publisher["every_ms"] == 30000 and publisher["run"][-1] == "FEATURE_SERVER_URL"
