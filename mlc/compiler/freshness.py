"""The freshness calculus: a worst-case staleness bound for every node, from what the program says.

A bound is the oldest the newest data at a node can be, at any moment. It is
the sum of what each hop on the worst path adds:

- a table source `arrives every P delay D`: P + D (a period's data lands D after it
  ends, and the next lands P later);
- a stream source: its `watermark` (events may arrive that late);
- a streaming feature group: its sources' bound + the longest window slide
  (`every`, which defaults to the window) + the `checkpoint` interval (results
  reach the online store when a checkpoint commits);
- a batch feature group: its sources' bound + the longest gap of its `schedule`
  + its `timeout` (the run may take that long before it writes);
- a request-time group: the bound of the stored features its expressions read;
- a model: the bound of the feature groups it takes inputs from;
- a flow: what starts it — the longest gap of its schedule, or the bound of the
  flow it waits for (`on_finish`) or of the flows that emit the signal it waits
  for — plus its longest path of steps, each `timeout × (1 + retries)` plus
  `retry_delay × retries`. `a and b` waits for the later, `a or b` for the sooner;
  a schedule and a trigger together run on whichever comes first.

A fact the calculus needs but the program does not state (a table with no
`arrives`, a job with no `timeout`, a signal sent from outside) makes the bound
unknown, and the missing fact is named — never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from mlc.compiler import ir
from mlc.diagnostics import Span

MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
PRESET_GAPS_MS = {"hourly": 3_600_000, "daily": 86_400_000, "weekly": 604_800_000,
                  "monthly": 31 * 86_400_000, "yearly": 366 * 86_400_000, "annually": 366 * 86_400_000}
DEFAULT_RETRY_DELAY_MS = 300_000  # what an orchestrator waits between retries unless told otherwise


def fmt_ms(ms: int) -> str:
    """`2d3h`, `1m35s`, `250ms`, `0s`."""
    if ms == 0:
        return "0s"
    out, rest = [], ms
    for unit in ("d", "h", "m", "s"):
        n, rest = divmod(rest, MS[unit])
        if n:
            out.append(f"{n}{unit}")
    if rest:
        out.append(f"{rest}ms")
    return "".join(out)


@dataclass(frozen=True)
class Hop:
    """One step of a path: the node, the fact that costs time there, and how much it adds."""

    node: str
    fact: str
    adds_ms: int
    loc: Span | None = None


@dataclass(frozen=True)
class Bound:
    """A worst-case staleness bound, with the path that sets it; `ms` is None when unknown,
    and `missing` then names the facts that would make it known."""

    ms: int | None
    path: tuple[Hop, ...] = ()
    missing: tuple[tuple[str, Span | None], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "missing", tuple(dict.fromkeys(self.missing)))

    @property
    def known(self) -> bool:
        return self.ms is not None

    def then(self, *hops: Hop) -> "Bound":
        if self.ms is None:
            return self
        return Bound(self.ms + sum(h.adds_ms for h in hops), self.path + hops)


UNKNOWN_CYCLE = Bound(None, (), (("a trigger chain that does not loop back on itself", None),))


def unknown(fact: str, loc: Span | None) -> Bound:
    return Bound(None, (), ((fact, loc),))


def worst(bounds: list[Bound]) -> Bound:
    """The latest of several inputs (all must be known for the result to be known)."""
    missing = tuple(m for b in bounds for m in b.missing)
    if missing or not bounds:
        return Bound(None, (), missing) if missing else Bound(0)
    return max(bounds, key=lambda b: b.ms or 0)


def best(bounds: list[Bound]) -> Bound:
    """The soonest of several alternatives (known ones win over unknown ones)."""
    known = [b for b in bounds if b.known]
    if known:
        return min(known, key=lambda b: b.ms or 0)
    return worst(bounds)


@lru_cache(maxsize=512)
def cron_longest_gap_ms(expr: str) -> int:
    """The longest time between two firings of a cron expression (what croniter computes,
    over two days for expressions that repeat daily, else over a year and a month)."""
    from croniter import croniter

    fields = expr.split()
    daily = len(fields) == 5 and fields[2:] == ["*", "*", "*"]
    start = datetime(2025, 1, 1)
    horizon = start + (timedelta(days=2) if daily else timedelta(days=400))
    it = croniter(expr, start - timedelta(seconds=1))
    prev = it.get_next(datetime)
    gap = timedelta(0)
    for _ in range(20_000):
        nxt = it.get_next(datetime)
        gap = max(gap, nxt - prev)
        prev = nxt
        if prev > horizon:
            break
    return int(gap.total_seconds() * 1000)


def schedule_gap(s: ir.Schedule) -> tuple[int | None, str]:
    """(longest gap in ms, how it was read) for a schedule; None when it cannot be read."""
    if s.kind == "interval":
        return s.every_ms, f"every {fmt_ms(s.every_ms or 0)}"
    if s.kind == "preset":
        gap = PRESET_GAPS_MS.get(s.value or "")
        return gap, f"schedule {s.value}"
    try:
        gap = cron_longest_gap_ms(s.value or "")
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None, f'cron("{s.value}")'
    return gap, f'cron("{s.value}"), longest gap {fmt_ms(gap)}'


def step_cost(step: ir.Step) -> int | None:
    if step.timeout_ms is None:
        return None
    retries = step.retries or 0
    delay = step.retry_delay_ms if step.retry_delay_ms is not None else DEFAULT_RETRY_DELAY_MS
    return step.timeout_ms * (1 + retries) + delay * retries


def _step_fact(step: ir.Step) -> str:
    retries = step.retries or 0
    if not retries:
        return f"step {step.name}: timeout {fmt_ms(step.timeout_ms or 0)}"
    delay = step.retry_delay_ms if step.retry_delay_ms is not None else DEFAULT_RETRY_DELAY_MS
    return (f"step {step.name}: timeout {fmt_ms(step.timeout_ms or 0)} x {1 + retries} attempts"
            f" + {retries} x {fmt_ms(delay)} retry delay")


@dataclass
class Calculus:
    program: ir.Program
    _memo: dict[str, Bound] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ entry points
    def of(self, key: str) -> Bound | None:
        """The bound of the declaration with this key (source, feature group, model or flow)."""
        p = self.program
        for kind, section in (("source", p.sources), ("features", p.feature_groups),
                              ("model", p.models), ("flow", p.flows)):
            if key in section:
                return self._memoised(f"{kind}:{key}")
        return None

    def input_bounds(self, key: str) -> list[Bound]:
        """For a model, the bound through each of its input groups (the worst is `of(key)`)."""
        m = self.program.models.get(key)
        if m is None:
            return []
        return [self._memoised(f"features:{t}") for t in sorted({i.target for i in m.inputs if i.target})]

    def flow_duration(self, flow: ir.Flow) -> Bound:
        """The longest path of steps of one run, from start to the last step's end."""
        steps = {s.name: s for s in flow.steps}
        preds: dict[str, list[str]] = {s: [] for s in steps}
        for e in flow.edges:
            if e.upstream.name in steps and e.downstream.name in steps:
                preds[e.downstream.name].append(e.upstream.name)
        done: dict[str, Bound] = {}

        def finish(name: str, seen: frozenset[str]) -> Bound:
            if name in done:
                return done[name]
            if name in seen:
                return UNKNOWN_CYCLE
            step = steps[name]
            cost = step_cost(step)
            before = worst([finish(p, seen | {name}) for p in preds[name]]) if preds[name] else Bound(0)
            if cost is None:
                result = unknown(f"a `timeout` on step `{name}` of flow `{flow.name}`", step.loc)
                result = Bound(None, (), before.missing + result.missing)
            else:
                result = before.then(Hop(f"flow {flow.name}", _step_fact(step), cost, step.loc))
            done[name] = result
            return result

        if not steps:
            return Bound(0)
        return worst([finish(n, frozenset()) for n in sorted(steps)])

    # ------------------------------------------------------------------ internals
    def _memoised(self, node: str) -> Bound:
        if node in self._memo:
            return self._memo[node]
        if node in self._active:
            return UNKNOWN_CYCLE
        self._active.add(node)
        try:
            kind, key = node.split(":", 1)
            bound = getattr(self, "_" + kind)(key)
        finally:
            self._active.discard(node)
        self._memo[node] = bound
        return bound

    def _source(self, key: str) -> Bound:
        s = self.program.sources[key]
        where = f"source {s.name}"
        if s.kind == "stream":
            wm = s.watermark_ms or 0
            return Bound(0).then(Hop(where, f"watermark {fmt_ms(wm)}" if s.watermark_ms else "no watermark",
                                     wm, s.loc))
        if s.arrives_every_ms is None:
            return unknown(f"`arrives every ... delay ...` on table `{s.name}` (how often it lands, how late)",
                           s.loc)
        delay = s.arrives_delay_ms or 0
        return Bound(0).then(Hop(where, f"arrives every {fmt_ms(s.arrives_every_ms)} delay {fmt_ms(delay)}",
                                 s.arrives_every_ms + delay, s.loc))

    def _features(self, key: str) -> Bound:
        g = self.program.feature_groups[key]
        where = f"features {g.name}"
        if g.mode == "request":
            groups = sorted({r for f in g.features if f.expr is not None for r in _group_refs(f.expr)})
            inputs = [self._group_by_name(g, name) for name in groups]
            return worst([b for b in inputs if b is not None]) if inputs else Bound(0)
        upstream = worst([self._memoised(f"source:{r.target}") for r in g.sources if r.target])
        if g.mode == "stream":
            slides = [f.every_ms or f.window_ms or 0 for f in g.features if f.kind == "aggregation"]
            slide = max(slides, default=0)
            hops = [Hop(where, f"window slide {fmt_ms(slide)}", slide, g.loc)] if slide else []
            if g.checkpoint_ms is None:
                missing = unknown(f"a `checkpoint every ...` on streaming group `{g.name}` (when results "
                                  "reach the online store)", g.loc)
                return Bound(None, (), upstream.missing + missing.missing)
            hops.append(Hop(where, f"checkpoint every {fmt_ms(g.checkpoint_ms)}", g.checkpoint_ms, g.loc))
            return upstream.then(*hops)
        missing = []
        if g.schedule is None:
            missing += unknown(f"a `schedule` on batch group `{g.name}`", g.loc).missing
        if g.timeout_ms is None:
            missing += unknown(f"a `timeout` on batch group `{g.name}`", g.loc).missing
        if missing or not upstream.known:
            return Bound(None, (), upstream.missing + tuple(missing))
        gap, how = schedule_gap(g.schedule)  # type: ignore[arg-type]
        if gap is None:
            return Bound(None, (), upstream.missing + unknown(f"a readable schedule on `{g.name}` ({how})",
                                                               g.schedule.loc).missing)
        return upstream.then(Hop(where, how, gap, g.schedule.loc if g.schedule else g.loc),
                             Hop(where, f"timeout {fmt_ms(g.timeout_ms or 0)}", g.timeout_ms or 0, g.loc))

    def _group_by_name(self, context: ir.Decl, name: str) -> Bound | None:
        key = f"{context.package}.{name}" if context.package else name
        if key not in self.program.feature_groups:
            return None
        return self._memoised(f"features:{key}")

    def _model(self, key: str) -> Bound:
        m = self.program.models[key]
        inputs = sorted({i.target for i in m.inputs if i.target})
        return worst([self._memoised(f"features:{t}") for t in inputs])

    def _flow(self, key: str) -> Bound:
        f = self.program.flows[key]
        starts: list[Bound] = []
        if f.schedule is not None:
            gap, how = schedule_gap(f.schedule)
            starts.append(Bound(0).then(Hop(f"flow {f.name}", how, gap, f.schedule.loc)) if gap is not None
                          else unknown(f"a readable schedule on flow `{f.name}` ({how})", f.schedule.loc))
        if f.trigger is not None:
            starts.append(self._trigger(f.trigger))
        if not starts:
            return unknown(f"a `schedule` or `trigger` on flow `{f.name}` (it never runs by itself)", f.loc)
        return after(best(starts), self.flow_duration(f))

    def _trigger(self, t: ir.Trigger) -> Bound:
        return trigger_bound(self.program, t, lambda key: self._memoised(f"flow:{key}"),
                             lambda name: f"how often external signal `{name}` arrives (nothing in the "
                                          "program emits it)")


