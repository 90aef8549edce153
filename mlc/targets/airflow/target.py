"""The Airflow backend: one static Airflow 3 DAG file per flow and per batch feature group.

`lower(program, env)` reads only the IR. It builds a small plan per DAG — imports,
assets, helper functions, tasks with their keyword arguments already written as
code, edges — and `templates/*.j2` lay it out. Every value of the program enters
the generated text through `expr.py` (literals, string escapes, name lookups);
every identifier the file binds is built from a fixed role prefix and a validated
name, so the program cannot inject code. `validate(program, env)` reports what
Airflow cannot take, as diagnostics, before anything is written.

The mapping, by node kind (docs/targets/airflow.md explains each choice):

| language | Airflow |
|---|---|
| flow | one DAG file, `dag_id` = the flow's name |
| schedule cron / preset / every | cron string / `@daily`... / `timedelta` |
| trigger on_finish(F) / signal(S) | `Asset` of F / of S; `and`/`or` -> `AssetAll`/`AssetAny` |
| schedule + trigger | `AssetOrTimeSchedule` |
| start / end / catchup | `start_date` / `end_date` (UTC) / `catchup` |
| signal with `uri` | `Asset(name=uri, uri=uri)`, the address hand-written DAGs use |
| artifact read / written by a step | `inlets` / `outlets` `Asset` of the artifact; its location in `MLC_ARTIFACT_<NAME>` |
| `mlc compile --branch B` | DAG ids and every non-external asset prefixed with `B.` (`Layout.branched`) |
| trigger.F | `_trigger_payload` over `triggering_asset_events` (macro `mlc_trigger` in templates) |
| signal(S, field = v) | a `trigger-match` short-circuit task before every step |
| param | `Param` with a JSON-schema type |
| step python/spark/flink/bash/materialize/deploy | PythonOperator / SparkSubmitOperator / PythonOperator / BashOperator / PythonOperator / PythonOperator |
| gate / when / foreach / emits | `X-gate` short-circuit / `X-when` short-circuit / dynamic mapping / `X-emits-S` outlet task |
| completion SLO | `DeadlineAlert` |
| batch feature group | a DAG: Spark job -> materialize -> outlet Asset |
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re
from dataclasses import dataclass, field

from mlc.compiler import ir
from mlc.compiler import metrics as M
from mlc.compiler.checks.objectives import time_of_day
from mlc.compiler.dates import parse_utc
from mlc.compiler.freshness import MAX_ACTIVE_TASKS
from mlc.compiler.infer import trigger_fields
from mlc.diagnostics import Diagnostic, Label, error, warning
from mlc.targets import Artifact
from mlc.targets.airflow import expr as X
from mlc.targets.airflow import policy as P
from mlc.targets.layout import Layout, source_line
from mlc.targets.literals import py, py_str
from mlc.targets.memo import once

MAX_ID = 250          # dag_id and task_id (airflow.utils.helpers.validate_key)
MAX_TAG = 100         # DagTag.name
MAX_ASSET_NAME = 1500
KEY_RE = re.compile(r"^[\w.-]+$", re.ASCII)

# Kubernetes resource names for the `resources { }` keys; anything else is recorded only.
K8S_RESOURCES = {"cpu": "cpu", "memory": "memory", "gpu": "nvidia.com/gpu",
                 "ephemeral_storage": "ephemeral-storage", "disk": "ephemeral-storage"}
DAY_MS = 86_400_000
# BashOperator.template_ext: a templated value ending so is read as a template file's name.
TEMPLATE_FILE_SUFFIXES = (".sh", ".bash")
# The module beside the DAG files that holds the helpers they share (templates/runtime.py.j2),
# named RUNTIME_MODULE_<hash of its text>: a process that loads the DAGs of several bundles (a
# DagBag of a folder holding two projects' DAGs) imports a module of a given name once, so two
# bundles whose helpers differ must not share a name. `_mlc_bundle_file` stays in each DAG file:
# it finds the bundle from the file's own path.
RUNTIME_MODULE = "mlc_airflow_runtime"
LOCAL_HELPERS = {"bundle"}

# ------------------------------------------------------------------ plan


@dataclass
class Func:
    """A module-level function of the generated file."""

    name: str
    params: str
    doc: str
    body: list[str]


@dataclass
class Task:
    var: str
    task_id: str
    operator: str
    kwargs: list[tuple[str, str]]                    # (keyword, code), in order
    comment: list[str] = field(default_factory=list)
    mapped: str | None = None                        # the code of expand_kwargs(...)'s argument


@dataclass
class StepCall:
    """The keyword arguments of a step's operator: the same for every run (`static`), and for a
    `foreach` step those evaluated per instance (`per_item`, Python code)."""

    static: list[tuple[str, str]]
    per_item: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DagPlan:
    path: str
    source: str
    header: str
    dag_id: str
    imports: dict[str, set[str]]
    assets: list[tuple[str, str, str, str]]        # (var, name, uri, comment)
    helpers: list[str]
    funcs: list[Func]
    dag_kwargs: list[tuple[str, str]]
    tasks: list[Task]
    edges: list[tuple[str, str]]
    references: list[str] = field(default_factory=list)   # bundle paths its tasks run
    runtime: list[str] = field(default_factory=list)      # what it imports from RUNTIME_MODULE
    runtime_module: str = ""


def timedelta_code(ms: int) -> tuple[str, str]:
    """`timedelta(seconds=3600)` and a readable comment (`1h`)."""
    from mlc.compiler.freshness import fmt_ms

    code = f"timedelta(seconds={ms // 1000})" if ms % 1000 == 0 else f"timedelta(milliseconds={ms})"
    return code, fmt_ms(ms)


def _doc(*parts: str | None) -> str | None:
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return text or None


class Names:
    """Identifiers of one generated file: a role prefix plus a validated name, made unique."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def get(self, base: str) -> str:
        name = re.sub(r"\W", "_", base, flags=re.ASCII)
        if not name or name[0].isdigit():
            name = "_" + name
        candidate, n = name, 2
        while candidate in self.taken or keyword.iskeyword(candidate):
            candidate, n = f"{name}_{n}", n + 1
        self.taken.add(candidate)
        return candidate


# ------------------------------------------------------------------ common facts


def is_local(program: ir.Program, env: str) -> bool:
    """An environment that binds every connector to `files(...)` runs on one machine: step
    resources are recorded on the task, not applied (no executor can apply them there)."""
    resolved = program.environments.get(env)
    return resolved is None or resolved.local


def dag_ids(program: ir.Program, layout: Layout) -> dict[str, str]:
    """dag_id of each flow and of each batch feature group a job computes (a `registered` group has
    none: it is its source's table as it stands), by qualified key."""
    ids = {k: layout.branched(layout.flow_id(k)) for k in program.flows}
    ids.update({k: layout.branched("features." + layout.group_id(k)) for k, g in program.feature_groups.items()
                if g.mode == "batch" and not g.registered})
    return ids


def own_asset(layout: Layout, kind: str, key: str) -> tuple[str, str]:
    """(name, uri) of the compiler's asset of a flow, signal, feature group or artifact: a test
    branch's own (`mlc compile --branch`), which production DAGs never wait for."""
    return layout.branched(f"mlc.{kind}.{key}"), layout.branched_uri(kind, key)


def signal_asset(layout: Layout, key: str, signal: ir.Signal | None) -> tuple[str, str]:
    """A signal's asset: the compiler's own address, or the `uri` it is bound to, which is then
    its name too (as `Asset(uri)` in a hand-written DAG: name and uri identify an asset). A test
    branch keeps the address of an `external` signal (it listens to the real events) and replaces
    every other with its own, so that it can never fire production flows."""
    if signal is not None and signal.uri is not None and (signal.external or not layout.program.branch):
        return signal.uri, signal.uri
    if signal is not None and signal.external:
        return f"mlc.signal.{key}", f"mlc://signal/{key}"
    return own_asset(layout, "signal", key)


def partitioned(flow: ir.Flow) -> bool:
    """Whether `flow` (`trigger ... match ds`) runs on the keyed siblings of its signals with a
    `PartitionedAssetTimetable`, which starts a run only once every signal has an event with the
    same partition key: a pair that disagrees starts none and a late partner still pairs. Only a
    trigger of signals alone (a flow's end carries no key) and without a schedule beside it
    (`AssetOrTimeSchedule` takes no partitions); any other `match` keeps the run-time join."""
    return bool(flow.match_keys and flow.trigger is not None and flow.schedule is None and all(
        t.kind == "signal" and t.target is not None and t.target.target for t in flow.trigger.leaves()))


