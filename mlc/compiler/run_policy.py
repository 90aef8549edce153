"""Lowering of issue 19's run policy: a step's `returns`, `retries { ... }` by error class,
`on_failure`, `runtime` and `parallel`, a `subflow(FLOW, k = v)` step, a flow's `runs` and
`alert`, and `runtime` declarations (AST -> IR).

What can be decided from one clause alone is decided here (E0308 for a setting the block does
not take or a value of the wrong kind, E1401 for a run policy or an alert event the language
does not have); what needs the whole program (a runtime or a subflow that exists, an alert
bound in every env, `step.field` read after the step) is checked in
`mlc.compiler.checks.policy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlc.compiler import ir
from mlc.diagnostics import did_you_mean, error
from mlc.dsl import ast as A

if TYPE_CHECKING:
    from mlc.compiler.lower import Lowering

RUN_MODES = ("sequential", "last_only", "first_only", "parallel")
ON_FAILURE = ("fail", "continue")
ALERT_EVENTS = ("failure", "late")
ERROR_CLASSES = ("error", "platform", "timeout")
BACKOFFS = ("fixed", "exponential")
RUNTIME_SETTINGS = {"image": "string", "python": "string", "pypi": "strings"}
MAX_RETRIES = 100


def step_fields(lw: "Lowering", s: A.Step, args: tuple[ir.Expr, ...]) -> dict:
    """The IR fields of a step's run policy that differ from their defaults."""
    from mlc.compiler.lower import field

    out: dict = {}
    if s.returns is not None:
        out["returns"] = tuple(field(f) for f in s.returns)
    if s.retry_policy is not None:
        policy = _retry_policy(lw, s.retry_policy, s)
        if policy is not None:
            out["retry_policy"] = policy
            out["retries"] = policy.attempts
            if policy.delay_ms is not None:
                out["retry_delay_ms"] = policy.delay_ms
                if s.retry_delay is not None:
                    lw.diagnostics.append(error(
                        "E0110", "the wait between attempts is given twice: `retry_delay` and the `backoff` of "
                                 "`retries`", s.retry_delay.span, help="keep the `backoff`"))
    if s.on_failure is not None:
        value = s.on_failure.value
        if value not in ON_FAILURE:
            lw.diagnostics.append(error("E1401", f"`on_failure {value}`: a step's failure either stops the flow "
                                                 "(`fail`, the default) or not (`continue`)", s.on_failure.span,
                                        help=did_you_mean(value, ON_FAILURE)))
        else:
            out["on_failure"] = value
    if s.runtime is not None:
        out["runtime"] = lw._ref(s.runtime, "runtime")
    if s.parallel is not None:
        n = int(s.parallel.value)
        if not 1 <= n <= 1024:
            lw.diagnostics.append(error("E0308", f"`parallel {n}`: at least 1 and at most 1024 instances at once",
                                        s.parallel.span))
        else:
            out["parallel"] = n
    if s.action.func.dotted == "subflow" and args and args[0].op == "ref":
        out["subflow"] = ir.build(ir.Ref, name=args[0].name or "", target=args[0].value, loc=args[0].loc)
    return out


def _ms(v: A.Expr | None) -> int | None:
    return v.value if isinstance(v, A.Literal) and v.kind == "duration" else None


def _retry_policy(lw: "Lowering", settings: tuple[A.Setting, ...], s: A.Step) -> ir.RetryPolicy | None:
    from mlc.compiler.lower import loc

    counts: dict[str, int] = {}
    backoff, delay, cap = "fixed", None, None
    ok = True
    for x in settings:
        name, v = x.name.value, x.value
        if name in ERROR_CLASSES:
            if not (isinstance(v, A.Literal) and v.kind == "int" and 0 <= v.value <= MAX_RETRIES):
                lw.diagnostics.append(error("E0308", f"`{name}` in `retries` takes a count from 0 to {MAX_RETRIES}",
                                            v.span, help=f"for example `{name} 3`"))
                ok = False
                continue
            counts[name] = int(v.value)
        elif name == "backoff":
            call = v if isinstance(v, A.Call) else None
            kind = (call.func if call else v).dotted if isinstance(v, (A.Call, A.Ref)) else None
            first = call.positional()[0] if call and call.positional() else None
            extra = {a.name.value: a.value for a in (call.args if call else ()) if a.name}
            if kind not in BACKOFFS or _ms(first) is None or set(extra) - {"max"} \
                    or ("max" in extra and (_ms(extra["max"]) is None or kind == "fixed")) \
                    or (call is not None and len(call.positional()) != 1):
                lw.diagnostics.append(error(
                    "E0308", "`backoff` is `fixed(D)` or `exponential(D, max = D)`: the first wait, doubling "
                             "for exponential, at most `max`", v.span,
                    help="for example `backoff exponential(1m, max = 30m)`"))
                ok = False
                continue
            backoff, delay = kind, _ms(first)
            cap = _ms(extra.get("max"))
        else:
            lw.diagnostics.append(error("E0308", f"`retries` has no setting `{name}`", x.name.span,
                                        help=did_you_mean(name, (*ERROR_CLASSES, "backoff")),
                                        notes=("retries by class of failure: `error N` (the step's code raised), "
                                               "`platform N` (the infrastructure failed), `timeout N` (an attempt ran "
                                               "out of time), and `backoff fixed(D)` or `exponential(D, max = D)`",)))
            ok = False
    if not ok:
        return None
    first = settings[0].span if settings else s.span
    last = settings[-1].span if settings else s.span
    where = ir.Loc(first.file, first.line, first.col, last.end_line, last.end_col)
    return ir.build(ir.RetryPolicy, **counts, backoff=backoff, delay_ms=delay, max_delay_ms=cap, loc=loc(where))


