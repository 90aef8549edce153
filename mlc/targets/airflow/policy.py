"""The Airflow lowering of issue 19's run policy (docs/language.md has the user's view,
docs/targets/airflow.md the reasons):

| language | Airflow 3.3 |
|---|---|
| `returns { f: T }` on a python step | the function's dict is the task's XCom `return_value`, checked against the fields |
| `step.f` in `when`, `gate`, `env`, payloads | `_mlc_returned` over `xcom_pull(task_ids=step)` (a list for a foreach step) |
| `retries { error N, platform N, timeout N }` | `retries` = the largest count; the python runtime classifies each failure and fails for good (`AirflowFailException`) once its class has used its count |
| `backoff fixed(D)` / `exponential(D, max = M)` | `retry_delay` / plus `retry_exponential_backoff=2.0`, `max_retry_delay` |
| `on_failure continue` | a `S-done` task (`trigger_rule="all_done"`) between the step and its successors; with `alert { failure X }`, the step's `on_failure_callback` sends X a warning |
| `runs sequential` / `parallel N` | `max_active_runs=1` / `N` |
| `runs last_only` | `max_active_runs=1` and a `runs-policy` short-circuit first: a run that starts while a newer run is queued skips its steps |
| `runs first_only` | `max_active_runs=1`, a `runs-policy` short-circuit first and a `runs-policy-end` task last: a run triggered before the run doing the work ended (its `run_after` before that run's end, kept in the Variable `mlc_first_only__DAG`: while it ran, or earlier but started after it) skips its steps; a working run that ended without its end task (marked failed) holds nothing |
| `alert { failure X }` | DAG `on_failure_callback` sending to X as the env binds it (pagerduty, slack, log; on a test branch a pager or channel without `branches = true` is the log) |
| `alert { late X }` | the completion `DeadlineAlert`'s callback sends to X too |
| `runtime R` on a step | in a cluster env: the image in the task's `executor_config` pod override; locally: the step's function runs with `$MLC_RUNTIMES/<runtime key>/bin/python`, the environment the local deploy finds or builds from `airflow/runtimes/<key>.json` |
| `subflow(F, k = v)` [`foreach`, `parallel N`] | `S-runs`: `TriggerDagRunOperator` (mapped, `max_active_tis_per_dagrun=N`, `wait_for_completion=True`) with a run id derived from the parent's; `S`: collects each child run's returns from its XComs |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlc.compiler import ir
from mlc.compiler.infer import type_name
from mlc.targets.layout import Layout
from mlc.targets.literals import py

if TYPE_CHECKING:
    from mlc.targets.airflow.target import FlowLowering

POKE_SECONDS = 5   # how often a subflow step looks at its child runs


def python_kwargs(fl: "FlowLowering", s: ir.Step) -> list[str]:
    """The `op_kwargs` entries `_mlc_python_step` reads for a step's run policy, as code."""
    out = []
    if s.returns:
        out.append(f'"mlc_returns": {py({f.name: type_name(f.type) or "json" for f in s.returns})}')
    if s.retry_policy is not None:
        p = s.retry_policy
        out.append(f'"mlc_retry": {py({"error": p.error, "platform": p.platform, "timeout": p.timeout})}')
    runtime = runtime_of(fl.program, s)
    if runtime is not None and fl.local:
        out.append(f'"mlc_runtime": {py(s.runtime.target)}')
    return out


def runtime_of(program: ir.Program, s: ir.Step) -> ir.Runtime | None:
    return program.runtimes.get(s.runtime.target or "") if s.runtime is not None else None


def runtime_specs(program: ir.Program, layout) -> list:
    """In a local env: the spec of each runtime a step names, from which the deploy makes its
    environment (`mlc.deploy.runtimes`)."""
    import json

    from mlc.targets import Artifact

    used = sorted({s.runtime.target for f in program.flows.values() for s in f.steps
                   if s.runtime is not None and s.runtime.target in program.runtimes})
    return [Artifact(layout.airflow_runtime(key), json.dumps(
        {"python": program.runtimes[key].python, "pypi": list(program.runtimes[key].pypi)}, sort_keys=True) + "\n",
        kind="airflow-runtime", source=key) for key in used]


def image(fl: "FlowLowering", s: ir.Step) -> str | None:
    """The runtime's image, for the task's pod outside a local env."""
    runtime = runtime_of(fl.program, s)
    return runtime.image if runtime is not None and not fl.local else None


