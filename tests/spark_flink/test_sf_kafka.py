"""The prod (Kafka) Flink jobs, validated by Flink's own planner without a broker.

- With flink-connector-kafka and kafka-clients on pipeline.jars (--jars), `--explain`
  plans the real job: the Kafka table factory checks the topic, servers, startup mode and
  security options, the JSON format factory its options, the planner the watermark, the
  windows and the sink.
- Without the jars (this test runs first: jars once on pipeline.jars stay loaded in the
  worker's JVM), the same options fail to plan ("Could not find any factory for
  identifier 'kafka'"): the check above is real.
- `--explain --stand-in` plans the same schema, watermark and queries against a datagen
  table made `LIKE` the Kafka one: what is left for formats whose jar cannot be had here
  (Avro), whose options are then only parsed into the catalog.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sf_support import ROOT, JobFailed, compile_project, copy_project

PROJECT = Path(__file__).resolve().parent / "projects" / "consistency"


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    root = tmp_path_factory.mktemp("kafka")
    fraud = compile_project(copy_project(ROOT / "examples" / "fraud", root / "fraud"), "prod", root / "fraud-build",
                            targets=("flink",))
    project = copy_project(PROJECT, root / "consistency")
    stats = compile_project(project, "prod", root / "stats-build", targets=("flink",))
    flow = project / "stats.flow"
    # Avro is read from Kafka only: the variant declares no local env, which reads files
    text = flow.read_text().replace("format = json", "format = avro")
    flow.write_text(re.sub(r"env local \{.*?\n\}\n", "", text, count=1, flags=re.S))
    avro = compile_project(project, "prod", root / "avro-build", targets=("flink",))
    return {"fraud": fraud / "flink/features/card_velocity.py", "stats": stats / "flink/features/user_stats.py",
            "avro": avro / "flink/features/user_stats.py", "cwd": root}


SECRETS = {  # what the deployment would put in the job's environment (secret("name") -> MLC_SECRET_NAME)
    "MLC_SECRET_FRAUD_KAFKA_SASL": json.dumps({"username": "fraud", "password": "p4ss"}),
    "MLC_SECRET_EVENTS_SASL": json.dumps({"username": "events", "password": "s3cret", "mechanism": "SCRAM-SHA-256"}),
}


def explain(flink, job: Path, cwd: Path, *argv: str) -> str:
    return flink.call(cmd="job", file=str(job), argv=["--explain", *argv], cwd=str(cwd), env=SECRETS)["result"]


def test_without_the_jars_the_kafka_table_does_not_plan(flink, prod):
    with pytest.raises(JobFailed) as failed:
        explain(flink, prod["stats"], prod["cwd"])
    assert "Could not find any factory for identifier 'kafka'" in failed.value.error


def test_prod_kafka_job_plans_with_the_kafka_connector(flink, kafka_jars, prod):
    jars = ";".join(p.as_uri() for p in kafka_jars)
    for name in ("fraud", "stats"):
        plan = explain(flink, prod[name], prod["cwd"], "--jars", jars)
        assert "TableSourceScan(table=[[default_catalog, default_database, mlc_source" in plan, plan
        assert "WatermarkAssigner" in plan or "watermark=" in plan.lower(), plan
        assert "HOP(" in plan or "HopWindow" in plan or "window=[HOP" in plan, plan
        assert "Sink(table=[default_catalog.default_database.mlc_offline]" in plan, plan


def test_avro_is_validated_against_a_stand_in(flink, kafka_jars, prod):
    jars = ";".join(p.as_uri() for p in kafka_jars)
    with pytest.raises(JobFailed) as failed:  # no Avro format jar here
        explain(flink, prod["avro"], prod["cwd"], "--jars", jars)
    assert "avro" in failed.value.error.lower()
    plan = explain(flink, prod["avro"], prod["cwd"], "--stand-in")
    assert "mlc_source" in plan and "Sink(table=[default_catalog.default_database.mlc_offline]" in plan