def flow_fields(lw: "Lowering", d: A.FlowDecl) -> dict:
    from mlc.compiler.lower import loc

    out: dict = {}
    if d.runs is not None:
        mode, limit = d.runs.mode.value, d.runs.limit
        if mode not in RUN_MODES:
            lw.diagnostics.append(error("E1401", f"`runs {mode}` is not a run policy", d.runs.mode.span,
                                        help=did_you_mean(mode, RUN_MODES),
                                        notes=("`runs sequential | last_only | first_only | parallel N`",)))
        elif (mode == "parallel") != (limit is not None):
            lw.diagnostics.append(error(
                "E1401", "`runs parallel` takes a count (`runs parallel 4`), and only it does", d.runs.span,
                help="write `runs parallel 4`" if mode == "parallel" else f"write `runs {mode}`"))
        elif limit is not None and not 1 <= int(limit.value) <= 1024:
            lw.diagnostics.append(error("E0308", "`runs parallel N`: N from 1 to 1024", limit.span))
        else:
            out["runs"] = ir.build(ir.Runs, mode=mode, limit=int(limit.value) if limit is not None else None,
                                   loc=loc(d.runs.span))
    if d.alert is not None:
        routes = []
        for x in d.alert:
            event = x.name.value
            if event not in ALERT_EVENTS:
                lw.diagnostics.append(error("E1401", f"`alert` has no event `{event}`", x.name.span,
                                            help=did_you_mean(event, ALERT_EVENTS),
                                            notes=("events: `failure` (a run failed), `late` (a `completion` "
                                                   "objective of the flow was missed)",)))
            elif not (isinstance(x.value, A.Ref) and len(x.value.parts) == 1):
                lw.diagnostics.append(error("E0308", f"`{event}` in `alert` takes the name of an alert destination, "
                                                     "bound in each env", x.value.span,
                                            help=f"write `{event} oncall` and `oncall = log()` in each env"))
            else:
                routes.append(ir.build(ir.AlertRoute, event=event, to=x.value.dotted, loc=loc(x.span)))
        out["alerts"] = tuple(routes)
    return out


def runtime_decl(lw: "Lowering", d: A.RuntimeDecl, common: dict) -> ir.Runtime:
    values: dict = {}
    for x in d.settings:
        name, v = x.name.value, x.value
        want = RUNTIME_SETTINGS.get(name)
        if want is None:
            lw.diagnostics.append(error("E0308", f"`runtime` has no setting `{name}`", x.name.span,
                                        help=did_you_mean(name, RUNTIME_SETTINGS),
                                        notes=(f"its settings: {', '.join(RUNTIME_SETTINGS)}",)))
            continue
        if name in values:
            lw.diagnostics.append(error("E0110", f"`{name}` is given twice in this runtime", x.span))
            continue
        if want == "string" and isinstance(v, A.Literal) and v.kind == "string":
            values[name] = v.value
        elif want == "strings" and isinstance(v, A.ListExpr) and \
                all(isinstance(i, A.Literal) and i.kind == "string" for i in v.items):
            values[name] = tuple(i.value for i in v.items)
        else:
            shown = "a string" if want == "string" else 'a list of strings (`["torch==2.5"]`)'
            lw.diagnostics.append(error("E0308", f"`{name}` in `runtime` takes {shown}", v.span))
    return ir.build(ir.Runtime, **common, **values)
