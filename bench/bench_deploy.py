"""Redeploy after a one-view change of a generated platform, against applying everything.

    python bench/bench_deploy.py [--views 2000] [--out bench/results/bench_deploy.json]

(Run it with an interpreter whose mlc does not change during the run: in a shared work tree,
a frozen byte-compiled clone on PYTHONPATH, with its .engines linked.)

Generates a project of N batch feature groups (each one a Feast feature view, a Spark job
and an Airflow DAG), then, in one run:
1. `mlc deploy --env local` into a fresh root: every artifact applied, Feast's objects
   applied by the partial-apply worker, which starts warm and stays (release 000001);
2. one view's online ttl edited (one Feast view changes, nothing else), `mlc deploy`
   again: the redeploy, served by the warm Feast worker (release 000002);
3. another view's ttl edited, `mlc deploy` with MLC_FEAST_WORKER=off: the redeploy with a
   one-shot worker that imports Feast again (release 000003);
4. `feast apply` (the serving engine's CLI) of the whole repository of that release, on a
   copy of its registry: what a deploy without the diff would run after the same edit;
5. `mlc deploy` once more: nothing changed; then the worker is stopped.
Each is timed by wall clock around the real command, and by the CPU time of its processes
(steadier on a shared machine). The warm worker is not a child of the deploy: the CPU it
spent on the request (kept in release.json) is added to the redeploy's, and its whole
life's CPU (the `import feast` of its start included) is reported apart. Prints a table,
writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlc.deploy.config import engines_root

ROOT = Path(__file__).resolve().parent.parent
MLC = [sys.executable, "-m", "mlc"]  # the mlc of the interpreter running the bench
PER_FILE = 50

HEAD = """package bench
import std.connectors.{hive, s3}
"""
ENVS = """package bench
import std.connectors.{hive, s3, files}

env local {
  hive = files("data/warehouse")
  s3   = files("build/s3")
}
"""
BASE = """package bench
import std.connectors.{hive}

## What users did, exported once a day.
source events: table hive(table = "warehouse.events") {
  schema { user_id: string, kind: enum(view, click), amount: float, ds: date }
  event_time ds
  arrives every 1d delay 2h
}

