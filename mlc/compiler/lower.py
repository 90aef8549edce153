"""AST -> IR: normalises what was written into the typed program model.

Values become unit-fixed numbers, edges become pairs, metadata is flattened
onto each declaration, and a declaration written twice is reported (the
first one wins, so later checks see one consistent program).
"""

from __future__ import annotations

from typing import Iterable

from mlc.diagnostics import Diagnostic, Label, Span, error
from mlc.dsl import ast as A
from mlc.compiler import ir

AGGREGATIONS = ("count", "sum", "avg", "min", "max", "last", "distinct_count")

_SECTION = {
    A.EnvDecl: "envs", A.ConnectorDecl: "connectors", A.SourceDecl: "sources",
    A.EntityDecl: "entities", A.FeaturesDecl: "feature_groups", A.ModelDecl: "models",
    A.SignalDecl: "signals", A.FlowDecl: "flows", A.SloDecl: "slos",
}


def loc(span: Span | None) -> ir.Loc | None:
    if span is None:
        return None
    return ir.Loc.model_construct(file=span.file, line=span.line, col=span.col, end_line=span.end_line, end_col=span.end_col)


def _ms(lit: A.Literal | None) -> int | None:
    return lit.value if lit is not None else None  # type: ignore[return-value]


def expr(e) -> ir.Expr:
    if isinstance(e, A.Literal):
        return ir.Expr.model_construct(op="lit", kind=e.kind, value=e.value, text=e.text, loc=loc(e.span))
    if isinstance(e, A.Ref):
        return ir.Expr.model_construct(op="ref", name=e.dotted, loc=loc(e.span))
    if isinstance(e, A.Call):
        name = e.func.dotted
        if name == "secret" and len(e.args) == 1 and isinstance(e.args[0].value, A.Literal):
            return ir.Expr.model_construct(op="secret", value=e.args[0].value.value, loc=loc(e.span))
        return ir.Expr.model_construct(op="call", name=name, args=tuple(_arg(a) for a in e.args), loc=loc(e.span))
    if isinstance(e, A.BinOp):
        return ir.Expr.model_construct(op="binop", name=e.op, args=(expr(e.left), expr(e.right)), loc=loc(e.span))
    if isinstance(e, A.UnaryOp):
        return ir.Expr.model_construct(op="unop", name=e.op, args=(expr(e.operand),), loc=loc(e.span))
    if isinstance(e, A.ListExpr):
        return ir.Expr.model_construct(op="list", args=tuple(expr(i) for i in e.items), loc=loc(e.span))
    if isinstance(e, A.Range):
        return ir.Expr.model_construct(op="range", args=(expr(e.low), expr(e.high)), loc=loc(e.span))
    if isinstance(e, A.Star):
        return ir.Expr.model_construct(op="star", loc=loc(e.span))
    raise TypeError(f"not an expression: {type(e).__name__}")


def _arg(a: A.Arg) -> ir.Expr:
    if a.name is None:
        return expr(a.value)
    return ir.Expr.model_construct(op="arg", name=a.name.value, args=(expr(a.value),), loc=loc(a.span))


def type_spec(t: A.TypeRef) -> ir.TypeSpec:
    return ir.TypeSpec.model_construct(name=t.name, args=t.args, nullable=t.nullable,
                       element=type_spec(t.element) if t.element else None)


def field(f: A.Field) -> ir.Field:
    return ir.Field.model_construct(name=f.name.value, type=type_spec(f.type), loc=loc(f.span))


def connector_use(c: A.Call) -> ir.ConnectorUse:
    return ir.ConnectorUse.model_construct(
        connector=c.func.dotted,
        args={a.name.value: expr(a.value) for a in c.args if a.name is not None},
        positional=tuple(expr(a.value) for a in c.args if a.name is None),
        loc=loc(c.span),
    )


def _common(d: A.Decl, package: str | None) -> dict:
    m = d.meta
    return {
        "name": d.name.value, "package": package, "doc": m.doc,
        "owner": m.owner.value if m.owner else None,
        "tags": tuple(t.value for t in m.tags),
        "description": m.description.value if m.description else None,
        "loc": loc(d.span),
    }


def _schedule(s: A.Schedule | None) -> ir.Schedule | None:
    if s is None:
        return None
    if s.kind == "interval":
        return ir.Schedule.model_construct(kind="interval", every_ms=s.value.value, loc=loc(s.span))
    return ir.Schedule.model_construct(kind=s.kind, value=str(s.value.value), loc=loc(s.span))


def _feature(d: A.Derived) -> ir.Feature:
    e = d.expr
    w = d.window
    is_agg = isinstance(e, A.Call) and e.func.dotted in AGGREGATIONS and len(e.func.parts) == 1
    if is_agg or w is not None:
        agg = e.func.dotted if isinstance(e, A.Call) else None
        arg = None
        if isinstance(e, A.Call) and e.args and not isinstance(e.args[0].value, A.Star):
            arg = expr(e.args[0].value)
        return ir.Feature.model_construct(
            name=d.name.value, kind="aggregation", type=type_spec(d.type) if d.type else None,
            agg=agg, expr=arg if is_agg else expr(e),
            window_ms=w.size.value if w else None, every_ms=_ms(w.every) if w else None,
            loc=loc(d.span))
    return ir.Feature.model_construct(name=d.name.value, kind="expression", type=type_spec(d.type) if d.type else None,
                      expr=expr(e), loc=loc(d.span))