def keyed_assets(layout: Layout, key: str, signal: ir.Signal | None) -> list[tuple[tuple[str, ...], str, str]]:
    """(keys, name, uri) of each keyed sibling of signal `key`: one per set of keys a `partitioned`
    flow joins it on. Its publishers (`mlc signal`, an emitting step) put every event on each too,
    with `match_key` of its payload as the partition key (an event with a partition key does not
    start the flows scheduled on the plain asset, hence a sibling)."""
    sets = _joins(layout.program).get(key)
    if not sets:
        return []
    name, uri = signal_asset(layout, key, signal)
    return [(keys, f"{name}~{','.join(keys)}", f"{uri}~{','.join(keys)}") for keys in sets]


def _joins(program: ir.Program) -> dict[str, list[tuple[str, ...]]]:
    """Signal key -> the sets of keys `partitioned` flows join it on, found in one pass over the
    flows per program (every emitting step and joined trigger asks)."""
    def compute() -> dict[str, list[tuple[str, ...]]]:
        found: dict[str, set[tuple[str, ...]]] = {}
        for f in program.flows.values():
            if partitioned(f):
                for t in f.trigger.leaves():
                    found.setdefault(t.target.target, set()).add(f.match_keys)
        return {k: sorted(v) for k, v in found.items()}
    return once(program, ("airflow-joins",), compute)


def match_key(payload: dict, keys: tuple[str, ...]) -> str | None:
    """The partition key of an event for a flow that joins on `keys`: the one key's value, or the
    JSON list of them; None when the payload lacks one. The generated `_mlc_keyed` is the same."""
    values = [payload.get(k) for k in keys]
    if any(v is None for v in values):
        return None
    parts = [v if isinstance(v, str) else json.dumps(v) for v in values]
    return parts[0] if len(parts) == 1 else json.dumps(parts)


def awaited_flows(program: ir.Program) -> set[str]:
    out: set[str] = set()

    def walk(t: ir.Trigger | None) -> None:
        if t is None:
            return
        if t.kind == "on_finish" and t.target and t.target.target:
            out.add(t.target.target)
        for i in t.items:
            walk(i)

    for f in program.flows.values():
        walk(f.trigger)
    return out


def completions(program: ir.Program) -> dict[str, list[tuple[str, ir.Objective]]]:
    """flow key -> [(slo name, completion objective)]."""
    out: dict[str, list[tuple[str, ir.Objective]]] = {}
    for slo in program.slos.values():
        for o in slo.objectives:
            if o.kind == "completion" and o.target.target in program.flows:
                out.setdefault(o.target.target, []).append((slo.name, o))
    return out


def deadline_offset_ms(flow: ir.Flow, o: ir.Objective) -> int | None:
    start = flow.schedule.daily_start_ms if flow.schedule is not None else None
    by = time_of_day(str(o.value.value)) if o.value.op == "lit" and o.value.kind == "string" else None
    if start is None or by is None:
        return None
    return (by - start) % DAY_MS or DAY_MS


# ------------------------------------------------------------------ validation


def _check_id(diags: list[Diagnostic], what: str, value: str, loc) -> None:
    if len(value) > MAX_ID or not KEY_RE.match(value):
        diags.append(error("E1001", f"{what} `{value[:60]}` cannot be an Airflow id: at most {MAX_ID} "
                                    "characters of letters, digits, `_`, `.` and `-`", loc,
                           help="shorten the name"))


def step_scope(flow: ir.Flow, step: ir.Step | None = None, metrics: bool = False, item: bool = False,
               trigger: dict[str, str | None] | None = None) -> X.Scope:
    """`trigger`: the fields of the trigger's payload a step may read (`trigger_fields`)."""
    params = {p.name: p.type for p in flow.params}
    return X.Scope(params, step.foreach.var if (item and step and step.foreach) else None, metrics,
                   trigger=frozenset(n.split(".", 1)[1] for n in trigger or ()),
                   bound=frozenset(p.name for p in flow.params if binding(p) is not None))


def binding(p: ir.Param) -> str | None:
    """What a parameter is bound to when the run starts (`run:date`, `signal:<key>.<field>`),
    as `mlc.compiler.references` resolved its default; None for a parameter with a value."""
    d = p.default
    target = d.target if d is not None and d.op == "ref" else None
    return target if target is not None and target.startswith(("run:", "signal:")) else None


def _item(var: str) -> ir.Expr:
    """A ref to a step's `foreach` variable, resolved as `mlc.compiler.references` would."""
    return ir.Expr(op="ref", name=var, target=f"foreach:{var}")


def _expr_diag(diags: list[Diagnostic], e: ir.Expr, scope: X.Scope, where: str, flow: ir.Flow) -> None:
    problem = X.check(e, scope)
    if problem is None:
        return
    names = ", ".join(f"`{p.name}`" for p in flow.params) or "none"
    diags.append(error("E1004", f"{where}: {problem.why} cannot be lowered to Airflow",
                       (problem.node.loc if problem.node is not None else None) or e.loc,
                       notes=(f"names available here: the flow's parameters ({names}), `run.id`"
                              + (", " + ", ".join(f"`trigger.{k}`" for k in sorted(scope.trigger)) if scope.trigger else "")
                              + (f", the foreach variable `{scope.var}`" if scope.var else "")
                              + (", and the fields of the step's result" if scope.metrics else ""),)))


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    """What Airflow cannot take, before anything is written (E10xx errors, W10xx warnings).
    Nothing of it depends on the env: computed once per program."""
    from mlc.targets.memo import once

    return list(once(program, ("airflow-validate",), lambda: _validate(program, layout)))


def _validate(program: ir.Program, layout: Layout) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    ids: dict[str, tuple[str, object]] = {}
    for key, dag_id in dag_ids(program, layout).items():
        decl = program.flows.get(key) or program.feature_groups.get(key)
        _check_id(diags, "DAG id", dag_id, decl.loc)
        if dag_id in ids:
            other = ids[dag_id]
            diags.append(error("E1002", f"two DAGs would have the id `{dag_id}`", decl.loc,
                               labels=(Label(other[1], "the other one"),) if other[1] else ()))
        ids[dag_id] = (key, decl.loc)
        if dag_id.startswith(RUNTIME_MODULE):
            diags.append(error("E1002", f"the DAG of `{decl.name}` would be named as {RUNTIME_MODULE}_*.py, the "
                                        "module of helpers beside the DAGs", decl.loc, help="rename it"))
    for key, g in program.feature_groups.items():
        if g.mode == "batch" and not g.registered:
            for t in g.tags:
                if len(t) > MAX_TAG:
                    diags.append(error("E1001", f"tag `{t[:40]}...` is longer than Airflow's {MAX_TAG} characters", g.loc))
    for key, flow in program.flows.items():
        for t in flow.tags:
            if len(t) > MAX_TAG:
                diags.append(error("E1001", f"tag `{t[:40]}...` is longer than Airflow's {MAX_TAG} characters",
                                   flow.loc))
        if flow.catchup and flow.start is None:
            diags.append(error("E1008", f"`catchup true` on `{flow.name}`: Airflow catches up from a start date, "
                                        "and the program states none", flow.loc,
                               help="give the flow its first date (`start \"2026-01-01\"`), or remove "
                                    "`catchup true`: a run that a scheduler outage missed can be started by hand"))
        if flow.schedule is not None or flow.trigger is not None:
            for p in flow.params:
                if p.default is None:
                    diags.append(error("E1003", f"parameter `{p.name}` of `{flow.name}` has no default, but the flow "
                                                "starts by itself (Airflow needs a value for every run)", p.loc,
                                       help=f"give it a default: `param {p.name}: ... = VALUE`"))
        for p in flow.params:
            if p.default is not None and not _default_ok(p) and binding(p) is None:
                diags.append(error("E1004", f"the default of parameter `{p.name}` must be a literal", p.default.loc))
        steps = {s.name for s in flow.steps}
        for s in flow.steps:
            for suffix in ("", "-gate", "-when", "-foreach"):
                _check_id(diags, "task id", s.name + suffix, s.loc)
            _check_step(diags, program, flow, s, steps)
        _check_trigger(diags, flow, flow.trigger)
    for key, objectives in completions(program).items():
        flow = program.flows[key]
        for slo, o in objectives:
            if deadline_offset_ms(flow, o) is None:
                diags.append(warning("W1005", f"completion objective `{slo}` is not lowered to an Airflow deadline: "
                                              f"`{flow.name}` has no fixed daily start time", o.loc,
                                     notes=("an Airflow DeadlineAlert counts from the run's logical date; a deadline "
                                            "at a time of day needs a schedule that fires once a day at a fixed time",)))
    return diags