def after(start: Bound, duration: Bound) -> Bound:
    """A run that starts at `start` and takes `duration`."""
    if not start.known or not duration.known:
        return Bound(None, (), start.missing + duration.missing)
    return start.then(*duration.path)


def trigger_bound(program: ir.Program, t: ir.Trigger, flow_bound, external_fact) -> Bound:
    """The bound of a trigger: `flow_bound(key)` for a flow it waits on (`on_finish`, or the flows
    that emit its signal: the soonest of them); `and` waits for the later, `or` for the sooner."""
    if t.kind == "all":
        return worst([trigger_bound(program, i, flow_bound, external_fact) for i in t.items])
    if t.kind == "any":
        return best([trigger_bound(program, i, flow_bound, external_fact) for i in t.items])
    target = t.target.target if t.target else None
    if target is None:
        return unknown("a trigger that resolves", t.loc)
    if t.kind == "on_finish":
        return flow_bound(target)
    signal = program.signals.get(target)
    if signal is None:
        return unknown("a trigger that resolves", t.loc)
    if signal.external:
        return unknown(external_fact(signal.name), t.loc)
    emitters = [flow_bound(key) for key, flow in program.flows.items()
                if any(e.signal.target == target for s in flow.steps for e in s.emits)]
    return best(emitters) if emitters else unknown(f"a flow that emits signal `{signal.name}`", t.loc)


def _group_refs(e: ir.Expr):
    if e.op == "ref" and e.name and "." in e.name and not e.name.startswith("run."):
        yield e.name.rsplit(".", 1)[0]
    for a in e.args:
        yield from _group_refs(a)
