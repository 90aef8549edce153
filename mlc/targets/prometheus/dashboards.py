"""Grafana dashboards (JSON), one per served model and one per flow, built with Grafana's own
builder library (`grafana-foundation-sdk`, its Python builders and dashboard model) rather than
hand-written JSON: the library's model is the schema the files are checked against.

A model's dashboard: its predictions by path and reason, fallbacks by reason, refused requests,
confidence (quantiles, mean, the fallback thresholds), latency against each latency objective and
its compile-time worst case, every error budget's ratio against its burn thresholds, and the
freshness of what it reads against each bound and the bound proven at compile time. A flow's:
the time since its last success against each freshness bound and its proven bound, and the time
of day of its last success against each completion deadline.

Queries are PromQL over the series of `mlc.compiler.metrics`, with fixed `[5m]` rate windows (no
Grafana macro), so that each one is also a valid rule expression (the tests check them with
promtool). The datasource is the dashboard's `datasource` variable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mlc.compiler import ir
from mlc.compiler import metrics as M
from mlc.compiler.freshness import fmt_ms
from mlc.targets.layout import Layout
from mlc.targets.prometheus.rules import ERROR_RATIO, completion_expr, freshness_expr, number, selector
from mlc.targets.prometheus.watch import DAY_S, Plan, duration, latency_proven_s

RATE = "5m"
DATASOURCE_VAR = "datasource"


@dataclass
class Panel:
    """One panel before it is built: a title, a unit and its queries (legend, PromQL)."""

    title: str
    unit: str
    queries: list[tuple[str, str]] = field(default_factory=list)
    description: str = ""


def model_panels(program: ir.Program, plan: Plan, key: str) -> list[Panel]:
    watch = next((m for m in plan.models if m.model_key == key), None)
    model = watch.model if watch else ""
    panels = [
        Panel("Predictions by path and reason", "reqps", [(
            "{{path}} {{reason}}", f"sum by (path, reason) (rate({selector(M.PREDICTIONS, model=model)}[{RATE}]))")]),
        Panel("Fallbacks by reason", "reqps", [(
            "{{fallback}} {{reason}}",
            f"sum by (fallback, reason) (rate({selector(M.FALLBACKS, model=model)}[{RATE}]))")]),
        Panel("Refused requests (HTTP 400)", "reqps", [(
            "invalid", f"sum(rate({selector(M.INVALID, model=model)}[{RATE}]))")]),
    ]
    conf = f"sum by (le) (rate({selector(M.CONFIDENCE + '_bucket', model=model)}[{RATE}]))"
    confidence = Panel("Confidence", "percentunit", [
        (f"p{q}", f"histogram_quantile({number(q / 100)}, {conf})") for q in (10, 50, 90)])
    confidence.queries.append(("mean", f"sum(rate({selector(M.CONFIDENCE + '_sum', model=model)}[{RATE}])) / "
                                       f"sum(rate({selector(M.CONFIDENCE + '_count', model=model)}[{RATE}]))"))
    for t in watch.thresholds if watch else ():
        confidence.queries.append((f"fallback threshold {number(t)}", f"vector({number(t)})"))
    panels.append(confidence)
    lat = f"sum by (le) (rate({selector(M.LATENCY + '_bucket', model=model)}[{RATE}]))"
    latency = Panel("Latency against the objective", "s", [
        (f"p{q}", f"histogram_quantile({number(q / 100)}, {lat})") for q in (50, 99)])
    for b in plan.burns:
        if b.model_key == key and b.kind == "latency":
            latency.queries.append((f"objective {b.meta.text}", f"vector({number(b.threshold_s)})"))
    proven = latency_proven_s(program, key)
    if proven is not None:
        latency.queries.append((f"proven worst case {fmt_ms(round(proven * 1000))}", f"vector({number(proven)})"))
    panels.append(latency)
    for b in plan.burns:
        if b.model_key != key:
            continue
        p = Panel(f"Error budget: {b.meta.text}", "percentunit", [
            (f"bad ratio {duration(s)}", selector(ERROR_RATIO + duration(s), slo=b.meta.slo, objective=b.kind))
            for s in sorted({w.long_s for w in b.windows})])
        p.queries += [(f"{number(w.burn)}x budget", f"vector({number(w.burn * b.budget)})") for w in b.windows]
        panels.append(p)
    inputs = {r.target for r in program.models[key].inputs if r.target} | {key}
    panels += [_freshness_panel(f) for f in plan.freshness if f.key in inputs]
    return panels


def flow_panels(plan: Plan, key: str, layout: Layout) -> list[Panel]:
    flow = layout.label("flows", key)
    success = selector(M.FLOW_LAST_SUCCESS, flow=flow)
    panels = [Panel("Time since the last successful run", "s", [("since success", f"time() - max({success})")])]
    panels += [_freshness_panel(f) for f in plan.freshness if f.flow == flow]
    for c in plan.completions:
        if c.flow_key != key:
            continue
        p = Panel(f"Completion: {c.meta.text}", "s", [
            ("last success, seconds after midnight UTC", f"max({success}) % {DAY_S}"),
            ("deadline", f"vector({c.deadline_s})")],
            description="Late when the line is over the deadline, or no success since midnight. Alert expression: "
                        + completion_expr(c).replace("\n", " "))
        if c.proven_s is not None:
            p.queries.append(("proven finish", f"vector({c.proven_s})"))
        panels.append(p)
    return panels


def _freshness_panel(f) -> Panel:
    p = Panel(f"Freshness: {f.meta.text}", "s", [("staleness", freshness_expr(f)),
                                                  (f"bound {fmt_ms(f.bound_s * 1000)}", f"vector({f.bound_s})")])
    if f.proven_s is not None:
        p.queries.append((f"proven {fmt_ms(f.proven_s * 1000)}", f"vector({f.proven_s})"))
    return p


def build(title: str, uid: str, tags: list[str], panels: list[Panel], description: str) -> dict:
    """The dashboard as the library's model serialises it."""
    from grafana_foundation_sdk.builders import common as C
    from grafana_foundation_sdk.builders import dashboard as D
    from grafana_foundation_sdk.builders import prometheus, timeseries
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models import dashboard as model

    source = model.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VAR + "}")
    board = (D.Dashboard(title).uid(uid).tags(tags).description(description).timezone("utc").time("now-6h", "now")
             .refresh("1m").readonly()
             .with_variable(D.DatasourceVariable(DATASOURCE_VAR).label("Prometheus").type("prometheus")))
    for i, p in enumerate(panels):
        # the legend and tooltip a time series panel's options hold (the schema's `options` is not null):
        # every line named below the graph, all of them in the tooltip (the objective beside the value)
        panel = (timeseries.Panel().id(i + 1).title(p.title).unit(p.unit).datasource(source)
                 .grid_pos(model.GridPos(h=8, w=12, x=12 * (i % 2), y=8 * (i // 2)))
                 .legend(C.VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST)
                         .placement(common.LegendPlacement.BOTTOM))
                 .tooltip(C.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.NONE))
                 .draw_style(common.GraphDrawStyle.LINE).line_width(1))
        if p.description:
            panel = panel.description(p.description)
        for j, (legend, expr) in enumerate(p.queries):
            panel = panel.with_target(prometheus.Dataquery().expr(expr).legend_format(legend)
                                      .ref_id(chr(ord("A") + j)).datasource(source))
        board = board.with_panel(panel)
    # the model's nested objects as plain JSON data, through the library's own encoder
    return json.loads(json.dumps(board.build(), cls=JSONEncoder))


def text(document: dict) -> str:
    """Deterministic JSON: keys sorted, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def queries(document: dict) -> list[str]:
    """Every query of a dashboard (the tests check each with promtool)."""
    return [t["expr"] for p in document.get("panels", []) for t in p.get("targets", [])]
