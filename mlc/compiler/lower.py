"""AST -> IR: resolves names and normalises what was written into the typed program model.

Values become unit-fixed numbers, edges become pairs, metadata is flattened
onto each declaration, and every reference to another declaration carries the
qualified key of the one it means (or None, after an "unknown name" error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from mlc.diagnostics import Diagnostic, Label, Span, did_you_mean, error
from mlc.dsl import ast as A
from mlc.compiler import ir, run_policy
from mlc.compiler.resolve import Resolver, qualify, summarize
from mlc.compiler.schedules import timing

AGGREGATIONS = ("count", "sum", "avg", "min", "max", "last", "distinct_count")

SECTION = {
    "env": "envs", "connector": "connectors", "source": "sources", "entity": "entities",
    "features": "feature_groups", "model": "models", "service": "feature_services", "signal": "signals", "flow": "flows", "slo": "slos",
    "artifact": "artifacts", "runtime": "runtimes",
}
ARTIFACT_KINDS = ("dataset", "file", "metrics")


def loc(span: Span | None) -> ir.Loc | None:
    return span


def ref(name: A.Name | A.Ref, target: str | None = None) -> ir.Ref:
    value = name.dotted if isinstance(name, A.Ref) else name.value
    return ir.build(ir.Ref, name=value, target=target, loc=loc(name.span))


def _ms(lit: A.Literal | None) -> int | None:
    return lit.value if lit is not None else None  # type: ignore[return-value]


def expr(e) -> ir.Expr:
    if isinstance(e, A.Literal):
        return ir.build(ir.Expr, op="lit", kind=e.kind, value=e.value, text=e.text, loc=loc(e.span))
    if isinstance(e, A.Ref):
        return ir.build(ir.Expr, op="ref", name=e.dotted, loc=loc(e.span))
    if isinstance(e, A.Call):
        name = e.func.dotted
        if name == "secret" and len(e.args) == 1 and isinstance(e.args[0].value, A.Literal):
            return ir.build(ir.Expr, op="secret", value=e.args[0].value.value, loc=loc(e.span))
        return ir.build(ir.Expr, op="call", name=name, args=tuple(_arg(a) for a in e.args), loc=loc(e.span))
    if isinstance(e, A.BinOp):
        return ir.build(ir.Expr, op="binop", name=e.op, args=tuple(expr(o) for o in e.operands), loc=loc(e.span))
    if isinstance(e, A.UnaryOp):
        return ir.build(ir.Expr, op="unop", name=e.op, args=(expr(e.operand),), loc=loc(e.span))
    if isinstance(e, A.ListExpr):
        return ir.build(ir.Expr, op="list", args=tuple(expr(i) for i in e.items), loc=loc(e.span))
    if isinstance(e, A.Range):
        return ir.build(ir.Expr, op="range", args=(expr(e.low), expr(e.high)), loc=loc(e.span))
    if isinstance(e, A.Star):
        return ir.build(ir.Expr, op="star", loc=loc(e.span))
    raise TypeError(f"not an expression: {type(e).__name__}")


def _arg(a: A.Arg) -> ir.Expr:
    if a.name is None:
        return expr(a.value)
    return ir.build(ir.Expr, op="arg", name=a.name.value, args=(expr(a.value),), loc=loc(a.span))


def type_spec(t: A.TypeRef) -> ir.TypeSpec:
    return ir.build(ir.TypeSpec, name=t.name, args=t.args, nullable=t.nullable,
                    element=type_spec(t.element) if t.element else None,
                    fields=tuple(field(f) for f in t.fields) if t.fields else (), loc=loc(t.span))


def field(f: A.Field) -> ir.Field:
    return ir.build(ir.Field, name=f.name.value, type=type_spec(f.type),
                    description=f.description.value if f.description else None, loc=loc(f.span))


def _common(d: A.Decl, package: str | None) -> dict:
    m = d.meta
    return {
        "name": d.name.value, "package": package, "doc": m.doc,
        "owner": m.owner.value if m.owner else None,
        "tags": tuple(t.value for t in m.tags),
        "tag_values": dict(sorted((k.value, v.value) for k, v in m.tag_values)) if m.tag_values else {},
        "description": m.description.value if m.description else None,
        "loc": loc(d.span),
    }


def _clause_loc(meta: A.Meta, key: str) -> ir.Loc | None:
    """Where clause `key` of a block was written (the first one: a repeated clause is an error
    and the first stands), for checks and proofs that cite the clause they read."""
    return next((span for k, span in meta.clauses if k == key), None)


def _schedule(s: A.Schedule | None) -> ir.Schedule | None:
    if s is None:
        return None
    if s.kind == "interval":
        every, value = s.value.value, None
    else:
        every, value = None, str(s.value.value)
    return ir.build(ir.Schedule, kind=s.kind, value=value, every_ms=every, loc=loc(s.span),
                    **timing(s.kind, value, every))


def _feature(d: A.Derived) -> ir.Feature:
    e = d.expr
    w = d.window
    desc = d.description.value if d.description else None
    is_agg = isinstance(e, A.Call) and e.func.dotted in AGGREGATIONS and len(e.func.parts) == 1
    if is_agg or w is not None:
        agg = e.func.dotted if isinstance(e, A.Call) else None
        arg = None
        if isinstance(e, A.Call) and e.args and not isinstance(e.args[0].value, A.Star):
            arg = expr(e.args[0].value)
        return ir.build(ir.Feature, 
            name=d.name.value, kind="aggregation", type=type_spec(d.type) if d.type else None,
            agg=agg, expr=arg if is_agg else expr(e),
            window_ms=w.size.value if w else None, every_ms=_ms(w.every) if w else None,
            description=desc, loc=loc(d.span))
    return ir.build(ir.Feature, name=d.name.value, kind="expression", type=type_spec(d.type) if d.type else None,
                      expr=expr(e), description=desc, loc=loc(d.span))


def _determinism(n: A.Name | None) -> bool | None:
    return None if n is None else n.value == "deterministic"


@dataclass
class Fragment:
    """The IR declarations of one file, by section; assembled with the others into a Program.

    `uses` is what lowering asked the resolver, with the answers: the fragment stays right
    for as long as every question gets the same answer (see `still_valid`), whatever else
    the other files declare. `package_doc`: (the file's package, the `##` doc comment above
    its `package` line), when it has one."""

    sections: dict[str, dict[str, ir.Decl]]
    imports: tuple[ir.Import, ...]
    uses: tuple[tuple, ...] = ()
    package_doc: tuple[str, str] | None = None

    def still_valid(self, resolver: Resolver, file: str) -> bool:
        for question, answer in self.uses:
            if question[0] == "decl":
                _, package, kind, name, span = question
                if resolver.is_declaration_at(package, kind, name, span) != answer:
                    return False
            elif resolver.outcome(file, question[0], question[1]) != answer:
                return False
        return True


class Lowering:
    """Lowers modules one at a time, resolving every reference through the shared resolver."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.diagnostics: list[Diagnostic] = []
        self.file = ""
        self.uses: dict[tuple, object] = {}

    def module(self, m: A.Module) -> Fragment:
        """Lowers one file; reports what does not resolve into `self.diagnostics`."""
        self.file = m.path
        pkg = m.package
        sections: dict[str, dict[str, ir.Decl]] = {}
        imports: list[ir.Import] = []
        before = len(self.resolver.diagnostics)
        package_doc = None
        for d in m.decls:
            if isinstance(d, A.PackageDecl):
                package_doc = (pkg, d.meta.doc) if pkg and d.meta.doc else None
                continue
            if isinstance(d, A.ImportDecl):
                imports.append(ir.build(
                    ir.Import, **_common(d, pkg), module=d.module.dotted, members=tuple(x.value for x in d.members),
                    alias=d.alias.value if d.alias else None))
                continue
            first = self.resolver.is_declaration(pkg, d)
            self.uses[("decl", pkg, d.kind, d.name.value, d.name.span)] = first
            if not first:
                continue  # declared twice: reported by the resolver, the first one stands
            section = sections.setdefault(SECTION[d.kind], {})
            section[qualify(pkg, d.name.value)] = getattr(self, "_decl_" + d.kind)(d, pkg)
        self.diagnostics.extend(self.resolver.diagnostics[before:])
        del self.resolver.diagnostics[before:]
        uses, self.uses = self.uses, {}
        return Fragment(sections, tuple(imports), tuple(uses.items()), package_doc)

    # references ---------------------------------------------------------------------------
    def _lookup(self, text: str, span: Span, kinds: tuple[str, ...], what: str | None = None):
        symbol = self.resolver.lookup(self.file, text, span, kinds, what)
        self.uses[(text, kinds)] = ((symbol.key, symbol.kind, symbol.source_kind) if symbol is not None
                                    else self.resolver.outcome(self.file, text, kinds))
        return symbol

    def _ref(self, name: A.Name | A.Ref, *kinds: str, what: str | None = None) -> ir.Ref:
        text = name.dotted if isinstance(name, A.Ref) else name.value
        symbol = self._lookup(text, name.span, kinds, what)
        return ref(name, symbol.key if symbol else None)

    def _connector(self, c: A.Call) -> ir.ConnectorUse:
        return ir.build(ir.ConnectorUse, 
            connector=self._ref(c.func, "connector"),
            args={a.name.value: expr(a.value) for a in c.args if a.name is not None},
            positional=tuple(expr(a.value) for a in c.args if a.name is None),
            arg_locs={a.name.value: a.name.span for a in c.args if a.name is not None},
            loc=loc(c.span))

    def _trigger(self, t) -> ir.Trigger:
        if isinstance(t, A.OnFinish):
            return ir.build(ir.Trigger, kind="on_finish", target=self._ref(t.flow, "flow"),
                                              match={}, items=(), loc=loc(t.span))
        if isinstance(t, A.OnSignal):
            return ir.build(ir.Trigger, 
                kind="signal", target=self._ref(t.signal, "signal"), items=(),
                match={a.name.value: expr(a.value) for a in t.match if a.name},
                match_locs={a.name.value: a.name.span for a in t.match if a.name},
                conditions=tuple(expr(c) for c in t.conditions), loc=loc(t.span))
        kind = "all" if isinstance(t, A.TriggerAll) else "any"
        return ir.build(ir.Trigger, kind=kind, target=None, match={},
                                          items=tuple(self._trigger(i) for i in t.items), loc=loc(t.span))

    def _step_args(self, s: A.Step) -> tuple[ir.Expr, ...]:
        kind = s.action.func.dotted
        target_kind = {"deploy": "model", "materialize": "features", "subflow": "flow"}.get(kind)
        out = []
        for a in s.action.args:
            if target_kind and a.name is None and isinstance(a.value, A.Ref):
                r = self._ref(a.value, target_kind)
                out.append(ir.build(ir.Expr, op="ref", name=a.value.dotted, value=r.target,
                                                   kind=None, text=None, args=(), loc=loc(a.value.span)))
            else:
                out.append(_arg(a))
        return tuple(out)

    def _steps(self, d: A.FlowDecl) -> tuple[ir.Step, ...]:
        return tuple(self._step_one(s, d.defaults) for s in d.steps)

    def _step_one(self, s: A.Step, defaults: A.StepDefaults | None = None) -> ir.Step:
        step = self._step_plain(s, defaults)
        policy = run_policy.step_fields(self, s, step.args)
        return step.model_copy(update=policy) if policy else step

    def _step_plain(self, s: A.Step, defaults: A.StepDefaults | None = None) -> ir.Step:
        # each of retries, retry_delay, timeout and owner: the step's own, else the flow's default
        own = {"retries": s.retries, "retry_delay": s.retry_delay, "timeout": s.timeout, "owner": s.meta.owner}
        given = {k: getattr(defaults, k) if defaults is not None else None for k in own}
        inherited = tuple(k for k in own if own[k] is None and given[k] is not None)
        eff = {k: own[k] if own[k] is not None else given[k] for k in own}
        return ir.build(ir.Step,
            name=s.name.value, kind=s.action.func.dotted, args=self._step_args(s),
            retries=eff["retries"].value if eff["retries"] else None, retry_delay_ms=_ms(eff["retry_delay"]),
            timeout_ms=_ms(eff["timeout"]), resources={x.name.value: expr(x.value) for x in s.resources},
            setting_locs={k: eff[k].span for k in ("retries", "retry_delay", "timeout") if eff[k] is not None},
            inherited=inherited,
            env={a.name.value: expr(a.value) for a in s.env if a.name},
            deterministic=_determinism(s.determinism),
            produces=self._ref(s.produces, "model") if s.produces else None,
            uses=tuple(self._ref(u, "model") for u in s.uses),
            reads=tuple(self._ref(r, "artifact") for r in s.reads),
            writes=tuple(self._ref(w, "artifact") for w in s.writes),
            gate=expr(s.gate) if s.gate is not None else None,
            emits=tuple(ir.build(ir.Emit, 
                signal=self._ref(e.signal, "signal"),
                payload={a.name.value: expr(a.value) for a in e.payload if a.name},
                payload_locs={a.name.value: a.name.span for a in e.payload if a.name}, loc=loc(e.span))
                for e in s.emits),
            foreach=ir.build(ir.Foreach, var=s.foreach.var.value, items=expr(s.foreach.items),
                                               loc=loc(s.foreach.span)) if s.foreach else None,
            when=expr(s.when) if s.when is not None else None,
            doc=s.meta.doc, owner=eff["owner"].value if eff["owner"] else None,
            tags=tuple(t.value for t in s.meta.tags), loc=loc(s.span))

    def _defaults(self, d: A.StepDefaults | None) -> ir.StepDefaults | None:
        if d is None:
            return None
        return ir.build(ir.StepDefaults, retries=d.retries.value if d.retries else None,
                        retry_delay_ms=_ms(d.retry_delay), timeout_ms=_ms(d.timeout),
                        owner=d.owner.value if d.owner else None,
                        setting_locs={k: v.span for k in ("retries", "retry_delay", "timeout")
                                      if (v := getattr(d, k)) is not None},
                        loc=loc(d.span))

    # one method per declaration kind -----------------------------------------------------
    def _decl_env(self, d: A.EnvDecl, pkg):
        return ir.build(ir.Env, **_common(d, pkg), bindings={
            b.name.value: self._connector(b.call) for b in d.bindings},
            feature_store=self._feature_store(d))

    def _settings(self, settings: tuple[A.Setting, ...], allowed: dict[str, str], block: str) -> dict[str, A.Setting]:
        """The settings of a small block (`on_demand { }`, ...) by name; an unknown name or a value
        of the wrong kind (`allowed`: name -> string | bool | name | call | list) is E0308."""
        out: dict[str, A.Setting] = {}
        for x in settings:
            name, v = x.name.value, x.value
            want = allowed.get(name)
            if want is None:
                self.diagnostics.append(error(
                    "E0308", f"`{block}` has no setting `{name}`", x.name.span,
                    help=did_you_mean(name, allowed), notes=(f"its settings: {', '.join(allowed)}",)))
                continue
            ok = {"string": isinstance(v, A.Literal) and v.kind == "string",
                  "bool": isinstance(v, A.Literal) and v.kind == "bool",
                  "name": isinstance(v, A.Ref) and len(v.parts) == 1,
                  "call": isinstance(v, (A.Call, A.Ref)),
                  "list": isinstance(v, A.ListExpr) and all(isinstance(i, A.Ref) for i in v.items)}[want]
            if not ok:
                shown = {"string": "a string", "bool": "true or false", "name": "a name",
                         "call": "a store, as in `sqlite(\"data/online.db\")`", "list": "a list of names"}[want]
                self.diagnostics.append(error("E0308", f"`{name}` in `{block}` takes {shown}", x.value.span))
                continue
            out[name] = x
        return out

    def _choice(self, s: A.Setting | None, choices: tuple[str, ...], block: str) -> str | None:
        if s is None:
            return None
        value = s.value.dotted  # type: ignore[union-attr]
        if value not in choices:
            self.diagnostics.append(error(
                "E0308", f"`{s.name.value}` in `{block}` is one of {', '.join(choices)}, not `{value}`",
                s.value.span, help=did_you_mean(value, choices)))
            return None
        return value

    def _feature_store(self, d: A.EnvDecl) -> ir.FeatureStoreSpec | None:
        if d.feature_store is None:
            return None
        got = self._settings(d.feature_store, {"online": "call", "registry": "string"}, "feature_store")
        kind = path = None
        if (online := got.get("online")) is not None:
            v = online.value
            call = v if isinstance(v, A.Call) else None
            kind = (call.func if call else v).dotted  # type: ignore[union-attr]
            args = call.positional() if call else []
            if len(args) > 1 or (args and not (isinstance(args[0], A.Literal) and args[0].kind == "string")) \
                    or (call and call.kwargs()):
                self.diagnostics.append(error("E0308", "the online store takes one string: its path or "
                                                       "connection string", v.span,
                                              help=f'write `online {kind}("data/online_store.db")`'))
            elif args:
                path = args[0].value  # type: ignore[union-attr]
        registry = got.get("registry")
        return ir.build(ir.FeatureStoreSpec, online_kind=kind, online_path=path,
                        registry=registry.value.value if registry else None,  # type: ignore[union-attr]
                        setting_locs={k: x.span for k, x in got.items()}, loc=loc(d.feature_store_span))

    def _connector_decl_params(self, ps) -> tuple[ir.ParamSpec, ...]:
        return tuple(ir.build(ir.ParamSpec, 
            name=p.name.value, type=type_spec(p.type), default=expr(p.default) if p.default is not None else None,
            loc=loc(p.span)) for p in ps)

    def _decl_connector(self, d: A.ConnectorDecl, pkg):
        return ir.build(ir.Connector, 
            **_common(d, pkg), kinds=tuple(k.value for k in d.kinds),
            env_params=self._connector_decl_params(d.env_params),
            source_params=self._connector_decl_params(d.source_params))

    def _decl_source(self, d: A.SourceDecl, pkg):
        return ir.build(ir.Source,
            **_common(d, pkg), kind=d.source_kind,
            connector=self._connector(d.connector) if d.connector is not None else None,
            schema_=tuple(field(f) for f in d.schema),
            event_time=ref(d.event_time) if d.event_time else None,
            created_time=ref(d.created_time) if d.created_time else None,
            batch=self._ref(d.batch, "source") if d.batch else None,
            watermark_ms=_ms(d.watermark), arrives_every_ms=_ms(d.arrives_every),
            arrives_delay_ms=_ms(d.arrives_delay), watermark_loc=_clause_loc(d.meta, "watermark"),
            arrives_loc=_clause_loc(d.meta, "arrives"))

    def _decl_entity(self, d: A.EntityDecl, pkg):
        return ir.build(ir.Entity, **_common(d, pkg), keys=tuple(field(f) for f in d.keys))

    def _decl_features(self, d: A.FeaturesDecl, pkg):
        sources = []
        kinds = set()
        for r in d.sources:
            symbol = self._lookup(r.dotted, r.span, ("source",))
            sources.append(ref(r, symbol.key if symbol else None))
            if symbol is not None:
                kinds.add(symbol.source_kind)
        mode = "stream" if "stream" in kinds else "batch" if d.sources else "request"
        features = [ir.build(ir.Feature, name=c.name.value, kind="column", type=type_spec(c.type),
                             agg=None, expr=None, window_ms=None, every_ms=None,
                             description=c.description.value if c.description else None,
                             loc=loc(c.span)) for c in d.columns]
        features += [_feature(x) for x in d.derived]
        features.sort(key=lambda f: (f.loc.line, f.loc.col))
        fresh = d.freshness
        return ir.build(ir.FeatureGroup, 
            **_common(d, pkg), entity=self._ref(d.entity, "entity") if d.entity else None, mode=mode, sources=tuple(sources),
            features=tuple(features), request=tuple(field(f) for f in d.request),
            request_sources=tuple(self._ref(n, "source") for n in d.request_sources),
            checkpoint_ms=_ms(d.checkpoint), online=d.online is not None and d.online.enabled,
            online_ttl_ms=_ms(d.online.ttl) if d.online else None,
            ttl_ms=_ms(d.ttl) if d.ttl else _ms(d.online.ttl) if d.online else None,
            ttl_loc=loc(d.ttl.span if d.ttl else d.online.ttl.span if d.online and d.online.ttl else None),
            registered=d.registered is not None or "push" in kinds,
            validation=d.validate is not None, version=d.version.value if d.version else None,
            on_demand=self._on_demand(d), label=self._label_view(d),
            offline=self._connector(d.offline) if d.offline else None, schedule=_schedule(d.schedule),
            timeout_ms=_ms(d.timeout),
            freshness=ir.build(ir.Bound, op=fresh.op, value_ms=fresh.value.value, loc=loc(fresh.span))
            if fresh else None,
            checkpoint_loc=_clause_loc(d.meta, "checkpoint"), timeout_loc=_clause_loc(d.meta, "timeout"))

    def _on_demand(self, d: A.FeaturesDecl) -> ir.OnDemand | None:
        if d.on_demand is None:
            return None
        block = "on_demand"
        got = self._settings(d.on_demand, {"mode": "name", "write_to_online": "bool", "inputs": "list"}, block)
        mode = self._choice(got.get("mode"), ("python", "pandas"), block) or "pandas"
        w = got.get("write_to_online")
        inputs = got.get("inputs")
        return ir.build(ir.OnDemand, mode=mode, write_to_online=bool(w.value.value) if w else False,  # type: ignore[union-attr]
                        inputs=tuple(self._ref(i, "features", "source")
                                     for i in (inputs.value.items if inputs else ())),  # type: ignore[union-attr]
                        loc=loc(d.on_demand_span))

    def _label_view(self, d: A.FeaturesDecl) -> ir.LabelSpec | None:
        if d.label_view is None:
            return None
        block = "label_view"
        got = self._settings(d.label_view, {"labeler": "name", "conflict": "name"}, block)
        conflict = self._choice(got.get("conflict"), ("last_write_wins", "labeler_priority", "majority_vote"), block)
        labeler = got.get("labeler")
        return ir.build(ir.LabelSpec, labeler=ref(labeler.value) if labeler else None,  # type: ignore[arg-type]
                        conflict=conflict or "last_write_wins", loc=loc(d.label_view_span))

    def _feature_refs(self, refs: tuple[A.FeatureRef, ...]) -> tuple[ir.FeatureRef, ...]:
        out = []
        for i in refs:
            symbol = self._lookup(i.group.value, i.group.span, ("features",))
            out.append(ir.build(ir.FeatureRef,
                group=i.group.value, feature=i.feature.value if i.feature else None,
                target=symbol.key if symbol else None, loc=loc(i.span)))
        return tuple(out)

    def _decl_service(self, d: A.ServiceDecl, pkg):
        lg = d.logging
        logging = None
        if lg is not None:
            rate = 1.0
            if lg.sample is not None:
                rate = lg.sample.value / 100 if lg.sample.kind == "percent" else lg.sample.value  # type: ignore[operator]
            logging = ir.build(ir.ServiceLogging, destination=self._connector(lg.destination), sample_rate=rate,
                               loc=loc(lg.span))
        return ir.build(ir.FeatureService, **_common(d, pkg), features=self._feature_refs(d.features),
                        model=self._ref(d.model, "model") if d.model else None, logging=logging)

    def _decl_model(self, d: A.ModelDecl, pkg):
        serve = None
        if d.serve is not None:
            settings = {s.name.value: s.value for s in d.serve}
            rep, tmo = settings.get("replicas"), settings.get("timeout")
            # typed fields when well typed; otherwise left among the settings, where the
            # settings check reports them
            rep = settings.pop("replicas") if isinstance(rep, A.Literal) and rep.kind == "int" else None
            tmo = settings.pop("timeout") if isinstance(tmo, A.Literal) and tmo.kind == "duration" else None
            serve = ir.build(ir.Serve, 
                replicas=rep.value if rep is not None else None,
                timeout_ms=tmo.value if tmo is not None else None,
                timeout_loc=next((x.span for x in d.serve if x.name.value == "timeout"), None) if tmo else None,
                settings={k: expr(v) for k, v in settings.items()}, loc=loc(d.serve_span))
        conf = None
        if d.confidence is not None:
            conf = (float(d.confidence.low.value), float(d.confidence.high.value))
        fb = d.fallback
        return ir.build(ir.Model,
            **_common(d, pkg), deterministic=d.determinism is None or d.determinism.value == "deterministic",
            framework=d.framework.value if d.framework else None, inputs=self._feature_refs(d.inputs),
            service=self._ref(d.service, "service") if d.service else None,
            labels=self._feature_refs((d.labels,))[0] if d.labels else None,
            output=field(d.output) if d.output else None, confidence=conf,
            fallback=ir.build(ir.Fallback, 
                model=self._ref(fb.model, "model"), when=expr(fb.when) if fb.when is not None else None,
                loc=loc(fb.span)) if fb else None,
            serve=serve)

    def _decl_signal(self, d: A.SignalDecl, pkg):
        return ir.build(ir.Signal, **_common(d, pkg), external=d.external,
                        fields=tuple(field(f) for f in d.fields),
                        uri=d.uri.value if d.uri is not None else None,
                        uri_loc=loc(d.uri.span) if d.uri is not None else None)

    def _decl_artifact(self, d: A.ArtifactDecl, pkg):
        kind = d.artifact_kind.value
        if kind not in ARTIFACT_KINDS:
            self.diagnostics.append(error(
                "E0420", f"`{kind}` is not a kind of artifact: one of {', '.join(ARTIFACT_KINDS)}",
                d.artifact_kind.span, help=did_you_mean(kind, ARTIFACT_KINDS)))
            kind = "dataset"
        return ir.build(ir.Artifact, **_common(d, pkg), kind=kind, location=self._connector(d.location),
                        schema_=tuple(field(f) for f in d.schema),
                        partition=ref(d.partition) if d.partition else None)

    def _start(self, d: A.FlowDecl) -> A.Literal | None:
        """The flow's first date: `start "..."`, or `schedule ... from "..."` (one of them)."""
        if d.start is not None and d.schedule_from is not None:
            self.diagnostics.append(error(
                "E0110", f"flow `{d.name.value}` gives its first date twice (`start` and `schedule ... from`)",
                d.schedule_from.span, labels=(Label(d.start.span, "first given here"),),
                help="keep one of them"))
        return d.start or d.schedule_from

    def _decl_runtime(self, d: A.RuntimeDecl, pkg):
        return run_policy.runtime_decl(self, d, _common(d, pkg))

    def _decl_flow(self, d: A.FlowDecl, pkg):
        flow = self._flow_plain(d, pkg)
        policy = run_policy.flow_fields(self, d)
        return flow.model_copy(update=policy) if policy else flow

    def _flow_plain(self, d: A.FlowDecl, pkg):
        start = self._start(d)
        return ir.build(ir.Flow, 
            **_common(d, pkg), schedule=_schedule(d.schedule),
            trigger=self._trigger(d.trigger) if d.trigger is not None else None,
            params=tuple(ir.build(ir.Param, 
                name=p.name.value, type=type_spec(p.type),
                default=expr(p.default) if p.default is not None else None, loc=loc(p.span)) for p in d.params),
            catchup=bool(d.catchup.value) if d.catchup else False, steps=self._steps(d), edges=_edges(d.edges),
            start=start.value if start else None, end=d.end.value if d.end else None,
            start_loc=loc(start.span) if start else None, end_loc=loc(d.end.span) if d.end else None,
            defaults=self._defaults(d.defaults), match_keys=self._match_keys(d),
            match_loc=loc(d.match_keys[0].span) if d.match_keys else None)

    def _match_keys(self, d: A.FlowDecl) -> tuple[str, ...]:
        """The join keys, each once: `match [ds, ds]` would join on nothing more, and reads as
        a typo for a second key."""
        first: dict[str, A.Name] = {}
        for k in d.match_keys:
            if k.value in first:
                self.diagnostics.append(error(
                    "E0110", f"`{k.value}` is given twice in the `match` of flow `{d.name.value}`", k.span,
                    labels=(Label(first[k.value].span, "first given here"),),
                    help="a key joins the signals once: remove it, or name the other key"))
            else:
                first[k.value] = k
        return tuple(first)

    def _step_target(self, r: A.Ref, kinds: tuple[str, ...]) -> tuple[ir.Ref, str] | None:
        """`freshness(flow.step)`: (the flow, the step's name) when `r` names no declaration and all
        but its last part name a flow; whether the step exists is checked with the objectives."""
        if "flow" not in kinds or len(r.parts) < 2:
            return None
        whole = self.resolver.outcome(self.file, r.dotted, kinds)
        self.uses[(r.dotted, kinds)] = whole
        if isinstance(whole, tuple):
            return None
        prefix = ".".join(r.parts[:-1])
        flow = self.resolver.outcome(self.file, prefix, ("flow",))
        self.uses[(prefix, ("flow",))] = flow
        if not isinstance(flow, tuple):
            return None
        return ir.build(ir.Ref, name=r.dotted, target=flow[0], loc=loc(r.span)), r.parts[-1]

    def _decl_slo(self, d: A.SloDecl, pkg):
        objectives = []
        for o in d.objectives:
            kinds = _OBJECTIVE_TARGETS[o.kind]
            step = None
            if o.target.dotted in {p.value for p in d.params}:
                target = ref(o.target)  # a template's parameter: bound where the template is used
            elif (of_step := self._step_target(o.target, kinds)) is not None:
                target, step = of_step
            else:
                target = self._ref(o.target, *kinds)
            objectives.append(ir.build(ir.Objective, 
                kind=o.kind, target=target, step=step, metric=o.metric.value if o.metric else None, op=o.op,
                value=expr(o.value), window=expr(o.window) if o.window is not None else None, loc=loc(o.span)))
        template = None
        if d.template is not None:
            template = self._ref(d.template, "slo", what="slo template")
        return ir.build(ir.Slo, 
            **_common(d, pkg), params=tuple(p.value for p in d.params), objectives=tuple(objectives),
            template=template, args=tuple(expr(a) for a in d.args))


