"""The expressions of a flow's steps: what their names mean and whether their operands fit.

- E0202 a name in a step's `env`, `when`, `foreach ... in`, `gate` or `emits` payload that
  is neither a parameter of the flow, `run.id`, the step's `foreach` variable, a field of
  the trigger's payload (`trigger.F`, declared by every signal of the flow's trigger), nor
  (in a gate or a payload) one of the step's metrics;
- E0303 `trigger.F` where the signals of the trigger give `F` different types; a parameter whose default is not of its type; an operator whose operands do not
  fit: `+` on a number and a string, `-` on strings, `region > 3` with a string `region`,
  `gate auc >= "good"` (metrics are numbers), `window == 5` with a duration `window`.

Types are inferred by `mlc.compiler.infer` (what each operator takes is written there); a
`gate` reads the step's metrics, which are numbers. Payload values are typed against the
signal's fields by the type checks, not here.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.infer import (
    LITERAL_TYPES,
    TRIGGER,
    Inferrer,
    an,
    misfit,
    trigger_fields,
    type_name,
)
from mlc.compiler.references import Meanings, after_step, flow_meanings, in_flow, step_returns, typed
from mlc.diagnostics import Label, did_you_mean, error


def _unknown_names(ctx: Context, flow: ir.Flow, e: ir.Expr, meanings: Meanings, names: set[str],
                   var: str | None) -> bool:
    """Reports the names `e` uses that mean nothing here (`meanings`: `mlc.compiler.references`);
    whether there were any. `names`: the flow's parameters and the readable `trigger.F`, listed
    in the message."""
    if e.op == "ref":
        name = e.name or ""
        if meanings(name) is not None:
            return False
        if name.startswith(TRIGGER + ".") and name.count(".") == 1:
            _unreadable_trigger_field(ctx, flow, e, name, sorted(n for n in names if n.startswith(TRIGGER + ".")))
            return True
        if _undeclared_return(ctx, flow, e, name):
            return True
        known = sorted(names) + ["run.id"] + ([var] if var else [])
        listed = ", ".join(f"`{n}`" for n in known)
        ctx.report(error("E0202", f"unknown name `{name}` in flow `{flow.name}`", e.loc,
                         help=did_you_mean(name, known),
                         notes=(f"names here: {listed} (the flow's parameters, the run's id"
                                + (", the step's `foreach` variable)" if var else ")"),)))
        return True
    found = False
    for a in e.args:
        found = _unknown_names(ctx, flow, a, meanings, names, var) or found
    return found


def _undeclared_return(ctx: Context, flow: ir.Flow, e: ir.Expr, name: str) -> bool:
    """`step.field` of a step that declares no `returns` (reported, True): the fix is on that step.
    A subflow step's field gets its type from the child flow's step that returns it."""
    head, _, field = name.partition(".")
    step = next((s for s in flow.steps if s.name == head), None) if field and "." not in field else None
    if step is None or step.returns:
        return False
    kind = "subflow step" if step.kind == "subflow" else "step"
    child = ctx.program.flows.get(step.subflow.target or "") if step.subflow is not None else None
    given = [(cs.name, f) for cs in (child.steps if child is not None else ()) for f in cs.returns if f.name == field]
    typ = type_name(given[0][1].type) if len(given) == 1 else "TYPE"
    ctx.report(error("E0202", f"unknown name `{name}` in flow `{flow.name}`: {kind} `{head}` declares no `returns`",
                     e.loc, labels=(Label(step.loc, f"`{head}` returns nothing"),),
                     help=f"add `returns {{ {field}: {typ} }}` to step `{head}`",
                     notes=(f"flow `{child.name}` returns `{field}: {typ}` from its step `{given[0][0]}`; a subflow "
                            "step passes on the fields its `returns` names" if len(given) == 1 and child else
                            "a later step reads `step.field` only for the fields that step's `returns` declares",)))
    return True


def _unreadable_trigger_field(ctx: Context, flow: ir.Flow, e: ir.Expr, name: str, readable: list[str]) -> None:
    field = name.split(".", 1)[1]
    signals = [t.target.name for t in (flow.trigger.leaves() if flow.trigger else ())
               if t.kind == "signal" and t.target is not None]
    if not signals:
        ctx.report(error("E0202", f"`{name}`: flow `{flow.name}` is not started by a signal, so its runs have no "
                                  "trigger payload", e.loc,
                         help="start the flow with `trigger signal(NAME)`, or pass the value as a parameter"))
        return
    partly = trigger_fields(flow, ctx.program.signals)[1]
    code, why = partly.get(field, ("E0202", "no signal of the trigger declares it"))
    listed = ", ".join(f"`{n}`" for n in readable) or "none"
    ctx.report(error(code, f"`{name}` cannot be read in flow `{flow.name}`: {why}", e.loc,
                     help=did_you_mean(name, readable) if field not in partly else None,
                     notes=(f"a run may be started by any signal of its trigger "
                            f"({', '.join(f'`{s}`' for s in dict.fromkeys(signals))}): `trigger.F` reads the fields "
                            f"every one of them declares, with one type; here: {listed}",)))


def _check_flow(ctx: Context, flow: ir.Flow) -> None:
    params = {p.name: p for p in flow.params}
    for p in flow.params:
        d = p.default
        got = misfit(p.type, d, LITERAL_TYPES.get(d.kind or "")) if d is not None and d.op == "lit" else None
        if got is not None and not p.type.element:
            shown = an(got) if got in LITERAL_TYPES.values() else got
            ctx.report(error("E0303", f"the default of `{p.name}` is {shown}, but `{p.name}` is "
                                      f"{an(p.type.name)}", d.loc or p.loc))
    signals = ctx.program.signals
    known = set(params) | set(trigger_fields(flow, signals)[0]) | set(step_returns(flow))
    plain = in_flow(flow_meanings(flow, signals))
    metrics = in_flow(flow_meanings(flow, signals), metrics=True)  # a gate's or a payload's other bare names
    for s in flow.steps:
        var = s.foreach.var if s.foreach else None
        own = in_flow(flow_meanings(flow, signals, var, s.foreach.items)) if s.foreach else plain
        typer = Inferrer(typed(own), ctx.report)
        if s.foreach is not None and not _unknown_names(ctx, flow, s.foreach.items, plain, known, None):
            Inferrer(typed(plain), ctx.report).type_of(s.foreach.items)
        for e in [*s.env.values(), *([s.when] if s.when else [])]:
            if not _unknown_names(ctx, flow, e, own, known, var):
                typer.type_of(e)
        after = after_step(s, metrics)   # a step that declares `returns`: its fields, typed
        mine = known | {f.name for f in s.returns}
        if s.gate is not None and not _unknown_names(ctx, flow, s.gate, after, mine, None):
            Inferrer(typed(after), ctx.report).type_of(s.gate)
        for emit in s.emits:
            for e in emit.payload.values():
                _unknown_names(ctx, flow, e, after, mine, None)


def check(ctx: Context) -> None:
    for flow in ctx.program.flows.values():
        _check_flow(ctx, flow)
