"""Objectives that can be proved before anything runs: freshness, completion and latency.

- E0701 a freshness bound (a group's `freshness` or a `freshness(...)` SLO) that the worst
  path cannot meet; the diagnostic walks the path hop by hop;
- W0702 a freshness bound that cannot be proved because a fact is missing (named);
- E0703 a `completion(flow) by "HH:MM"` that the schedule, trigger chain and step timeouts
  cannot meet; W0704 the same, unknown;
- E0705 a latency objective that the model's serve timeout cannot meet;
- E0706 a fallback slower than the latency budget;
- W0707 a latency objective for a model with no serve timeout (latency is then unbounded).

Availability and quality objectives depend on the running system: they become alert rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.freshness import Bound, Calculus, Hop, after, best, fmt_ms, trigger_bound, unknown
from mlc.diagnostics import Label, did_you_mean, error, warning

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Objective:
    """An objective with template parameters bound: what to prove, about what, and where it was asked."""

    kind: str
    target: str | None  # qualified key
    target_name: str
    metric: str | None
    op: str
    value: ir.Expr
    loc: object
    slo: str
    step: str | None = None  # `freshness(flow.step)`: `target` is the flow
    window: ir.Expr | None = None  # an availability objective's `over` period
    slo_key: str | None = None  # the SLO's qualified key (`slo` is its name)


def objectives(program: ir.Program) -> list[Objective]:
    """Every objective of every SLO, templates instantiated with their arguments."""
    out: list[Objective] = []
    for slo_key, slo in program.slos.items():
        if slo.params:
            continue  # a template: checked where it is used
        if slo.template is not None:
            template = program.slos.get(slo.template.target or "")
            if template is None or len(template.params) != len(slo.args):
                continue
            binding = dict(zip(template.params, slo.args))
            for o in template.objectives:
                target_expr = binding.get(o.target.name)
                target_name = target_expr.name if target_expr is not None and target_expr.op == "ref" else o.target.name
                key, step = _key(program, slo, target_name or "", o.kind == "freshness")
                value = binding.get(o.value.name, o.value) if o.value.op == "ref" else o.value
                window = binding.get(o.window.name, o.window) if o.window is not None and o.window.op == "ref" \
                    else o.window
                out.append(Objective(o.kind, key, target_name or "", o.metric, o.op, value, slo.loc, slo.name, step,
                                     window, slo_key))
            continue
        for o in slo.objectives:
            out.append(Objective(o.kind, o.target.target, o.target.name, o.metric, o.op, o.value, o.loc, slo.name,
                                 o.step, o.window, slo_key))
    return out


def _key(program: ir.Program, slo: ir.Slo, name: str, steps: bool = False) -> tuple[str | None, str | None]:
    """(key, None) of the declaration `name` means; with `steps`, (flow key, step) for `flow.step`."""
    key = f"{slo.package}.{name}" if slo.package else name
    for section in (program.models, program.feature_groups, program.sources, program.flows):
        if key in section:
            return key, None
    flow, _, step = key.rpartition(".")
    if steps and flow in program.flows:
        return flow, step
    return None, None


def path_notes(bound: Bound) -> tuple[str, ...]:
    running = 0
    notes = []
    for hop in bound.path:
        running += hop.adds_ms
        notes.append(f"{hop.node}: {hop.fact}  +{fmt_ms(hop.adds_ms)} = {fmt_ms(running)}")
    return tuple(notes)


def _duration_value(e: ir.Expr) -> int | None:
    return e.value if e.op == "lit" and e.kind == "duration" else None


def _premises(bound: Bound) -> tuple:
    """Where the missing facts of an unknown bound would be written: a finding about it follows
    from an error there, if there is one (dropped then: see `Diagnostic.premises`)."""
    return tuple(m.loc for m in bound.missing if m.loc is not None)


def _over(bound: Bound, op: str, target_ms: int) -> bool:
    return bound.ms is not None and (bound.ms > target_ms if op == "<=" else bound.ms >= target_ms)


def _check_bound(ctx: Context, what: str, bound: Bound, op: str, target_ms: int, loc, subject_loc,
                 others: list[Bound] = ()) -> None:
    if not bound.known:
        facts = "; ".join(m.fact for m in bound.missing)
        labels = tuple(dict.fromkeys(Label(m.loc, m.label) for m in bound.missing if m.loc is not None))[:3]
        ctx.report(warning("W0702", f"the freshness of {what} cannot be proved: it needs {facts}", loc,
                           labels=labels, help="state the missing fact, or remove the objective",
                           premises=_premises(bound)))
        return
    if not _over(bound, op, target_ms):
        return
    first = bound.path[0].node if bound.path else what
    also = tuple(f"also over the objective: {' <- '.join(dict.fromkeys(h.node for h in reversed(o.path)))}"
                 f" ({fmt_ms(o.ms)})" for o in others if o is not bound and _over(o, op, target_ms))
    ctx.report(error(
        "E0701", f"{what} can be {fmt_ms(bound.ms)} stale, over its {op} {fmt_ms(target_ms)} objective",
        loc, labels=(Label(subject_loc, f"worst path starts at {first}"),) if subject_loc else (),
        notes=path_notes(bound) + (f"worst case {fmt_ms(bound.ms)} {'>' if op == '<=' else '>='} "
                                   f"{fmt_ms(target_ms)}",) + also,
        help="raise the objective, or make the slowest hop faster"))


def _check_freshness(ctx: Context, calc: Calculus, objs: list[Objective]) -> None:
    for group in ctx.program.feature_groups.values():
        if group.freshness is None:
            continue
        key = f"{group.package}.{group.name}" if group.package else group.name
        bound = calc.of(key)
        if bound is not None:
            _check_bound(ctx, f"feature group `{group.name}`", bound, group.freshness.op,
                         group.freshness.value_ms, group.freshness.loc, None)
    for o in objs:
        if o.kind != "freshness" or o.target is None:
            continue
        target_ms = _duration_value(o.value)
        bound = calc.of(o.target) if o.step is None else calc.of_step(o.target, o.step)
        if o.step is not None and bound is None:
            flow = ctx.program.flows[o.target]
            ctx.report(error("E0202", f"unknown step `{o.step}` of flow `{flow.name}`", o.loc,
                             labels=(Label(flow.loc, "flow declared here"),) if flow.loc else (),
                             help=did_you_mean(o.step, [s.name for s in flow.steps])))
            continue
        if target_ms is None or bound is None:
            continue
        subject = ctx.decl(o.target)
        _check_bound(ctx, f"`{o.target_name}`", bound, o.op, target_ms, o.loc,
                     bound.path[0].loc if bound.known and bound.path else getattr(subject, "loc", None),
                     calc.input_bounds(o.target))


# ---------------------------------------------------------------------- completion

def time_of_day(text: str) -> int | None:
    """Milliseconds after midnight of `HH:MM` (a `completion ... by` deadline); None when not one.
    The check and the Airflow deadline read it here, so both take the same texts."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    h, m = int(parts[0]), int(parts[1])
    if not (0 <= h < 24 and 0 <= m < 60):
        return None
    return (h * 60 + m) * 60_000


