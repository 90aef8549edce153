"""Run policy, step returns, subflows, runtimes and alerts (issue 19).

- E1402 an expression reads `step.field` of a step that does not run before it (not upstream
  of the reader through the flow's edges; a step's own `gate` and `emits` may read its own);
- E1403 `returns` on a step that cannot return values (only python and subflow steps do);
- E1404 subflows that call each other in a cycle (named flow by flow);
- E1405 a subflow argument the child flow has no parameter for, or a parameter without a
  default that the subflow does not pass;
- E1406 a subflow's `returns` field that no step of the child flow returns with that type;
- E1407 `parallel N` on a step without `foreach`;
- E1408 `runtime` on a step that does not run Python code of the project (a spark, flink,
  materialize or deploy step runs in its engine's environment);
- E1409 an `alert` destination that an env does not bind, or binds to a connector that is
  not an alert destination (`pagerduty`, `slack`, `log`);
- W1410 `alert { late X }` on a flow without a `completion` objective (nothing can be late);
- E1411 `retries { ... }` by class of failure on a step that is not a python step (the class
  is decided where the failure is raised: in the python runtime of the step);
- E1412 `gate`, `emits` or `env` on a subflow step (its child flow's steps take them; what
  follows the subflow reads its returns).
"""

from __future__ import annotations

import networkx as nx

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.infer import type_name, walk
from mlc.compiler.references import step_returns
from mlc.diagnostics import Label, did_you_mean, error, warning

RETURNING_KINDS = ("python", "subflow")
RUNTIME_KINDS = ("python", "bash")
ALERT_KIND = "alert"


def upstream(flow: ir.Flow) -> dict[str, set[str]]:
    """Each step's ancestors through the flow's edges (the steps that finish before it starts)."""
    before: dict[str, set[str]] = {s.name: set() for s in flow.steps}
    for e in flow.edges:
        before.setdefault(e.downstream.name, set()).add(e.upstream.name)
    out: dict[str, set[str]] = {}

    def close(name: str, seen: frozenset[str]) -> set[str]:
        if name in out:
            return out[name]
        got: set[str] = set()
        for u in before.get(name, ()):
            if u not in seen:   # a cycle is E0401's to report
                got |= {u} | close(u, seen | {u})
        out[name] = got
        return got

    for s in flow.steps:
        close(s.name, frozenset({s.name}))
    return out


def _reads(s: ir.Step) -> list[tuple[ir.Expr, bool]]:
    """The expressions of a step with whether each is evaluated after the step ran (gate, emits)."""
    before = [*s.args, *s.env.values(), *([s.when] if s.when else []),
              *([s.foreach.items] if s.foreach else [])]
    after = [*([s.gate] if s.gate else []), *(v for e in s.emits for v in e.payload.values())]
    return [(e, False) for e in before] + [(e, True) for e in after]


def _check_reads(ctx: Context, flow: ir.Flow) -> None:
    # the checks run before the refs are annotated (`mlc.compiler.references`): names are
    # looked up as the annotation will read them
    returned = step_returns(flow)
    ancestors = upstream(flow)
    for s in flow.steps:
        for e, after in _reads(s):
            for node in walk(e):
                if node.op != "ref" or (node.name or "") not in returned:
                    continue
                step = (node.name or "").split(".", 1)[0]
                if step in ancestors.get(s.name, ()) or (after and step == s.name):
                    continue
                ctx.report(error(
                    "E1402", f"step `{s.name}` reads `{node.name}`, but `{step}` does not run before it",
                    node.loc, help=f"add the edge `{step} >> {s.name}`" if step != s.name else
                    "a step reads its own values only in its `gate` and `emits`",
                    notes=("a step reads the values of the steps upstream of it: they have finished when it "
                           "starts",)))


def _check_step(ctx: Context, flow: ir.Flow, s: ir.Step) -> None:
    if s.returns and s.kind not in RETURNING_KINDS:
        first = s.returns[0].loc
        ctx.report(error("E1403", f"a {s.kind} step cannot return values", first,
                         help="return them from a python step (its function returns a dict), or write them to "
                              "an artifact",
                         notes=("python steps return a dict holding every field of `returns`; a subflow returns "
                                "what its flow's steps return",)))
    if s.parallel is not None and s.foreach is None:
        ctx.report(error("E1407", f"`parallel {s.parallel}` on step `{s.name}`, which has no `foreach`", s.loc,
                         help="bound a fan-out: `foreach r in regions, parallel 4`"))
    if s.runtime is not None and s.runtime.target is not None and s.kind not in RUNTIME_KINDS:
        ctx.report(error("E1408", f"a {s.kind} step does not run in a runtime", s.runtime.loc,
                         help="remove `runtime`: " + ("the job runs in its engine's environment"
                                                      if s.kind in ("spark", "flink") else
                                                      "the step runs in the platform's own environment"),
                         notes=(f"runtimes apply to {' and '.join(RUNTIME_KINDS)} steps",)))
    if s.retry_policy is not None and s.kind != "python":
        ctx.report(error("E1411", f"retries by class of failure on a {s.kind} step", s.retry_policy.loc,
                         help=f"write one count (`retries {s.retry_policy.attempts}`), or run the work from a "
                              "python step",
                         notes=("the class of a failure (error, platform, timeout) is decided where it is raised: "
                                "in the python runtime of a step; Airflow itself retries every failure alike",)))
    if s.kind == "subflow":
        for clause, there in (("gate", s.gate), ("emits", s.emits), ("env", s.env)):
            if there:
                ctx.report(error("E1412", f"`{clause}` on subflow step `{s.name}`", s.loc,
                                 help=f"put it on a step of the subflow's flow, or on a step after `{s.name}` "
                                      "that reads its returns",
                                 notes=("a subflow step runs another flow and waits for it: its parameters are its "
                                        "named arguments, its values its `returns`",)))
    if s.kind == "subflow" and s.subflow is not None and s.subflow.target in ctx.program.flows:
        _check_subflow(ctx, flow, s, ctx.program.flows[s.subflow.target])


