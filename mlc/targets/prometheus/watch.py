"""What the monitoring target watches, decided once from the IR: the rules, the dashboards, the
diagnostics and the tests' synthetic series all read this plan, never the objectives again.

- an availability or latency objective of a served model -> a `BurnRate`: the SRE workbook's
  multi-window, multi-burn-rate alerts over its error ratio;
- a freshness objective -> a `Freshness` over what exports the subject's last update (the
  feature groups' jobs, a flow's success);
- `completion(flow) by "HH:MM"` -> a `Completion` over the flow's last success;
- every served model -> a `ModelWatch`: its fallback rate and the drift of its confidence, at the
  limits its `fallback_rate(m) <= 2% [over 1h]` and `drift(m) confidence <= 0.05` objectives set
  (the tightest, when several do), else at the defaults below.

## The burn-rate windows

An availability or latency objective over a period P (`over 30d`; 30 days when not said, the
workbook's period; at least 12h, E1304) leaves an
error budget b = 1 - target (99.9% -> 0.001; `p99` latency -> 0.01 of requests may be slower).
Burning at B times the budget rate for a window W spends B * W / P of the budget. The workbook's
three alerts keep their burn rates and budget shares, so their windows follow from P:

| alert | burn rate B | budget spent | long window W = share * P / B | short window | severity |
|---|---|---|---|---|---|
| MlcErrorBudgetFastBurn | 14.4 | 2% | 1h at P = 30d | W / 12 (5m) | page |
| MlcErrorBudgetBurn | 6 | 5% | 6h | W / 12 (30m) | page |
| MlcErrorBudgetSlowBurn | 1 | 10% | 3d | W / 12 (6h) | ticket |

An alert fires when the error ratio is over B * b in both its long and its short window (the
short one makes it stop soon after the burning stops). Windows are whole seconds, at least a
minute (a rate over fewer scrapes than that is noise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from mlc.compiler import ir
from mlc.compiler.checks.objectives import Objective, latency_bound, objectives, run_start_ms, time_of_day
from mlc.compiler.freshness import Calculus
from mlc.compiler.infer import walk
from mlc.diagnostics import Diagnostic, did_you_mean, error, warning
from mlc.targets.layout import Layout, source_line
from mlc.targets.memo import once

DAY_S = 86_400
DEFAULT_PERIOD_MS = 30 * DAY_S * 1000
MIN_WINDOW_S = 60
# The shortest period an objective's budget is counted over: the fast burn's long window is 1/720 of
# it (2% of the budget at 14.4x), and no window is under a minute, so a shorter one would alert on
# other arithmetic than the table's.
MIN_PERIOD_MS = 12 * 3600 * 1000
# (burn rate, share of the budget it spends in its long window, severity, alert): the SRE workbook's
BURNS = ((Decimal("14.4"), Decimal("0.02"), "page", "MlcErrorBudgetFastBurn"),
         (Decimal("6"), Decimal("0.05"), "page", "MlcErrorBudgetBurn"),
         (Decimal("1"), Decimal("0.10"), "ticket", "MlcErrorBudgetSlowBurn"))
SHORT_PER_LONG = 12
# Unless an objective says otherwise, a served model's fallbacks are worth a ticket when over this
# share of its predictions (over the window) for FALLBACK_FOR; its mean confidence has drifted when
# the last hour's is this far from the week's.
FALLBACK_RATE = Decimal("0.05")
FALLBACK_WINDOW_S = 300
FALLBACK_FOR_S = 600
DRIFT = Decimal("0.1")
DRIFT_WINDOWS_S = (3600, 7 * DAY_S)
DRIFT_FOR_S = 1800


@dataclass(frozen=True)
class Window:
    burn: Decimal
    long_s: int
    short_s: int
    severity: str
    alert: str  # the alert's name


@dataclass(frozen=True)
class Meta:
    """Where an objective was written and who answers for it."""

    slo: str  # the SLO's label (`layout.label`)
    source: str  # `FILE:LINE`, project-relative
    explain: str | None  # the `mlc explain` command of the objective, when there is one
    owner: str | None
    labels: tuple[tuple[str, str], ...]  # from the SLO's tags, sorted
    text: str  # the objective as written, for the alert's summary


@dataclass(frozen=True)
class BurnRate:
    meta: Meta
    kind: str  # availability | latency
    model: str  # model id
    model_key: str
    budget: Decimal  # the error budget's share of requests
    period_ms: int
    windows: tuple[Window, ...]
    threshold_s: float | None = None  # latency: the objective in seconds (a bucket's `le`)

    def spent(self, w: Window) -> Decimal:
        """The share of the period's budget (%) that burning at `w.burn` spends in its long window."""
        return w.burn * w.long_s / (self.period_ms // 1000) * 100


@dataclass(frozen=True)
class Freshness:
    meta: Meta
    subject: str  # what the objective names, as written
    kind: str  # the subject's section: models | features | flows (where its rules go)
    key: str  # the subject's key
    bound_s: int
    proven_s: int | None  # the compile-time worst case (None when unknown)
    groups: tuple[str, ...] = ()  # group ids whose newest event bounds the subject
    flow: str | None = None  # or the flow whose last success does
    step: str | None = None  # (of that flow's step, for `freshness(flow.step)`)


@dataclass(frozen=True)
class Completion:
    meta: Meta
    flow: str  # flow id
    flow_key: str
    deadline_s: int  # seconds after midnight UTC
    start_s: int  # when the run the deadline is about starts, from the deadline day's midnight
    # (`objectives.run_start_ms`: negative for a run that starts the evening before)
    proven_s: int | None


@dataclass(frozen=True)
class ModelWatch:
    model: str
    model_key: str
    fallback: str | None  # the fallback model's id
    owner: str | None
    source: str
    thresholds: tuple[float, ...]  # the fallback condition's confidence thresholds
    confident: bool  # a nondeterministic model reports a confidence (a rule does not): its drift is watched
    fallback_rate: Decimal = FALLBACK_RATE  # the share of predictions its fallback may answer
    fallback_window_s: int = FALLBACK_WINDOW_S  # over which that share is measured
    fallback_meta: Meta | None = None  # the `fallback_rate` objective that set them, if one did
    drift: Decimal = DRIFT  # how far its last hour's mean confidence may move from the week's
    drift_meta: Meta | None = None  # the `drift` objective that set it, if one did


@dataclass(frozen=True)
class Plan:
    burns: tuple[BurnRate, ...]
    freshness: tuple[Freshness, ...]
    completions: tuple[Completion, ...]
    models: tuple[ModelWatch, ...]
    findings: tuple[Diagnostic, ...]


def duration(seconds: int) -> str:
    """A Prometheus duration: `1h`, `3d`, `14m`, `1m10s`."""
    if seconds <= 0:
        return "0s"
    out, rest = [], seconds
    for unit, size in (("d", DAY_S), ("h", 3600), ("m", 60), ("s", 1)):
        n, rest = divmod(rest, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def windows(period_ms: int) -> tuple[Window, ...]:
    """The three alerts' windows for an objective over `period_ms` (the table above)."""
    out = []
    for burn, share, severity, alert in BURNS:
        long_s = max(MIN_WINDOW_S, int((share * period_ms / 1000 / burn).to_integral_value()))
        short_s = max(MIN_WINDOW_S, long_s // SHORT_PER_LONG)
        out.append(Window(burn, long_s, short_s, severity, alert))
    return tuple(out)


def label_name(key: str) -> str:
    """A tag's key as a Prometheus label name (`feast.io/role` -> `feast_io_role`)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return "_" + name if name[:1].isdigit() else name


def plan(program: ir.Program, layout: Layout) -> Plan:
    return once(program, ("prometheus-plan",), lambda: _Planner(program, layout).run())


class _Planner:
    def __init__(self, program: ir.Program, layout: Layout) -> None:
        from mlc.targets.bentoml.target import served, thresholds
        from mlc.targets.sql import stored_groups

        self.program = program
        self.layout = layout
        self.served = set(served(program))
        self.thresholds = thresholds
        self.jobs = set(stored_groups(program, ("batch", "stream")))  # groups whose job pushes
        self.calc = Calculus(program)
        self.findings: list[Diagnostic] = []
        self.limits: dict[str, dict] = {}  # model key -> the ModelWatch fields its objectives set

    def run(self) -> Plan:
        burns: list[BurnRate] = []
        fresh: list[Freshness] = []
        comps: list[Completion] = []
        for o in objectives(self.program):
            if o.target is None:
                continue  # a name that resolves to nothing: the checks report it
            if o.kind in ("availability", "latency"):
                b = self._burn(o)
                if b is not None:
                    burns.append(b)
            elif o.kind == "freshness":
                f = self._freshness(o)
                if f is not None:
                    fresh.append(f)
            elif o.kind == "completion":
                c = self._completion(o)
                if c is not None:
                    comps.append(c)
            elif o.kind == "quality":
                self._quality(o)
            elif o.kind in ("fallback_rate", "drift"):
                self._limit(o)
        models = []
        for key in sorted(self.served):
            m = self.program.models[key]
            fb = self.program.models.get(m.fallback.model.target or "") if m.fallback else None
            fb_key = m.fallback.model.target if fb is not None else None
            models.append(ModelWatch(self.layout.label("models", key), key, self.layout.label("models", fb_key) if fb_key else None,
                                     m.owner, source_line(m.loc),
                                     tuple(self.thresholds(m.fallback.when)) if m.fallback else (),
                                     not m.deterministic, **self.limits.get(key, {})))
        return Plan(tuple(burns), tuple(fresh), tuple(comps), tuple(models), tuple(self.findings))

    # ------------------------------------------------------------------ helpers
    def _meta(self, o: Objective, explain: str | None) -> Meta:
        slo = self.program.slos[o.slo_key] if o.slo_key else None
        target = self._decl(o.target)
        owner = (slo.owner if slo else None) or getattr(target, "owner", None)
        labels: dict[str, str] = {}
        if slo is not None:
            if slo.tags:
                labels["tags"] = ",".join(slo.tags)
            for k, v in sorted(slo.tag_values.items()):
                labels[label_name(k)] = v
        value = o.value.text if o.value.text is not None else str(o.value.value)
        metric = f" {o.metric}" if o.metric else ""
        subject = o.target_name + (f".{o.step}" if o.step else "")
        text = f"{o.kind}({subject}){metric} {o.op} {value}"
        if o.window is not None and o.window.text:
            text += f" over {o.window.text}"
        return Meta(self.layout.label("slos", o.slo_key) if o.slo_key else o.slo, source_line(o.loc),
                    f"mlc explain {explain} {subject}" if explain else None, owner,
                    tuple(sorted(labels.items())), text)

    def _decl(self, key: str | None):
        p = self.program
        for section in (p.models, p.feature_groups, p.sources, p.flows):
            if key in section:
                return section[key]
        return None

    def _unmonitored(self, o: Objective, what: str, fix: str) -> None:
        self.findings.append(warning("W1301", f"objective `{o.slo}` cannot be monitored: {what}", o.loc, help=fix))

    # ------------------------------------------------------------------ kinds
    def _burn(self, o: Objective) -> BurnRate | None:
        if o.target not in self.program.models:
            self._unmonitored(o, f"only a served model exports the requests its {o.kind} is measured on",
                              "state the objective about a served model")
            return None
        if o.target not in self.served:
            model = self.program.models[o.target]
            if o.kind == "latency" and model.serve is None:
                return None  # W0707 already asks for its `serve { timeout }`, which serves it
            self._unmonitored(o, f"model `{model.name}` is not served, so nothing exports its requests",
                              f"give `{model.name}` a `serve {{ }}` block, or deploy it from a flow")
            return None
        threshold_s = None
        if o.kind == "availability":
            if o.value.kind != "percent":
                return None  # the checks judge the value's type
            budget = 1 - Decimal(str(o.value.value)) / 100
        else:
            pct = re.fullmatch(r"p(\d+(?:\.\d+)?)", o.metric or "")
            if pct is None or o.value.kind != "duration":
                return None
            budget = 1 - Decimal(pct.group(1)) / 100
            threshold_s = o.value.value / 1000
        period = DEFAULT_PERIOD_MS
        if o.window is not None:
            if o.window.kind != "duration" or o.window.value < MIN_PERIOD_MS:
                self.findings.append(error(
                    "E1304", f"objective `{o.slo}`: its error budget is counted over a period of 12h or more, "
                             f"got `{o.window.text or o.window.value}`", o.window.loc or o.loc,
                    help="a duration such as `over 7d` or `over 30d` (the default)"))
                return None
            period = o.window.value
        if budget <= 0 or budget >= 1:
            self.findings.append(error(
                "E1302", f"objective `{o.slo}` leaves no error budget ({o.value.text or o.value.value}): its "
                         "burn-rate alerts cannot be computed", o.loc,
                help="a target below 100% (99.9% leaves 0.1% of requests to fail)"))
            return None
        model = self.layout.label("models", o.target)
        return BurnRate(self._meta(o, o.kind), o.kind, model, o.target, budget, period, windows(period), threshold_s)

    def _groups(self, key: str, seen: frozenset[str] = frozenset()) -> tuple[set[str], list[str]]:
        """(the stored groups with a job that `key` reads, the names of the inputs nothing exports
        the last update of) for a model or feature group."""
        p = self.program
        if key in seen:
            return set(), []
        if key in p.models:
            found, missing = set(), []
            for ref in p.models[key].inputs:
                if ref.target:
                    g, m = self._groups(ref.target, seen | {key})
                    found |= g
                    missing += m
            return found, missing
        g = p.feature_groups.get(key)
        if g is None:
            return set(), [key]
        if g.mode == "request":
            found, missing = set(), []
            reads = {n.target.removeprefix("feature:").rpartition(".")[0] for f in g.features if f.expr is not None
                     for n in walk(f.expr) if n.op == "ref" and (n.target or "").startswith("feature:")}
            for r in sorted(reads - {key}):
                gg, m = self._groups(r, seen | {key})
                found |= gg
                missing += m
            return found, missing
        if key in self.jobs:
            return {key}, []
        return set(), [g.name]

    def _freshness(self, o: Objective) -> Freshness | None:
        if o.value.kind != "duration":
            return None
        bound = self.calc.of(o.target) if o.step is None else self.calc.of_step(o.target, o.step)
        proven = bound.ms // 1000 if bound is not None and bound.known else None
        meta = self._meta(o, "freshness")
        bound_s = o.value.value // 1000
        if o.target in self.program.flows:
            return Freshness(meta, o.target_name + (f".{o.step}" if o.step else ""), "flows", o.target, bound_s, proven,
                             flow=self.layout.label("flows", o.target), step=o.step)
        if o.target in self.program.sources:
            self._unmonitored(o, f"nothing exports when source `{o.target_name}` last received data",
                              "state the freshness of the feature group that reads it")
            return None
        groups, missing = self._groups(o.target)
        if missing:
            self._unmonitored(o, f"nothing exports the last update of `{missing[0]}` (no job computes it)",
                              "state the freshness of a feature group that a job computes")
            return None
        if not groups:
            return None  # computed at request time from nothing stored: always fresh
        kind = "models" if o.target in self.program.models else "features"
        return Freshness(meta, o.target_name, kind, o.target, bound_s, proven,
                         groups=tuple(sorted(self.layout.label("features", g) for g in groups)))

    def _completion(self, o: Objective) -> Completion | None:
        from mlc.compiler.checks.objectives import Completion as Proof

        deadline = time_of_day(str(o.value.value)) if o.value.kind == "string" else None
        if deadline is None or o.target not in self.program.flows:
            return None  # the checks report it (E0703)
        start = run_start_ms(self.program.flows[o.target].schedule, deadline)
        bound = Proof(self.program, self.calc).of(o.target)
        return Completion(self._meta(o, "completion"), self.layout.label("flows", o.target), o.target, deadline // 1000,
                          start // 1000, bound.ms // 1000 if bound.known else None)

    def _limit(self, o: Objective) -> None:
        """A `fallback_rate` or `drift` objective: a limit of its model's watch (E1303 when the
        value or the model cannot carry it; W1301 when nothing exports what it is about)."""
        model = self.program.models[o.target]
        given = o.value.text or str(o.value.value)

        def bad(what: str, fix: str | None) -> None:
            self.findings.append(error("E1303", f"objective `{o.slo}`: {what}", o.loc, help=fix))

        if o.op not in ("<=", "<"):
            return bad(f"`{o.kind}` is a limit, written `<=` (got `{o.op}`)", f"`{o.kind}(...) <= {given}`")
        if o.kind == "fallback_rate":
            if o.value.kind != "percent" or not 0 < o.value.value < 100:
                return bad(f"a fallback rate is a percentage above 0% and below 100%, got `{given}`",
                           "a share of predictions: `fallback_rate(m) <= 2%`")
            window = o.window.value // 1000 if o.window is not None and o.window.kind == "duration" else None
            if o.window is not None and (window is None or window < MIN_WINDOW_S):
                return bad(f"a fallback rate is measured over a duration of a minute or more, got "
                           f"`{o.window.text or o.window.value}`", "`over 10m`")
            if model.fallback is None:
                return self._unmonitored(o, f"model `{model.name}` has no fallback, so nothing answers for it",
                                         f"give `{model.name}` a `fallback MODEL when ...`")
            limits = {"fallback_rate": Decimal(str(o.value.value)) / 100,
                      "fallback_window_s": window or FALLBACK_WINDOW_S}
            key = "fallback_rate"
        else:
            if o.metric != "confidence":
                return bad(f"only a model's confidence drifts, got `{o.metric}`",
                           did_you_mean(o.metric or "", ["confidence"]) or "`drift(m) confidence <= 0.05`")
            if o.value.kind not in ("float", "int") or not 0 < o.value.value <= 1:
                return bad(f"a confidence drift is a number above 0 and at most 1, got `{given}`",
                           "`drift(m) confidence <= 0.05`")
            if model.deterministic:
                return bad(f"model `{model.name}` is deterministic: it reports no confidence to drift",
                           f"declare `{model.name}` nondeterministic, or remove the objective")
            limits = {"drift": Decimal(str(o.value.value))}
            key = "drift"
        if o.target not in self.served:
            return self._unmonitored(o, f"model `{model.name}` is not served, so nothing exports its predictions",
                                     f"give `{model.name}` a `serve {{ }}` block, or deploy it from a flow")
        have = self.limits.setdefault(o.target, {})
        if key not in have or limits[key] < have[key]:  # the tightest limit of several
            have.update(limits, **{("fallback_meta" if key == "fallback_rate" else "drift_meta"): self._meta(o, None)})

    def _quality(self, o: Objective) -> None:
        """A model's quality is measured where it is evaluated: a step that `uses` the model and
        gates on the objective's metric holds it at every publish; without one nothing does."""
        for flow in self.program.flows.values():
            for step in flow.steps:
                uses = {u.target for u in step.uses}
                if o.target in uses and step.gate is not None and any(
                        n.op == "ref" and n.name == o.metric for n in walk(step.gate)):
                    return
        self._unmonitored(o, f"nothing measures the {o.metric} of `{o.target_name}` at run time",
                          f"gate its evaluation step on it: `uses {o.target_name}, gate {o.metric} {o.op} ...`")


def latency_proven_s(program: ir.Program, model_key: str) -> float | None:
    """The compile-time worst latency of a model (its serve timeouts), in seconds."""
    bound = latency_bound(program, program.models[model_key])
    return bound.ms / 1000 if bound.known else None
