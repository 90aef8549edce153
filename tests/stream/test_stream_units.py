"""The streaming pieces that need no engine: the Flink runtime's Kafka options, the runner's
reading of a compiled job, and `mlc doctor`'s view of the kafka engine and the Flink jars."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import MLC, ROOT

from mlc.deploy import engines as E
from mlc.deploy.apply import CURRENT
from mlc.deploy.config import DeployConfig
from mlc.run.deployed import Deployed
from mlc.run.features import feature_job
from mlc.run.stream import job_spec, kafka_job

RUNTIME = ROOT / "mlc" / "targets" / "flink" / "templates" / "runtime" / "mlc_flink_runtime.py"


def _runtime():
    spec = importlib.util.spec_from_file_location("mlc_flink_runtime_under_test", RUNTIME)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compile(out: Path, env: str) -> Path:
    done = subprocess.run([*MLC, "compile", "--env", env, "--target", "flink", "--out", str(out)],
                          cwd=ROOT / "examples" / "fraud", capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return _compile(tmp_path_factory.mktemp("fraud-stream"), "stream")


@pytest.mark.parametrize(("env", "kafka"), [("stream", True), ("local", False)])
def test_mlc_run_takes_the_flink_job_only_where_the_env_reads_kafka(tmp_path, env, kafka):
    root = tmp_path / "deploy"
    _compile(root / CURRENT, env)
    manifest = json.loads((root / CURRENT / "manifest.json").read_text())
    deployed = Deployed(DeployConfig(env, "local", ROOT, root=root), "000001", manifest, {})
    assert kafka_job(deployed, "card_velocity") == ("flink/features/card_velocity.py" if kafka else None)
    assert feature_job(deployed, "flink-publisher", "payments.fraud.card_velocity") == "flink/publish/card_velocity.py"


def test_the_stream_env_binds_the_source_to_the_local_broker(bundle):
    spec = job_spec(bundle / "flink" / "features" / "card_velocity.py")
    loc = spec["source"]["location"]
    assert (loc["kind"], loc["topic"], loc["bootstrap"], loc["security_protocol"]) == (
        "kafka", "card-transactions", "127.0.0.1:19092", "PLAINTEXT")
    assert "credentials" not in loc or loc["credentials"] is None
    # no path of this machine in a compiled file: the jars and the broker's port come at run time
    text = (bundle / "flink" / "features" / "card_velocity.py").read_text()
    assert ".engines" not in text and "jars" not in spec


def test_job_options_bootstrap_and_until_offsets(bundle):
    rt = _runtime()
    spec = job_spec(bundle / "flink" / "features" / "card_velocity.py")
    args = rt.parse_args(spec, ["--bootstrap", "127.0.0.1:4242", "--until-offsets", "partition:0,offset:11"])
    assert (args.bootstrap, args.until_offsets) == ("127.0.0.1:4242", "partition:0,offset:11")
    plain = rt.parse_args(spec, [])
    assert (plain.bootstrap, plain.until_offsets) == (None, None)


def test_publisher_online_until_is_a_utc_time(bundle):
    rt = _runtime()
    spec = job_spec(bundle / "flink" / "publish" / "card_velocity.py")
    args = rt.publish_args(spec, ["--online-until", "2024-01-01T00:05:00.000000Z"])
    assert args.online_until == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert rt.publish_args(spec, []).online_until is None


def _fake_engines(tmp_path: Path) -> Path:
    """A copy of the stamps and programs doctor reads, for the kafka and flink engines."""
    fake = tmp_path / "engines"
    for name in ("kafka", "flink"):
        (fake / name / "bin").mkdir(parents=True)
        (fake / name / "bin" / "python").touch()
        digest = hashlib.sha256((ROOT / "engines" / f"{name}.txt").read_bytes()).hexdigest()
        (fake / name / E.STAMP).write_text(digest + "\n")
    (fake / "kafka" / "bin" / "tansu").touch()
    jars = fake / "flink" / "jars"
    jars.mkdir()
    for jar in E.KAFKA_JARS:
        (jars / jar).touch()
    (jars / E.STAMP).write_text(hashlib.sha256((ROOT / "engines" / "flink.jars").read_bytes()).hexdigest())
    return fake


def test_doctor_needs_the_broker_binary_and_the_flink_jars(tmp_path):
    fake = _fake_engines(tmp_path)
    assert E.status(fake, "kafka").state == "ready" and E.status(fake, "flink").state == "ready"
    assert E.jars(fake, "flink") == [fake / "flink" / "jars" / j for j in E.KAFKA_JARS]
    (fake / "kafka" / "bin" / "tansu").unlink()
    (fake / "flink" / "jars" / "kafka-clients.jar").unlink()
    assert E.status(fake, "kafka").state == "stale" and E.status(fake, "flink").state == "stale"
    shutil.rmtree(fake / "flink" / "jars")
    assert E.status(fake, "flink").state == "stale"
    done = subprocess.run([*MLC, "doctor", "--engines", str(fake)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert re.search(r"!! flink +stale", done.stdout) and re.search(r"!! kafka +stale", done.stdout)