def _check_subflow(ctx: Context, flow: ir.Flow, s: ir.Step, child: ir.Flow) -> None:
    params = {p.name: p for p in child.params}
    given = {a.name: a for a in s.args if a.op == "arg"}
    for name, a in given.items():
        if name not in params:
            ctx.report(error("E1405", f"flow `{child.name}` has no parameter `{name}`", a.loc,
                             help=did_you_mean(name or "", params),
                             notes=(f"its parameters: {', '.join(params) or 'none'}",)))
    missing = [p.name for p in child.params if p.default is None and p.name not in given]
    if missing:
        ctx.report(error("E1405", f"subflow `{child.name}` needs `{missing[0]}`", s.loc,
                         help=f"pass it: `subflow({child.name}, {missing[0]} = ...)`",
                         labels=(Label(next(p.loc for p in child.params if p.name == missing[0]),
                                       "declared here without a default"),)))
    returned: dict[str, list[tuple[str, ir.Field]]] = {}
    for cs in child.steps:
        for f in cs.returns:
            returned.setdefault(f.name, []).append((cs.name, f))
    for f in s.returns:
        found = returned.get(f.name, [])
        if len(found) != 1 or type_name(found[0][1].type) != type_name(f.type):
            why = ("no step of it returns it" if not found else
                   f"steps {', '.join(f'`{n}`' for n, _ in found)} each return it" if len(found) > 1 else
                   f"its step `{found[0][0]}` returns {type_name(found[0][1].type)}")
            ctx.report(error("E1406", f"subflow `{s.name}` returns `{f.name}`, but flow `{child.name}` does not give "
                                      f"one: {why}", f.loc,
                             help=did_you_mean(f.name, returned) if not found else None,
                             notes=("a subflow returns, per run of its flow, the value of the one step of that "
                                    "flow returning a field of that name and type",)))


def _check_cycles(ctx: Context) -> None:
    g = nx.DiGraph()
    for key, flow in ctx.program.flows.items():
        for s in flow.steps:
            if s.kind == "subflow" and s.subflow is not None and s.subflow.target in ctx.program.flows:
                g.add_edge(key, s.subflow.target, loc=s.loc, step=s.name)
    reported: set[frozenset[str]] = set()
    for comp in sorted((sorted(c) for c in nx.strongly_connected_components(g)), key=lambda c: c[0]):
        if len(comp) == 1 and not g.has_edge(comp[0], comp[0]):
            continue
        cycle = [u for u, _v in nx.find_cycle(g.subgraph(comp), source=comp[0])]
        if frozenset(cycle) in reported:
            continue
        reported.add(frozenset(cycle))
        hops = [f"{ctx.program.flows[a].name} --{g.edges[a, b]['step']}--> {ctx.program.flows[b].name}"
                for a, b in zip(cycle, cycle[1:] + [cycle[0]])]
        ctx.report(error("E1404", "subflows run each other in a cycle: " + ", ".join(hops),
                         g.edges[cycle[0], cycle[1 % len(cycle)]]["loc"],
                         help="a run of a flow would wait for itself forever: break one of these subflow steps"))


def _check_alerts(ctx: Context, flow: ir.Flow, late_ok: bool) -> None:
    bound: set[str] = set()  # destinations judged: `failure oncall, late oncall` is one binding
    for route in flow.alerts:
        if route.event == "late" and not late_ok:
            # a deadline is a time of day after the run's start: a flow started by a trigger has no
            # daily start to count from (the Airflow target's W1005), so an objective would not help
            daily = flow.schedule is not None and flow.schedule.daily_start_ms is not None
            ctx.report(warning("W1410", f"`late {route.to}`: flow `{flow.name}` has no `completion` objective, so no "
                                        "run is ever late", route.loc,
                               help=f'add `slo on_time {{ completion({flow.name}) by "06:00" }}`, or remove it'
                               if daily else f"remove it: a run of `{flow.name}` starts when it is triggered, not at a "
                                             "time of day, so it has no deadline to miss"))
        if route.to in bound:
            continue
        bound.add(route.to)
        for env in ctx.program.envs.values():
            use = env.bindings.get(route.to)
            conn = ctx.program.connectors.get(use.connector.target or "") if use is not None else None
            if use is None:
                ctx.report(error("E1409", f"env `{env.name}` binds no alert destination `{route.to}`", route.loc,
                                 labels=(Label(env.loc, f"env `{env.name}`"),),
                                 help=f"add `{route.to} = log()` (or `pagerduty(key = secret(\"...\"))`, "
                                      f"`slack(channel = \"#...\", webhook = secret(\"...\"))`) to env `{env.name}`"))
            elif conn is not None and ALERT_KIND not in conn.kinds:
                ctx.report(error("E1409", f"`{route.to}` is bound to `{conn.name}` in env `{env.name}`, which is not "
                                          "an alert destination", use.loc, labels=(Label(route.loc, "alerted here"),),
                                 help="bind it to `pagerduty(...)`, `slack(...)` or `log()`"))


def check(ctx: Context) -> None:
    completed = {o.target.target for slo in ctx.program.slos.values() for o in slo.objectives
                 if o.kind == "completion"}
    for key, flow in ctx.program.flows.items():
        for s in flow.steps:
            _check_step(ctx, flow, s)
        _check_reads(ctx, flow)
        _check_alerts(ctx, flow, key in completed)
    _check_cycles(ctx)
