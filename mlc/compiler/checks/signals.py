"""Signals: who emits them and who waits for them.

- W0410 a signal emitted but awaited by no flow;
- E0411 a signal awaited but emitted by no flow, unless it is `external`;
- W0412 a signal declared but neither emitted nor awaited.
"""

from __future__ import annotations

from mlc.compiler.checks import Context
from mlc.compiler.graph import node_id
from mlc.diagnostics import Label, error, warning


def check(ctx: Context) -> None:
    g = ctx.graph
    for key, signal in ctx.program.signals.items():
        n = node_id("signal", key)
        emitters = [u for u, _v, d in g.in_edges(n, data=True) if d["kind"] == "emits"]
        waiters = [(v, d) for _u, v, d in g.out_edges(n, data=True) if d["kind"] == "awaits"]
        if signal.external:
            continue
        if emitters and not waiters:
            ctx.report(warning("W0410", f"signal `{signal.name}` is emitted but no flow waits for it",
                               signal.loc, labels=tuple(Label(g.nodes[u]["loc"], "emitted here") for u in emitters[:3]),
                               help=f"add `trigger signal({signal.name})` to the flow that should run, "
                                    "or stop emitting it"))
        elif waiters and not emitters:
            _v, first = waiters[0]
            ctx.report(error("E0411", f"signal `{signal.name}` is awaited but no flow emits it", first["loc"],
                             labels=(Label(signal.loc, "declared here"),),
                             help=f"emit it from a step (`emits signal {signal.name}(...)`), or declare it "
                                  f"`signal {signal.name} external` if something outside this program sends it"))
        elif not emitters and not waiters:
            ctx.report(warning("W0412", f"signal `{signal.name}` is neither emitted nor awaited", signal.loc,
                               help="remove it, or use it in a trigger"))