## A user.
entity user { key user_id: string }
"""
GROUP = """
## Generated view {i}.
features g{i:05d} on user {{
  from events
  views_7d = count(kind == view) over 7d
  spend_7d = sum(amount) over {days}d
  schedule daily
  timeout 1h
  online ttl 2d
  offline s3("features/g{i:05d}")
}}
"""


def generate(out: Path, views: int) -> None:
    (out / "mlc.toml").write_text('[project]\nname = "bench_deploy"\nsources = ["."]\n')
    (out / "envs.flow").write_text(ENVS)
    (out / "base.flow").write_text(BASE)
    for start in range(0, views, PER_FILE):
        text = HEAD + "".join(GROUP.format(i=i, days=7 + i % 5) for i in range(start, min(views, start + PER_FILE)))
        (out / f"g{start // PER_FILE:04d}.flow").write_text(text)


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """Runs `cmd`; returns its wall time and the CPU time (user + system) of its processes
    (the machine may be shared: CPU seconds move less with load than wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return took, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def feast_info(root: Path) -> dict:
    return json.loads((root / "current" / "release.json").read_text())["applied"]["feast"]


def edit_view(project: Path, view: int) -> None:
    """Changes one view's online ttl (nothing but the Feast definitions file changes)."""
    name = project / f"g{view // PER_FILE:04d}.flow"
    marker = f"features g{view:05d} on user {{"
    head, tail = name.read_text().split(marker)
    name.write_text(head + marker + tail.replace("online ttl 2d", "online ttl 3d", 1))


def worker_cpu(root: Path) -> float:
    """The CPU seconds the warm Feast worker of `root` has spent in its life (/proc)."""
    from mlc.deploy.feast_worker import running

    found = running(root)
    if found is None:
        return 0.0
    fields = Path(f"/proc/{found['pid']}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench_deploy.json")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_deploy-"))
    try:
        project, root = work / "project", work / "root"
        project.mkdir()
        generate(project, args.views)
        to = ["--to", str(root)]
        warm, cold = {"MLC_FEAST_WORKER": "on"}, {"MLC_FEAST_WORKER": "off"}
        try:
            t_check, c_check = run([*MLC, "check", "--no-cache"], project)
            t_first, c_first = run([*MLC, "deploy", "--env", "local", *to], project, warm)
            first = feast_info(root)
            edit_view(project, args.views // 2)
            t_plan, c_plan = run([*MLC, "plan", "--env", "local", *to], project)
            t_redeploy, c_redeploy = run([*MLC, "deploy", "--env", "local", *to], project, warm)
            second = feast_info(root)
            edit_view(project, args.views // 2 + 1)
            t_cold, c_cold = run([*MLC, "deploy", "--env", "local", *to], project, cold)
            third = feast_info(root)
            manifest = json.loads((root / "current" / "manifest.json").read_text())
            artifacts = sum(1 for a in manifest["artifacts"] if a.get("target"))
            # the whole repository of the same release, applied by Feast's own CLI on a copy of its registry
            repo = work / "feast_all"
            shutil.copytree(root / "current" / "feast", repo, symlinks=False,
                            ignore=shutil.ignore_patterns("online_store.db"))
            feast = engines_root() / "serving" / "bin" / "feast"  # the serving engine the deploys used
            t_feast_all, c_feast_all = run([str(feast), "apply"], repo,
                                           {"FEAST_USAGE": "False", "MLC_PROJECT_ROOT": str(project)})
            t_again, c_again = run([*MLC, "deploy", "--env", "local", *to], project, warm)
            c_worker_life = worker_cpu(root)
        finally:
            subprocess.run([*MLC, "deploy", "--env", "local", *to, "--stop-worker"], cwd=project,
                           capture_output=True, check=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    c_warm = c_redeploy + second["worker_cpu_seconds"]  # the worker's share of the request
    result = {
        "views": args.views, "artifacts": artifacts, "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "check_seconds": round(t_check, 2),
        "first_deploy_seconds": round(t_first, 2), "first_feast_applied": first["applied"],
        "first_feast_apply_seconds": first["apply_seconds"],
        "plan_after_one_change_seconds": round(t_plan, 2),
        "redeploy_one_view_seconds": round(t_redeploy, 2), "redeploy_feast_applied": second["applied"],
        "redeploy_feast_worker": second["worker"], "redeploy_feast_chunks_run": second["chunks_run"],
        "redeploy_feast_load_seconds": second["load_seconds"], "redeploy_feast_apply_seconds": second["apply_seconds"],
        "redeploy_one_view_worker_off_seconds": round(t_cold, 2), "worker_off_feast_worker": third["worker"],
        "worker_off_feast_load_seconds": third["load_seconds"],
        "feast_apply_whole_repository_seconds": round(t_feast_all, 2),
        "no_change_deploy_seconds": round(t_again, 2),
        "speedup_vs_feast_apply_all": round(t_feast_all / t_redeploy, 1),
        "speedup_worker_off_vs_feast_apply_all": round(t_feast_all / t_cold, 1),
        "cpu_seconds": {"redeploy_one_view": round(c_warm, 2),
                        "redeploy_one_view_of_which_worker": second["worker_cpu_seconds"],
                        "redeploy_one_view_worker_off": round(c_cold, 2),
                        "feast_apply_whole_repository": round(c_feast_all, 2),
                        "first_deploy": round(c_first + first["worker_cpu_seconds"], 2),
                        "worker_whole_life": round(c_worker_life, 2)},
        "cpu_speedup_vs_feast_apply_all": round(c_feast_all / c_warm, 1),
        "cpu_speedup_worker_off_vs_feast_apply_all": round(c_feast_all / c_cold, 1),
        "load_average_at_end": round(os.getloadavg()[0], 1),
    }
    rows = [("mlc check (cold)", t_check, c_check),
            (f"mlc deploy, first: everything ({first['applied']} Feast objects; worker's request CPU added)",
             t_first, c_first + first["worker_cpu_seconds"]),
            ("mlc plan after a one-view change", t_plan, c_plan),
            (f"mlc deploy after a one-view change, warm worker ({second['applied']} applied, CPU with the worker's)",
             t_redeploy, c_warm),
            (f"mlc deploy after a one-view change, MLC_FEAST_WORKER=off ({third['applied']} applied)", t_cold, c_cold),
            ("feast apply of the whole repository (same release)", t_feast_all, c_feast_all),
            ("mlc deploy with no change", t_again, c_again),
            ("the warm worker's whole life (import feast and every request; it idles between)", None, c_worker_life)]
    print(f"{args.views} feature views, {artifacts} deployable artifacts")
    print(f"  {'':<100} {'wall':>8}   {'CPU':>8}")
    for label, wall, cpu in rows:
        shown = f"{wall:8.2f} s" if wall is not None else f"{'-':>8}  "
        print(f"  {label:<100} {shown} {cpu:8.2f} s")
    print(f"  redeploy is {result['speedup_vs_feast_apply_all']}x faster than feast apply of everything "
          f"(wall; CPU: {result['cpu_speedup_vs_feast_apply_all']}x); with the worker off "
          f"{result['speedup_worker_off_vs_feast_apply_all']}x (CPU {result['cpu_speedup_worker_off_vs_feast_apply_all']}x); "
          f"load average {result['load_average_at_end']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
