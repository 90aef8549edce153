"""The generated Airflow DAGs of the platform against hand-written files of the same DAGs, each
folder loaded in ONE DagBag (issue 18: <= 1.1x, and no generated file over 1 s to import).

    .venv/bin/python bench/bench_dagbag.py [--scale 0.1] [--seed 0] [--runs 5] [--work DIR] [--profile]

The platform (bench/gen_platform.py) is compiled for Airflow; `write_hand_written` writes, from
the same IR, the DAG files a careful person writes for the same flows and feature groups:
the same dag ids, schedules or asset triggers (the same Assets), params, tasks (operators, task
ids, retries, delays, timeouts, owners, environments, Spark and Python arguments, trigger rules),
the payload match before the steps, gates and `when` short-circuits, the signal emitters and
the `finished` outlet, and the same edges. Their shared code (running a Python step, reading a
metric, matching a payload, emitting a signal, materializing) is in one module beside them,
`hand_common.py` (ignored by `.airflowignore`), imported as Airflow 3 imports a bundle's own
modules (the folder on `sys.path`, which the bench sets for both folders alike).

Each measurement is one DagBag fill in a fresh process of the Airflow engine environment
(`import airflow` not counted); the two folders alternate, `--runs` each; the figure is the
median CPU seconds of the process (the machine is shared; wall seconds are printed too).
Python writes no bytecode (PYTHONDONTWRITEBYTECODE): each file is compiled, as on the first
parse after a deploy. `--profile` writes a cProfile of one fill of each folder to the work folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import gen_platform  # noqa: E402
from bench_airflow import AIRFLOW_PY  # noqa: E402

FILL = r'''
import cProfile, json, sys, time
from airflow.dag_processing.dagbag import DagBag
profile = cProfile.Profile() if len(sys.argv) > 2 else None
t, c = time.perf_counter(), time.process_time()
if profile:
    profile.enable()
bag = DagBag(dag_folder=sys.argv[1])
if profile:
    profile.disable()
    profile.dump_stats(sys.argv[2])
elapsed, cpu = time.perf_counter() - t, time.process_time() - c
slowest = max(bag.dagbag_stats, key=lambda s: s.duration)
print("MLC_BENCH " + json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "dags": len(bag.dags),
      "tasks": sum(len(d.tasks) for d in bag.dags.values()),
      "errors": len(bag.import_errors), "first_error": next(iter(bag.import_errors.values()), None),
      "slowest_file": slowest.file, "slowest_seconds": slowest.duration.total_seconds()}))
'''

# What must be the same in both folders, DAG by DAG: how Airflow schedules and runs it.
SAME = r'''
import json, os, sys
from airflow.dag_processing.dagbag import DagBag

def shape(dag):
    def task(t):
        return {"operator": type(t).__name__, "upstream": sorted(t.upstream_task_ids), "retries": t.retries,
                "retry_delay": str(t.retry_delay), "timeout": str(t.execution_timeout), "owner": t.owner,
                "trigger_rule": str(t.trigger_rule), "outlets": sorted(a.uri for a in t.outlets),
                "env": sorted((getattr(t, "env", None) or getattr(t, "env_vars", None) or
                               (getattr(t, "op_kwargs", None) or {}).get("mlc_env") or {}).items()),
                "args": [str(a) for a in getattr(t, "application_args", None) or getattr(t, "op_args", None) or []][:2]}
    return {"schedule": [type(dag.timetable).__name__, str(getattr(dag.timetable, "_expression", ""))], "assets": repr(getattr(dag.timetable, "asset_condition", None)), "params": sorted(dag.params.dump()),
            "max_active_tasks": dag.max_active_tasks, "catchup": dag.catchup, "tags": sorted(dag.tags),
            "macros": sorted(dag.user_defined_macros or {}), "tasks": {t.task_id: task(t) for t in dag.tasks}}

a, b = (DagBag(dag_folder=f) for f in sys.argv[1:3])
diffs = []
for dag_id in sorted(set(a.dags) | set(b.dags)):
    # the bundle's files are where each folder's bundle is
    x, y = (json.loads(json.dumps(shape(bag.dags[dag_id]), default=str).replace(os.path.dirname(os.path.dirname(
        os.path.abspath(folder))), "BUNDLE")) if dag_id in bag.dags else None for bag, folder in ((a, sys.argv[1]), (b, sys.argv[2])))
    if x != y:
        diffs.append({"dag": dag_id, "generated": x, "hand": y})
print("MLC_BENCH " + json.dumps({"dags": len(a.dags), "differ": len(diffs), "first": diffs[:1]}, default=str))
'''

# ----------------------------------------------------------------------------- hand-written DAGs
COMMON = '''"""What the team's DAG files share (not a DAG file: .airflowignore)."""
import importlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def bundle_file(path):
    return os.path.join(os.environ.get("MLC_BUNDLE") or os.path.dirname(os.path.dirname(HERE)), path)