def _first_run_of_day(schedule: ir.Schedule) -> tuple[int | None, str]:
    """Milliseconds after midnight (UTC) of a schedule's first run of the day."""
    ms = schedule.first_run_ms
    if ms is None:
        return None, ""
    start = f"{ms // 3_600_000:02d}:{(ms // 60_000) % 60:02d}"
    if schedule.kind == "preset":
        return ms, f"schedule {schedule.value} (starts {start})"
    return ms, f'cron("{schedule.value}") starts {start}'


def run_start_ms(schedule: ir.Schedule | None, deadline_ms: int) -> int:
    """When the run a `completion(f) by "HH:MM"` deadline is about starts, in ms from the deadline
    day's midnight: a run at a fixed time after the deadline's time is the day before's (a 23:30 run
    for a 06:00 deadline: -30m, as the Airflow deadline counts); else the day's first run when it is
    before the deadline; else midnight."""
    fixed = schedule.daily_start_ms if schedule is not None else None
    if fixed is not None:
        return fixed - DAY_MS if fixed > deadline_ms else fixed
    first = schedule.first_run_ms if schedule is not None else None
    return first if first is not None and first <= deadline_ms else 0


def due_ms(schedule: ir.Schedule | None, deadline_ms: int) -> int:
    """A completion deadline in ms from the midnight of the day its run starts: the next
    morning's for a run that starts the evening before (`run_start_ms` < 0)."""
    return deadline_ms + DAY_MS if run_start_ms(schedule, deadline_ms) < 0 else deadline_ms


