"""Where probabilistic behaviour begins and how far it reaches: the ML boundary.

A model declared `nondeterministic` is probabilistic. A step is probabilistic when
it is declared so, when it trains (`produces`) or ships (`deploy`) a probabilistic
model, when it `uses` one that has no confidence fallback, or when a probabilistic
step runs before it — in its flow, or in a flow that starts it (`on_finish`, a
signal it emits) — with no gate in between. A gate is a step's `gate` condition
(the flow stops when it fails) or a model's `fallback ... when confidence < X`
(an unsure answer is replaced by the fallback's).
"""

from __future__ import annotations

import networkx as nx

from mlc.compiler import ir
from mlc.compiler.graph import node_id, step_id


def _has_confidence_gate(model: ir.Model) -> bool:
    return model.fallback is not None and model.fallback.when is not None and _mentions(model.fallback.when, "confidence")


def _mentions(e: ir.Expr, name: str) -> bool:
    return (e.op == "ref" and e.name == name) or any(_mentions(a, name) for a in e.args)


def own_reason(p: ir.Program, s: ir.Step) -> str | None:
    """Why a step is probabilistic by itself, or None."""
    if s.deterministic is False:
        return "declared nondeterministic"
    if s.produces and s.produces.target in p.models and not p.models[s.produces.target].deterministic:
        return f"trains probabilistic model `{s.produces.name}`"
    for u in s.uses:
        m = p.models.get(u.target or "")
        if m is not None and not m.deterministic and not _has_confidence_gate(m):
            return f"uses probabilistic model `{u.name}`, which has no confidence fallback"
    if s.kind == "deploy":
        for a in s.args:
            m = p.models.get(a.value or "") if a.op == "ref" else None
            if m is not None and not m.deterministic:
                return f"deploys probabilistic model `{m.name}`"
    return None


def probabilistic_steps(p: ir.Program, g: nx.MultiDiGraph) -> dict[str, str]:
    """Step node id -> why it is probabilistic (its own reason, or the step it inherits from)."""
    region: dict[str, str] = {}
    for key, f in p.flows.items():
        for s in f.steps:
            why = own_reason(p, s)
            if why:
                region[step_id(key, s.name)] = why
    gates = {step_id(k, s.name) for k, f in p.flows.items() for s in f.steps if s.gate is not None}
    # spread along step edges and flow-to-flow chains, never past a gate
    frontier = sorted(region)
    while frontier:
        n = frontier.pop()
        if n in gates:
            continue
        for nxt in step_successors(g, n):
            if nxt not in region:
                region[nxt] = f"runs after probabilistic step `{g.nodes[n]['label']}` with no gate between"
                frontier.append(nxt)
    return region


def step_successors(g: nx.MultiDiGraph, step: str):
    for _u, v, d in g.out_edges(step, data=True):
        if d["kind"] == "step":
            yield v
        elif d["kind"] == "emits":
            for _s, flow, d2 in g.out_edges(v, data=True):
                if d2["kind"] == "awaits":
                    yield from _roots(g, flow)
        elif d["kind"] == "writes":  # what a step writes, the steps that read it take in
            yield from (r for _a, r, d2 in g.out_edges(v, data=True) if d2["kind"] == "reads" and r != step)
    flow = node_id("flow", g.nodes[step]["flow"])
    if not any(d["kind"] == "step" for _u, _v, d in g.out_edges(step, data=True)):
        for _u, nxt, d in g.out_edges(flow, data=True):
            if d["kind"] == "on_finish":
                yield from _roots(g, nxt)


def _roots(g: nx.MultiDiGraph, flow: str):
    """The first steps of a flow (those no other step runs before)."""
    for _u, s, d in g.out_edges(flow, data=True):
        if d["kind"] == "contains" and not any(e["kind"] == "step" for _a, _b, e in g.in_edges(s, data=True)):
            yield s
