"""Every objective's verdict, margin and worst path, derived by the calculus `mlc check` and
`mlc explain` use (so the site can never disagree with them), and the probabilistic boundary.

A verdict is `proven`, `rejected` or `unknown` (a fact the proof needs is missing); objectives
no compile-time proof can decide (availability, quality) are `runtime`: they are measured by
the deployed metrics, not proved. The worst path is the hops of the bound, each mapped to the
map's node it happened at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from mlc.compiler import ir
from mlc.compiler.boundary import step_successors as successors  # the step-to-step spread the region uses
from mlc.compiler.checks.objectives import Completion, clock, latency_bound, objectives, time_of_day
from mlc.compiler.explain import explain_completion, explain_freshness, explain_latency, findings_of
from mlc.compiler.freshness import Bound, Calculus, fmt_ms
from mlc.compiler.graph import node_id, step_id

_EXPLAINED = {"freshness", "completion", "latency"}
_HOP_KINDS = {"source": "source", "features": "features", "model": "model", "flow": "flow"}


@dataclass
class Hop:
    node: str | None  # the map's node id, None when the hop names nothing drawn
    where: str  # as `mlc explain` prints it: `features member_title_affinity`
    fact: str
    adds: str
    total: str
    loc: str | None


@dataclass
class Verdict:
    slo: str | None  # None: a bound declared on the feature group itself
    kind: str
    subject: str | None  # node id
    subject_name: str
    objective: str  # the objective in words
    verdict: str  # proven | rejected | unknown | runtime
    bound: str | None = None
    margin: str | None = None  # how far inside (or, negative, outside) the objective the bound is
    margin_ms: int | None = None
    missing: list[str] = field(default_factory=list)
    path: list[Hop] = field(default_factory=list)
    explain: str | None = None  # `mlc explain KIND NAME`'s output, verbatim
    loc: str | None = None


@dataclass
class Crossing:
    """A deterministic consumer of probabilistic output: `consumer` runs after (or uses) `origin`."""

    origin: str
    consumer: str
    via: str | None  # the gate between them, or None: nothing checks the output


def _loc(span) -> str | None:
    return f"{span.file}:{span.line}" if span is not None else None


def _signed(ms: int) -> str:
    return fmt_ms(ms) if ms >= 0 else "-" + fmt_ms(-ms)


class _Hops:
    """Maps a hop's `kind name` (and, for a flow, its `step NAME:` fact) to a node of the map."""

    def __init__(self, g: nx.MultiDiGraph) -> None:
        self.by_label: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
        for n, d in sorted(g.nodes(data=True)):
            loc = d.get("loc")
            self.by_label.setdefault((d["kind"], d.get("label", "")), []).append((n, loc.file if loc else None))

    def node(self, where: str, fact: str, loc) -> str | None:
        word, _, name = where.partition(" ")
        candidates = self.by_label.get((_HOP_KINDS.get(word, word), name), [])
        if not candidates:
            return None
        chosen = next((n for n, f in candidates if loc is not None and f == loc.file), candidates[0][0])
        if word == "flow" and fact.startswith("step "):
            return step_id(chosen.split(":", 1)[1], fact[5:].split(":", 1)[0])
        return chosen

    def path(self, bound: Bound, total=fmt_ms) -> list[Hop]:
        out, running = [], 0
        for h in bound.path:
            running += h.adds_ms
            out.append(Hop(self.node(h.node, h.fact, h.loc), h.node, h.fact, "+" + fmt_ms(h.adds_ms), total(running),
                           _loc(h.loc)))
        return out


def _subject(program: ir.Program, key: str | None, step: str | None) -> str | None:
    if key is None:
        return None
    if step is not None:
        return step_id(key, step)
    for kind, section in (("source", program.sources), ("features", program.feature_groups),
                          ("model", program.models), ("flow", program.flows)):
        if key in section:
            return node_id(kind, key)
    return None


def _word(subject: str) -> str:
    kind = subject.split(":", 1)[0]
    return {"features": "feature group"}.get(kind, kind)


