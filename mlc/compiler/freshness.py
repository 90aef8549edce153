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
- a model: the bound of the feature groups it takes inputs from, and of the artifacts that the
  steps training it (`produces`) read: a model trained from a set is as stale as the set;
- an artifact: the soonest of its writers — the step that `writes` it, as fresh as the run
  that wrote it (`freshness(flow.step)`);
- a flow: what starts it — the longest gap of its schedule, or the bound of the
  flow it waits for (`on_finish`) or of the flows that emit the signal it waits
  for — plus its longest path of steps, each `timeout × (1 + retries)` plus
  `retry_delay × retries` (a `foreach` step runs one instance per item; when a run has more
  task instances than MAX_ACTIVE_TASKS, each step may also wait its whole work over the
  slots). `a and b` waits for the later, `a or b` for the sooner;
  a schedule and a trigger together run on whichever comes first.

A fact the calculus needs but the program does not state (a table with no
`arrives`, a job with no `timeout`, a signal sent from outside) makes the bound
unknown, and the missing fact is named — never a silent pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from mlc.compiler import ir
from mlc.diagnostics import Span

MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
DEFAULT_RETRY_DELAY_MS = 300_000  # what an orchestrator waits between retries unless told otherwise
# The task instances of one run that may run at once (every generated DAG's `max_active_tasks`,
# Airflow's default): the completion and step bounds count the waiting beyond it.
MAX_ACTIVE_TASKS = 16


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


class Missing(NamedTuple):
    """A fact a bound needs that the program does not state, where it would go (or what makes it
    uncertain) and what a diagnostic's label says there."""

    fact: str
    loc: Span | None
    label: str = "this fact is missing"


@dataclass(frozen=True)
class Bound:
    """A worst-case staleness bound, with the path that sets it; `ms` is None when unknown,
    and `missing` then names the facts that would make it known."""

    ms: int | None
    path: tuple[Hop, ...] = ()
    missing: tuple[Missing, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "missing", tuple(dict.fromkeys(Missing(*m) for m in self.missing)))

    @property
    def known(self) -> bool:
        return self.ms is not None

    def then(self, *hops: Hop) -> "Bound":
        if self.ms is None:
            return self
        return Bound(self.ms + sum(h.adds_ms for h in hops), self.path + hops)


UNKNOWN_CYCLE = Bound(None, (), (("a trigger chain that does not loop back on itself", None),))


def unknown(fact: str, loc: Span | None, label: str = "this fact is missing") -> Bound:
    return Bound(None, (), (Missing(fact, loc, label),))


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
def schedule_gap(s: ir.Schedule) -> tuple[int | None, str]:
    """(longest gap in ms, how it was read) for a schedule; None when it cannot be read.
    The gap is croniter's (`mlc.compiler.schedules`), as Airflow schedules it."""
    gap = s.longest_gap_ms
    if s.kind == "interval":
        return gap, f"every {fmt_ms(s.every_ms or 0)}"
    if s.kind == "preset":
        return gap, f"schedule {s.value}"
    return gap, f'cron("{s.value}")' + (f", longest gap {fmt_ms(gap)}" if gap is not None else "")


def foreach_count(flow: ir.Flow, step: ir.Step) -> int | None:
    """How many task instances a step runs: one, or one per item of its `foreach` (a list
    written out, or a list parameter's default, which a scheduled run uses); None when unknown."""
    if step.foreach is None:
        return 1
    items = step.foreach.items
    if items.op == "ref":
        param = next((p for p in flow.params if p.name == items.name), None)
        items = param.default if param is not None and param.default is not None else items
    return len(items.args) if items.op == "list" else None


def step_cost(step: ir.Step) -> int | None:
    if step.timeout_ms is None:
        return None
    retries = step.retries or 0
    return step.timeout_ms * (1 + retries) + sum(_retry_waits(step))


def _retry_waits(step: ir.Step) -> list[int]:
    """The longest wait before each retry: the delay, or with `backoff exponential(D, max = M)`
    Airflow's doubling wait, which it spreads up to twice the doubled delay, capped at M."""
    delay = step.retry_delay_ms if step.retry_delay_ms is not None else DEFAULT_RETRY_DELAY_MS
    policy = step.retry_policy
    if policy is None or policy.backoff != "exponential":
        return [delay] * (step.retries or 0)
    cap = policy.max_delay_ms
    return [min(2 * delay * 2 ** i, cap) if cap is not None else 2 * delay * 2 ** i for i in range(step.retries or 0)]


