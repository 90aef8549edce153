"""The program as one graph (networkx), built once and shared by checks and `mlc graph`.

Nodes are keyed `kind:qualified_name` (steps: `step:flow_key/step`) and carry
attributes for drawing: kind, label, owner, mode (stream/batch/request),
deterministic (False inside the probabilistic region, see boundary.py). Edge `kind`s: feeds (data), keys (entity), input (model input),
fallback, step (inside a flow), contains (flow -> its steps), produces, uses,
deploys, materializes, emits, awaits (signal -> flow), on_finish (flow -> flow),
online/offline (feature group -> the store's sides), writes (step -> artifact), reads
(artifact -> step): the data edges between steps.
"""

from __future__ import annotations

import networkx as nx

from mlc.compiler import ir


def node_id(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def step_id(flow_key: str, step: str) -> str:
    return f"step:{flow_key}/{step}"


def build_graph(p: ir.Program) -> nx.MultiDiGraph:
    # collected first and added in two calls: per-call overhead was half the build
    nodes: list[tuple[str, dict]] = []
    edges: list[tuple[str, str, dict]] = []

    def _node(n: str, **attrs) -> None:
        nodes.append((n, attrs))

    def _edge(u: str, v: str, **attrs) -> None:
        edges.append((u, v, attrs))

    for key, s in p.sources.items():
        _node(node_id("source", key), kind="source", label=s.name, owner=s.owner,
              mode="stream" if s.kind == "stream" else "batch", deterministic=True, loc=s.loc)
    for key, e in p.entities.items():
        _node(node_id("entity", key), kind="entity", label=e.name, owner=e.owner, deterministic=True,
              loc=e.loc)
    _node("store:online", kind="store", label="online store", deterministic=True)
    _node("store:offline", kind="store", label="offline store", deterministic=True)
    for key, fg in p.feature_groups.items():
        n = node_id("features", key)
        _node(n, kind="features", label=fg.name, owner=fg.owner, mode=fg.mode, deterministic=True,
              loc=fg.loc)
        for r in fg.sources:
            if r.target:
                _edge(node_id("source", r.target), n, kind="feeds")
        if fg.entity is not None and fg.entity.target:  # a request-time group may be on no entity
            _edge(node_id("entity", fg.entity.target), n, kind="keys")
        if fg.online:
            _edge(n, "store:online", kind="online")
        if fg.offline is not None or fg.mode != "request":
            _edge(n, "store:offline", kind="offline")
    for key, m in p.models.items():
        n = node_id("model", key)
        _node(n, kind="model", label=m.name, owner=m.owner, deterministic=m.deterministic, loc=m.loc)
        for i in m.inputs:
            if i.target:
                _edge(node_id("features", i.target), n, kind="input", feature=i.feature or "*")
        if m.fallback and m.fallback.model.target:
            _edge(node_id("model", m.fallback.model.target), n, kind="fallback")
    for key, s in p.signals.items():
        _node(node_id("signal", key), kind="signal", label=s.name, owner=s.owner, external=s.external,
              deterministic=True, loc=s.loc)
    for key, a in p.artifacts.items():
        _node(node_id("artifact", key), kind="artifact", label=a.name, owner=a.owner, artifact=a.kind,
              deterministic=True, loc=a.loc)
    for key, f in p.flows.items():
        fn = node_id("flow", key)
        _node(fn, kind="flow", label=f.name, owner=f.owner, deterministic=True, loc=f.loc)
        for t in (f.trigger.leaves() if f.trigger else ()):
            if t.target is None or t.target.target is None:
                continue
            if t.kind == "on_finish":
                _edge(node_id("flow", t.target.target), fn, kind="on_finish", loc=t.loc)
            else:
                _edge(node_id("signal", t.target.target), fn, kind="awaits", loc=t.loc,
                      match=bool(t.match))
        for s in f.steps:
            sn = step_id(key, s.name)
            _node(sn, kind="step", label=s.name, flow=key, action=s.kind, owner=s.owner or f.owner,
                  deterministic=True, loc=s.loc)
            _edge(fn, sn, kind="contains")
            if s.produces and s.produces.target:
                _edge(sn, node_id("model", s.produces.target), kind="produces")
            for u in s.uses:
                if u.target:
                    _edge(node_id("model", u.target), sn, kind="uses")
            for a in s.args:
                if a.op == "ref" and a.value:
                    kind = {"deploy": ("model", "deploys"), "materialize": ("features", "materializes")}.get(s.kind)
                    if kind:
                        _edge(sn, node_id(kind[0], a.value), kind=kind[1])
            for e in s.emits:
                if e.signal.target:
                    _edge(sn, node_id("signal", e.signal.target), kind="emits", loc=e.loc)
            for w in s.writes:
                if w.target:
                    _edge(sn, node_id("artifact", w.target), kind="writes", loc=w.loc)
            for r in s.reads:
                if r.target:
                    _edge(node_id("artifact", r.target), sn, kind="reads", loc=r.loc)
        names = {s.name for s in f.steps}
        for e in f.edges:
            if e.upstream.name in names and e.downstream.name in names:
                _edge(step_id(key, e.upstream.name), step_id(key, e.downstream.name), kind="step", loc=e.upstream.loc)
    g = nx.MultiDiGraph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    from mlc.compiler.boundary import probabilistic_steps

    for n, why in probabilistic_steps(p, g).items():
        g.nodes[n]["deterministic"] = False
        g.nodes[n]["why"] = why
    return g


def flow_chain_graph(g: nx.MultiDiGraph) -> nx.DiGraph:
    """Flows only, with an edge F -> G when G runs after F (on_finish, or a signal F emits and G awaits)."""
    chain = nx.DiGraph()
    flows, signals = [], []
    for n, kind in g.nodes(data="kind"):
        if kind == "flow":
            flows.append(n)
        elif kind == "signal":
            signals.append(n)
    chain.add_nodes_from(flows)
    # from the flow and signal nodes' own edges: there are far fewer than edges in the program
    for f in flows:
        for u, _f, kind in g.in_edges(f, data="kind"):
            if kind == "on_finish":
                chain.add_edge(u, f, via=None)
    for s in signals:
        waiters = [w for _s, w, kind in g.out_edges(s, data="kind") if kind == "awaits"]
        if not waiters:
            continue
        for step, _s, kind in g.in_edges(s, data="kind"):
            if kind == "emits":
                flow = node_id("flow", g.nodes[step]["flow"])
                for waiter in waiters:
                    chain.add_edge(flow, waiter, via=g.nodes[s]["label"])
    return chain