def _trigger(t) -> ir.Trigger:
    if isinstance(t, A.OnFinish):
        return ir.Trigger.model_construct(kind="on_finish", target=t.flow.value, loc=loc(t.span))
    if isinstance(t, A.OnSignal):
        return ir.Trigger.model_construct(kind="signal", target=t.signal.value,
                          match={a.name.value: expr(a.value) for a in t.match if a.name}, loc=loc(t.span))
    kind = "all" if isinstance(t, A.TriggerAll) else "any"
    return ir.Trigger.model_construct(kind=kind, items=tuple(_trigger(i) for i in t.items), loc=loc(t.span))


def _determinism(n: A.Name | None) -> bool | None:
    return None if n is None else n.value == "deterministic"


def _step(s: A.Step) -> ir.Step:
    settings = {x.name.value: expr(x.value) for x in s.resources}
    return ir.Step.model_construct(
        name=s.name.value, kind=s.action.func.dotted, args=tuple(_arg(a) for a in s.action.args),
        retries=s.retries.value if s.retries else None, retry_delay_ms=_ms(s.retry_delay),
        timeout_ms=_ms(s.timeout), resources=settings,
        env={a.name.value: expr(a.value) for a in s.env if a.name},
        deterministic=_determinism(s.determinism), produces=s.produces.value if s.produces else None,
        uses=tuple(u.value for u in s.uses), gate=expr(s.gate) if s.gate is not None else None,
        emits=tuple(ir.Emit.model_construct(signal=e.signal.value, payload={a.name.value: expr(a.value) for a in e.payload if a.name},
                            loc=loc(e.span)) for e in s.emits),
        foreach=ir.Foreach.model_construct(var=s.foreach.var.value, items=expr(s.foreach.items), loc=loc(s.foreach.span))
        if s.foreach else None,
        when=expr(s.when) if s.when is not None else None,
        doc=s.meta.doc, owner=s.meta.owner.value if s.meta.owner else None,
        tags=tuple(t.value for t in s.meta.tags), loc=loc(s.span))


def _edges(edges: Iterable[A.Edge]) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for e in edges:
        for left, right in zip(e.hops, e.hops[1:]):
            pairs.extend((a.value, b.value) for a in left for b in right)
    return tuple(dict.fromkeys(pairs))


