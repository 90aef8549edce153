"""Issue 12's property at full count: hypothesis-generated programs (tests/program_gen.py)
are checked with the real `mlc check`; each accepted one is compiled for every env and
target; every DAG is parsed by Airflow's DagBag (one process), every Spark feature job
planned on empty input (`--explain`), every Spark step launcher run, and every Flink job
planned (`--explain`, Kafka sources against their `--stand-in`). Prints the figures and
fails (exit 1) on any program that check accepts and a compile or an engine rejects.

    python bench/bench_property_engines.py [--programs 300] [--seed 0] [--keep DIR]

Needs the engine environments (bash scripts/engines.sh airflow spark flink). The same
programs as the tests for the same count and seed (the tests' CI sample is 15:
`MLC_PROPERTY_PROGRAMS=300 pytest tests/airflow/test_property_engines.py
tests/spark_flink/test_sf_property.py` is the other way to run the full count).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "airflow"), str(ROOT / "tests" / "spark_flink")]

from airflow_support import AIRFLOW_PY, AirflowSession
from program_gen import build_corpus
from property_engines import parse_dags, plan_jobs
from sf_support import Worker, build_engines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--programs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="mlc-property-"))
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    build_engines()
    logs = base / "logs"
    logs.mkdir(exist_ok=True)
    workers = {name: Worker(name, logs) for name in ("spark", "flink")}  # their JVMs start meanwhile
    try:
        corpus = build_corpus(args.programs, base / "programs", seed=args.seed)
        print(corpus.summary(), flush=True)
        session = AirflowSession(AIRFLOW_PY, base / "airflow-home", base / "airflow-dags", base / "airflow-work")
        for d in (session.home, session.dags, session.work):
            d.mkdir(exist_ok=True)
        t = time.perf_counter()
        report, dag_problems = parse_dags(session, corpus, session.work)
        dags = sum(len(f["dags"]) for f in report.get("folders", {}).values())
        print(f"airflow: {dags} DAGs of {len(corpus.bundles)} bundles parsed in one process, "
              f"{time.perf_counter() - t:.1f}s ({report.get('import_seconds', 0):.1f}s of it importing airflow); "
              f"{len(dag_problems)} problems", flush=True)
        t = time.perf_counter()
        for w in workers.values():
            w.wait_ready()
        print(f"engines ready {time.perf_counter() - t:.1f}s after the DAGs were parsed", flush=True)
        counts, job_problems = plan_jobs(workers["spark"], workers["flink"], corpus, base / "work")
        print(f"spark: {counts['spark']} feature jobs planned, {counts['launchers']} step launchers run; "
              f"flink: {counts['flink']} jobs planned; {counts['seconds']}s side by side; "
              f"{len(job_problems)} problems", flush=True)
    finally:
        for w in workers.values():
            w.close()
    problems = corpus.failures + dag_problems + job_problems
    for p in problems[:20]:
        print("\nPROBLEM:", p)
    print(f"\ntotal {time.perf_counter() - t0:.1f}s; work folder {base}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