def _step_fact(step: ir.Step) -> str:
    retries = step.retries or 0
    if not retries:
        return f"step {step.name}: timeout {fmt_ms(step.timeout_ms or 0)}"
    waits = _retry_waits(step)
    if len(set(waits)) > 1:
        return (f"step {step.name}: timeout {fmt_ms(step.timeout_ms or 0)} x {1 + retries} attempts"
                f" + exponential retry delays {' + '.join(fmt_ms(w) for w in waits)}")
    return (f"step {step.name}: timeout {fmt_ms(step.timeout_ms or 0)} x {1 + retries} attempts"
            f" + {retries} x {fmt_ms(waits[0])} retry delay")


def waves(flow: ir.Flow, step: ir.Step) -> int | None:
    """How many times over a step's instances run one after another: `parallel N` lets N of its
    `foreach` instances run at once (1 without `parallel`: the slots bound them, see `_waiting`);
    None when the number of items is unknown."""
    if step.parallel is None or step.foreach is None:
        return 1
    count = foreach_count(flow, step)
    return None if count is None else max(1, -(-count // step.parallel))


# ---------------------------------------------------------------------- what happens in every run

@dataclass(frozen=True)
class Condition:
    """Whether something happens in every run of a flow: `always`, `never`, or `maybe`; for the
    last two, `why` says it of step `step`, and `label` at `loc` (the clause that decides)."""

    kind: str
    step: str = ""
    why: str = ""
    loc: Span | None = None
    label: str = ""


ALWAYS = Condition("always")


def _literal_bool(e: ir.Expr | None) -> bool | None:
    return e.value if e is not None and e.op == "lit" and e.kind == "bool" else None


def _own_condition(step: ir.Step, emits: bool) -> Condition:
    """What the step's own `when`, `foreach` and (for what it emits, published after it) `gate` say."""
    name = step.name
    if step.when is not None and _literal_bool(step.when) is not True:
        if _literal_bool(step.when) is False:
            return Condition("never", name, "never runs: its `when` is false", step.when.loc,
                             "never holds, so the step never runs")
        return Condition("maybe", name, "runs only when its `when` holds", step.when.loc,
                         "the step runs only when this holds")
    if step.foreach is not None:
        items = step.foreach.items
        if items.op == "list" and not items.args:
            return Condition("never", name, "never runs: its `foreach` list is empty", items.loc,
                             "empty, so the step never runs")
        if items.op != "list":
            return Condition("maybe", name, "runs once per element of its `foreach`, which may be empty",
                             items.loc, "may be empty: the step then does not run")
    if emits and step.gate is not None and _literal_bool(step.gate) is not True:
        if _literal_bool(step.gate) is False:
            return Condition("never", name, "never emits: its `gate` is false", step.gate.loc,
                             "never holds, so the flow always stops here")
        return Condition("maybe", name, "emits only when its `gate` holds", step.gate.loc,
                         "the flow stops here unless this holds")
    return ALWAYS


def _gate(s: ir.Step) -> Condition | None:
    if s.gate is None or _literal_bool(s.gate) is True:
        return None
    return Condition("maybe", s.name, "has a `gate` that stops the flow unless it holds", s.gate.loc,
                     "the flow stops here unless this holds")


def step_condition(flow: ir.Flow, name: str, emits: bool = False) -> Condition:
    """Whether step `name` runs in every run of `flow` (with `emits`: and publishes what it emits).

    Not when its own `when` may not hold, its `foreach` may be empty, or (for what it emits) its
    `gate` may fail; nor when a step before it has a `gate` (a failed gate stops the flow) or a
    `when` or a `foreach` that may leave it without a run. Only a step's own clauses say
    `never`: what comes before it makes its run uncertain, not impossible."""
    steps = {s.name: s for s in flow.steps}
    if name not in steps:
        return ALWAYS
    own = _own_condition(steps[name], emits)
    if own.kind != "always":
        return own
    preds: dict[str, set[str]] = {}
    for e in flow.edges:
        preds.setdefault(e.downstream.name, set()).add(e.upstream.name)
    before, todo = set(), [name]
    while todo:
        for p in preds.get(todo.pop(), ()):
            if p not in before and p in steps:
                before.add(p)
                todo.append(p)
    for s in flow.steps:
        if s.name not in before:
            continue
        gate = _gate(s)
        up = gate or _own_condition(s, emits=False)
        if up.kind != "always":
            return Condition("maybe", name, f"runs after step `{s.name}`, which {up.why}", up.loc, up.label)
    return ALWAYS


def finish_condition(flow: ir.Flow) -> Condition:
    """Whether every run of `flow` finishes (what `on_finish` waits for): not when a `gate` may stop
    it, nor when each of its last steps may not run."""
    for s in flow.steps:
        gate = _gate(s)
        if gate is not None:
            return gate
    has_next = {e.upstream.name for e in flow.edges}
    last = [step_condition(flow, s.name) for s in flow.steps if s.name not in has_next]
    if not last or any(c.kind == "always" for c in last):
        return ALWAYS
    return next((c for c in last if c.kind == "maybe"), last[0])


@dataclass
class Calculus:
    program: ir.Program
    _memo: dict[str, Bound] = field(default_factory=dict)
    _active: set[str] = field(default_factory=set)
    _trained: dict[str, list[str]] | None = None  # model -> what its training steps read

    # ------------------------------------------------------------------ entry points
    def of(self, key: str) -> Bound | None:
        """The bound of the declaration with this key (source, feature group, model or flow)."""
        p = self.program
        for kind, section in (("source", p.sources), ("features", p.feature_groups),
                              ("model", p.models), ("flow", p.flows), ("artifact", p.artifacts)):
            if key in section:
                return self._memoised(f"{kind}:{key}")
        return None

    def input_bounds(self, key: str) -> list[Bound]:
        """For a model, the bound through each of its input groups and training sets (the worst
        is `of(key)`)."""
        m = self.program.models.get(key)
        if m is None:
            return []
        return ([self._memoised(f"features:{t}") for t in sorted({i.target for i in m.inputs if i.target})]
                + [self._memoised(f"artifact:{t}") for t in self._training_sets(key)])

    def _training_sets(self, key: str) -> list[str]:
        """The artifacts that the steps training model `key` (`produces`) read: every model's
        found in one pass over the steps (one pass per model was quadratic on a platform)."""
        if self._trained is None:
            trained: dict[str, set[str]] = {}
            for f in self.program.flows.values():
                for s in f.steps:
                    if s.produces is not None and s.produces.target is not None:
                        trained.setdefault(s.produces.target, set()).update(r.target for r in s.reads if r.target)
            self._trained = {k: sorted(v) for k, v in trained.items()}
        return self._trained.get(key, [])

    def of_step(self, flow_key: str, name: str) -> Bound | None:
        """`freshness(flow.step)`: the step's output is as fresh as the run that wrote it: what
        starts the flow, then the longest path of steps up to this one's end. Unknown when the
        step may not run in every run (a `when`, a `foreach`, a `gate` before it)."""
        flow = self.program.flows.get(flow_key)
        finishes = self.step_finishes(flow) if flow is not None else {}
        if name not in finishes:
            return None
        runs = step_condition(flow, name)
        if runs.kind != "always":
            return unknown(f"step `{name}` of flow `{flow.name}` to run in every run (step `{runs.step}` "
                           f"{runs.why})", runs.loc, runs.label)
        return after(self._memoised(f"start:{flow_key}"), finishes[name])

    def flow_duration(self, flow: ir.Flow) -> Bound:
        """The longest path of steps of one run, from start to the last step's end."""
        finishes = self.step_finishes(flow)
        return worst([finishes[n] for n in sorted(finishes)]) if finishes else Bound(0)

    def step_finishes(self, flow: ir.Flow) -> dict[str, Bound]:
        """For each step, the longest path of steps from the run's start to its end."""
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
            rounds = waves(flow, step)
            before = worst([finish(p, seen | {name}) for p in preds[name]]) if preds[name] else Bound(0)
            if cost is None or rounds is None:
                result = unknown(f"a `timeout` on step `{name}` of flow `{flow.name}`" if cost is None else
                                 f"how many items the `foreach` of step `{name}` of flow `{flow.name}` has "
                                 f"(`parallel {step.parallel}` runs them in rounds)", step.loc)
                result = Bound(None, (), before.missing + result.missing)
            else:
                fact = _step_fact(step) + (f", {rounds} rounds of parallel {step.parallel}" if rounds > 1 else "")
                result = before.then(Hop(f"flow {flow.name}", fact, cost * rounds,
                                         step.setting_locs.get("timeout") or step.loc))
            done[name] = result
            return result

        finishes = {n: finish(n, frozenset()) for n in sorted(steps)}
        waiting = self._waiting(flow)
        return {n: b if b.missing else after(b, waiting) for n, b in finishes.items()}

    def _waiting(self, flow: ir.Flow) -> Bound:
        """How long a step may wait for a free slot: nothing when every task instance of a run
        fits in the DAG's MAX_ACTIVE_TASKS slots at once; else at most the run's whole work over
        the slots (Graham's bound for a greedy scheduler: a task finishes by its longest chain
        plus the work of every other task divided by the slots)."""
        counts = {s.name: foreach_count(flow, s) for s in flow.steps}
        uncounted = [s for s in flow.steps if counts[s.name] is None]
        if uncounted:
            s = uncounted[0]
            return unknown(f"how many items the `foreach` of step `{s.name}` of flow `{flow.name}` has (a list "
                           "written out, or a list parameter with a default)", s.foreach.loc if s.foreach else s.loc)
        total = sum(counts.values())  # type: ignore[arg-type]
        if total <= MAX_ACTIVE_TASKS:
            return Bound(0)
        untimed = next((s for s in flow.steps if step_cost(s) is None), None)
        if untimed is not None:  # its work, which the others may wait for, is unbounded
            return unknown(f"a `timeout` on step `{untimed.name}` of flow `{flow.name}` ({total} task instances "
                           f"share {MAX_ACTIVE_TASKS} slots)", untimed.loc)
        work = sum(step_cost(s) * counts[s.name] for s in flow.steps)  # type: ignore[operator]
        wait = -(-work // MAX_ACTIVE_TASKS)
        return Bound(0).then(Hop(f"flow {flow.name}", f"{total} task instances share {MAX_ACTIVE_TASKS} slots: "
                                 f"waiting at most {fmt_ms(work)} of work / {MAX_ACTIVE_TASKS}", wait, flow.loc))

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
                                     wm, s.watermark_loc or s.loc))
        if s.arrives_every_ms is None:
            return unknown(f"`arrives every ... delay ...` on table `{s.name}` (how often it lands, how late)",
                           s.loc)
        delay = s.arrives_delay_ms or 0
        return Bound(0).then(Hop(where, f"arrives every {fmt_ms(s.arrives_every_ms)} delay {fmt_ms(delay)}",
                                 s.arrives_every_ms + delay, s.arrives_loc or s.loc))

    def _features(self, key: str) -> Bound:
        g = self.program.feature_groups[key]
        where = f"features {g.name}"
        if g.mode == "request":
            groups = sorted({r for f in g.features if f.expr is not None for r in _group_refs(f.expr)})
            return worst([self._group_by_name(g, name) for name in groups]) if groups else Bound(0)
        upstream = worst([self._memoised(f"source:{r.target}") for r in g.sources if r.target])
        if g.registered:  # the source's table as it stands: no job between them
            return upstream
        if g.mode == "stream":
            slides = [(f.every_ms or f.window_ms or 0, f.loc) for f in g.features if f.kind == "aggregation"]
            # the feature whose window slides slowest (the first of them) is the clause cited
            slide, slide_loc = max(slides, key=lambda x: x[0], default=(0, None))
            hops = [Hop(where, f"window slide {fmt_ms(slide)}", slide, slide_loc or g.loc)] if slide else []
            if g.checkpoint_ms is None:
                missing = unknown(f"a `checkpoint every ...` on streaming group `{g.name}` (when results "
                                  "reach the online store)", g.loc)
                return Bound(None, (), upstream.missing + missing.missing)
            hops.append(Hop(where, f"checkpoint every {fmt_ms(g.checkpoint_ms)}", g.checkpoint_ms,
                            g.checkpoint_loc or g.loc))
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
                             Hop(where, f"timeout {fmt_ms(g.timeout_ms or 0)}", g.timeout_ms or 0,
                                 g.timeout_loc or g.loc))

    def _group_by_name(self, context: ir.Decl, name: str) -> Bound:
        """The freshness of a group a request-time group reads; unknown (never dropped: the
        proof would then be false) when the name does not resolve."""
        for key in (f"{context.package}.{name}" if context.package else name, name):
            if key in self.program.feature_groups:
                return self._memoised(f"features:{key}")
        return unknown(f"feature group `{name}`, which `{context.name}` reads, does not resolve", context.loc)

    def _model(self, key: str) -> Bound:
        m = self.program.models[key]
        inputs = sorted({i.target for i in m.inputs if i.target})
        return worst([self._memoised(f"features:{t}") for t in inputs]
                     + [self._memoised(f"artifact:{t}") for t in self._training_sets(key)])

    def _artifact(self, key: str) -> Bound:
        """As fresh as the newest write: the soonest of the steps that write it."""
        from mlc.compiler.checks.artifacts import data_edges

        a = self.program.artifacts[key]
        writes = []
        for fkey, step, ref in data_edges(self.program)[key].writers:
            written = self.of_step(fkey, step.name)
            if written is not None:
                flow = self.program.flows[fkey]
                writes.append(written.then(Hop(f"artifact {a.name}", f"written by step {flow.name}.{step.name}", 0,
                                               ref.loc or a.loc)))
        if not writes:
            return unknown(f"a step that writes artifact `{a.name}`", a.loc)
        return best(writes)

    def _flow(self, key: str) -> Bound:
        return after(self._memoised(f"start:{key}"), self.flow_duration(self.program.flows[key]))

    def _start(self, key: str) -> Bound:
        """How stale a flow's run can be when it starts: its schedule's gap, or what triggers it."""
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
        return best(starts)

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
        flow = program.flows.get(target)
        ends = finish_condition(flow) if flow is not None else ALWAYS
        if ends.kind == "always":
            return flow_bound(target)
        return unknown(f"every run of flow `{flow.name}` to finish (step `{ends.step}` {ends.why})", ends.loc,
                       ends.label)
    signal = program.signals.get(target)
    if signal is None:
        return unknown("a trigger that resolves", t.loc)
    if signal.external:
        return unknown(external_fact(signal.name), t.loc)
    # a flow counts as an emitter when some run of it may emit; it sets the bound only when
    # every run does (a known emitter wins over an uncertain one: the trigger waits for the soonest)
    emitters: list[Bound] = []
    never: list[Bound] = []
    for key, flow in program.flows.items():
        conditions = [_emission(flow, s, e, t) for s in flow.steps for e in s.emits if e.signal.target == target]
        if not conditions:
            continue
        if any(c.kind == "always" for c in conditions):
            emitters.append(flow_bound(key))
            continue
        c = next((c for c in conditions if c.kind == "maybe"), None)
        if c is not None:
            emitters.append(unknown(f"signal `{signal.name}` from every run of flow `{flow.name}` (step `{c.step}` "
                                    f"{c.why})", c.loc, c.label))
        else:
            never.extend(unknown(f"signal `{signal.name}` to be emitted at all (step `{c.step}` of flow "
                                 f"`{flow.name}` {c.why})", c.loc, c.label) for c in conditions)
    if emitters:
        return best(emitters)
    if never:
        return worst(never)
    return unknown(f"a flow that emits signal `{signal.name}`", t.loc)


def _emission(flow: ir.Flow, step: ir.Step, emit: ir.Emit, trigger: ir.Trigger) -> Condition:
    """Whether every run of `flow` publishes `emit` with a payload that `trigger` matches."""
    runs = step_condition(flow, step.name, emits=True)
    if runs.kind != "always":
        return runs
    for name, wanted in trigger.match.items():
        sent = emit.payload.get(name)
        if sent is not None and sent.op == wanted.op == "lit":
            if sent.kind == wanted.kind and sent.value == wanted.value:
                continue
            return Condition("never", step.name, f"emits `{name} = {sent.text}`, and the trigger waits for "
                                                 f"`{name} = {wanted.text}`", sent.loc,
                             "never matches the trigger")
        return Condition("maybe", step.name, f"emits a `{name}` that may not be the `{name}` the trigger waits for",
                         sent.loc if sent is not None else emit.loc, "may not match the trigger")
    return ALWAYS


def _group_refs(e: ir.Expr):
    if e.op == "ref" and e.name and "." in e.name and not e.name.startswith("run."):
        yield e.name.rsplit(".", 1)[0]
    for a in e.args:
        yield from _group_refs(a)
