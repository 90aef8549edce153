"""Start-up and run time of each example's generated Spark and Flink jobs, and the share
of it spent starting the engine (the JVM, its Python gateway and the engine's context).

For each job, run cold as a fresh process (what spark-submit or a Flink client pays on
every run), timed in three parts inside that process:
- start-up: from process start to an engine ready to take the job (`session()`: a
  local[2] SparkSession; `environment()`: a Flink TableEnvironment), imports included;
- run: the job itself (`run(...)`; Flink: `build(...)` and `execute().wait()`);
- total: the whole process, wall clock, exit included.
Then warm: the same job in a process whose engine is already up
(tests/spark_flink/worker.py), i.e. what a long-lived driver would pay.
Inputs are the small hand-made ones of the tests.

    python bench/bench_engines.py [--repeat N] [--out bench/results/engines.json]

Needs the engine environments (bash scripts/engines.sh spark flink). The figures depend
on the machine's load: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ROOT / ".engines"
sys.path.insert(0, str(ROOT / "tests" / "spark_flink"))

# Runs one generated job in this fresh process and prints the split of its time as JSON.
DRIVER = """
import importlib.util, json, sys, time
t0 = time.perf_counter()
engine, path, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
spec = importlib.util.spec_from_file_location("job", path)
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
args = job.parse_args(argv)
if engine == "spark":
    session = job.session(args)
    t1 = time.perf_counter()
    job.run(session, args)
    t2 = time.perf_counter()
    session.stop()
else:
    t_env = job.environment(args)
    t1 = time.perf_counter()
    job.build(t_env, args).execute().wait()
    t2 = time.perf_counter()
print("@@bench@@" + json.dumps({"startup": t1 - t0, "run": t2 - t1}))
"""


def jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def inputs(example: str, project: Path, worker) -> None:
    """The tests' small inputs (events on window boundaries, nulls, remainders)."""
    if example == "recommendations":
        ev = lambda m, t, k, d, ts: {"member_id": m, "title_id": t, "kind": k, "dwell_ms": d, "device": "tv", "ts": ts}
        jsonl(project / "data/events/member-interactions/part-0.jsonl", [
            ev("m1", "t1", "view", 10, "2024-01-01T00:00:00Z"), ev("m1", "t2", "click", 15, "2024-01-01T00:05:00Z"),
            ev("m1", "t1", "view", None, "2024-01-01T00:30:00Z"), ev("m2", "t3", "view", 7, "2024-01-01T00:59:59Z")])
        schema = [["member_id", "string"], ["title_id", "string"], ["seconds", "int"]]
        for ds, rows in {"2024-01-01": [{"member_id": "m1", "title_id": "t1", "seconds": 100}],
                         "2024-01-03": [{"member_id": "m2", "title_id": "t1", "seconds": None}]}.items():
            worker.call(cmd="write_parquet", path=str(project / f"data/warehouse/plays/ds={ds}/p.parquet"),
                        schema=schema, rows=rows)
        worker.call(cmd="write_parquet", path=str(project / "data/warehouse/member_title_daily/p.parquet"),
                    schema=[["member_id", "string"], ["title_id", "string"], ["impressions", "int"],
                            ["conv_rate", "float"], ["completion_rate", "float"], ["ds", "date"]],
                    rows=[{"member_id": "m1", "title_id": "t1", "impressions": 3, "conv_rate": 0.5,
                           "completion_rate": 1.0, "ds": "2024-01-01"}])
    elif example == "fraud":
        tx = lambda i, c, m, a, s, ts: {"txn_id": i, "card_id": c, "merchant_id": m, "amount_cents": a,
                                        "country": "US", "channel": "pos", "status": s, "ts": ts}
        jsonl(project / "data/transactions/card-transactions/part-0.jsonl", [
            tx("t1", "c1", "m1", 100, "approved", "2024-01-01T00:00:00Z"),
            tx("t2", "c1", "m2", 250, "declined", "2024-01-01T00:01:00Z"),
            tx("t3", "c2", "m1", None, "approved", "2024-01-01T00:04:00Z")])
    elif example == "nightly_batch":
        schema = [["account_id", "string"], ["region", "string"], ["plan", "string"], ["tenure_days", "int"],
                  ["hours_streamed", "float"], ["sessions", "int"], ["payment_failed", "bool"]]
        worker.call(cmd="write_parquet", path=str(project / "data/warehouse/account_daily/ds=2024-01-01/p.parquet"),
                    schema=schema, rows=[{"account_id": "a1", "region": "us", "plan": "basic", "tenure_days": 1,
                                          "hours_streamed": 1.5, "sessions": 2, "payment_failed": False}])


def cold(python: str, job: Path, argv: list[str], cwd: Path) -> dict:
    """One fresh process: {"startup", "run", "total"} in seconds (start-up counted from the
    interpreter's start: the time to python's first line is added)."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    t0 = time.perf_counter()
    done = subprocess.run([python, "-c", DRIVER, job.parent.parent.name, str(job), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    total = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("@@bench@@"))
    split = json.loads(line[len("@@bench@@"):])
    startup = total - split["run"] - 0.0  # everything that is not the job's own work
    return {"startup": startup, "run": split["run"], "total": total, "engine_ready": split["startup"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "engines.json"))
    args = ap.parse_args()
    from sf_support import Worker, compile_project, copy_project  # tests/spark_flink

    subprocess.run(["bash", str(ROOT / "scripts" / "engines.sh"), "spark", "flink"], check=True)
    work = Path(tempfile.mkdtemp(prefix="mlc-bench-"))
    workers = {e: Worker(e, work) for e in ("spark", "flink")}
    py = {e: str(ENGINES / e / "bin" / "python") for e in ("spark", "flink")}
    for w in workers.values():
        w.wait_ready()
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_before": os.getloadavg()[0]}, "jobs": []}
    try:
        for example in ("fraud", "nightly_batch", "recommendations"):
            project = copy_project(ROOT / "examples" / example, work / example)
            build = compile_project(project, "local", work / f"{example}-build")
            inputs(example, project, workers["spark"])
            for engine in ("spark", "flink"):
                for job in sorted((build / engine / "features").glob("*.py")):
                    out = project / "build" / "bench" / engine / job.stem
                    argv = ["--output", str(out)]
                    extra = ["--conf", "spark.master=local[2]", "--conf", "spark.ui.enabled=false",
                             "--conf", "spark.ui.showConsoleProgress=false"] if engine == "spark" else []
                    runs = [cold(py[engine], job, argv + extra, project) for _ in range(args.repeat)]
                    c = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                    warm = statistics.median(
                        workers[engine].call(cmd="job", file=str(job), argv=argv, cwd=str(project))["seconds"]
                        for _ in range(args.repeat))
                    share = c["startup"] / c["total"]
                    results["jobs"].append({
                        "example": example, "engine": engine, "job": job.stem,
                        "cold_total_s": round(c["total"], 2), "cold_startup_s": round(c["startup"], 2),
                        "cold_run_s": round(c["run"], 2), "engine_ready_s": round(c["engine_ready"], 2),
                        "warm_run_s": round(warm, 2), "startup_share": round(share, 2)})
                    print(f"{example:16} {engine:6} {job.stem:22} cold {c['total']:6.1f} s = start-up "
                          f"{c['startup']:5.1f} s ({share:4.0%}) + run {c['run']:5.1f} s;  warm run {warm:5.1f} s",
                          flush=True)
        results["machine"]["load_after"] = os.getloadavg()[0]
    finally:
        for w in workers.values():
            w.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
