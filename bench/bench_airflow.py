"""How fast Airflow parses the DAGs mlc generates, against hand-written DAG files and dag-factory.

200 flows x 20 steps, written three ways with the same structure (a daily cron schedule,
an owner and tags, 20 bash tasks in a chain, each with retries, a timeout and an `env`):

- generated:   `mlc compile --target airflow` of a .flow program;
- hand-written: one Python DAG file per flow, the plain way a person writes it;
- dag-factory: dag-factory 1.1 YAML, one YAML file and its two-line loader per flow.

Each measurement is one `DagBag` fill of the folder in a fresh process of the Airflow
engine environment (`import airflow` is not counted), as wall-clock and as CPU time of
the process (the CPU time does not move when other work shares the machine); the three
kinds alternate, 5 runs each; the medians and ratios of both are printed and written to
bench/results/airflow.json.
Targets: generated <= 1.1x hand-written, and >= 2.5x faster than dag-factory.

    .venv/bin/python bench/bench_airflow.py [--flows 200] [--steps 20] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_PY = ROOT / ".engines" / "airflow" / "bin" / "python"

FILL = r'''
import json, sys, time, warnings
from airflow.dag_processing.dagbag import DagBag
t, c = time.perf_counter(), time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
print("MLC_BENCH " + json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "dags": len(bag.dags),
      "tasks": sum(len(d.tasks) for d in bag.dags.values()), "errors": len(bag.import_errors)}))
'''


def flow_program(flows: int, steps: int) -> str:
    out = ["package bench", "", "env local { }", ""]
    for f in range(flows):
        out += [f"## Benchmark flow {f}.", f"flow flow_{f:03d} {{",
                f'  schedule cron("{f % 60} {f % 24} * * *")', "  catchup false",
                '  owner "bench"', '  tags ["bench", "generated"]']
        for s in range(steps):
            out.append(f'  step s{s:02d} bash("echo step $N of flow {f}") {{ retries 1, timeout 10m, '
                       f'env {{ N = {s}, RUN = run.id }} }}')
        out.append("  " + " >> ".join(f"s{s:02d}" for s in range(steps)))
        out += ["}", ""]
    return "\n".join(out)


def hand_written(f: int, steps: int) -> str:
    lines = [
        f'"""Benchmark flow {f}."""',
        "from datetime import timedelta",
        "",
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.sdk import DAG",
        "",
        "with DAG(",
        f'    dag_id="flow_{f:03d}",',
        f'    schedule="{f % 60} {f % 24} * * *",',
        "    catchup=False,",
        f'    doc_md="Benchmark flow {f}.",',
        '    tags=["bench", "generated"],',
        '    default_args={"owner": "bench"},',
        ") as dag:",
    ]
    for s in range(steps):
        lines += [
            f"    s{s:02d} = BashOperator(",
            f'        task_id="s{s:02d}",',
            f'        bash_command="echo step $N of flow {f}",',
            f'        env={{"N": "{s}", "RUN": "{{{{ run_id }}}}"}},',
            "        append_env=True,",
            '        cwd=".",',
            "        retries=1,",
            "        execution_timeout=timedelta(minutes=10),",
            "    )",
        ]
    lines.append("    " + " >> ".join(f"s{s:02d}" for s in range(steps)))
    return "\n".join(lines) + "\n"


def dag_factory_yaml(f: int, steps: int) -> str:
    lines = [
        f"flow_{f:03d}:",
        "  default_args:",
        "    owner: bench",
        f'  schedule: "{f % 60} {f % 24} * * *"',
        "  catchup: false",
        f'  doc_md: "Benchmark flow {f}."',
        "  tags: [bench, generated]",
        "  tasks:",
    ]
    for s in range(steps):
        lines += [
            f"    - task_id: s{s:02d}",
            "      operator: airflow.providers.standard.operators.bash.BashOperator",
            f'      bash_command: "echo step $N of flow {f}"',
            "      env:",
            f'        N: "{s}"',
            '        RUN: "{{ run_id }}"',
            "      append_env: true",
            '      cwd: "."',
            "      retries: 1",
            "      execution_timeout:",
            "        __type__: datetime.timedelta",
            "        minutes: 10",
        ]
        if s:
            lines.append(f"      dependencies: [s{s - 1:02d}]")
    return "\n".join(lines) + "\n"


DAG_FACTORY_LOADER = '''"""airflow DAG loaded by dag-factory from {name}.yml."""
from pathlib import Path

from dagfactory import load_yaml_dags

load_yaml_dags(globals_dict=globals(), config_filepath=str(Path(__file__).with_suffix(".yml")))
'''


def build(base: Path, flows: int, steps: int) -> dict[str, Path]:
    project = base / "project"
    project.mkdir()
    (project / "mlc.toml").write_text('[project]\nname = "bench"\nsources = ["."]\n')
    (project / "bench.flow").write_text(flow_program(flows, steps))
    out = base / "compiled"
    done = subprocess.run([sys.executable, "-m", "mlc", "compile", str(project), "--env", "local", "--target",
                           "airflow", "--out", str(out), "--no-cache"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"mlc compile failed:\n{done.stderr[-3000:]}")
    folders = {"generated": out / "airflow" / "dags", "hand-written": base / "hand", "dag-factory": base / "factory"}
    folders["hand-written"].mkdir()
    folders["dag-factory"].mkdir()
    for f in range(flows):
        (folders["hand-written"] / f"flow_{f:03d}.py").write_text(hand_written(f, steps))
        (folders["dag-factory"] / f"flow_{f:03d}.yml").write_text(dag_factory_yaml(f, steps))
        (folders["dag-factory"] / f"flow_{f:03d}.py").write_text(DAG_FACTORY_LOADER.format(name=f"flow_{f:03d}"))
    return folders


def fill(folder: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(folder.parent),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "DAG_FACTORY_TELEMETRY_ENABLED": "False",
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300", "SCARF_ANALYTICS": "false",
                "DO_NOT_TRACK": "1"})
    done = subprocess.run([str(AIRFLOW_PY), "-c", FILL, str(folder)], env=env, capture_output=True, text=True,
                          timeout=600)
    line = next((x for x in done.stdout.splitlines() if x.startswith("MLC_BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"DagBag fill of {folder} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return json.loads(line[len("MLC_BENCH "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=200)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "airflow.json"))
    args = ap.parse_args()
    if not AIRFLOW_PY.exists():
        raise SystemExit("the Airflow engine environment is missing: bash scripts/engines.sh airflow")
    with tempfile.TemporaryDirectory(prefix="mlc-bench-airflow-") as tmp:
        base = Path(tmp)
        t = time.perf_counter()
        folders = build(base, args.flows, args.steps)
        print(f"built {args.flows} flows x {args.steps} steps three ways in {time.perf_counter() - t:.1f}s")
        home = base / "home"
        home.mkdir()
        samples: dict[str, list[float]] = {k: [] for k in folders}
        cpu: dict[str, list[float]] = {k: [] for k in folders}
        for run in range(args.runs):
            for kind, folder in folders.items():
                r = fill(folder, home)
                if r["errors"] or r["dags"] != args.flows or r["tasks"] != args.flows * args.steps:
                    raise SystemExit(f"{kind}: {r}")
                samples[kind].append(r["seconds"])
                cpu[kind].append(r["cpu_seconds"])
                print(f"run {run + 1}: {kind:<12} {r['seconds']:.2f}s wall, {r['cpu_seconds']:.2f}s cpu "
                      f"({r['dags']} DAGs, {r['tasks']} tasks)")
    result = {"flows": args.flows, "steps": args.steps, "runs": args.runs,
              "samples_seconds": samples, "samples_cpu_seconds": cpu}
    print()
    for label, data in (("wall", samples), ("cpu", cpu)):
        med = {k: statistics.median(v) for k, v in data.items()}
        ratios = {"generated / hand-written": med["generated"] / med["hand-written"],
                  "dag-factory / generated": med["dag-factory"] / med["generated"]}
        print(f"{label}: " + ", ".join(f"median {k} {m:.2f}s" for k, m in med.items()))
        print(f"{label}: generated / hand-written {ratios['generated / hand-written']:.2f}x (target <= 1.10x); "
              f"dag-factory / generated {ratios['dag-factory / generated']:.2f}x (target >= 2.5x)")
        result[f"median_{label}_seconds"] = med
        result[f"ratios_{label}"] = ratios
        result[f"targets_met_{label}"] = ratios["generated / hand-written"] <= 1.10 and \
            ratios["dag-factory / generated"] >= 2.5
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