def step_kwargs(fl: "FlowLowering", s: ir.Step) -> list[tuple]:
    """Operator arguments of the retry backoff, of a bounded fan-out and of the warning an
    `on_failure continue` step's failure sends."""
    from mlc.targets.airflow.target import timedelta_code

    kw: list[tuple] = []
    warn = continued_alert(fl) if s.on_failure == "continue" else None
    if warn is not None:
        kw.append(("on_failure_callback", warn))
    p = s.retry_policy
    if p is not None and p.backoff == "exponential":
        kw.append(("retry_exponential_backoff", "2.0", "the wait doubles after each attempt"))
        if p.max_delay_ms is not None:
            code, human = timedelta_code(p.max_delay_ms)
            kw.append(("max_retry_delay", code, human))
            fl.imports.setdefault("datetime", set()).add("timedelta")
    if s.parallel is not None:
        kw.append(("max_active_tis_per_dagrun", py(s.parallel), f"parallel {s.parallel}"))
    return kw


def continued_alert(fl: "FlowLowering") -> str | None:
    """The task callback of the flow's `on_failure continue` steps: the run goes on, but the failure
    is sent to the flow's `alert { failure X }` destinations as a warning (one function per flow)."""
    failure = destinations(fl.program, fl.env, fl.flow, "failure")
    if not failure:
        return None
    doc = f"`on_failure continue` in flow {fl.flow.name}: a step failed and the run goes on; a warning to its alerts."
    for f in fl.funcs:
        if f.doc == doc:
            return f.name
    from mlc.targets.airflow.target import Func

    fl.helpers.update(("alert", "alert_continued"))
    fn = fl.names.get("_alert_continued")
    fl.funcs.append(Func(fn, "context", doc,
                         [f'_mlc_alert({py(failure)}, _mlc_continued_message(context), severity="warning")']))
    return fn


def continue_after(fl: "FlowLowering", s: ir.Step, last: str) -> str:
    """`on_failure continue`: a task that runs whatever the step's outcome, so that the steps
    after it (and the run) go on when it failed."""
    fl.helpers.add("noop")
    done = fl._add_task(f"done_{s.name}", f"{s.name}-done", "PythonOperator",
                        [("python_callable", "_mlc_noop"), ("trigger_rule", '"all_done"')],
                        [f"`on_failure continue`: what comes after {s.name} runs even when it failed."])
    fl.edges.append((last, done))
    return done


def runs_gate(fl: "FlowLowering", roots: list[str], sinks: list[str]) -> None:
    """The `runs-policy` task of `runs last_only` / `first_only`, before every first step; for
    `first_only`, a `runs-policy-end` task after every last one, which records that the run
    that did the work has ended."""
    runs = fl.flow.runs
    if runs is None or runs.mode not in ("last_only", "first_only"):
        return
    fl.helpers.add("runs")
    fn = fl._func("_runs_policy", f"`runs {runs.mode}`: whether this run does its work.",
                  [f"return _mlc_runs_policy(context, {py(runs.mode)})"], set())
    gate = fl._add_task("runs_policy", "runs-policy", "ShortCircuitOperator", [("python_callable", fn)])
    fl.tasks.insert(0, fl.tasks.pop())
    for r in roots:
        fl.edges.insert(0, (gate, r))
    if runs.mode == "first_only":
        end = fl._add_task("runs_policy_end", "runs-policy-end", "PythonOperator",
                           [("python_callable", "_mlc_runs_ended"), ("trigger_rule", '"all_done"')],
                           ["`runs first_only`: the run that did the work has ended; runs that come now work."])
        fl.edges += [(s, end) for s in sinks]


def dag_kwargs(fl: "FlowLowering") -> list[tuple[str, str]]:
    """`max_active_runs` of the run policy and the failure alert callback."""
    kw: list[tuple[str, str]] = []
    runs = fl.flow.runs
    if runs is not None:
        n = runs.limit if runs.mode == "parallel" else 1
        if n is not None:
            kw.append(("max_active_runs", py(n)))
    failure = destinations(fl.program, fl.env, fl.flow, "failure")
    if failure:
        fl.helpers.add("alert")
        from mlc.targets.airflow.target import Func

        fn = fl.names.get("_alert_failure")
        fl.funcs.append(Func(fn, "context", f"`alert {{ failure ... }}` of flow {fl.flow.name}: a run failed.",
                             [f"_mlc_alert({py(failure)}, _mlc_failure_message(context))"]))
        kw.append(("on_failure_callback", fn))
    return kw


