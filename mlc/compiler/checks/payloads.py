"""What a run takes from the events that start it: parameters bound to a payload field or to
the run's date, comparisons on a signal's payload, and the join keys of a trigger.

- E0427 a parameter bound to `S.F` where `S` is not a signal of the flow's trigger or has no
  field `F`, or bound to a run field other than `run.date`;
- E0303 a bound parameter whose type is not the field's (`param ds: int = landed.ds` with a
  date `ds`); a comparison whose operands do not fit (`signal(landed, ds > 3)` with a date
  `ds`); a condition that is not a comparison;
- E0202 a name in a condition that is not a field of the signal;
- E0428 `match KEY` where a signal of the trigger lacks `KEY` or the signals disagree on its
  type, a trigger with fewer than two signals to join, or one that is not an `and` of them.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.infer import Inferrer, an, trigger_fields, type_name
from mlc.compiler.references import param_binding, signal_fields
from mlc.diagnostics import Label, did_you_mean, error


def check(ctx: Context) -> None:
    for flow in ctx.program.flows.values():
        _params(ctx, flow)
        for t in (flow.trigger.leaves() if flow.trigger else ()):
            if t.kind == "signal" and t.conditions:
                _conditions(ctx, flow, t)
        if flow.match_keys:
            _join(ctx, flow)


def _signals_of(flow: ir.Flow) -> list[ir.Trigger]:
    return [t for t in (flow.trigger.leaves() if flow.trigger else ()) if t.kind == "signal" and t.target]


def _params(ctx: Context, flow: ir.Flow) -> None:
    for p in flow.params:
        d = p.default
        if d is None or d.op != "ref" or "." not in (d.name or ""):
            continue
        bound = param_binding(flow, ctx.program.signals, p)
        if bound is None:
            leaves = _signals_of(flow)
            fields = [f"{t.target.name}.{f}" for t in leaves
                      for f in signal_fields(ctx.program.signals.get(t.target.target or ""))]
            ctx.report(error(
                "E0427", f"parameter `{p.name}` of `{flow.name}` is bound to `{d.name}`, which no event that starts "
                         "the flow carries", d.loc,
                help=did_you_mean(d.name or "", fields + ["run.date"]),
                notes=("a parameter is bound to `run.date` (the run's logical date) or to `SIGNAL.FIELD`, a field "
                       "of a signal of the flow's trigger" + (f"; here: {', '.join(fields)}" if fields else
                                                              ": this flow's trigger has no signal"),)))
            continue
        want = type_name(p.type)
        if want is not None and bound[1] is not None and want != bound[1]:
            ctx.report(error("E0303", f"parameter `{p.name}` is {an(want)}, and `{d.name}` is {an(bound[1])}",
                             d.loc, labels=(Label(p.type.loc, "declared here"),) if p.type.loc else ()))


def _conditions(ctx: Context, flow: ir.Flow, t: ir.Trigger) -> None:
    fields = signal_fields(ctx.program.signals.get(t.target.target or ""))
    for c in t.conditions:
        # the checks run before the refs are annotated (`mlc.compiler.references`): looked up here
        unknown = [e for e in _refs(c) if e.name not in fields]
        for e in unknown:
            ctx.report(error("E0202", f"`{e.name}` is not a field of signal `{t.target.name}`", e.loc,
                             help=did_you_mean(e.name or "", list(fields)),
                             notes=(f"its fields: {', '.join(fields) or 'none'}",)))
        if unknown:
            continue
        got = Inferrer(lambda e: fields[e.name or ""][1], ctx.report).type_of(c)
        if got is not None and got != "bool":
            ctx.report(error("E0303", f"a condition on signal `{t.target.name}` is {an(got)}, not a comparison",
                             c.loc, help="compare a field with a value: `rows >= 1000`"))


def _refs(e: ir.Expr):
    if e.op == "ref":
        yield e
    for a in e.args:
        yield from _refs(a)


def _join(ctx: Context, flow: ir.Flow) -> None:
    leaves = _signals_of(flow)
    if len({t.target.target for t in leaves}) < 2:
        ctx.report(error("E0428", f"`match` in flow `{flow.name}` joins the events of two or more signals, and its "
                                  "trigger waits for " + ("one" if leaves else "none"), flow.match_loc,
                         help="wait for both: `trigger signal(a) and signal(b) match ds`"))
        return
    if flow.trigger is not None and flow.trigger.kind != "all":
        ctx.report(error("E0428", f"`match` in flow `{flow.name}` joins events the trigger waits for together, and "
                                  "its trigger is not an `and` of them", flow.match_loc,
                         labels=(Label(flow.trigger.loc, "a run may start with one of these alone"),)
                         if flow.trigger.loc else (),
                         help="join the signals with `and`: `trigger signal(a) and signal(b) match ds`"))
        return
    readable, why = trigger_fields(flow, ctx.program.signals)
    for key in flow.match_keys:
        if f"trigger.{key}" in readable:
            continue
        reason = why.get(key, ("", "no signal of the trigger declares it"))[1]
        ctx.report(error("E0428", f"the trigger of `{flow.name}` cannot join on `{key}`: {reason}", flow.match_loc,
                         notes=("every signal of the trigger must carry the key, with one type",)))