def verdicts(program: ir.Program, g: nx.MultiDiGraph) -> list[Verdict]:
    calc = Calculus(program)
    completion = Completion(program, calc)
    hops = _Hops(g)
    findings = None
    out: list[Verdict] = []
    explained: dict[tuple[str, str, str | None], str] = {}

    def explain(what: str, word: str, key: str, step: str | None) -> str:
        k = (what, key, step)
        if k not in explained:
            explained[k] = (explain_freshness(program, word, key, step) if what == "freshness" else
                            explain_completion(program, key) if what == "completion" else
                            explain_latency(program, key))
        return explained[k]

    def judge(v: Verdict, bound: Bound, target: int, over: bool, total=fmt_ms, margin: int | None = None) -> None:
        if not bound.known:
            v.verdict = "unknown"
            v.missing = [m.fact for m in bound.missing]
            return
        v.verdict = "rejected" if over else "proven"
        v.bound = total(bound.ms)
        v.margin_ms = target - bound.ms if margin is None else margin
        v.margin = _signed(v.margin_ms)
        v.path = hops.path(bound, total)

    for group_key, group in program.feature_groups.items():
        if group.freshness is None:
            continue
        bound = calc.of(group_key)
        target = group.freshness.value_ms
        v = Verdict(None, "freshness", node_id("features", group_key), group.name,
                    f"freshness {group.freshness.op} {fmt_ms(target)} (declared on the group)", "unknown",
                    explain=explain("freshness", "feature group", group_key, None), loc=_loc(group.freshness.loc))
        judge(v, bound, target, bound.known and bound.ms > target)
        out.append(v)
    for o in objectives(program):
        subject = _subject(program, o.target, o.step)
        name = o.target_name
        value = o.value.value if o.value.op == "lit" else None
        text = f"{o.kind}({name})" + (f" {o.metric}" if o.metric else "")
        v = Verdict(o.slo, o.kind, subject, name, text, "runtime", loc=_loc(o.loc))
        out.append(v)
        if o.kind not in _EXPLAINED or subject is None:
            v.objective += f" {o.op} {o.value.text or value}"
            continue
        v.explain = explain(o.kind, _word(subject), o.target, o.step)
        if o.kind == "freshness" and o.value.kind == "duration":
            bound = calc.of(o.target) if o.step is None else calc.of_step(o.target, o.step)
            v.objective += f" {o.op} {fmt_ms(value)}"
            if bound is not None:
                judge(v, bound, value, bound.known and (bound.ms > value if o.op == "<=" else bound.ms >= value))
        elif o.kind == "completion" and o.target in program.flows:
            deadline = time_of_day(str(value))
            v.objective += f" by {value}"
            if deadline is not None:
                bound = completion.of(o.target)
                judge(v, bound, deadline, bound.known and bound.ms > deadline, clock)
        elif o.kind == "latency" and o.target in program.models and o.value.kind == "duration":
            findings = findings_of(program) if findings is None else findings
            said = [d.code for d in findings if d.span == o.loc and d.code in ("E0705", "E0706", "W0707")]
            bound = latency_bound(program, program.models[o.target])
            v.objective += f" {o.op} {fmt_ms(value)}"
            judge(v, bound, value, bool(said) and said[0].startswith("E"))
    return out


def _gate(program: ir.Program, g: nx.MultiDiGraph, n: str, text) -> str | None:
    """What checks a probabilistic node's output before it goes on: a step's gate, a model's
    confidence fallback."""
    d = g.nodes[n]
    if d["kind"] == "step":
        step = next(s for s in program.flows[d["flow"]].steps if s.name == d["label"])
        return f"gate {text(step.gate)}" if step.gate is not None else None
    model = program.models[n.split(":", 1)[1]]
    if model.fallback is not None and model.fallback.when is not None:
        return f"fallback {model.fallback.model.name} when {text(model.fallback.when)}"
    return None


def crossings(program: ir.Program, g: nx.MultiDiGraph, text) -> list[Crossing]:
    """Where the probabilistic region ends: each deterministic step or model that runs after, or
    uses, a probabilistic one, and the gate in between (`text` renders an expression)."""
    ml = sorted(n for n, d in g.nodes(data=True) if d["kind"] in ("model", "step") and not d.get("deterministic", True))
    out: list[Crossing] = []
    for n in ml:
        if g.nodes[n]["kind"] == "step":
            after = set(successors(g, n))
        else:
            after = {v for _u, v, k in g.out_edges(n, data="kind") if k == "uses"}
        for v in sorted(after):
            if g.nodes[v].get("deterministic", True):
                out.append(Crossing(n, v, _gate(program, g, n, text)))
    return out