def clock(ms: int) -> str:
    """A time of day, ms after midnight: `04:10`, `01:30 (+1d)`."""
    day = f" (+{ms // DAY_MS}d)" if ms >= DAY_MS else ""
    return f"{(ms % DAY_MS) // 3_600_000:02d}:{(ms % 3_600_000) // 60_000:02d}{day}"


class Completion:
    """When a flow's daily run has finished, as a time of day (ms after midnight)."""

    def __init__(self, program: ir.Program, calc: Calculus) -> None:
        self.program = program
        self.calc = calc
        self.memo: dict[str, Bound] = {}

    def of(self, key: str) -> Bound:
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = Bound(None, (), (("a trigger chain that does not loop", None),))
        f = self.program.flows[key]
        starts: list[Bound] = []
        if f.schedule is not None:
            ms, how = _first_run_of_day(f.schedule)
            starts.append(Bound(0).then(Hop(f"flow {f.name}", how, ms, f.schedule.loc)) if ms is not None else
                          Bound(None, (), ((f"a time of day for the schedule of `{f.name}`", f.schedule.loc),)))
        if f.trigger is not None:
            starts.append(self._trigger(f.trigger))
        if not starts:
            result = Bound(None, (), ((f"a schedule or trigger on `{f.name}`", f.loc),))
        else:
            result = after(best(starts), self.calc.flow_duration(f))
        self.memo[key] = result
        return result

    def _trigger(self, t: ir.Trigger) -> Bound:
        return trigger_bound(self.program, t, self.of, lambda name: f"when external signal `{name}` arrives")


def _check_completion(ctx: Context, calc: Calculus, objs: list[Objective]) -> None:
    comp = Completion(ctx.program, calc)
    for o in objs:
        if o.kind != "completion" or o.target is None or o.target not in ctx.program.flows:
            continue
        deadline = time_of_day(str(o.value.value)) if o.value.op == "lit" and o.value.kind == "string" else None
        if deadline is None:
            ctx.report(error("E0703", 'a completion objective takes a time of day: `by "06:00"`', o.value.loc))
            continue
        bound = comp.of(o.target)
        if not bound.known:
            facts = "; ".join(m.fact for m in bound.missing)
            ctx.report(warning("W0704", f"completion of `{o.target_name}` by {o.value.value} cannot be proved: "
                                        f"it needs {facts}", o.loc,
                               labels=tuple(dict.fromkeys(Label(m.loc, m.label) for m in bound.missing
                                                          if m.loc is not None))[:3],
                               premises=_premises(bound) + (ctx.program.flows[o.target].loc,)))
            continue
        if bound.ms > due_ms(ctx.program.flows[o.target].schedule, deadline):
            ctx.report(error("E0703", f"`{o.target_name}` can finish at {clock(bound.ms)}, after {o.value.value}",
                             o.loc,
                             notes=path_notes(bound), help="start it earlier, or shorten its slowest steps"))


