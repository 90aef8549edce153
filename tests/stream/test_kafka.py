"""The broker address of stream runs and `mlc kafka up/down` (no Flink): where a run's broker
address comes from (--bootstrap > $MLC_KAFKA_BOOTSTRAP > `kafka_bootstrap` of [deploy.ENV] >
the broker `mlc kafka up` runs > the program's binding), named when no broker answers; and the
kafka engine's Tansu started by `mlc kafka up`, one record produced and consumed through it with
the kafka engine's client, stopped by `mlc kafka down` with its whole process group."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ENGINES, MLC, PRODUCE, ROOT

from mlc.deploy.apply import CURRENT
from mlc.deploy.config import ConfigError, DeployConfig, load
from mlc.deploy.local import engine_environment
from mlc.run import kafka
from mlc.run.deployed import Deployed, find
from mlc.run.stream import kafka_job, run

CONSUME = """
import sys
from kafka import KafkaConsumer
consumer = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], auto_offset_reset="earliest",
                         consumer_timeout_ms=20000)
for record in consumer:
    print(record.value.decode())
    break
consumer.close()
"""


def _dead_port() -> int:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_kafka_bootstrap_is_a_deploy_setting_written_into_deploy_env(tmp_path):
    config = {"deploy": {"stream": {"root": "d", "kafka_bootstrap": "127.0.0.1:9092,127.0.0.2:9093"}}}
    settings = load(tmp_path, config, "stream")
    assert settings.kafka_bootstrap == "127.0.0.1:9092,127.0.0.2:9093"
    assert engine_environment(settings)["MLC_KAFKA_BOOTSTRAP"] == "127.0.0.1:9092,127.0.0.2:9093"
    assert "MLC_KAFKA_BOOTSTRAP" not in engine_environment(load(tmp_path, {}, "local"))
    with pytest.raises(ConfigError, match=r"`kafka_bootstrap` of \[deploy.stream\] must be a broker's \"host:port\""):
        load(tmp_path, {"deploy": {"stream": {"root": "d", "kafka_bootstrap": "tcp://127.0.0.1"}}}, "stream")
    with pytest.raises(ConfigError, match="did you mean `kafka_bootstrap`"):
        load(tmp_path, {"deploy": {"stream": {"root": "d", "kafka_bootstap": "127.0.0.1:9092"}}}, "stream")


def test_the_address_comes_from_the_first_place_that_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv(kafka.VARIABLE, raising=False)
    bare = Deployed(DeployConfig("stream", "local", tmp_path, root=tmp_path / "d"), "000001", {}, {})
    assert kafka.bootstrap(bare, "127.0.0.1:19092") == (
        "127.0.0.1:19092", "the binding of the stream in env `stream` (its `kafka(...)` in the program)")
    record = kafka.folder(bare) / kafka.RECORD
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"bootstrap": "127.0.0.1:4000", "pid": os.getpid()}))  # a live pid: it runs
    assert kafka.bootstrap(bare, "127.0.0.1:19092") == ("127.0.0.1:4000", f"the broker `mlc kafka up` runs ({record})")
    configured = Deployed(DeployConfig("stream", "local", tmp_path, root=tmp_path / "d", kafka_bootstrap="h:3000"),
                          "000001", {}, {})
    assert kafka.bootstrap(configured, "x:1")[1] == "from `kafka_bootstrap` of [deploy.stream] in mlc.toml"
    monkeypatch.setenv(kafka.VARIABLE, "h:2000")
    assert kafka.bootstrap(configured, "x:1") == ("h:2000", "from $MLC_KAFKA_BOOTSTRAP")
    assert kafka.bootstrap(configured, "x:1", "h:1000") == ("h:1000", "given by --bootstrap")
    record.write_text(json.dumps({"bootstrap": "127.0.0.1:4000", "pid": 2**22 + 1}))  # not running: forgotten
    monkeypatch.delenv(kafka.VARIABLE)
    assert kafka.bootstrap(bare, "127.0.0.1:19092")[0] == "127.0.0.1:19092" and not record.exists()


def test_a_run_that_reaches_no_broker_names_where_the_address_came_from(engines, tmp_path, monkeypatch):
    """The fraud example's env `stream`, compiled (no deploy), its broker from the deploy config."""
    monkeypatch.delenv(kafka.VARIABLE, raising=False)
    root = tmp_path / "deploy"
    done = subprocess.run([*MLC, "compile", "--env", "stream", "--target", "flink", "--out", str(root / CURRENT)],
                          cwd=ROOT / "examples" / "fraud", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((root / CURRENT / "manifest.json").read_text())
    port = _dead_port()
    config = DeployConfig("stream", "local", ROOT / "examples" / "fraud", root=root, engines=ENGINES,
                          kafka_bootstrap=f"127.0.0.1:{port}")
    deployed = Deployed(config, "000001", manifest, {"AIRFLOW_HOME": str(tmp_path / "airflow"),
                                                     "MLC_ENGINES": str(ENGINES)})
    outcome = run(deployed, "card_velocity", kafka_job(deployed, "card_velocity"), lambda event, step: None)
    assert outcome.state == "failed" and [s.task for s in outcome.steps] == ["offsets card-transactions"]
    log = outcome.log.read_text()
    assert f"error: no Kafka broker answers at 127.0.0.1:{port}" in log, log
    assert (f"the broker address 127.0.0.1:{port} is from `kafka_bootstrap` of [deploy.stream] in mlc.toml; "
            f"start a broker: mlc kafka up --env stream --to {root}") in log, log


def _project(tmp_path: Path) -> Path:
    """A project deployed (as far as `mlc kafka up` looks) to PROJECT/deploy/local."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlc.toml").write_text(f'[deploy.local]\nengines = "{ENGINES}"\n')
    (project / "p.flow").write_text("package p\n\nenv local { }\n")
    release = project / "deploy" / "local" / "releases" / "000001"
    release.mkdir(parents=True)
    (release / "manifest.json").write_text('{"artifacts": []}\n')
    (project / "deploy" / "local" / "deploy.env").write_text(f"MLC_ENGINES={ENGINES}\n")
    os.symlink("releases/000001", project / "deploy" / "local" / CURRENT)
    return project


def test_kafka_up_runs_a_broker_stream_runs_read_and_down_stops_it(engines, tmp_path, monkeypatch):
    monkeypatch.delenv(kafka.VARIABLE, raising=False)
    project = _project(tmp_path)
    t0 = time.monotonic()
    up = subprocess.Popen([*MLC, "kafka", "up"], cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    deployed = find(project, {"deploy": {"local": {"engines": str(ENGINES)}}}, "local")
    record = kafka.folder(deployed) / kafka.RECORD
    try:
        while not record.exists():
            assert up.poll() is None, up.stdout.read()
            assert time.monotonic() - t0 < 60, "mlc kafka up: no broker recorded within 60 s"
            time.sleep(0.1)
        info = json.loads(record.read_text())
        address, source = kafka.bootstrap(deployed, "127.0.0.1:19092")
        assert (address, source) == (info["bootstrap"], f"the broker `mlc kafka up` runs ({record})")
        assert address.startswith("127.0.0.1:")
        again = subprocess.run([*MLC, "kafka", "up"], cwd=project, capture_output=True, text=True, check=False)
        assert again.returncode == 1 and f"already running at {address}" in again.stderr, again.stderr
        produced = subprocess.run([str(ENGINES / "kafka" / "bin" / "python"), str(PRODUCE), address, "t-up"],
                                  input='{"n": 1}\n', capture_output=True, text=True, timeout=60, check=False)
        assert produced.returncode == 0 and produced.stdout.strip() == "1", produced.stderr
        consumed = subprocess.run([str(ENGINES / "kafka" / "bin" / "python"), "-c", CONSUME, address, "t-up"],
                                  capture_output=True, text=True, timeout=60, check=False)
        assert consumed.stdout.strip() == '{"n": 1}', consumed.stderr
        broker_group = os.getpgid(int(subprocess.run(["pgrep", "-P", str(up.pid)], capture_output=True, text=True)
                                      .stdout.split()[0]))
        down = subprocess.run([*MLC, "kafka", "down"], cwd=project, capture_output=True, text=True, check=False)
        assert down.returncode == 0 and f"stopped the Kafka broker at {address}" in down.stderr, down.stderr
        assert up.wait(timeout=30) == 0
        assert not record.exists()
        with pytest.raises(ProcessLookupError):  # the broker's whole process group is gone
            os.killpg(broker_group, 0)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), timeout=1).close()
        print(f"\nmlc kafka up .. down: {time.monotonic() - t0:.1f}s")
    finally:
        if up.poll() is None:
            up.terminate()
            up.wait(timeout=30)
    done = subprocess.run([*MLC, "kafka", "down"], cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "no Kafka broker runs for env `local`" in done.stderr