def _check_step(diags, program: ir.Program, flow: ir.Flow, s: ir.Step, steps: set[str]) -> None:
    # a step's target, its env names and its settings are the language's rules (the checks')
    where = f"step `{s.name}` of `{flow.name}`"
    trig = trigger_fields(flow, program.signals)[0]
    for name, value in s.env.items():
        _expr_diag(diags, value, step_scope(flow, s, item=True, trigger=trig), f"{where}, env `{name}`", flow)
    if s.gate is not None:
        _expr_diag(diags, s.gate, step_scope(flow, s, metrics=True, trigger=trig), f"{where}, gate", flow)
    if s.when is not None:
        _expr_diag(diags, s.when, step_scope(flow, s, item=True, trigger=trig), f"{where}, when", flow)
    if s.foreach is not None:
        _expr_diag(diags, s.foreach.items, step_scope(flow, trigger=trig), f"{where}, foreach", flow)
        if s.foreach.var in {p.name for p in flow.params}:
            diags.append(warning("W1006", f"{where}: the foreach variable `{s.foreach.var}` hides a parameter",
                                 s.foreach.loc))
    for e in s.emits:
        for name, value in e.payload.items():
            _expr_diag(diags, value, step_scope(flow, s, metrics=True, trigger=trig), f"{where}, payload `{name}`", flow)
        _check_id(diags, "task id", f"{s.name}-emits-{e.signal.name}", e.loc)
    for name, value in s.resources.items():
        if name not in K8S_RESOURCES:
            diags.append(warning("W1007", f"{where}: resource `{name}` has no executor setting; it is recorded on "
                                          "the task only", value.loc,
                                 notes=(f"known resources: {', '.join(sorted(K8S_RESOURCES))}",)))
        elif not X.is_constant(value):
            diags.append(error("E1004", f"{where}: resource `{name}` must be a literal", value.loc))


def _check_trigger(diags, flow: ir.Flow, t: ir.Trigger | None) -> None:
    if t is None:
        return
    for name, value in t.match.items():
        _expr_diag(diags, value, step_scope(flow), f"trigger of `{flow.name}`, field `{name}`", flow)
    for i in t.items:
        _check_trigger(diags, flow, i)


# ------------------------------------------------------------------ lowering


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    from mlc.targets.airflow.render import render

    local = is_local(program, env)
    ids = dag_ids(program, layout)
    awaited = awaited_flows(program)
    comps = completions(program)
    plans = [FlowLowering(program, layout, key, ids[key], env, local, key in awaited, comps.get(key, [])).plan()
             for key in sorted(program.flows)]
    plans += [features_plan(program, layout, key, ids[key], env, local)
              for key in sorted(program.feature_groups) if key in ids]
    out = []
    if plans:
        module = runtime_module({h for p in plans for h in p.helpers})
        name = f"{RUNTIME_MODULE}_{hashlib.sha256(module.encode()).hexdigest()[:12]}"
        defined = set(re.findall(r"^def (_mlc_\w+)\(", module, re.M))
        for p in plans:
            p.runtime = sorted(defined & set(re.findall(r"\b_mlc_\w+", _plan_code(p))))
            p.helpers = [h for h in p.helpers if h in LOCAL_HELPERS]
            if p.runtime:
                p.runtime_module = name
                p.references.append(layout.airflow_dags_file(f"{name}.py"))
        if any(p.runtime for p in plans):
            out += [Artifact(layout.airflow_dags_file(f"{name}.py"), module, kind="airflow-module"),
                    # not a DAG file: the DagBag skips it (a name, which both ignore syntaxes match)
                    Artifact(layout.airflow_dags_file(".airflowignore"), f"{name}.py\n", kind="airflow-ignore")]
    out[:0] = [Artifact(p.path, render("dag.py.j2", plan=p), kind="airflow-dag", source=p.source,
                        references=tuple(p.references)) for p in plans]
    if any(k == "deadline" for p in plans for k, _ in p.dag_kwargs):
        late = any("alerts" in code for p in plans for k, code in p.dag_kwargs if k == "deadline")
        out.append(Artifact(layout.airflow_plugin("mlc_deadlines"), render("deadlines.py.j2", alerts=late),
                            kind="airflow-plugin"))
    if program.flows:
        # each run's success, which the monitoring target's flow dashboards, completion and freshness alerts read
        out.append(Artifact(layout.airflow_plugin("mlc_metrics"),
                            render("metrics.py.j2", metric=M.FLOW_LAST_SUCCESS, step_metric=M.STEP_LAST_SUCCESS,
                                   job=M.PUSH_JOB), kind="airflow-plugin"))
    if local:
        out += P.runtime_specs(program, layout)
    return out


def runtime_module(helpers: set[str]) -> str:
    """The text of RUNTIME_MODULE: the helpers of helpers.py.j2 that the bundle's DAGs use, but
    their own (only those: what the module imports when a task runs is what the S3 deploy
    lists as the DAGs' requirements)."""
    from mlc.targets.airflow.render import render

    return render("runtime.py.j2", plan=DagPlan("", "", "", "", {}, [], sorted(helpers - LOCAL_HELPERS),
                                                [], [], [], []))


def _plan_code(p: DagPlan) -> str:
    """The code a DAG file's plan holds (what may call a helper)."""
    parts = [line for f in p.funcs for line in f.body] + [code for _, code in p.dag_kwargs]
    parts += [kw[1] for t in p.tasks for kw in t.kwargs] + [t.mapped or "" for t in p.tasks]
    return "\n".join(parts)


def _datetime_code(when) -> str:
    """`datetime(2026, 1, 1, tzinfo=timezone.utc)`: a UTC instant as code."""
    parts = [when.year, when.month, when.day] + ([when.hour, when.minute] if when.hour or when.minute or when.second
                                                 else []) + ([when.second] if when.second else [])
    return "datetime(" + ", ".join(str(p) for p in parts) + ", tzinfo=timezone.utc)"


def _where(loc) -> str:
    return f", {source_line(loc)}" if loc else ""


def _header(kind: str, name: str, key: str, where: str, env: str) -> str:
    return (f"Airflow DAG of {kind} `{name}` ({key}{where}), environment `{env}`.\n\n"
            "Generated by mlc; do not edit: change the .flow source and recompile.")


def _base_dag_kwargs(decl: ir.Decl, dag_id: str) -> list[tuple[str, str]]:
    kw: list[tuple[str, str]] = [("dag_id", py(dag_id))]
    if decl.description:
        kw.append(("description", py(decl.description)))
    doc = _doc(decl.doc, decl.description)
    if doc:
        kw.append(("doc_md", py(doc)))
    if decl.tags:
        kw.append(("tags", py(list(decl.tags))))
    if decl.owner:
        kw.append(("default_args", "{" + f'"owner": {py(decl.owner)}' + "}"))
    return kw


def _schedule_code(s: ir.Schedule, imports: dict[str, set[str]], timetable: bool) -> str:
    """A DAG `schedule` value, or with `timetable=True` a timetable object (for AssetOrTimeSchedule)."""
    if s.kind == "interval":
        code, _ = timedelta_code(int(s.every_ms or 0))
        imports.setdefault("datetime", set()).add("timedelta")
        if timetable:
            imports.setdefault("airflow.sdk", set()).add("DeltaTriggerTimetable")
            return f"DeltaTriggerTimetable({code})"
        return code
    cron = s.airflow
    if timetable:
        imports.setdefault("airflow.sdk", set()).add("CronTriggerTimetable")
        return f'CronTriggerTimetable({py(cron)}, timezone="UTC")'
    return py(cron)