# ---------------------------------------------------------------------- latency

def latency_bound(program: ir.Program, model: ir.Model) -> Bound:
    """The longest a request can take: the serve timeout (a request then ends, answered or handed
    to the fallback), then the fallback's own serve timeout when it has one; unknown without one."""
    serve = model.serve
    if serve is None or serve.timeout_ms is None:
        return unknown(f"a serve timeout on `{model.name}`", serve.loc if serve else model.loc)
    bound = Bound(0).then(Hop(f"model {model.name}", f"serve timeout {fmt_ms(serve.timeout_ms)}",
                              serve.timeout_ms, serve.timeout_loc or serve.loc))
    fb = model.fallback
    other = program.models.get(fb.model.target or "") if fb else None
    if other is not None and other.serve is not None and other.serve.timeout_ms is not None:
        bound = bound.then(Hop(f"model {other.name}", f"fallback, serve timeout {fmt_ms(other.serve.timeout_ms)}",
                               other.serve.timeout_ms, other.serve.timeout_loc or other.serve.loc))
    return bound


def _check_latency(ctx: Context, objs: list[Objective]) -> None:
    for o in objs:
        if o.kind != "latency" or o.target not in ctx.program.models:
            continue
        model = ctx.program.models[o.target]
        budget = _duration_value(o.value)
        if budget is None:
            continue
        timeout = model.serve.timeout_ms if model.serve else None
        if timeout is None:
            ctx.report(warning("W0707", f"`{model.name}` has no serve timeout, so its {o.metric} latency "
                                        "cannot be bounded", o.loc,
                               help=f"declare `serve {{ timeout ... }}` on `{model.name}`",
                               premises=(model.serve.loc if model.serve and model.serve.loc else model.loc,)))
            continue
        if timeout > budget:
            ctx.report(error("E0705", f"the serve timeout of `{model.name}` ({fmt_ms(timeout)}) is longer than "
                                      f"its {o.metric} latency objective ({fmt_ms(budget)})", o.loc,
                             labels=(Label(model.serve.timeout_loc or model.serve.loc, "timeout declared here"),),
                             help=f"a request may wait the whole timeout; make it at most {fmt_ms(budget)}"))
            continue
        fb = model.fallback
        fallback = ctx.program.models.get(fb.model.target or "") if fb else None
        if fallback is not None and fallback.serve and fallback.serve.timeout_ms is not None:
            total = timeout + fallback.serve.timeout_ms
            if total > budget:
                ctx.report(error("E0706", f"a request that falls back from `{model.name}` to `{fallback.name}` can "
                                          f"take {fmt_ms(timeout)} + {fmt_ms(fallback.serve.timeout_ms)} = "
                                          f"{fmt_ms(total)}, over the {fmt_ms(budget)} objective", o.loc,
                                 labels=(Label(fb.loc, "fallback declared here"),),
                                 help="shorten either timeout, or use a faster fallback"))


def _check_durations(ctx: Context, objs: list[Objective]) -> None:
    """A freshness or latency objective's value is a duration: `4` (no unit) would otherwise be
    no objective at all, with nothing proved, explained or monitored."""
    for o in objs:
        if o.kind not in ("freshness", "latency") or o.value.op != "lit" or o.value.kind == "duration":
            continue
        written = o.value.text or str(o.value.value)
        unit = " it has no unit" if o.value.kind in ("int", "float") else ""
        ctx.report(error("E0007", f"`{written}` is not a duration:{unit or ' it is a ' + str(o.value.kind)}",
                         o.value.loc or o.loc, help=f"a {o.kind} objective is a duration, such as `4h` or `50ms`"))


def check(ctx: Context) -> None:
    calc = Calculus(ctx.program)
    objs = objectives(ctx.program)
    _check_durations(ctx, objs)
    _check_freshness(ctx, calc, objs)
    _check_completion(ctx, calc, objs)
    _check_latency(ctx, objs)



