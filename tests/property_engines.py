"""The engine half of the property "a program that `mlc check` accepts compiles and loads in
every engine" (issue 12), shared by tests/airflow/test_property_engines.py,
tests/spark_flink/test_sf_property.py and bench/bench_property_engines.py.

- `parse_dags`: every generated DAG file of a corpus, parsed by Airflow's DagBag in ONE
  process (tests/airflow/engine/parse_all.py), with what went wrong per bundle.
- `plan_jobs`: every Spark feature job planned by the Spark worker with `--explain` on
  empty input of its source's schema (the input is read and its columns checked, then the
  query analysed, optimised and planned; nothing is written), every Spark step launcher run with a user job that plans a query on the
  launcher's session, and every Flink feature job planned with `--explain` by the Flink
  worker (a Kafka source planned against its `--stand-in`: no Kafka connector jar is loaded,
  so the worker's JVM stays as the Kafka tests expect it). Both workers work side by side.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARSE_ALL = HERE / "airflow" / "engine" / "parse_all.py"

# what a deployment puts in a job's environment for secret("kafka-sasl") and secret("s3-keys")
SECRETS = {
    "MLC_SECRET_KAFKA_SASL": json.dumps({"username": "gen", "password": "p4ss"}),
    "MLC_SECRET_S3_KEYS": json.dumps({"access_key_id": "AKIDGEN", "secret_access_key": "s3cret"}),
}


def parse_dags(session, corpus, work: Path) -> tuple[dict, list[str]]:
    """(the parse_all.py report, problems): each bundle's `airflow/dags` folder parsed in one
    Airflow process; a problem is an import error, a warning, a DAG that does not serialise,
    or a DAG file that gave no DAG."""
    folders = [b["out"] / "airflow" / "dags" for b in corpus.bundles]
    report_path = work / "property-dagbag.json"
    done = session.run([str(PARSE_ALL), str(report_path), *map(str, folders)], timeout=900)
    if done.returncode != 0:
        return {}, [f"parse_all.py failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"]
    report = json.loads(report_path.read_text())
    problems = []
    for b, folder in zip(corpus.bundles, folders, strict=True):
        got = report["folders"][str(folder)]
        where = f"{b['name']} ({b['program'].front})"
        for path, err in got["import_errors"].items():
            problems.append(f"{where}: import error in {Path(path).name}: {err}")
        for path, warns in got["captured_warnings"].items():
            problems.append(f"{where}: warnings in {Path(path).name}: {warns}")
        problems += [f"{where}: DAG warning: {w}" for w in got["dag_warnings"]]
        for dag_id, dag in got["dags"].items():
            if not dag.get("serialised"):
                problems.append(f"{where}: DAG {dag_id} does not serialise: {dag.get('serialisation_error')}")
        files = sorted(p.name for p in folder.glob("*.py") if not p.name.startswith("mlc_airflow_runtime_"))   # no DAG: helpers
        loaded = sorted({Path(d["file"]).name for d in got["dags"].values()})
        if files != loaded:
            problems.append(f"{where}: DAG files {files} gave DAGs from {loaded}")
    return report, problems


def _empty_input(spark, spec: dict, folder: Path) -> Path:
    """An input of the source's declared columns and no row that survives the job's
    filters: Parquet with no row; CSV with only its header; JSON lines cannot carry a
    schema without a row, so one row of nulls (every row without a key is dropped)."""
    src = spec["source"]
    fmt = src["location"].get("format") or "parquet"
    if src["location"]["kind"] == "hive":
        fmt = "parquet"
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        path = folder / "part-0.parquet"
        spark.call(cmd="write_parquet", path=str(path), schema=src["columns"], rows=[])
    elif fmt == "csv":
        path = folder / "part-0.csv"
        path.write_text(",".join(n for n, _t in src["columns"]) + "\n", encoding="utf-8")
    else:
        path = folder / "part-0.json"
        path.write_text(json.dumps({n: None for n, _t in src["columns"]}) + "\n", encoding="utf-8")
    return folder


def _spec(path: Path) -> dict:
    """The literal SPEC of a generated job file, read without importing it."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "SPEC":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path}: no SPEC")


def plan_jobs(spark, flink, corpus, work: Path) -> tuple[dict, list[str]]:
    """({"spark": n, "launchers": n, "flink": n, "seconds": s}, problems)."""
    from sf_support import JobFailed

    t0 = time.perf_counter()
    problems: list[str] = []
    counts = {"spark": 0, "launchers": 0, "flink": 0}

    def failed(what: str, b: dict, e: JobFailed) -> None:
        trace = e.answer.get("trace", "")[-1500:]
        problems.append(f"{b['name']} ({b['program'].front}): {what}: {e.type}: {e.error[:1500]}\n{trace}")

    # Flink: every job's plan, kept two requests ahead of its answers (a worker answers in
    # order; with many requests in flight both pipes fill and the two processes wait on each other)
    flink_jobs = list(corpus.artifacts("flink-feature-job"))
    sent: list[tuple[dict, str]] = []

    def flink_collect() -> None:
        b, rel = sent.pop(0)
        try:
            plan = flink.result()["result"]
            if "mlc_offline" not in str(plan):
                problems.append(f"{b['name']}: Flink job {rel}: the plan has no sink:\n{plan}")
            else:
                counts["flink"] += 1
        except JobFailed as e:
            failed(f"Flink job {rel} --explain", b, e)

    def flink_feed(ahead: int = 2) -> None:
        while sent and flink.pending >= ahead:
            flink_collect()
        while flink_jobs and flink.pending < ahead:
            b, rel = flink_jobs.pop(0)
            spec = _spec(b["out"] / rel)
            argv = ["--explain", "--output", str(work / b["name"] / "flink-out" / spec["group"])]
            if spec["source"]["location"]["kind"] == "kafka":
                argv.append("--stand-in")
            else:
                argv += ["--source", f"{spec['source']['name']}={work / b['name'] / 'flink-in' / spec['group']}"]
            flink.submit(cmd="job", file=str(b["out"] / rel), argv=argv, cwd=str(b["src"]), env=SECRETS)
            sent.append((b, rel))

    # Spark, meanwhile: feature jobs on empty input, then step launchers
    try:
        for b, rel in corpus.artifacts("spark-feature-job"):
            flink_feed()
            spec = _spec(b["out"] / rel)
            data = _empty_input(spark, spec, work / b["name"] / "spark-in" / spec["group"])
            out = work / b["name"] / "spark-out" / spec["group"]
            try:
                plan = spark.call(cmd="job", file=str(b["out"] / rel), cwd=str(b["src"]), env=SECRETS,
                                  argv=["--explain", "--source", f"{spec['source']['name']}={data}",
                                        "--output", str(out)])["result"]
                if "== Physical Plan ==" not in str(plan):
                    problems.append(f"{b['name']}: Spark job {rel}: no physical plan:\n{plan}")
                else:
                    counts["spark"] += 1
            except JobFailed as e:
                failed(f"Spark job {rel}", b, e)
        for b, rel in corpus.artifacts("spark-step-launcher"):
            flink_feed()
            try:
                spark.call(cmd="script", file=str(b["out"] / rel), argv=["--project-root", str(b["src"])],
                           cwd=str(b["src"]), env=SECRETS)
                counts["launchers"] += 1
            except JobFailed as e:
                failed(f"Spark step launcher {rel}", b, e)
    finally:
        while flink_jobs or sent:
            flink_feed()
            if sent and not flink_jobs:
                flink_collect()
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    return counts, problems