def _resources(step: ir.Step, local: bool) -> tuple[dict[str, str], dict[str, str]]:
    """(kubernetes requests, everything as written) for a step's `resources { }`."""
    requests: dict[str, str] = {}
    written: dict[str, str] = {}
    for name, value in step.resources.items():
        text = value.text if value.op == "lit" and value.text else (
            str(X.literal_value(value)) if X.is_constant(value) else "")
        if value.op == "lit" and value.kind in ("int", "float"):
            text = str(value.value)
        written[name] = text
        if name in K8S_RESOURCES:
            requests[K8S_RESOURCES[name]] = text
    return requests, written


class FlowLowering:
    def __init__(self, program: ir.Program, layout: Layout, key: str, dag_id: str, env: str, local: bool,
                 awaited: bool, completion: list[tuple[str, ir.Objective]]) -> None:
        self.program, self.key, self.dag_id, self.env, self.local = program, key, dag_id, env, local
        self.layout = layout
        self.references: list[str] = []
        self.flow = program.flows[key]
        self.awaited = awaited
        self.completion = completion
        self.names = Names()
        self.imports: dict[str, set[str]] = {"airflow.sdk": {"DAG"}}
        self.helpers: set[str] = set()
        self.funcs: list[Func] = []
        self.tasks: list[Task] = []
        self.edges: list[tuple[str, str]] = []
        self.assets: dict[str, tuple[str, str, str, str]] = {}   # asset name -> (var, name, uri, comment)
        self.params = {p.name: p.type for p in self.flow.params}
        self.trigger = trigger_fields(self.flow, program.signals)[0]
        self.reads_trigger = False   # a step reads `trigger.F`: the DAG gets `_trigger_payload`
        self.trigger_func = self.names.get("_trigger_payload")

    # assets ----------------------------------------------------------------
    def asset(self, kind: str, key: str, comment: str) -> str:
        if kind == "signal":
            name, uri = signal_asset(self.layout, key, self.program.signals.get(key))
        else:
            name, uri = own_asset(self.layout, kind, key)
        return self._asset_var(name, uri, f"asset_{kind}_{key.rsplit('.', 1)[-1]}", comment)

    def _keyed_asset(self, key: str, comment: str, keys: tuple[str, ...]) -> str:
        """The sibling of signal `key` keyed by `keys` (`keyed_assets`)."""
        _, name, uri = next(k for k in keyed_assets(self.layout, key, self.program.signals.get(key)) if k[0] == keys)
        return self._asset_var(name, uri, f"asset_signal_{key.rsplit('.', 1)[-1]}_by_{'_'.join(keys)}",
                               f"{comment}, keyed by {', '.join(keys)}")

    def _asset_var(self, name: str, uri: str, var_name: str, comment: str) -> str:
        if name not in self.assets:
            var = self.names.get(var_name)
            self.assets[name] = (var, name, uri, comment)
            self.imports["airflow.sdk"].add("Asset")
        return self.assets[name][0]

    def _signal_name(self, key: str) -> str:
        s = self.program.signals.get(key)
        return s.name if s else key

    # the DAG ---------------------------------------------------------------
    def plan(self) -> DagPlan:
        f = self.flow
        kw = _base_dag_kwargs(f, self.dag_id)
        kw.insert(1, ("schedule", self._schedule()))
        kw.insert(2, ("catchup", py(bool(f.catchup))))
        # what the completion bounds assume, whatever the deployment's default
        kw.insert(3, ("max_active_tasks", str(MAX_ACTIVE_TASKS)))
        at = 4
        for name, text in (("start_date", f.start), ("end_date", f.end)):
            when = parse_utc(text)[0] if text is not None else None
            if when is not None:
                self.imports.setdefault("datetime", set()).update({"datetime", "timezone"})
                kw.insert(at, (name, _datetime_code(when)))
                at += 1
        if f.params:
            self.imports["airflow.sdk"].add("Param")
            kw.append(("params", self._params()))
        deadline = self._deadline()
        if deadline:
            kw.append(("deadline", deadline))
        self._steps()
        kw += P.dag_kwargs(self)
        if self.reads_trigger:
            kw.append(("user_defined_macros", '{"mlc_trigger": ' + self._trigger_payload() + "}"))
        order = {t.var: i for i, t in enumerate(self.tasks)}
        edges = sorted(dict.fromkeys(self.edges), key=lambda e: (order[e[0]], order[e[1]]))
        return DagPlan(
            path=self.layout.flow_dag(self.key), source=self.key,
            header=_header("flow", f.name, self.key, _where(f.loc), self.env),
            dag_id=self.dag_id, imports=self.imports,
            assets=sorted(self.assets.values(), key=lambda a: a[0]),
            helpers=sorted(self.helpers), funcs=self.funcs, dag_kwargs=kw, tasks=self.tasks, edges=edges,
            references=self.references)

    def _schedule(self) -> str:
        f = self.flow
        if f.trigger is None:
            return _schedule_code(f.schedule, self.imports, False) if f.schedule else "None"
        assets = self._trigger_assets(f.trigger)
        if partitioned(f):
            self.imports["airflow.sdk"].add("PartitionedAssetTimetable")
            return f"PartitionedAssetTimetable(assets={assets})"
        if f.schedule is None:
            return assets
        self.imports["airflow.sdk"].add("AssetOrTimeSchedule")
        timetable = _schedule_code(f.schedule, self.imports, True)
        return f"AssetOrTimeSchedule(timetable={timetable}, assets={assets})"

    def _trigger_assets(self, t: ir.Trigger) -> str:
        if t.kind in ("all", "any"):
            cls = "AssetAll" if t.kind == "all" else "AssetAny"
            self.imports["airflow.sdk"].add(cls)
            return f"{cls}(" + ", ".join(self._trigger_assets(i) for i in t.items) + ")"
        var = self._leaf_asset(t)
        # A single asset still goes in a list: `schedule=[asset]`.
        return var if t is not self.flow.trigger else f"[{var}]"

    def _leaf_asset(self, t: ir.Trigger) -> str:
        key = t.target.target if t.target and t.target.target else (t.target.name if t.target else "")
        if t.kind == "on_finish":
            return self.asset("flow", key, f"a run of flow `{t.target.name}` finished")
        if partitioned(self.flow):
            return self._keyed_asset(key, f"signal `{t.target.name}`", self.flow.match_keys)
        return self.asset("signal", key, f"signal `{t.target.name}`")

    def _trigger_payload(self) -> str:
        """The function that reads the payload of the signal event that started a run (also a
        template macro, `mlc_trigger`, for values Airflow renders)."""
        self.helpers.add("trigger")
        pairs = []
        for t in self.flow.trigger.leaves():
            if t.kind != "signal" or not (t.target and t.target.target):
                continue
            expected = {k: X.code(v, X.Scope({})) for k, v in t.match.items() if X.is_constant(v)}
            test = self._expected(t, X.Scope({}))[1]   # the payload's comparisons, if any
            pairs.append(f"({self._leaf_asset(t)}, " + "{" + ", ".join(f"{py(k)}: {v}" for k, v in expected.items())
                         + "}" + (f", {test}" if test else "") + ")")
        name = self.trigger_func
        self.funcs.insert(0, Func(name, "events", "The payload of the signal event that started this run, as "
                                  "`trigger.FIELD` reads it:\nthe newest event of the trigger's signals that matches "
                                  "it; {} for a run that the schedule,\na person or on_finish started.",
                                  [f"return _mlc_trigger(events, [{', '.join(dict.fromkeys(pairs))}])"]))
        return name

    def _params(self) -> str:
        lines = []
        for p in self.flow.params:
            lines.append(f"        {py(p.name)}: {param_code(p)},")
        return "{\n" + "\n".join(lines) + "\n    }"

    def _deadline(self) -> str | None:
        alerts = []
        for slo, o in self.completion:
            offset = deadline_offset_ms(self.flow, o)
            if offset is None:
                continue
            td, human = timedelta_code(offset)
            self.imports["airflow.sdk"] |= {"AsyncCallback", "DeadlineAlert", "DeadlineReference"}
            self.imports.setdefault("datetime", set()).add("timedelta")
            kwargs = {"objective": self.layout.branched(slo), "flow": self.dag_id, "by": str(o.value.value)}
            late = P.destinations(self.program, self.env, self.flow, "late")
            if late:
                kwargs["alerts"] = late
            alerts.append(
                "DeadlineAlert(\n"
                "        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,\n"
                f"        interval={td},  # {human} after the scheduled start: {o.value.value} UTC\n"
                f'        callback=AsyncCallback("mlc_deadlines.completion_missed", kwargs={py(kwargs)}),\n'
                f"        name={py(self.layout.branched(slo))},\n"
                "    )")
        if not alerts:
            return None
        return alerts[0] if len(alerts) == 1 else "[" + ", ".join(alerts) + "]"

    # steps -----------------------------------------------------------------
    def _steps(self) -> None:
        f = self.flow
        first: dict[str, str] = {}
        last: dict[str, str] = {}
        when_steps: set[str] = set()
        for s in f.steps:
            first[s.name], last[s.name] = self._step(s)
            if s.on_failure == "continue":
                last[s.name] = P.continue_after(self, s, last[s.name])
            if s.when is not None:
                when_steps.add(s.name)
        ups = {s.name: [e.upstream.name for e in f.edges if e.downstream.name == s.name] for s in f.steps}
        downs = {s.name: [e.downstream.name for e in f.edges if e.upstream.name == s.name] for s in f.steps}
        for e in f.edges:
            if e.upstream.name in last and e.downstream.name in first:
                self.edges.append((last[e.upstream.name], first[e.downstream.name]))
        # A step after a `when` step still runs when that step was skipped (not when it failed).
        for s in f.steps:
            if any(u in when_steps for u in ups[s.name]):
                task = self._task(first[s.name])
                task.kwargs.append(("trigger_rule", '"none_failed"'))
        roots = [s.name for s in f.steps if not ups[s.name]]
        P.runs_gate(self, [first[r] for r in roots], [last[s.name] for s in f.steps if not downs[s.name]])
        heads = [first[r] for r in roots]
        bound = [p for p in f.params if binding(p) is not None]
        if bound:
            bind = self._bind_task(bound)
            for h in heads:
                self.edges.insert(0, (bind, h))
            heads = [bind]
        if self._has_match(f.trigger):
            gate = self._match_task()
            for h in heads:
                self.edges.insert(0, (gate, h))
        if self.awaited:
            sinks = [s for s in f.steps if not downs[s.name]]
            var = self.asset("flow", self.key, f"this flow finished (flows wait for it with on_finish({f.name}))")
            direct = len(sinks) == 1 and first[sinks[0].name] == last[sinks[0].name] and not sinks[0].emits \
                and sinks[0].foreach is None
            if direct:
                _add_outlet(self._task(last[sinks[0].name]), var)
            elif sinks:
                join = self._add_task(
                    "join_finished", "finished", "PythonOperator",
                    [("python_callable", "_mlc_noop"), ("trigger_rule", '"none_failed_min_one_success"'),
                     ("outlets", f"[{var}]")],
                    [f"Marks the end of a run of `{f.name}`: flows that wait with on_finish({f.name}) start now."])
                self.helpers.add("noop")
                self._op("PythonOperator")
                for s in sinks:
                    self.edges.append((last[s.name], join))

    def bundle_file(self, path: str) -> str:
        """Code for where a file of the bundle is on the worker; the DAG references it."""
        self.references.append(path)
        self.helpers.add("bundle")
        return f"_mlc_bundle_file({py(path)})"

    def _task(self, var: str) -> Task:
        return next(t for t in self.tasks if t.var == var)

    def _op(self, operator: str) -> None:
        modules = {
            "PythonOperator": "airflow.providers.standard.operators.python",
            "ShortCircuitOperator": "airflow.providers.standard.operators.python",
            "BashOperator": "airflow.providers.standard.operators.bash",
            "SparkSubmitOperator": "airflow.providers.apache.spark.operators.spark_submit",
            "TriggerDagRunOperator": "airflow.providers.standard.operators.trigger_dagrun",
        }
        self.imports.setdefault(modules[operator], set()).add(operator)

    def _add_task(self, var_base: str, task_id: str, operator: str, kwargs, comment=(), mapped=None) -> str:
        var = self.names.get(var_base)
        self._op(operator)
        kwargs = list(kwargs)
        if not kwargs or kwargs[0][0] != "task_id":
            kwargs.insert(0, ("task_id", py(task_id)))
        self.tasks.append(Task(var, task_id, operator, list(kwargs), list(comment), mapped))
        return var

    def _func(self, base: str, doc: str, body: list[str], uses: set[str]) -> str:
        name = self.names.get(base)
        if "secret" in uses:
            self.helpers.add("secret")
        pre = []
        if "params" in uses:
            pre.append('params = context["params"]')
        if "run_id" in uses:
            pre.append('run_id = context["run_id"]')
        if "trigger" in uses:
            self.reads_trigger = True
            pre.append(f'trigger = {self.trigger_func}(context["triggering_asset_events"])')
        if "returns" in uses:
            self.helpers.add("returned")
        self.funcs.append(Func(name, "**context", doc, pre + body))
        return name

    def _common_kwargs(self, s: ir.Step) -> list[tuple[str, str]]:
        kw: list[tuple[str, str]] = []
        if s.retries is not None:
            kw.append(("retries", py(s.retries)))
        if s.retry_delay_ms is not None:
            code, human = timedelta_code(s.retry_delay_ms)
            kw.append(("retry_delay", code, human))
            self.imports.setdefault("datetime", set()).add("timedelta")
        if s.timeout_ms is not None:
            code, human = timedelta_code(s.timeout_ms)
            kw.append(("execution_timeout", code, human))
            self.imports.setdefault("datetime", set()).add("timedelta")
        if s.owner:
            kw.append(("owner", py(s.owner)))
        image = P.image(self, s)
        if s.resources or image:
            requests, written = _resources(s, self.local)
            if self.local or not (requests or image):
                kw.append(("executor_config", "{" + f'"mlc_resources": {py(written)}' + "}"))
            else:
                self.helpers.add("pod")
                pod = f"_mlc_pod({py(requests)}" + (f", image={py(image)}" if image else "") + ")"
                kw.append(("executor_config", "{" + f'"pod_override": {pod}' + "}"))
        kw += P.step_kwargs(self, s)
        doc = self._step_doc(s)
        if doc:
            kw.append(("doc_md", py(doc)))
        return kw

    def _step_doc(self, s: ir.Step) -> str | None:
        facts = []
        if s.produces:
            facts.append(f"Produces model `{s.produces.name}`.")
        if s.uses:
            facts.append("Uses model " + ", ".join(f"`{u.name}`" for u in s.uses) + ".")
        if s.deterministic is not None:
            facts.append("Declared " + ("deterministic." if s.deterministic else "nondeterministic."))
        if s.tags:
            facts.append("Tags: " + ", ".join(s.tags) + ".")
        if s.resources and self.local:
            facts.append("Resources (recorded only in this environment): "
                         + ", ".join(f"{k} {v}" for k, v in _resources(s, True)[1].items()) + ".")
        return _doc(s.doc, " ".join(facts))

    def _arg_text(self, value: ir.Expr, mode: str, scope: X.Scope) -> str:
        """Code of a text argument: a constant, a Jinja template (`mode="jinja"`) or Python."""
        if mode == "py":
            if X.is_constant(value) and value.op == "lit" and value.kind == "string":
                return py(str(value.value))
            self.helpers.add("text")
            return f"_mlc_text({X.code(value, scope, 'py')})"
        if X.is_constant(value):
            text = _constant_text(value)
            if text.endswith(TEMPLATE_FILE_SUFFIXES):
                # else Airflow reads it as the name of a template file and renders that file
                return py("{{ " + py_str(text, jinja=True) + " }}")
            return py(X.jinja_text(text))
        inner = X.code(value, scope, "jinja")
        return py("{{ " + inner + (" | tojson" if X.is_list(value) else "") + " }}")

    def _job_args(self, s: ir.Step, mode: str, scope: X.Scope) -> str:
        """`--name value` for every flow parameter (and the foreach variable), as a list's code."""
        parts = []
        for p in self.flow.params:
            ref = ir.Expr(op="ref", name=p.name, target=f"param:{p.name}")
            parts += [py(f"--{p.name}"), self._arg_text(ref, mode, scope)]
        if mode == "py" and s.foreach is not None:
            parts += [py(f"--{s.foreach.var}"), self._arg_text(_item(s.foreach.var), mode, scope)]
        return "[" + ", ".join(parts) + "]"

    def _env(self, s: ir.Step, mode: str, scope: X.Scope, given: dict[str, str] | None = None) -> str:
        """The code of a step's environment: where its artifacts are and `given` (variable -> code
        of its value) first, so that the step's own `env { }` overrides them."""
        items = [f"{py(k)}: {v}" for k, v in {**self._artifact_env(s, mode), **(given or {})}.items()]
        items += [f"{py(k)}: {self._arg_text(v, mode, scope)}" for k, v in s.env.items()]
        if mode == "py" and s.foreach is not None and s.foreach.var not in s.env:
            items.append(f"{py(s.foreach.var)}: {self._arg_text(_item(s.foreach.var), mode, scope)}")
        return "{" + ", ".join(items) + "}"

    def _artifact_env(self, s: ir.Step, mode: str) -> dict[str, str]:
        """`MLC_ARTIFACT_<NAME>`: where each artifact the step reads or writes is in this env (its
        location, resolved once per env; a step never spells the path itself)."""
        out: dict[str, str] = {}
        for r in (*s.reads, *s.writes):
            a = self.program.artifacts.get(r.target or "")
            if a is not None:
                where = self.layout.artifact_location(r.target, self.env)
                out[self.layout.artifact_variable(a.name)] = py(X.jinja_text(where) if mode == "jinja" else where)
        return out

    def _lineage(self, s: ir.Step) -> list[tuple[str, str]]:
        """`inlets`/`outlets`: the assets of the artifacts a step reads and writes (Airflow's
        lineage; writing one also records an asset event, which nothing is scheduled on)."""
        kw = []
        for word, refs in (("inlets", s.reads), ("outlets", s.writes)):
            assets = [self.asset("artifact", r.target, f"artifact `{r.name}`") for r in refs
                      if r.target in self.program.artifacts]
            if assets:
                kw.append((word, "[" + ", ".join(dict.fromkeys(assets)) + "]"))
        return kw

    # step kinds: each adds its operator's arguments to `call` and names the operator ----
    def _python(self, s: ir.Step, call: StepCall, arg, text: str, jscope, pscope) -> str:
        module, _, function = text.partition(":")
        call.static += [("python_callable", "_mlc_python_step"), ("op_args", py([module, function]))]
        self.helpers.add("python_step")
        given = self._training_env(s)
        data = bool(s.reads or s.writes)
        policy = P.python_kwargs(self, s)   # returns, retries by class, runtime
        if policy:
            self.helpers.add("python_policy")
            call.static[1] = ("python_callable", "_mlc_policy_step")
        if s.foreach is not None:
            env = f', "mlc_env": {self._env(s, "py", pscope, given)}' if s.env or given or data else ""
            call.per_item.append(("op_kwargs", "{" + ", ".join([f"{py(s.foreach.var)}: item{env}", *policy]) + "}"))
        elif s.env or given or data or policy:
            env = [f'"mlc_env": {self._env(s, "jinja", jscope, given)}'] if s.env or given or data else []
            call.static.append(("op_kwargs", "{" + ", ".join(env + policy) + "}"))
        return "PythonOperator"

    def _training_env(self, s: ir.Step) -> dict[str, str]:
        """A step that `produces` a model reads its training set from the feature store: it gets
        the repository and the model's feature service (docs/targets/feast.md, Training sets).
        A step that produces or `uses` a model gets the names in the BentoML store (a test
        branch's own, `Layout.served_model`) of those models and their fallbacks, which its code
        saves and loads under: it never spells the branch."""
        key = s.produces.target if s.produces is not None else None
        models = [r.target for r in (*s.uses, *([s.produces] if s.produces else ())) if r.target in self.program.models]
        if not models:
            return {}
        stored = self.layout.stored_models(models)
        env = {"MLC_BENTO_MODELS": py(json.dumps(stored, sort_keys=True))}
        if key in self.program.models:
            env |= {"MLC_FEAST_REPO": self.bundle_file(self.layout.feast_repo()),
                    "MLC_FEATURE_SERVICE": py(self.layout.model_service(key))}
        return env

    def _bash(self, s: ir.Step, call: StepCall, arg, text: str, jscope, pscope) -> str:
        command = text
        if command.rstrip().endswith(TEMPLATE_FILE_SUFFIXES):
            command += " "   # else Airflow reads the command as the path of a template file
        call.static.append(("bash_command", py(X.jinja_text(command))))
        if s.foreach is not None:
            call.per_item.append(("env", self._env(s, "py", pscope)))
        elif s.env or s.reads or s.writes:
            call.static.append(("env", self._env(s, "jinja", jscope)))
        # In the worker's working directory (the project root), as every other step; Airflow
        # would otherwise run the command in a fresh temporary folder.
        call.static += [("append_env", "True"), ("cwd", '"."')]
        return "BashOperator"

    def _spark(self, s: ir.Step, call: StepCall, arg, text: str, jscope, pscope) -> str:
        # the step's launcher, which applies the env's Spark settings, then runs the user's job
        launcher = self.bundle_file(self.layout.spark_step_launcher(self.key, s.name))
        # shipped with the job, so that the launcher finds it in cluster mode too
        runtime = self.bundle_file(self.layout.spark_runtime())
        call.static += [("application", launcher), ("py_files", runtime), ("name", py(self.layout.job_name(self.key, s.name)))]
        if s.foreach is not None:
            call.per_item.append(("application_args", self._job_args(s, "py", pscope)))
            if s.env or s.reads or s.writes:
                call.per_item.append(("env_vars", self._env(s, "py", pscope)))
        else:
            if self.flow.params:
                call.static.append(("application_args", self._job_args(s, "jinja", jscope)))
            if s.env or s.reads or s.writes:
                call.static.append(("env_vars", self._env(s, "jinja", jscope)))
        return "SparkSubmitOperator"

    def _flink(self, s: ir.Step, call: StepCall, arg, text: str, jscope, pscope) -> str:
        self.helpers.add("flink")
        call.static += [("python_callable", "_mlc_flink"), ("op_args", py([X.jinja_text(text)]))]
        mode, scope = ("py", pscope) if s.foreach is not None else ("jinja", jscope)
        kwargs = ("op_kwargs", "{" + f'"args": {self._job_args(s, mode, scope)}, '
                  f'"env": {self._env(s, mode, scope)}, "local": {py(self.local)}' + "}")
        (call.per_item if s.foreach is not None else call.static).append(kwargs)
        return "PythonOperator"

    def _materialize(self, s: ir.Step, call: StepCall, arg, text: str, jscope, pscope) -> str:
        self.helpers.add("materialize")
        key = str(arg.value) if arg is not None else ""
        name = self.layout.feature_view_id(key) if key in self.program.feature_groups else \
            (arg.name if arg is not None else "")
        repo = self.bundle_file(self.layout.feast_repo())
        call.static += [("python_callable", "_mlc_materialize"), ("op_args", f"[{py(name)}, {repo}]")]
        return "PythonOperator"

    def _deploy(self, s: ir.Step, call: StepCall, arg, text: str, jscope, pscope) -> str:
        self.helpers.add("deploy")
        key = str(arg.value) if arg is not None else ""
        model = self.program.models.get(key)
        name = model.name if model else (arg.name if arg is not None else "")
        service = self.bundle_file(self.layout.bento_service(key)) if model else py("")
        call.static += [("python_callable", "_mlc_deploy"),
                        ("op_args", f"[{py(name)}, {service}, {py(not self.local)}]")]
        return "PythonOperator"

    def _step(self, s: ir.Step) -> tuple[str, str]:
        """Adds the tasks of one step; returns the vars of its first and last task."""
        if s.kind == "subflow":
            return P.subflow(self, s, dag_ids(self.program, self.layout).get(s.subflow.target if s.subflow else "", ""))
        mapped = s.foreach is not None
        jscope = step_scope(self.flow, s, trigger=self.trigger)
        pscope = step_scope(self.flow, s, item=True, trigger=self.trigger)
        call = StepCall([("task_id", py(s.name))])
        arg = s.args[0] if s.args else None
        text = str(arg.value) if arg is not None and arg.op == "lit" else ""
        operator = STEP_KINDS[s.kind](self, s, call, arg, text, jscope, pscope)
        if "trigger" in jscope.used | pscope.used:
            self.reads_trigger = True
        static, per_item = call.static, call.per_item
        static += self._lineage(s)
        static += self._common_kwargs(s)

        first: str | None = None
        if s.when is not None and not mapped:
            scope = step_scope(self.flow, s, trigger=self.trigger)
            cond = X.code(s.when, scope)
            fn = self._func(f"_when_{s.name}", f"`when` of step {s.name}: the step runs only if this holds.",
                            [f"return bool({cond})"], scope.used)
            first = self._add_task(f"when_{s.name}", f"{s.name}-when", "ShortCircuitOperator",
                                   [("python_callable", fn), ("ignore_downstream_trigger_rules", "False")])
        mapped_arg = None
        if mapped:
            scope = step_scope(self.flow, s, trigger=self.trigger)
            items = X.code(s.foreach.items, scope)
            iscope = step_scope(self.flow, s, item=True, trigger=self.trigger)
            row = "{" + ", ".join(f"{py(k)}: {v}" for k, v in per_item) + "}"
            body = [f"items = {items}"]
            cond = f" if {X.code(s.when, iscope)}" if s.when is not None else ""
            uses = scope.used | iscope.used | pscope.used
            body.append(f"return [_mlc_inert({row}) for item in items{cond}]")
            self.helpers.add("inert")
            doc = f"The instances of step {s.name}: one per element of its `foreach`"
            doc += " that passes its `when`." if s.when is not None else "."
            fn = self._func(f"_items_{s.name}", doc, body, uses)
            items_var = self._add_task(f"items_{s.name}", f"{s.name}-foreach", "PythonOperator",
                                       [("python_callable", fn)])
            if first is not None:
                self.edges.append((first, items_var))
            else:
                first = items_var
            mapped_arg = f"{items_var}.output"
        step_var = self._add_task(f"step_{s.name}", s.name, operator, static, mapped=mapped_arg)
        if mapped_arg is not None:
            self.edges.append((mapped_arg.rsplit(".", 1)[0], step_var))
        elif first is not None:
            self.edges.append((first, step_var))
        first = first or step_var
        last = step_var
        if s.gate is not None:
            scope = step_scope(self.flow, s, metrics=True, trigger=self.trigger)
            cond = X.code(s.gate, scope)
            if "result" in scope.used:
                self.helpers.add("result")
                if mapped:
                    body = [f"return all(bool({cond}) for result in _mlc_results(context, {py(s.name)}, mapped=True))"]
                else:
                    body = [f"result = _mlc_results(context, {py(s.name)})[0]", f"return bool({cond})"]
            else:
                body = [f"return bool({cond})"]
            fn = self._func(f"_gate_{s.name}", f"`gate` of step {s.name}: the flow stops here unless it holds.",
                            body, scope.used)
            gate = self._add_task(f"gate_{s.name}", f"{s.name}-gate", "ShortCircuitOperator",
                                  [("python_callable", fn)])
            self.edges.append((step_var, gate))
            last = gate
        for e in s.emits:
            self._emit(s, e, last)
        return first, last

    def _emit(self, s: ir.Step, e: ir.Emit, after: str) -> None:
        key = e.signal.target or e.signal.name
        var = self.asset("signal", key, f"signal `{e.signal.name}`")
        scope = step_scope(self.flow, s, metrics=True, trigger=self.trigger)
        payload = "{" + ", ".join(f"{py(k)}: {X.code(v, scope)}" for k, v in e.payload.items()) + "}"
        body = []
        if "result" in scope.used:
            self.helpers.add("result")
            body.append(f"result = _mlc_results(context, {py(s.name)}, mapped={py(s.foreach is not None)})[0]")
        body += [f"payload = {payload}",
                 f"context[\"outlet_events\"][{var}].extra = payload"]
        outlets = [var]
        for keys, _, _ in keyed_assets(self.layout, key, self.program.signals.get(key)):
            # the flows that join it on `keys` listen to this sibling (see `partitioned`)
            self.helpers.add("keyed")
            sibling = self._keyed_asset(key, f"signal `{e.signal.name}`", keys)
            outlets.append(sibling)
            body += [f"_mlc_keyed(context[\"outlet_events\"][{sibling}], payload, {py(list(keys))})"]
        body.append("return payload")
        fn = self._func(f"_emit_{s.name}_{e.signal.name}",
                        f"Publishes signal {e.signal.name} after step {s.name}, with its payload.", body, scope.used)
        task = self._add_task(f"emit_{s.name}_{e.signal.name}", f"{s.name}-emits-{e.signal.name}", "PythonOperator",
                              [("python_callable", fn), ("outlets", f"[{', '.join(outlets)}]")])
        self.edges.append((after, task))

    def _has_match(self, t: ir.Trigger | None) -> bool:
        if t is None:
            return False
        return bool(t.match or t.conditions or t is self.flow.trigger and self.flow.match_keys) or any(
            self._has_match(i) for i in t.items)

    def _expected(self, t: ir.Trigger, scope: X.Scope) -> tuple[str, str | None]:
        """The code of what an event of a signal leaf must carry (`field = value`) and of its
        comparisons (`rows >= 1000`, a lambda over the payload; None without any)."""
        expected = "{" + ", ".join(f"{py(k)}: {X.code(v, scope)}" for k, v in t.match.items()) + "}"
        if not t.conditions:
            return expected, None
        fields = X.Scope(scope.params, trigger=frozenset(n for c in t.conditions for n in _trigger_refs(c)))
        test = " and ".join(f"({X.code(c, fields)})" for c in t.conditions)
        return expected, f"lambda trigger: {test}"

    def _match_code(self, t: ir.Trigger, scope: X.Scope) -> str:
        if t.kind in ("all", "any"):
            joiner = " and " if t.kind == "all" else " or "
            return "(" + joiner.join(self._match_code(i, scope) for i in t.items) + ")"
        var = self._leaf_asset(t)
        expected, test = self._expected(t, scope)
        return f"_mlc_events_match(context, {var}, {expected}{', ' + test if test else ''})"

    def _join_code(self, scope: X.Scope) -> str:
        """`trigger ... match ds`: the events of every signal agree on the keys."""
        self.helpers.add("join")
        leaves = []
        for t in self.flow.trigger.leaves():
            if t.kind == "signal" and t.target is not None and t.target.target:
                expected, test = self._expected(t, scope)
                leaves.append(f"({self._leaf_asset(t)}, {expected}, {test or 'None'})")
        return f"_mlc_join(context, [{', '.join(dict.fromkeys(leaves))}], {py(list(self.flow.match_keys))})"

    def _bind_task(self, bound: list[ir.Param]) -> str:
        """`params-bind`: the values of the parameters bound to the run (`run.date`, a payload
        field), returned for the steps to read; a run started by hand must pass the payload's."""
        self.helpers.add("bind")
        lines = []
        for p in bound:
            target = binding(p) or ""
            if target == "run:date":
                value = "_mlc_run_date(context)"
            else:
                key, _, field = target[len("signal:"):].rpartition(".")
                leaf = next(t for t in self.flow.trigger.leaves() if t.kind == "signal" and t.target
                            and t.target.target == key)
                expected, test = self._expected(leaf, X.Scope({}))
                value = f'_mlc_field(context["triggering_asset_events"], {self._leaf_asset(leaf)}, {expected}, ' \
                        f"{py(field)}{', ' + test if test else ''})"
            lines.append(f"    {py(p.name)}: _mlc_bound(params, {py(p.name)}, {value}, {py(p.default.name)}),")
        fn = self._func("_bind_params", "The values of the parameters bound to what started this run.",
                        ["return {", *lines, "}"], {"params"})
        var = self._add_task("bind_params", X.BIND_TASK, "PythonOperator", [("python_callable", fn)],
                             ["Binds " + ", ".join(f"`{p.name}` to `{p.default.name}`" for p in bound) + "."])
        self.tasks.insert(0, self.tasks.pop())
        return var

    def _describe(self, t: ir.Trigger) -> str:
        if t.kind in ("all", "any"):
            return "(" + f" {'and' if t.kind == 'all' else 'or'} ".join(self._describe(i) for i in t.items) + ")"
        if t.kind == "on_finish":
            return f"on_finish({t.target.name})"
        fields = ", ".join([f"{k} = {_describe_expr(v)}" for k, v in t.match.items()]
                           + [_describe_expr(c) for c in t.conditions])
        return f"signal({t.target.name}{', ' + fields if fields else ''})"

    def _match_task(self) -> str:
        self.helpers.add("match")
        scope = step_scope(self.flow)
        cond = self._match_code(self.flow.trigger, scope)
        if self.flow.match_keys:
            cond = f"{cond} and {self._join_code(scope)}"
        desc = self._describe(self.flow.trigger)
        if desc.startswith("(") and desc.endswith(")"):
            desc = desc[1:-1]
        if self.flow.match_keys:
            desc += " match " + ", ".join(self.flow.match_keys)
        body = ["if _mlc_started_by_schedule(context):", "    return True", f"return {cond}"]
        fn = self._func("_match_trigger",
                        f"Runs the flow's steps only if the events that started this run match\n"
                        f"`{desc}`.\nA run started by the schedule or by hand passes.", body, scope.used)
        var = self._add_task("match_trigger", "trigger-match", "ShortCircuitOperator", [("python_callable", fn)])
        self.tasks.insert(0, self.tasks.pop())   # first in the file, as it is first in the run
        return var