def destinations(program: ir.Program, env: str, flow: ir.Flow, event: str) -> list[dict]:
    """Where alerts of `event` go in `env`: each destination's kind and settings, a secret as
    the environment variable that holds it (`{"env": "MLC_SECRET_PD"}`), never its value. A test
    branch's destinations are what it may call (`Layout.branch_alert`: the run's log for a pager)."""
    resolved = Layout(program).environment(env) if env in program.environments else None
    out = []
    for route in flow.alerts:
        binding = resolved.alerts.get(route.to) if resolved is not None else None
        if route.event != event or binding is None:
            continue
        settings = {k: ({"env": v.env} if isinstance(v, ir.Secret) else v) for k, v in sorted(binding.settings.items())}
        out.append({"kind": binding.connector, "name": route.to, **settings})
    return out


def subflow(fl: "FlowLowering", s: ir.Step, dag_id: str) -> tuple[str, str]:
    """`S-runs` triggers the child flow's runs and waits for them; `S` collects their returns."""
    from mlc.targets.airflow import expr as X
    from mlc.targets.airflow.target import step_scope

    fl.imports.setdefault("airflow.providers.standard.operators.trigger_dagrun", set()).add(
        "TriggerDagRunOperator")
    child = fl.program.flows.get(s.subflow.target or "") if s.subflow is not None else None
    scope = step_scope(fl.flow, s, item=True, trigger=fl.trigger)
    conf = "{" + ", ".join(f"{py(a.name)}: {X.code(a.args[0], scope)}" for a in s.args if a.op == "arg") + "}"
    fl.helpers.add("inert")
    outer = step_scope(fl.flow, s, trigger=fl.trigger)
    if s.foreach is not None:
        items = X.code(s.foreach.items, outer)
        cond = f" if {X.code(s.when, scope)}" if s.when is not None else ""
        body = [f"items = [item for item in {items}{cond}]"]
    else:
        body = ["items = [None]"]
    body.append("return [_mlc_inert({\"conf\": " + conf + ", \"trigger_run_id\": f\"{run_id}.{step}.{i}\"})"
                " for i, item in enumerate(items)]")
    body.insert(0, f"step = {py(s.name)}")
    fn = fl._func(f"_runs_{s.name}", f"The runs of flow {child.name if child else ''} that step {s.name} starts: "
                                     "their parameters and run ids.", body, scope.used | outer.used | {"run_id"})
    items_var = fl._add_task(f"items_{s.name}", f"{s.name}-foreach", "PythonOperator", [("python_callable", fn)])
    kwargs = [("task_id", py(f"{s.name}-runs")), ("trigger_dag_id", py(dag_id)), ("wait_for_completion", "True"),
              ("poke_interval", py(POKE_SECONDS)), ("deferrable", "False")]
    kwargs += [k for k in fl._common_kwargs(s) if k[0] not in ("doc_md",)]
    runs = fl._add_task(f"step_{s.name}_runs", f"{s.name}-runs", "TriggerDagRunOperator", kwargs,
                        [f"Step {s.name}: a run of flow {child.name if child else ''} per instance, waited for."],
                        mapped=f"{items_var}.output")
    fl.edges.append((items_var, runs))
    fields = {f.name: _giver(child, f.name) for f in s.returns}
    fl.helpers.add("subflow")
    collect = fl._add_task(f"step_{s.name}", s.name, "PythonOperator", [
        ("python_callable", "_mlc_subflow_returns"),
        ("op_args", f"[{py(dag_id)}, {py(s.name)}, {py(fields)}, {py(s.foreach is not None)}]")],
        [f"What the runs of step {s.name} returned (one value per run)."])
    fl.edges.append((runs, collect))
    first = items_var
    if s.when is not None and s.foreach is None:
        cond = X.code(s.when, outer)
        when = fl._func(f"_when_{s.name}", f"`when` of step {s.name}: the step runs only if this holds.",
                        [f"return bool({cond})"], outer.used)
        first = fl._add_task(f"when_{s.name}", f"{s.name}-when", "ShortCircuitOperator",
                             [("python_callable", when), ("ignore_downstream_trigger_rules", "False")])
        fl.edges.append((first, items_var))
    return first, collect


def _giver(child: ir.Flow | None, name: str) -> str:
    """The step of the child flow that returns `name` (checked unique: E1406)."""
    for s in child.steps if child is not None else ():
        if any(f.name == name for f in s.returns):
            return s.name
    return ""
