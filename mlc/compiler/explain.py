"""`mlc explain freshness NAME`: the freshness calculus of one node, as a table."""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks.objectives import objectives
from mlc.compiler.freshness import Bound, Calculus, fmt_ms

_SECTIONS = (("source", "sources"), ("feature group", "feature_groups"), ("model", "models"), ("flow", "flows"))


def find(program: ir.Program, name: str) -> list[tuple[str, str]]:
    """(kind word, key) of every source, feature group, model or flow called `name` (or keyed so)."""
    out = []
    for word, section in _SECTIONS:
        for key, decl in getattr(program, section).items():
            if key == name or decl.name == name:
                out.append((word, key))
    return out


def candidates(program: ir.Program) -> list[str]:
    return sorted({d.name for _w, s in _SECTIONS for d in getattr(program, s).values()})


def _table(bound: Bound) -> list[str]:
    rows = [("hop", "fact", "adds", "total")]
    running = 0
    for hop in bound.path:
        running += hop.adds_ms
        where = f"{hop.loc.file}:{hop.loc.line}" if hop.loc else ""
        rows.append((hop.node, hop.fact + (f"  ({where})" if where else ""), f"+{fmt_ms(hop.adds_ms)}",
                     fmt_ms(running)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def explain_freshness(program: ir.Program, word: str, key: str) -> str:
    calc = Calculus(program)
    bound = calc.of(key)
    assert bound is not None
    decl_name = key.rsplit(".", 1)[-1]
    lines = []
    if not bound.known:
        lines.append(f"freshness of {word} {decl_name}: unknown")
        lines.extend(f"  missing: {fact}" + (f"  ({loc.file}:{loc.line})" if loc else "")
                     for fact, loc in bound.missing)
    else:
        lines.append(f"freshness of {word} {decl_name}: at worst {fmt_ms(bound.ms)} stale")
        lines.extend(_table(bound) if bound.path else ["  (no hop adds staleness)"])
    others = [b for b in calc.input_bounds(key) if b is not bound and b.known and b.path]
    for b in others:
        lines.append(f"  via {b.path[-1].node}: {fmt_ms(b.ms)}")
    for o in objectives(program):
        if o.kind == "freshness" and o.target == key and o.value.op == "lit" and o.value.kind == "duration":
            target = o.value.value
            if not bound.known:
                verdict = "unknown"
            elif bound.ms <= target if o.op == "<=" else bound.ms < target:
                verdict = f"proven ({fmt_ms(bound.ms)} {o.op} {fmt_ms(target)})"
            else:
                verdict = f"REJECTED ({fmt_ms(bound.ms)} is over {fmt_ms(target)})"
            lines.append(f"slo {o.slo}: freshness {o.op} {fmt_ms(target)}: {verdict}")
    group = program.feature_groups.get(key)
    if group is not None and group.freshness is not None:
        target = group.freshness.value_ms
        verdict = "unknown" if not bound.known else (
            "proven" if bound.ms <= target else f"REJECTED ({fmt_ms(bound.ms)} is over {fmt_ms(target)})")
        lines.append(f"freshness {group.freshness.op} {fmt_ms(target)} (declared on the group): {verdict}")
    return "\n".join(lines) + "\n"
