"""`mlc explain availability MODEL`: what each availability objective of a served model counts,
its error budget and the burn-rate alerts derived for it, read from the watch plan (`watch.plan`)
that the rules are written from, so the two cannot disagree."""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler import metrics as M
from mlc.compiler.checks.objectives import objectives
from mlc.compiler.freshness import fmt_ms
from mlc.targets.layout import Layout
from mlc.targets.prometheus.rules import ERROR_RATIO, number
from mlc.targets.prometheus.watch import duration, plan


def explain_availability(program: ir.Program, key: str) -> str:
    layout = Layout(program)
    watched = plan(program, layout)
    model = program.models[key]
    burns = [b for b in watched.burns if b.model_key == key and b.kind == "availability"]
    lines = [f"availability of model {model.name}", ""]
    if burns:
        bad = ", ".join(M.UNAVAILABLE_REASONS)
        lines += [f"good: a prediction in {M.PREDICTIONS}{{model=\"{burns[0].model}\"}} answered by the model, or by "
                  "its fallback for `low_confidence` (the model declining by design)",
                  f"bad:  one answered by its fallback because the model could not answer ({bad})",
                  f"rules: {layout.prometheus_rules('models', key)}", ""]
    for b in burns:
        period_s = b.period_ms // 1000
        lines += [f"slo {b.meta.slo}: {b.meta.text}  ({b.meta.source})",
                  f"  error budget: {number(b.budget * 100)}% of requests over {duration(period_s)} "
                  f"(all of them failing for {fmt_ms(int(b.budget * period_s) * 1000)})",
                  f"  error ratio: {ERROR_RATIO}W{{slo=\"{b.meta.slo}\"}} over each window W below"]
        rows = [("alert", "burn", "fires over (ratio)", "long", "short", "budget spent", "severity")]
        for w in b.windows:
            rows.append((w.alert, f"{number(w.burn)}x", f"{number(w.burn)} x {number(b.budget)} = "
                         f"{number(w.burn * b.budget)}", duration(w.long_s), duration(w.short_s),
                         f"{number(round(b.spent(w), 1))}% in {duration(w.long_s)}", w.severity))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(c.ljust(n) for c, n in zip(r, widths)).rstrip() for r in rows]
        lines.append("")
    said = [d for d in watched.findings
            if any(o.kind == "availability" and o.target == key and o.loc == d.span for o in objectives(program))]
    lines += [f"{d.code}: {d.message}" for d in said]
    if not burns and not said:
        lines.append(f"no availability objective is about `{model.name}`")
    return "\n".join(lines).rstrip("\n") + "\n"

