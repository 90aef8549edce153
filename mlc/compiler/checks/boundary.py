"""The ML boundary rules.

- E0801 a served probabilistic model with no fallback;
- W0802 a fallback that is itself probabilistic;
- E0803 a confidence threshold outside the model's declared confidence range (or no range);
- W0804 a step declared `deterministic` that consumes probabilistic output with no gate.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.graph import step_id
from mlc.diagnostics import Label, error, warning


def _thresholds(e: ir.Expr):
    """(number, expr) for every comparison of `confidence` with a number."""
    if e.op == "binop" and e.name in ("<", "<=", ">", ">=", "==", "!=") and len(e.args) == 2:
        left, right = e.args
        for a, b in ((left, right), (right, left)):
            if a.op == "ref" and a.name == "confidence" and b.op == "lit" and b.kind in ("int", "float"):
                yield float(b.value), b
    for a in e.args:
        yield from _thresholds(a)


def _check_model(ctx: Context, m: ir.Model) -> None:
    p = ctx.program
    if not m.deterministic and m.serve is not None and m.fallback is None:
        ctx.report(error("E0801", f"probabilistic model `{m.name}` is served with no fallback", m.serve.loc,
                         labels=(Label(m.loc, "declared nondeterministic here"),) if m.loc else (),
                         help="add `fallback <deterministic model> when confidence < X or unavailable`"))
    fb = m.fallback
    if fb is None:
        return
    other = p.models.get(fb.model.target or "")
    if other is not None and not other.deterministic:
        ctx.report(warning("W0802", f"the fallback of `{m.name}`, `{other.name}`, is itself probabilistic",
                           fb.model.loc, help="fall back to a deterministic model (rules, a popularity list)"))
    if fb.when is None:
        return
    for value, lit in _thresholds(fb.when):
        if m.confidence is None:
            ctx.report(error("E0803", f"the fallback of `{m.name}` tests `confidence`, but `{m.name}` declares "
                                      "no confidence range", lit.loc,
                             help=f"declare `confidence in 0.0..1.0` on `{m.name}`"))
            continue
        lo, hi = m.confidence
        if lo < hi and not lo <= value <= hi:  # an empty range is E0308 already
            ctx.report(error("E0803", f"confidence threshold {lit.text} is outside the declared range "
                                      f"{lo:g}..{hi:g} of `{m.name}`", lit.loc,
                             help=f"pick a threshold between {lo:g} and {hi:g}"))


def check(ctx: Context) -> None:
    p = ctx.program
    for m in p.models.values():
        _check_model(ctx, m)
    nodes = ctx.graph.nodes  # build_graph marks the probabilistic region on the step nodes
    for key, f in p.flows.items():
        for s in f.steps:
            n = step_id(key, s.name)
            if s.deterministic is True and n in nodes and not nodes[n]["deterministic"]:
                ctx.report(warning("W0804", f"step `{s.name}` is declared deterministic, but it "
                                            f"{nodes[n]['why']}", s.loc,
                                   help="add a `gate` on the step before it, or declare it nondeterministic"))