class Lowering:
    """Lowers the modules of one program; `diagnostics` collects duplicate declarations."""

    def __init__(self, modules: list[A.Module]) -> None:
        self.modules = modules
        self.diagnostics: list[Diagnostic] = []
        self.source_kinds = {d.name.value: d.source_kind for m in modules for d in m.decls
                             if isinstance(d, A.SourceDecl)}

    def program(self) -> ir.Program:
        sections: dict[str, dict] = {s: {} for s in _SECTION.values()}
        first: dict[tuple[str, str], A.Decl] = {}
        imports: list[ir.Import] = []
        packages: set[str] = set()
        for m in self.modules:
            pkg = m.package
            if pkg:
                packages.add(pkg)
            for d in m.decls:
                if isinstance(d, A.PackageDecl):
                    continue
                if isinstance(d, A.ImportDecl):
                    imports.append(ir.Import.model_construct(**_common(d, pkg), module=d.module.dotted,
                                             members=tuple(x.value for x in d.members),
                                             alias=d.alias.value if d.alias else None))
                    continue
                section = _SECTION[type(d)]
                key = (section, d.name.value)
                if key in first:
                    self._duplicate(d, first[key])
                    continue
                first[key] = d
                sections[section][d.name.value] = getattr(self, "_" + section)(d, pkg)
        return ir.Program.model_construct(
            files=tuple(m.path for m in self.modules), packages=tuple(sorted(packages)),
            imports=tuple(imports), **{k: dict(sorted(v.items())) for k, v in sections.items()})

    def _duplicate(self, d: A.Decl, prev: A.Decl) -> None:
        self.diagnostics.append(error(
            "E0201", f"{d.kind} `{d.name.value}` is declared twice", d.name.span,
            labels=(Label(prev.name.span, "first declared here"),),
            help=f"rename one of them, or remove the second {d.kind}"))

    # one method per section -------------------------------------------------------------
    def _envs(self, d: A.EnvDecl, pkg):
        return ir.Env.model_construct(**_common(d, pkg), bindings={b.name.value: connector_use(b.call) for b in d.bindings})

    def _connectors(self, d: A.ConnectorDecl, pkg):
        def params(ps):
            return tuple(ir.ParamSpec.model_construct(name=p.name.value, type=type_spec(p.type),
                                      default=expr(p.default) if p.default is not None else None,
                                      loc=loc(p.span)) for p in ps)
        return ir.Connector.model_construct(**_common(d, pkg), kinds=tuple(k.value for k in d.kinds),
                            env_params=params(d.env_params), source_params=params(d.source_params))

    def _sources(self, d: A.SourceDecl, pkg):
        return ir.Source.model_construct(**_common(d, pkg), kind=d.source_kind, connector=connector_use(d.connector),
                         schema_=tuple(field(f) for f in d.schema),
                         event_time=d.event_time.value if d.event_time else None,
                         watermark_ms=_ms(d.watermark), arrives_every_ms=_ms(d.arrives_every),
                         arrives_delay_ms=_ms(d.arrives_delay))

    def _entities(self, d: A.EntityDecl, pkg):
        return ir.Entity.model_construct(**_common(d, pkg), keys=tuple(field(f) for f in d.keys))

    def _feature_groups(self, d: A.FeaturesDecl, pkg):
        sources = tuple(r.dotted for r in d.sources)
        kinds = {self.source_kinds.get(s) for s in sources}
        mode = "stream" if "stream" in kinds else "batch" if sources or not d.request else "request"
        features = tuple(
            [ir.Feature.model_construct(name=c.name.value, kind="column", type=type_spec(c.type), loc=loc(c.span)) for c in d.columns]
            + [_feature(x) for x in d.derived])
        features = tuple(sorted(features, key=lambda f: (f.loc.line, f.loc.col) if f.loc else (0, 0)))
        fresh = d.freshness
        return ir.FeatureGroup.model_construct(
            **_common(d, pkg), entity=d.entity.value, mode=mode, sources=sources, features=features,
            request=tuple(field(f) for f in d.request), checkpoint_ms=_ms(d.checkpoint),
            online=d.online is not None, online_ttl_ms=_ms(d.online.ttl) if d.online else None,
            offline=connector_use(d.offline) if d.offline else None, schedule=_schedule(d.schedule),
            timeout_ms=_ms(d.timeout),
            freshness=ir.Bound.model_construct(op=fresh.op, value_ms=fresh.value.value, loc=loc(fresh.span)) if fresh else None)

    def _models(self, d: A.ModelDecl, pkg):
        serve = None
        if d.serve is not None:
            settings = {s.name.value: s.value for s in d.serve}
            rep, tmo = settings.pop("replicas", None), settings.pop("timeout", None)
            serve = ir.Serve.model_construct(
                replicas=rep.value if isinstance(rep, A.Literal) and rep.kind == "int" else None,
                timeout_ms=tmo.value if isinstance(tmo, A.Literal) and tmo.kind == "duration" else None,
                settings={k: expr(v) for k, v in settings.items()}, loc=loc(d.serve_span))
        conf = None
        if d.confidence is not None:
            conf = (float(d.confidence.low.value), float(d.confidence.high.value))
        fb = d.fallback
        return ir.Model.model_construct(
            **_common(d, pkg), deterministic=d.determinism is None or d.determinism.value == "deterministic",
            framework=d.framework.value if d.framework else None,
            inputs=tuple(ir.FeatureRef.model_construct(group=i.group.value, feature=i.feature.value if i.feature else None,
                                       loc=loc(i.span)) for i in d.inputs),
            output=field(d.output) if d.output else None, confidence=conf,
            fallback=ir.Fallback.model_construct(model=fb.model.value, when=expr(fb.when) if fb.when is not None else None,
                                 loc=loc(fb.span)) if fb else None,
            serve=serve)

    def _signals(self, d: A.SignalDecl, pkg):
        return ir.Signal.model_construct(**_common(d, pkg), external=d.external, fields=tuple(field(f) for f in d.fields))

    def _flows(self, d: A.FlowDecl, pkg):
        return ir.Flow.model_construct(
            **_common(d, pkg), schedule=_schedule(d.schedule),
            trigger=_trigger(d.trigger) if d.trigger is not None else None,
            params=tuple(ir.Param.model_construct(name=p.name.value, type=type_spec(p.type),
                                  default=expr(p.default) if p.default is not None else None, loc=loc(p.span))
                         for p in d.params),
            catchup=bool(d.catchup.value) if d.catchup else False,
            steps=tuple(_step(s) for s in d.steps), edges=_edges(d.edges))

    def _slos(self, d: A.SloDecl, pkg):
        return ir.Slo.model_construct(
            **_common(d, pkg), params=tuple(p.value for p in d.params),
            objectives=tuple(ir.Objective.model_construct(kind=o.kind, target=o.target.dotted,
                                          metric=o.metric.value if o.metric else None, op=o.op,
                                          value=expr(o.value),
                                          window=expr(o.window) if o.window is not None else None,
                                          loc=loc(o.span)) for o in d.objectives),
            template=d.template.dotted if d.template else None, args=tuple(expr(a) for a in d.args))


def lower(modules: list[A.Module]) -> tuple[ir.Program, list[Diagnostic]]:
    lw = Lowering(modules)
    program = lw.program()
    return program, lw.diagnostics
