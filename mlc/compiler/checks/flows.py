"""Flows: step kinds and arguments, edges, cycles and unconnected steps.

- E0401 a cycle among the steps of a flow (named step by step);
- E0402 a cycle of flows through `on_finish` and signals;
- W0403 a step connected to no other step of a flow that has edges;
- E0404 an edge naming a step the flow lacks;
- E0405 an unknown step kind; E0406 a step argument of the wrong form (a python entry point
  that is not `module.path:function` of Python names, a second argument, an empty command);
- E0407 a spark or flink job that is not a relative .py path inside the project;
- E0409 a flow without steps;
- E0601 an SLO template used with the wrong number of arguments.

The names and types of a flow's expressions are checked in `flow_expressions`.
"""

from __future__ import annotations

import keyword
import re

import networkx as nx

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.graph import flow_chain_graph
from mlc.diagnostics import Label, did_you_mean, error, warning

# kind -> what its one positional argument is
STEP_KINDS = {
    "python": "an entry point string \"module:function\"",
    "spark": "the path of a PySpark job",
    "flink": "the path of a PyFlink job",
    "bash": "a command string",
    "materialize": "a feature group",
    "deploy": "a model",
    "subflow": "a flow, then its parameters by name",
}


def _check_step(ctx: Context, flow: ir.Flow, step: ir.Step) -> None:
    if step.kind not in STEP_KINDS:
        ctx.report(error("E0405", f"unknown step kind `{step.kind}`", step.loc,
                         help=did_you_mean(step.kind, STEP_KINDS),
                         notes=(f"step kinds: {', '.join(STEP_KINDS)}",)))
        return
    positional = [a for a in step.args if a.op != "arg"]
    wants_ref = step.kind in ("materialize", "deploy", "subflow")
    first = positional[0] if positional else None
    ok = first is not None and (first.op == "ref" if wants_ref else (first.op == "lit" and first.kind == "string"))
    if not ok:
        ctx.report(error("E0406", f"`{step.kind}` takes {STEP_KINDS[step.kind]}",
                         first.loc if first is not None else step.loc,
                         help=f"for example `{_example(step.kind)}`"))
        return
    # a subflow's named arguments are its parameters (checked with the run policy)
    for extra in (a for a in step.args if a is not first and not (step.kind == "subflow" and a.op == "arg")):
        ctx.report(error("E0406", f"`{step.kind}(...)` takes one argument: {STEP_KINDS[step.kind]}", extra.loc,
                         help="remove this argument" + ("; values reach the step through `env { NAME = value }`"
                                                        if step.kind in ("spark", "flink", "bash") else "")))
    text = str(first.value)
    if step.kind == "python" and ":" not in text:
        ctx.report(error("E0406", "a python step names its entry point as \"module:function\"", first.loc,
                         help=f'write `python("{text}:main")`'))
    elif step.kind == "python" and (bad := _entry_point_fault(text)):
        ctx.report(error("E0406", f"`{text}` is not `module.path:function` of Python names: {bad}", first.loc,
                         help="a module path of Python identifiers, a colon, a function name, none of them a "
                              "keyword: `python(\"package.module:main\")`"))
    elif step.kind in ("spark", "flink") and not _job_path(text):
        ctx.report(error("E0407", f"`{text}` is not the path of a .py file inside the project", first.loc,
                         help=f"write the path relative to the project's root, without `..`: "
                              f"`{step.kind}(\"jobs/job.py\")`",
                         notes=("the job runs from the project's root, where the deployed project is",)))
    elif step.kind == "bash" and not text.strip():
        ctx.report(error("E0406", "`bash(...)` takes a command; this one is empty", first.loc,
                         help=f"for example `{_example('bash')}`"))


_JOB_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.py\Z")


def _entry_point_fault(text: str) -> str | None:
    """What keeps `text` from being `module.path:function` of Python identifiers that are not
    keywords; None when it is one."""
    module, _, function = text.partition(":")
    for part in (*module.split("."), function):
        if not part.isidentifier():
            return f"`{part}` is not a Python name" if part else "a part is empty"
        if keyword.iskeyword(part):
            return f"`{part}` is a Python keyword"
    return None


def _job_path(text: str) -> bool:
    """A relative path of a .py file, inside the project (no `..` part)."""
    return bool(_JOB_PATH.match(text)) and ".." not in text.split("/")


def _example(kind: str) -> str:
    return {"python": 'python("package.module:main")', "spark": 'spark("jobs/job.py")',
            "flink": 'flink("jobs/job.py")', "bash": 'bash("echo $MESSAGE")',
            "materialize": "materialize(my_features)", "deploy": "deploy(my_model)",
            "subflow": "subflow(train_one, region = r)"}[kind]


