"""`mlc explain freshness|completion|latency NAME`: how one bound was derived, as a table of hops,
and the verdict on every objective about it (`mlc explain availability MODEL`, a run-time
objective's error budget and alerts, is the monitoring target's: mlc/targets/prometheus/explain.py).

Freshness verdicts are computed here from the same calculus the check uses; completion and latency
verdicts are the check's own findings on each objective, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.checks import objectives as checks
from mlc.compiler.checks.objectives import Completion, clock, due_ms, latency_bound, objectives, time_of_day
from mlc.compiler.freshness import Bound, Calculus, fmt_ms

_SECTIONS = (("source", "sources"), ("feature group", "feature_groups"), ("model", "models"), ("flow", "flows"),
             ("artifact", "artifacts"))
# what each kind of explanation is about
SUBJECTS = {"freshness": ("source", "feature group", "model", "flow", "step", "artifact"), "latency": ("model",),
            "completion": ("flow",), "availability": ("model",)}


def find(program: ir.Program, name: str, what: str = "freshness") -> list[tuple[str, str, str | None]]:
    """(kind word, key, step) of every declaration called `name` (or keyed so) that `what` is about;
    `flow.step` names a step (the key is then its flow's)."""
    allowed = SUBJECTS[what]
    out = []
    for word, section in _SECTIONS:
        if word not in allowed:
            continue
        for key, decl in getattr(program, section).items():
            if key == name or decl.name == name:
                out.append((word, key, None))
    if "step" in allowed and not out and "." in name:
        flow_name, _, step = name.rpartition(".")
        for key, flow in program.flows.items():
            if (key == flow_name or flow.name == flow_name) and any(s.name == step for s in flow.steps):
                out.append(("step", key, step))
    return out


def candidates(program: ir.Program, what: str = "freshness") -> list[str]:
    allowed = SUBJECTS[what]
    names = {d.name for w, s in _SECTIONS if w in allowed for d in getattr(program, s).values()}
    if "step" in allowed:
        names |= {f"{f.name}.{s.name}" for f in program.flows.values() for s in f.steps}
    return sorted(names)


def _table(bound: Bound, total: Callable[[int], str] = fmt_ms) -> list[str]:
    rows = [("hop", "fact", "adds", "total")]
    running = 0
    for hop in bound.path:
        running += hop.adds_ms
        where = f"{hop.loc.file}:{hop.loc.line}" if hop.loc else ""
        rows.append((hop.node, hop.fact + (f"  ({where})" if where else ""), f"+{fmt_ms(hop.adds_ms)}",
                     total(running)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def _derivation(title: str, bound: Bound, worst: str, total: Callable[[int], str] = fmt_ms) -> list[str]:
    """The heading line, then the hop table, or what is missing when the bound is unknown."""
    if not bound.known:
        return [f"{title}: unknown"] + [f"  missing: {m.fact}" + (f"  ({m.loc.file}:{m.loc.line})" if m.loc else "")
                                         for m in bound.missing]
    return [f"{title}: {worst}"] + (_table(bound, total) if bound.path else ["  (no hop adds staleness)"])


def explain_freshness(program: ir.Program, word: str, key: str, step: str | None = None) -> str:
    calc = Calculus(program)
    bound = calc.of(key) if step is None else calc.of_step(key, step)
    assert bound is not None
    decl_name = key.rsplit(".", 1)[-1] + (f".{step}" if step else "")
    lines = _derivation(f"freshness of {word} {decl_name}", bound, f"at worst {fmt_ms(bound.ms or 0)} stale")
    others = [b for b in calc.input_bounds(key) if b is not bound and b.known and b.path]
    for b in others:
        lines.append(f"  via {b.path[-1].node}: {fmt_ms(b.ms)}")
    for o in _objectives(program):
        if (o.kind == "freshness" and o.target == key and o.step == step and o.value.op == "lit"
                and o.value.kind == "duration"):
            target = o.value.value
            if not bound.known:
                verdict = "unknown"
            elif bound.ms <= target if o.op == "<=" else bound.ms < target:
                verdict = f"proven ({fmt_ms(bound.ms)} {o.op} {fmt_ms(target)})"
            else:
                verdict = f"REJECTED ({fmt_ms(bound.ms)} is over {fmt_ms(target)})"
            lines.append(f"slo {o.slo}: freshness {o.op} {fmt_ms(target)}: {verdict}")
    group = program.feature_groups.get(key)
    if group is not None and group.freshness is not None and step is None:
        target = group.freshness.value_ms
        verdict = "unknown" if not bound.known else (
            "proven" if bound.ms <= target else f"REJECTED ({fmt_ms(bound.ms)} is over {fmt_ms(target)})")
        lines.append(f"freshness {group.freshness.op} {fmt_ms(target)} (declared on the group): {verdict}")
    return "\n".join(lines) + "\n"


# what is computed once per program: kept for the last program, so that explaining every
# declaration of a program (`mlc docs`) runs the check and lists the objectives once, not once each
_last: dict[str, tuple[ir.Program, list]] = {}


def _per_program(what: str, program: ir.Program, compute: Callable[[], list]) -> list:
    hit = _last.get(what)
    if hit is None or hit[0] is not program:
        hit = _last[what] = (program, compute())
    return hit[1]


def _objectives(program: ir.Program) -> list:
    return _per_program("objectives", program, lambda: objectives(program))


def findings_of(program: ir.Program) -> list:
    def run() -> list:
        ctx = Context(program, None, None)  # type: ignore[arg-type]  # the objectives check reads only the program
        checks.check(ctx)
        return ctx.diagnostics

    return _per_program("findings", program, run)


def _verdict(o, findings: list, codes: tuple[str, ...], proven: str) -> str:
    """What the check said about objective `o`: its finding's code and message, or `proven`."""
    said = [d for d in findings if d.code in codes and d.span == o.loc]
    if not said:
        return f"proven ({proven})"
    d = said[0]
    return f"{'unknown' if d.code.startswith('W') else 'REJECTED'} ({d.code}: {d.message})"


def explain_completion(program: ir.Program, key: str) -> str:
    flow = program.flows[key]
    bound = Completion(program, Calculus(program)).of(key)
    lines = _derivation(f"completion of flow {flow.name}", bound, f"done by {clock(bound.ms or 0)} at worst", clock)
    findings = findings_of(program)
    for o in _objectives(program):
        if o.kind == "completion" and o.target == key:
            deadline = time_of_day(str(o.value.value))
            due = clock(due_ms(flow.schedule, deadline)) if deadline is not None else o.value.value
            lines.append(f"slo {o.slo}: completion by {o.value.value}: "
                         + _verdict(o, findings, ("E0703", "W0704"), f"{clock(bound.ms or 0)} <= {due}"))
    return "\n".join(lines) + "\n"


def explain_latency(program: ir.Program, key: str) -> str:
    model = program.models[key]
    bound = latency_bound(program, model)
    lines = _derivation(f"latency of model {model.name}", bound, f"at worst {fmt_ms(bound.ms or 0)}")
    findings = findings_of(program)
    for o in _objectives(program):
        if o.kind == "latency" and o.target == key and o.value.op == "lit" and o.value.kind == "duration":
            budget = fmt_ms(o.value.value)
            lines.append(f"slo {o.slo}: latency {o.metric} {o.op} {budget}: "
                         + _verdict(o, findings, ("E0705", "E0706", "W0707"), f"{fmt_ms(bound.ms or 0)} {o.op} {budget}"))
    return "\n".join(lines) + "\n"
