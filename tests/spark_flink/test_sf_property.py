"""Issue 12's property, Spark and Flink half: every Spark and Flink job of a generated
program that `mlc check` accepts plans in its engine.

Programs come from tests/program_gen.py (both front ends; batch and stream groups; local,
prod and staging envs). Every Spark feature job runs on empty input of its source's schema
(Spark analyses, plans and executes the query and writes an empty offline table); every
Spark step launcher runs a user job that plans a query on its session; every Flink feature
job is planned with `--explain` (Kafka sources against their datagen `--stand-in`).
The Airflow half is tests/airflow/test_property_engines.py.

CI runs a sample (MLC_PROPERTY_PROGRAMS, default 15 programs); the full count:
`MLC_PROPERTY_PROGRAMS=300 .venv/bin/python -m pytest tests/spark_flink/test_sf_property.py`
or `python bench/bench_property_engines.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from program_gen import build_corpus
from property_engines import plan_jobs

COUNT = int(os.environ.get("MLC_PROPERTY_PROGRAMS", "15"))


def test_every_spark_and_flink_job_of_an_accepted_program_plans(spark, flink, tmp_path_factory):
    base = tmp_path_factory.mktemp("property")
    corpus = build_corpus(COUNT, base / "programs")
    print(corpus.summary())
    assert not corpus.failures, "accepted by mlc check, but not compiled:\n" + "\n\n".join(corpus.failures)
    assert corpus.accepted >= COUNT // 2, f"the generator is too often rejected: {corpus.summary()}"
    counts, problems = plan_jobs(spark, flink, corpus, base / "work")
    print(counts)
    assert not problems, f"{len(problems)} job(s) failed in their engine:\n\n" + "\n\n".join(problems[:10])
    assert counts["spark"] == len(corpus.artifacts("spark-feature-job")) > 0
    assert counts["launchers"] == len(corpus.artifacts("spark-step-launcher")) > 0
    assert counts["flink"] == len(corpus.artifacts("flink-feature-job")) > 0