def assemble(fragments: list[Fragment], files: list[str], packages: set[str]) -> ir.Program:
    sections: dict[str, dict[str, ir.Decl]] = {s: {} for s in SECTION.values()}
    imports: list[ir.Import] = []
    docs: dict[str, str] = {}
    for f in fragments:
        imports.extend(f.imports)
        if f.package_doc is not None:
            docs.setdefault(*f.package_doc)  # the first file's, in file order
        for name, decls in f.sections.items():
            target = sections[name]
            for key, decl in decls.items():
                target.setdefault(key, decl)
    _with_request_fields(sections)
    _with_services(sections)
    return ir.build(ir.Program, format_version=ir.FORMAT_VERSION, files=tuple(files),
                    packages=tuple(sorted(packages)), imports=tuple(imports), package_docs=dict(sorted(docs.items())),
                    **{k: dict(sorted(v.items())) for k, v in sections.items()})


def _with_request_fields(sections: dict[str, dict]) -> None:
    """A group's `request` gets the fields of the request sources it names (after its own):
    a source may be in another file, so this is done on the assembled program."""
    sources = sections["sources"]
    groups = sections["feature_groups"]
    for key, g in groups.items():
        if not g.request_sources:
            continue
        fields = list(g.request)
        for r in g.request_sources:
            src = sources.get(r.target or "")
            if src is not None and src.kind == "request":
                fields += [f for f in src.schema_ if f.name not in {x.name for x in fields}]
        groups[key] = g.model_copy(update={"request": tuple(fields)})