def _add_outlet(task: Task, var: str) -> None:
    """Adds an asset to a task's `outlets`, beside those it has (a step that writes artifacts)."""
    for i, (key, code, *rest) in enumerate(task.kwargs):
        if key == "outlets":
            task.kwargs[i] = (key, code[:-1] + f", {var}]", *rest)
            return
    task.kwargs.append(("outlets", f"[{var}]"))


# Each step kind of the language and the method that lowers it (the checker rejects any
# other kind, E0405).
STEP_KINDS = {
    "python": FlowLowering._python,
    "bash": FlowLowering._bash,
    "spark": FlowLowering._spark,
    "flink": FlowLowering._flink,
    "materialize": FlowLowering._materialize,
    "deploy": FlowLowering._deploy,
}


def _trigger_refs(e: ir.Expr):
    """The payload fields a condition on a signal's events reads (`trigger:F` refs)."""
    if e.op == "ref" and (e.target or "").startswith("trigger:"):
        yield e.target.split(":", 1)[1]
    for a in e.args:
        yield from _trigger_refs(a)


def _describe_expr(e: ir.Expr) -> str:
    if e.op == "lit":
        return e.text or repr(e.value)
    if e.op == "ref":
        return e.name or ""
    if e.op == "binop" and len(e.args) == 2:
        return f"{_describe_expr(e.args[0])} {e.name} {_describe_expr(e.args[1])}"
    return "..."