def _check_edges(ctx: Context, flow: ir.Flow) -> None:
    names = {s.name for s in flow.steps}
    edges: list[ir.Edge] = []
    connected: set[str] = set()
    broken = False
    for e in flow.edges:
        ok = True
        for r in (e.upstream, e.downstream):
            if r.name not in names:
                ok = False
                ctx.report(error("E0404", f"flow `{flow.name}` has no step `{r.name}`", r.loc,
                                 help=did_you_mean(r.name, names)))
        if ok:
            edges.append(e)
        broken = broken or not ok
        connected.update((e.upstream.name, e.downstream.name))
    if edges and not _acyclic(names, edges):
        g = nx.DiGraph()
        g.add_nodes_from(names)
        for e in edges:
            g.add_edge(e.upstream.name, e.downstream.name, loc=e.upstream.loc)
        for cycle in _cycles(g):
            path = " >> ".join(cycle + [cycle[0]])
            locs = [g.edges[a, b]["loc"] for a, b in zip(cycle, cycle[1:] + [cycle[0]])]
            ctx.report(error("E0401", f"the steps of flow `{flow.name}` form a cycle: {path}", locs[0],
                             labels=tuple(Label(loc, "") for loc in locs[1:]),
                             help="a flow is a DAG: remove one of these edges"))
    if flow.edges and len(flow.steps) > 1 and not broken:
        for s in flow.steps:
            if s.name not in connected:
                ctx.report(warning("W0403", f"step `{s.name}` is connected to no other step of `{flow.name}`",
                                   s.loc, help=f"add it to an edge (`... >> {s.name}`), or it runs on its "
                                               "own as soon as the flow starts"))


def _acyclic(names: set[str], edges: list[ir.Edge]) -> bool:
    """Kahn's algorithm: the common case, a DAG, is told without building a networkx graph
    for each of thousands of flows (which is what naming a cycle needs)."""
    after: dict[str, list[str]] = {n: [] for n in names}
    waiting = dict.fromkeys(names, 0)
    for e in edges:
        after[e.upstream.name].append(e.downstream.name)
        waiting[e.downstream.name] += 1
    ready = [n for n, k in waiting.items() if k == 0]
    done = 0
    while ready:
        n = ready.pop()
        done += 1
        for m in after[n]:
            waiting[m] -= 1
            if waiting[m] == 0:
                ready.append(m)
    return done == len(names)


def _cycles(g: nx.DiGraph) -> list[list[str]]:
    """One cycle per strongly connected component, starting at its smallest node (deterministic)."""
    out = []
    for comp in sorted((sorted(c) for c in nx.strongly_connected_components(g)), key=lambda c: c[0]):
        if len(comp) == 1 and not g.has_edge(comp[0], comp[0]):
            continue
        sub = g.subgraph(comp)
        cycle = nx.find_cycle(sub, source=comp[0])
        out.append([u for u, _v in cycle])
    return out


def _check_chains(ctx: Context) -> None:
    chain = flow_chain_graph(ctx.graph)
    for cycle in _cycles(chain):
        hops = []
        for a, b in zip(cycle, cycle[1:] + [cycle[0]]):
            via = chain.edges[a, b]["via"]
            hops.append(f"{ctx.graph.nodes[a]['label']} --{'signal ' + via if via else 'on_finish'}--> "
                        f"{ctx.graph.nodes[b]['label']}")
        first = ctx.graph.nodes[cycle[0]]
        ctx.report(error("E0402", "flows trigger each other in a cycle: " + ", ".join(hops),
                         first.get("loc"), help="break the chain: one of these flows must not wait for the other"))


def _check_slo_uses(ctx: Context) -> None:
    for slo in ctx.program.slos.values():
        if slo.template is None or slo.template.target is None:
            continue
        template = ctx.program.slos.get(slo.template.target)
        if template is None:
            continue
        if not template.params:
            ctx.report(error("E0601", f"`{template.name}` is an slo, not a template", slo.template.loc,
                             help="a template declares parameters: `slo name(target, bound) { ... }`"))
        elif len(slo.args) != len(template.params):
            ctx.report(error("E0601", f"template `{template.name}` takes {len(template.params)} arguments "
                                      f"({', '.join(template.params)}); {len(slo.args)} given", slo.loc,
                             labels=(Label(template.loc, "declared here"),)))


def check(ctx: Context) -> None:
    for flow in ctx.program.flows.values():
        if not flow.steps:
            ctx.report(error("E0409", f"flow `{flow.name}` has no steps", flow.loc,
                             help=f"add one, like `step run {_example('bash')}`, or remove the flow"))
        for step in flow.steps:
            _check_step(ctx, flow, step)
        seen: dict[str, ir.Step] = {}
        for step in flow.steps:
            if step.name in seen:
                ctx.report(error("E0201", f"flow `{flow.name}` has two steps named `{step.name}`", step.loc,
                                 labels=(Label(seen[step.name].loc, "first declared here"),)))
            seen.setdefault(step.name, step)
        _check_edges(ctx, flow)
    _check_chains(ctx)
    _check_slo_uses(ctx)