def _with_services(sections: dict[str, dict]) -> None:
    """Every model gets its feature service (`ir.Model.service`): the one it names, else the
    one service declared `for` it, else an implicit one holding exactly its inputs. With several
    services for a model and none named, `service` stays None (E0211 says so)."""
    services = sections["feature_services"]
    models = sections["models"]
    serving: dict[str, list[str]] = {}
    for key, s in services.items():
        if s.model is not None and s.model.target is not None:
            serving.setdefault(s.model.target, []).append(key)
    for key, m in models.items():
        if m.service is not None:
            continue
        found = serving.get(key, [])
        if len(found) == 1:
            svc = services[found[0]]
            models[key] = m.model_copy(update={"service": ir.build(ir.Ref, name=svc.name, target=found[0],
                                                                   loc=svc.loc)})
        elif not found:
            services[key] = ir.build(ir.FeatureService, name=m.name, package=m.package, owner=m.owner,
                                     features=m.inputs, model=ir.build(ir.Ref, name=m.name, target=key, loc=m.loc),
                                     implicit=True, loc=m.loc)
            models[key] = m.model_copy(update={"service": ir.build(ir.Ref, name=m.name, target=key, loc=m.loc)})


_OBJECTIVE_TARGETS = {
    "freshness": ("model", "features", "source", "flow", "artifact"),
    "latency": ("model",),
    "availability": ("model",),
    "quality": ("model",),
    "completion": ("flow",),
    "fallback_rate": ("model",),
    "drift": ("model",),
}


def _edges(edges: Iterable[A.Edge]) -> tuple[ir.Edge, ...]:
    pairs: dict[tuple[str, str], ir.Edge] = {}
    for e in edges:
        for left, right in zip(e.hops, e.hops[1:]):
            for a in left:
                for b in right:
                    pairs.setdefault((a.value, b.value), ir.build(ir.Edge, upstream=ref(a), downstream=ref(b)))
    return tuple(pairs.values())


def lower(modules: list[A.Module]) -> tuple[ir.Program, Resolver, list[Diagnostic]]:
    """Resolves and lowers a whole program at once (no caching)."""
    resolver = Resolver([summarize(m) for m in modules])
    diagnostics = list(resolver.diagnostics)
    resolver.diagnostics.clear()
    lw = Lowering(resolver)
    fragments = [lw.module(m) for m in modules]
    program = assemble(fragments, [m.path for m in modules], {m.package for m in modules if m.package})
    return program, resolver, diagnostics + lw.diagnostics