def _constant_text(value: ir.Expr) -> str:
    """The text of a constant value passed to a program (an env var, an argument)."""
    if value.op == "list":
        import json

        return json.dumps(X.literal_value(value))
    if value.kind == "string":
        return str(value.value)
    if value.kind == "bool":
        return "True" if value.value else "False"
    if value.kind in ("duration", "size", "percent") and value.text:
        return value.text
    return str(value.value)


# ------------------------------------------------------------------ params


def _schema(t: ir.TypeSpec) -> dict:
    if t.element is not None:
        out: dict = {"type": "array", "items": _schema(t.element)}
    elif t.name == "enum":
        out = {"type": "string", "enum": list(t.args)}
    elif t.name == "date":
        out = {"type": "string", "format": "date"}
    elif t.name == "timestamp":
        out = {"type": "string", "format": "date-time"}
    elif t.name == "duration":
        out = {"type": "string", "pattern": r"^([0-9]+(ms|s|m|h|d|w))+$"}
    else:
        out = {"type": {"string": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(t.name, "string")}
    if t.nullable:
        out["type"] = [out["type"], "null"]
    return out


def _default_ok(p: ir.Param) -> bool:
    """A literal, or for an enum parameter one of its bare names."""
    def ok(e: ir.Expr, t: ir.TypeSpec) -> bool:
        if e.op == "list":
            return all(ok(a, t.element or t) for a in e.args)
        return e.op == "lit" or (e.op == "ref" and t.name == "enum")
    return ok(p.default, p.type) if p.default is not None else False


def param_value(e: ir.Expr, t: ir.TypeSpec):
    if e.op == "list":
        inner = t.element or t
        return [param_value(a, inner) for a in e.args]
    if e.kind == "duration":
        return e.text
    if e.op == "ref":
        return e.name
    if t.name == "float" and e.kind == "int":
        return float(e.value)
    return e.value


def param_code(p: ir.Param) -> str:
    schema = _schema(p.type)
    parts = []
    if p.default is not None and _default_ok(p):
        parts.append(py(param_value(p.default, p.type)))
    elif binding(p) is not None:
        # no value until the run binds it (BIND_TASK); a run started by hand may pass one
        parts.append("None")
        if not p.type.nullable:
            schema["type"] = [schema["type"], "null"]
        schema["description"] = f"bound to {p.default.name} when the run starts; pass it to a run started by hand"
    parts += [f"{k}={py(v)}" for k, v in schema.items()]
    return f"Param({', '.join(parts)})"


# ------------------------------------------------------------------ feature pipelines


def features_plan(program: ir.Program, layout: Layout, key: str, dag_id: str, env: str, local: bool) -> DagPlan:
    g = program.feature_groups[key]
    imports: dict[str, set[str]] = {"airflow.sdk": {"DAG", "Asset"}}
    names = Names()
    kw = _base_dag_kwargs(g, dag_id)
    kw.insert(1, ("schedule", _schedule_code(g.schedule, imports, False) if g.schedule else "None"))
    kw.insert(2, ("catchup", "False"))
    aname, auri = own_asset(layout, "features", key)
    avar = names.get(f"asset_features_{g.name}")
    tasks: list[Task] = []
    job, repo = layout.spark_feature_job(key), layout.feast_repo()
    runtime = layout.spark_runtime()
    compute_kw = [("task_id", '"compute"'), ("application", f"_mlc_bundle_file({py(job)})"),
                  ("py_files", f"_mlc_bundle_file({py(runtime)})"), ("name", py(dag_id))]
    gap_ms = g.schedule.longest_gap_ms if g.schedule is not None else None
    if gap_ms is not None:
        gap = gap_ms // 1000
        # The windows that end since the previous run (the Spark job widens them to whole days).
        compute_kw.append(("application_args", py([
            "--from", "{{ (dag_run.run_after - macros.timedelta(seconds=" + str(gap) + ")).isoformat() }}",
            "--to", "{{ dag_run.run_after.isoformat() }}"])))
    if g.timeout_ms is not None:
        code, human = timedelta_code(g.timeout_ms)
        compute_kw.append(("execution_timeout", code, human))
        imports.setdefault("datetime", set()).add("timedelta")
    compute_kw.append(("doc_md", py(f"Computes feature group `{g.name}` from "
                                     + ", ".join(f"`{s.name}`" for s in g.sources) + " (Spark).")))
    imports.setdefault("airflow.providers.apache.spark.operators.spark_submit", set()).add("SparkSubmitOperator")
    compute = names.get("step_compute")
    tasks.append(Task(compute, "compute", "SparkSubmitOperator", compute_kw))
    edges = []
    helpers = ["bundle"]
    references = [job, runtime]
    if g.online:
        imports.setdefault("airflow.providers.standard.operators.python", set()).add("PythonOperator")
        helpers.append("materialize")
        mat = names.get("step_materialize")
        tasks.append(Task(mat, "materialize", "PythonOperator", [
            ("task_id", '"materialize"'), ("python_callable", "_mlc_materialize"),
            ("op_args", f"[{py(layout.feature_view_id(key))}, _mlc_bundle_file({py(repo)})]"),
            ("doc_md", py(f"Copies `{g.name}` from the offline to the online store (Feast)."))]))
        edges.append((compute, mat))
        references.append(repo)
    tasks[-1].kwargs.append(("outlets", f"[{avar}]"))
    return DagPlan(
        path=layout.features_dag(key), source=key,
        header=_header("feature group", g.name, key, _where(g.loc), env),
        dag_id=dag_id, imports=imports,
        assets=[(avar, aname, auri, f"feature group `{g.name}` refreshed (offline and online)")],
        helpers=helpers, funcs=[], dag_kwargs=kw, tasks=tasks, edges=edges, references=references)
