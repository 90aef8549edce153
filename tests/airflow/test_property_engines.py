"""Issue 12's property, Airflow half: every DAG file of a generated program that `mlc check`
accepts loads in Airflow's DagBag with no import error and no warning, and serialises.

Programs come from tests/program_gen.py: both front ends (.flow and .flow.yaml, and both in
one package), empty flows (one step), every schedule form (presets, `every N` up to 3650d,
cron strings at their edges), boundary numbers (retries 0 and 100, timeouts and delays up to
3650d, names up to Airflow's 250-character ids), params of every type, foreach, when, gate,
emits, triggers, batch and stream feature groups, and local, prod and staging envs. Each is
run through the real check (`mlc.deploy.bundle.check`); a program with errors is discarded
(and counted), an accepted one is compiled for every env with every target (a closed bundle),
and all the bundles' DAG folders are parsed in ONE Airflow process (parse_all.py) of the
session's AIRFLOW_HOME. The Spark and Flink half is tests/spark_flink/test_sf_property.py.

CI runs a sample (MLC_PROPERTY_PROGRAMS, default 15 programs); the full count:
`MLC_PROPERTY_PROGRAMS=300 .venv/bin/python -m pytest tests/airflow/test_property_engines.py`
or `python bench/bench_property_engines.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from program_gen import build_corpus
from property_engines import parse_dags

COUNT = int(os.environ.get("MLC_PROPERTY_PROGRAMS", "15"))


def test_every_dag_of_an_accepted_program_loads_in_airflow(airflow, tmp_path_factory):
    base = tmp_path_factory.mktemp("property-airflow")
    corpus = build_corpus(COUNT, base / "programs")
    print(corpus.summary())
    assert not corpus.failures, "accepted by mlc check, but not compiled:\n" + "\n\n".join(corpus.failures)
    assert corpus.accepted >= COUNT // 2, f"the generator is too often rejected: {corpus.summary()}"
    report, problems = parse_dags(airflow, corpus, airflow.work)
    assert not problems, f"{len(problems)} problem(s) in Airflow:\n\n" + "\n\n".join(problems[:10])
    dags = sum(len(f["dags"]) for f in report["folders"].values())
    assert dags == len(corpus.artifacts("airflow-dag")) > 0
    print(f"{dags} DAGs parsed in {sum(f['fill_seconds'] for f in report['folders'].values()):.1f}s")