def run_python(module, function, mlc_env=None, **context):
    os.environ.update(mlc_env or {})
    return getattr(importlib.import_module(module), function)(**context)


def metric(context, step):
    return context["ti"].xcom_pull(task_ids=step)


def payload(context, asset, **expected):
    """The newest event of `asset` that started the run and carries `expected`; {} when none."""
    for event in reversed(context["triggering_asset_events"].get(asset, [])):
        if all((event.extra or {}).get(k) == v for k, v in expected.items()):
            return event.extra
    return {}


def matches(asset, **expected):
    def check(**context):
        return context["dag_run"].run_type != "asset_triggered" or bool(payload(context, asset, **expected))
    return check


def emit(asset, **fields):
    def publish(**context):
        extra = {k: context["run_id"] if v is None else v for k, v in fields.items()}
        context["outlet_events"][asset].extra = extra
        return extra
    return publish


def done():
    pass


def materialize(view, repo):
    import subprocess
    from datetime import datetime, timezone
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    subprocess.run([os.environ.get("MLC_FEAST") or "feast", "-c", repo, "materialize-incremental", now,
                    "--views", view], check=True)
'''


def _py(v) -> str:
    return json.dumps(v)


def _td(ms: int | None) -> str:
    return f"timedelta(seconds={(ms or 0) // 1000})"


def _short(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _asset(kind: str, key: str, signals: dict) -> str:
    uri = (signals.get(key) or {}).get("uri") if kind == "signal" else None
    return f"Asset({_py(uri)})" if uri else f"Asset(name={_py(f'mlc.{kind}.{key}')}, uri={_py(f'mlc://{kind}/{key}')})"


def _leaves(trigger: dict) -> list[dict]:
    if trigger["kind"] in ("all", "any"):
        return [leaf for t in trigger["items"] for leaf in _leaves(t)]
    return [trigger]


def _refs(e) -> list[str]:
    if isinstance(e, dict):
        return ([e["target"]] if e.get("op") == "ref" and e.get("target") else []) + \
            [r for v in e.values() for r in _refs(v)]
    if isinstance(e, list):
        return [r for v in e for r in _refs(v)]
    return []


def _value(e: dict, trigger: str = "trigger") -> str:
    """An expression of the platform (literals, refs to trigger fields and metrics, comparisons)."""
    if e["op"] == "lit":
        return _py(e["value"])
    if e["op"] == "ref":
        kind, _, name = e["target"].partition(":")
        return {"trigger": f"{trigger}.get({_py(name)})", "metric": f"m[{_py(name)}]"}.get(kind, "c['run_id']")
    if e["op"] == "binop":
        a, b = (_value(x, trigger) for x in e["args"])
        return f"({a} {e['name']} {b})"
    raise ValueError(f"the hand-written baseline does not write {e['op']} expressions")


def hand_flow(flow: dict, program: dict, awaited: set[str]) -> str:
    """A flow's DAG as a person writes it, with what the generated one does (module docstring)."""
    name, key = flow["name"], f"{flow['package']}.{flow['name']}"
    signals, models = program["signals"], program["models"]
    steps = {s["name"]: s for s in flow["steps"]}
    ops = {"bash": "BashOperator", "spark": "SparkSubmitOperator", "python": "PythonOperator"}
    used = {ops[s["kind"]] for s in flow["steps"]} | {"PythonOperator"}
    if any(s.get("gate") or s.get("when") for s in flow["steps"]) or (flow.get("trigger") or {}).get("match") \
            or any(leaf.get("match") for leaf in _leaves(flow["trigger"]) if flow.get("trigger")):
        used.add("ShortCircuitOperator")
    modules = {"BashOperator": "airflow.providers.standard.operators.bash",
               "SparkSubmitOperator": "airflow.providers.apache.spark.operators.spark_submit",
               "PythonOperator": "airflow.providers.standard.operators.python",
               "ShortCircuitOperator": "airflow.providers.standard.operators.python"}
    by_module: dict[str, list[str]] = {}
    for op in sorted(used):
        by_module.setdefault(modules[op], []).append(op)
    L = ['"""' + (flow.get("doc") or name) + '"""', "from datetime import timedelta", ""]
    L += [f"from {m} import {', '.join(names)}" for m, names in sorted(by_module.items())]
    L += ["from airflow.sdk import Asset, DAG, Param", "",
          "from hand_common import bundle_file, done, emit, matches, metric, payload, run_python", ""]
    assets: dict[str, str] = {}
    at = len(L)   # the module's Assets go here, before the DAG

    def asset(kind: str, target: str) -> str:
        var = f"{kind.upper()}_{_short(target).upper()}"
        assets.setdefault(var, _asset(kind, target, signals))
        return var

    trigger = flow.get("trigger")
    leaves = _leaves(trigger) if trigger else []
    for leaf in leaves:
        asset("flow" if leaf["kind"] == "on_finish" else "signal", leaf["target"]["target"])
    if flow.get("schedule"):
        s = flow["schedule"]
        schedule = _py(s["airflow"])
    elif trigger:
        schedule = "[" + ", ".join(f"{k.upper()}_{_short(leaf['target']['target']).upper()}"
                                   for leaf in leaves for k in ["flow" if leaf["kind"] == "on_finish" else "signal"]) + "]"
    else:
        schedule = "None"
    matched = [leaf for leaf in leaves if leaf.get("match")]
    signal_leaf = next((leaf for leaf in leaves if leaf["kind"] == "signal"), None)
    reads_trigger = any(r.startswith("trigger:") for r in _refs(flow["steps"]))
    params = {p["name"]: p["default"]["text"] for p in flow["params"]}
    L += ["", "with DAG(", f"    dag_id={_py(name)},", f"    schedule={schedule},", "    catchup=False,",
          "    max_active_tasks=16,", f"    doc_md={_py(flow.get('doc') or name)},",
          f"    tags={_py(flow.get('tags') or [])},", f"    default_args={{'owner': {_py(flow.get('owner'))}}},"]
    if params:
        L.append("    params={" + ", ".join(f"{_py(n)}: Param({_py(v)}, type='string', "
                                           "pattern='^([0-9]+(ms|s|m|h|d|w))+$')" for n, v in params.items()) + "},")
    if reads_trigger and signal_leaf:
        sig = f"SIGNAL_{_short(signal_leaf['target']['target']).upper()}"
        expected = {k: v["value"] for k, v in (signal_leaf.get("match") or {}).items()}
        L.append(f"    user_defined_macros={{'mlc_trigger': lambda events: payload({{'triggering_asset_events': events}}, "
                 f"{sig}, **{_py(expected)})}},")
    L.append(") as dag:")
    ups = {n: [e["upstream"]["name"] for e in flow["edges"] if e["downstream"]["name"] == n] for n in steps}
    downs = {n: [e["downstream"]["name"] for e in flow["edges"] if e["upstream"]["name"] == n] for n in steps}
    after = {n: f"{n}_gate" if s.get("gate") else n for n, s in steps.items()}   # what the next steps follow
    args = ", ".join(f"'--{n}', \"{{{{ params['{n}'] }}}}\"" for n in params)
    for n, st in steps.items():
        arg = st["args"][0].get("value") if st["args"] else ""
        env = {k: ("{{ run_id }}" if e["op"] == "ref" else str(e.get("value"))) for k, e in st["env"].items()}
        kw = [f"task_id={_py(n)}"]
        if st["kind"] == "bash":
            kw += [f"bash_command={_py(arg + ' ')}", f"env={_py(env)}", "append_env=True", "cwd='.'"]
        elif st["kind"] == "spark":
            kw += [f"application=bundle_file('spark/steps/{name}/{n}.py')",
                   "py_files=bundle_file('spark/runtime/mlc_spark_runtime.py')", f"name='{name}.{n}'",
                   f"application_args=[{args}]", f"env_vars={_py(env)}"]
        else:
            module, _, function = str(arg).partition(":")
            mine = [r["target"] for r in (*st.get("uses", []), *([st["produces"]] if st.get("produces") else []))
                    if r["target"] in models]
            if mine:   # the name in the BentoML store of each model it uses and of their fallbacks
                needed, todo = set(), list(mine)
                while todo:
                    m = todo.pop()
                    if m not in needed:
                        needed.add(m)
                        todo += [f["model"]["target"] for f in [models[m].get("fallback")]
                                 if f and f["model"].get("target") in models]
                env["MLC_BENTO_MODELS"] = json.dumps({_short(m): _short(m) for m in sorted(needed)}, sort_keys=True)
            extra = ""
            if st.get("produces") and st["produces"]["target"] in models:   # its training set's Feast service
                extra = f", 'MLC_FEAST_REPO': bundle_file('feast'), 'MLC_FEATURE_SERVICE': " \
                        f"{_py(_short(st['produces']['target']))}"
            kw += ["python_callable=run_python", f"op_args=[{_py(module)}, {_py(function)}]",
                   f"op_kwargs={{'mlc_env': {{**{_py(env)}{extra}}}}}"]
        kw += [f"retries={st.get('retries') or 0}", f"retry_delay={_td(st.get('retry_delay_ms'))}",
               f"execution_timeout={_td(st.get('timeout_ms'))}"]
        if st.get("owner"):
            kw.append(f"owner={_py(st['owner'])}")
        if any(steps[u].get("when") for u in ups[n]):
            kw.append("trigger_rule='none_failed'")
        L.append(f"    {n} = {ops[st['kind']]}({', '.join(kw)})")
        if st.get("when"):
            test = _value(st["when"], "payload(c, " + f"SIGNAL_{_short(signal_leaf['target']['target']).upper()})"
                          if signal_leaf else "{}")
            L += [f"    {n}_when = ShortCircuitOperator(task_id={_py(n + '-when')}, python_callable=lambda **c: "
                  f"bool({test}), ignore_downstream_trigger_rules=False)", f"    {n}_when >> {n}"]
        if st.get("gate"):
            L += [f"    {n}_gate = ShortCircuitOperator(task_id={_py(n + '-gate')}, "
                  f"python_callable=lambda **c: (lambda m: bool({_value(st['gate'])}))(metric(c, {_py(n)})))",
                  f"    {n} >> {n}_gate"]
        for e in st.get("emits", []):
            sig = asset("signal", e["signal"]["target"])
            fields = ", ".join(f"{k}={'None' if v['op'] == 'ref' else _py(v['value'])}" for k, v in e["payload"].items())
            t = f"{n}_emits_{_short(e['signal']['target'])}"
            L += [f"    {t} = PythonOperator(task_id={_py(n + '-emits-' + e['signal']['name'])}, "
                  f"python_callable=emit({sig}, {fields}), outlets=[{sig}])", f"    {after[n]} >> {t}"]
    if matched:
        leaf = matched[0]
        sig = f"SIGNAL_{_short(leaf['target']['target']).upper()}"
        expected = ", ".join(f"{k}={_py(v['value'])}" for k, v in leaf["match"].items())
        L.append(f"    match = ShortCircuitOperator(task_id='trigger-match', python_callable=matches({sig}, {expected}))")
        L += [f"    match >> {n + '_when' if steps[n].get('when') else n}" for n in steps if not ups[n]]
    for e in flow["edges"]:
        down = e["downstream"]["name"]
        L.append(f"    {after[e['upstream']['name']]} >> {down + '_when' if steps[down].get('when') else down}")
    if key in awaited:
        mine = asset("flow", key)
        last = [n for n in steps if not downs[n]]
        if len(last) == 1 and not steps[last[0]].get("gate") and not steps[last[0]].get("emits"):
            L.append(f"    {last[0]}.outlets = [{mine}]")
        else:
            L.append(f"    finished = PythonOperator(task_id='finished', python_callable=done, "
                     f"trigger_rule='none_failed_min_one_success', outlets=[{mine}])")
            L += [f"    {after[n]} >> finished" for n in last]
    L[at:at] = [f"{var} = {code}" for var, code in assets.items()]
    return "\n".join(L) + "\n"


def hand_group(group: dict) -> str:
    """A batch group's DAG as a person writes it: the Spark job over the windows ended since the
    previous run, then Feast's materialization, which updates the group's Asset."""
    name, key = group["name"], f"{group['package']}.{group['name']}"
    s = group["schedule"]
    schedule = s["airflow"]
    gap = s["longest_gap_ms"] // 1000   # the windows that ended since the previous run
    return "\n".join([
        '"""' + (group.get("doc") or name) + '"""', "from datetime import timedelta", "",
        "from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator",
        "from airflow.providers.standard.operators.python import PythonOperator",
        "from airflow.sdk import Asset, DAG", "",
        "from hand_common import bundle_file, materialize", "",
        f"FEATURES = Asset(name={_py('mlc.features.' + key)}, uri={_py('mlc://features/' + key)})", "",
        f"with DAG(dag_id={_py('features.' + name)}, schedule={_py(schedule)}, catchup=False,",
        f"         doc_md={_py(group.get('doc') or name)}, default_args={{'owner': {_py(group.get('owner'))}}}) as dag:",
        f"    compute = SparkSubmitOperator(task_id='compute', application=bundle_file('spark/features/{name}.py'),",
        "                                  py_files=bundle_file('spark/runtime/mlc_spark_runtime.py'),",
        f"                                  name='features.{name}', execution_timeout={_td(group.get('timeout_ms'))},",
        "                                  application_args=['--from', '{{ (dag_run.run_after - macros.timedelta("
        f"seconds={gap})).isoformat() }}}}', '--to', '{{{{ dag_run.run_after.isoformat() }}}}'])",
        f"    load = PythonOperator(task_id='materialize', python_callable=materialize, "
        f"op_args=[{_py(name)}, bundle_file('feast')], outlets=[FEATURES])",
        "    compute >> load", ""])


def write_hand_written(ir_path: Path, folder: Path) -> int:
    program = json.loads(ir_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hand_common.py").write_text(COMMON)
    (folder / ".airflowignore").write_text("hand_common.py\n")
    awaited = {leaf["target"]["target"] for f in program["flows"].values() if f.get("trigger")
               for leaf in _leaves(f["trigger"]) if leaf["kind"] == "on_finish"}
    n = 0
    for flow in program["flows"].values():
        (folder / f"{flow['name']}.py").write_text(hand_flow(flow, program, awaited))
        n += 1
    for group in program["feature_groups"].values():
        if group["mode"] == "batch" and group.get("schedule"):
            (folder / f"features.{group['name']}.py").write_text(hand_group(group))
            n += 1
    return n


# ----------------------------------------------------------------------------- measuring
def fill(folder: Path, home: Path, profile: Path | None = None, script: str = FILL, args: list[str] = ()) -> dict:
    """One DagBag fill of `folder` in a fresh process of the Airflow environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(folder), "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "600", "SCARF_ANALYTICS": "false", "DO_NOT_TRACK": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                # what Airflow 3's dag processor and task runner do for a bundle (BundleDagBag)
                "PYTHONPATH": os.pathsep.join([str(folder), *args])})
    done = subprocess.run([str(AIRFLOW_PY), "-c", script, str(folder), *args, *([str(profile)] if profile else [])],
                          env=env, capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("MLC_BENCH ")), None)
    if line is None:
        raise SystemExit(f"DagBag fill of {folder} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return json.loads(line[len("MLC_BENCH "):])


def same(generated: Path, hand: Path, home: Path) -> dict:
    """Whether the two folders hold the same DAGs as Airflow reads them (`SAME`)."""
    return fill(generated, home, script=SAME, args=[str(hand)])


def compare(generated: Path, hand: Path, home: Path, runs: int) -> dict:
    """`runs` alternating fills of each folder: medians, their ratio, the slowest file seen."""
    home.mkdir(parents=True, exist_ok=True)
    got: dict[str, list[dict]] = {"generated": [], "hand": []}
    for _ in range(runs):
        got["generated"].append(fill(generated, home))
        got["hand"].append(fill(hand, home))
    out: dict = {}
    for side, fills in got.items():
        slowest = max(fills, key=lambda f: f["slowest_seconds"])
        out[side] = {"cpu_seconds": statistics.median(f["cpu_seconds"] for f in fills),
                     "seconds": statistics.median(f["seconds"] for f in fills),
                     "cpu_runs": [round(f["cpu_seconds"], 3) for f in fills],
                     "dags": fills[0]["dags"], "tasks": fills[0]["tasks"], "errors": fills[0]["errors"],
                     "first_error": fills[0]["first_error"], "slowest_file": Path(slowest["slowest_file"]).name,
                     "slowest_seconds": slowest["slowest_seconds"]}
    out["cpu_ratio"] = out["generated"]["cpu_seconds"] / out["hand"]["cpu_seconds"]
    return out


def say(figs: dict) -> str:
    g, h = figs["generated"], figs["hand"]
    return (f"DagBag of {g['dags']} DAGs: generated {g['cpu_seconds']:.2f} s cpu ({g['seconds']:.2f} s wall, "
            f"{g['tasks']} tasks, {g['errors']} errors), hand-written {h['cpu_seconds']:.2f} s cpu "
            f"({h['seconds']:.2f} s wall, {h['tasks']} tasks, {h['errors']} errors): {figs['cpu_ratio']:.2f}x "
            f"(target <= 1.1x); slowest generated file {g['slowest_seconds']:.2f} s ({g['slowest_file']}; "
            f"target <= 1 s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", type=Path, help="folder to keep the platform, its bundle and the hand-written DAGs in")
    ap.add_argument("--mlc", default=str(ROOT / ".venv" / "bin" / "mlc"), help="the mlc command that compiles")
    ap.add_argument("--profile", action="store_true", help="also write a cProfile of one fill of each folder")
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "dagbag.json")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mlc-dagbag-") as tmp:
        work = args.work or Path(tmp)
        platform, bundle = work / "platform", work / "bundle"
        hand = work / "hand-written" / "airflow" / "dags"   # where the bundle's files are, as for the generated
        if not platform.exists():
            gen_platform.generate(platform, args.scale, args.seed)
        shutil.rmtree(bundle, ignore_errors=True)
        subprocess.run([*args.mlc.split(), "compile", ".", "--env", "prod", "--target", "airflow",
                        "--emit", "ir", "--out", str(bundle)], cwd=platform, check=True, capture_output=True)
        shutil.rmtree(hand.parent.parent, ignore_errors=True)
        write_hand_written(bundle / "ir.json", hand)
        dags = bundle / "airflow" / "dags"
        if args.profile:
            for side, folder in (("generated", dags), ("hand", hand)):
                fill(folder, work / "airflow-home", work / f"{side}.prof")
            print(f"profiles: {work / 'generated.prof'}, {work / 'hand.prof'}")
        figs = compare(dags, hand, work / "airflow-home", args.runs)
        figs["same"] = same(dags, hand, work / "airflow-home")
    print(say(figs))
    print(f"the same DAGs as Airflow reads them: {figs['same']['differ']} of {figs['same']['dags']} differ"
          + (f"; first: {json.dumps(figs['same']['first'])[:3000]}" if figs["same"]["differ"] else ""))
    figs.update(scale=args.scale, seed=args.seed, runs=args.runs, cpus=os.cpu_count())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figs, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
