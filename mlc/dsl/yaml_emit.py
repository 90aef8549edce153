"""Conversions between the two front ends: AST -> `.flow.yaml` text, and a YAML-built
AST -> `.flow` text.

`module_to_yaml` writes the document shape of docs/yaml.md: one section per
declaration kind, a key per clause, values in .flow syntax. Doc comments become
`doc:` keys; plain comments become YAML comments on the key of the clause they
were next to (a comment inside a one-line `{...}` or `[...]` moves to the
enclosing key). Reading the result back with `parse_yaml` gives the same IR.

`module_to_flow` prints a module read from YAML as .flow with `mlc fmt`'s
formatter, adding the `##` doc comments and the YAML comments above the
declaration, step or clause they belonged to.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from mlc.diagnostics import Span
from mlc.dsl import ast as A

SECTION_OF = {"connector": "connectors", "env": "envs", "source": "sources", "entity": "entities",
              "features": "features", "model": "models", "service": "services", "signal": "signals",
              "artifact": "artifacts", "flow": "flows", "slo": "slos", "runtime": "runtimes"}
SECTION_ORDER = ("package", "imports", "connectors", "envs", "sources", "entities", "features", "models",
                 "services", "signals", "artifacts", "flows", "slos", "runtimes")
_FLOW_LIMIT = 72  # a mapping or list of scalars shorter than this is written on one line


class ConversionError(ValueError):
    """The module cannot be written as YAML (a name declared twice would be a duplicate key)."""


# ---------------------------------------------------------------- .flow text of AST pieces
def _texts():
    from mlc.dsl import fmt

    return fmt


def _expr(e) -> str:
    return _texts().expr_text(e)


def _type(t: A.TypeRef) -> str:
    return _texts().type_text(t)


def _call(c: A.Call) -> str:
    return _texts().call_text(c)


def _value(e):
    """A literal that YAML reads back with the same spelling is written natively, the rest as text."""
    if isinstance(e, A.Literal):
        if e.kind == "int" and isinstance(e.value, int) and e.text == str(e.value):
            return e.value
        if e.kind == "bool":
            return bool(e.value)
        if e.kind == "float" and repr(float(e.value)) == e.text:
            return float(e.value)
    return _expr(e)


def _field(f) -> str:
    """A field or column's type, and its description if it has one (`int64 "Trips a day"`)."""
    return _type(f.type) + (f" {f.description.text}" if f.description is not None else "")


def _feature_ref(r: A.FeatureRef) -> str:
    return f"{r.group.value}." + (r.feature.value if r.feature is not None else "*")


def _param_text(t: A.TypeRef, default) -> str:
    return _type(t) + (f" = {_expr(default)}" if default is not None else "")


def _edge(e: A.Edge) -> str:
    return " >> ".join(h[0].value if len(h) == 1 else "[" + ", ".join(n.value for n in h) + "]"
                       for h in e.hops)


def _emit_text(e: A.Emit) -> str:
    args = ", ".join(_texts().arg_text(a) for a in e.payload)
    return e.signal.value + (f"({args})" if e.payload else "")


def _objective(o: A.Objective) -> str:
    head = f"{o.kind}({o.target.dotted})"
    if o.op == "by":
        return f"{head} by {_expr(o.value)}"
    metric = f" {o.metric.value}" if o.metric is not None else ""
    s = f"{head}{metric} {o.op} {_expr(o.value)}"
    if o.window is not None:
        s += f" over {_expr(o.window)}"
    return s


# ---------------------------------------------------------------- AST -> YAML
@dataclass
class _Anchor:
    """A YAML key written for an AST node: where comments next to that node can go."""

    span: Span
    container: object  # the CommentedMap holding the key
    key: str
    depth: int
    parent: "_Anchor | None"
    holdable: bool = True  # False inside a one-line {...}: YAML cannot hold a comment there


class _Emitter:
    def __init__(self, module: A.Module) -> None:
        from ruamel.yaml.comments import CommentedMap

        self.module = module
        self.root = CommentedMap()
        self.anchors: list[_Anchor] = []
        self.CM = CommentedMap

    # -------------------------------------------------------------- containers
    def map(self) -> "CommentedMap":  # noqa: F821
        return self.CM()

    def seq(self, items, flow: bool | None = None):
        from ruamel.yaml.comments import CommentedSeq

        s = CommentedSeq(items)
        if flow or (flow is None and _short(items)):
            s.fa.set_flow_style()
        return s

    def put(self, m, key: str, value, span: Span | None, parent: _Anchor | None) -> _Anchor | None:
        m[key] = value
        if span is None or span.line <= 0:
            return None
        a = _Anchor(span, m, key, (parent.depth + 1) if parent else 0, parent)
        self.anchors.append(a)
        return a

    def flow_if_short(self, m, limit: int = _FLOW_LIMIT) -> None:
        if m and _short(m, limit):
            m.fa.set_flow_style()

    @staticmethod
    def doc(text: str):
        from ruamel.yaml.scalarstring import LiteralScalarString

        return LiteralScalarString(text) if "\n" in text else text

    def meta(self, m, meta: A.Meta, parent: _Anchor | None) -> None:
        if meta.owner is not None:
            self.put(m, "owner", meta.owner.value, meta.owner.span, parent)
        if meta.tags:
            span = Span(meta.tags[0].span.file, meta.tags[0].span.line, meta.tags[0].span.col,
                        meta.tags[-1].span.end_line, meta.tags[-1].span.end_col)
            self.put(m, "tags", self.seq([t.value for t in meta.tags]), span, parent)
        if meta.tag_values:
            tm = self.map()
            for k, v in meta.tag_values:
                tm[k.value] = v.value
            self.flow_if_short(tm)
            self.put(m, "tags", tm, _cover([k for k, _v in meta.tag_values] + [meta.tag_values[-1][1]]), parent)
        if meta.description is not None:
            self.put(m, "description", meta.description.value, meta.description.span, parent)

    def fields(self, fields, parent: _Anchor | None, flow_limit: int = _FLOW_LIMIT):
        m = self.map()
        for f in fields:
            self.put(m, f.name.value, _field(f), f.span, parent)
        self.flow_if_short(m, flow_limit)
        return m

    # -------------------------------------------------------------- the module
    def run(self) -> str:
        from ruamel.yaml.comments import CommentedMap

        sections: dict[str, CommentedMap] = {}
        imports = []
        seen: dict[tuple[str, str], Span] = {}
        for d in self.module.decls:
            if isinstance(d, A.PackageDecl):
                self.put(self.root, "package", d.name.value, d.span, None)
                continue
            if isinstance(d, A.ImportDecl):
                imports.append(d)
                continue
            section = SECTION_OF[d.kind]
            if (section, d.name.value) in seen:
                raise ConversionError(f"`{d.name.value}` is declared twice ({seen[(section, d.name.value)]} "
                                      f"and {d.span}): YAML keys are unique")
            seen[(section, d.name.value)] = d.span
            sections.setdefault(section, None)
        if imports:
            self.root["imports"] = self.seq([self.import_(i) for i in imports], flow=False)
            first = imports[0].span
            self.anchors.append(_Anchor(Span(first.file, first.line, first.col, imports[-1].span.end_line,
                                             imports[-1].span.end_col), self.root, "imports", 0, None))
        for section in SECTION_ORDER[2:]:
            if section not in sections:
                continue
            m = CommentedMap()
            decls = [d for d in self.module.decls if SECTION_OF.get(d.kind) == section]
            first = decls[0].span
            self.root[section] = m
            sec_anchor = _Anchor(Span(first.file, first.line, first.col, first.line, first.col),
                                 self.root, section, 0, None, holdable=False)
            for d in decls:
                a = self.put(m, d.name.value, None, d.span, sec_anchor)
                value = getattr(self, "decl_" + d.kind)(d, a)
                if isinstance(value, dict) and d.kind != "env":
                    self.order(value, d.kind, d.meta)
                m[d.name.value] = value
        return self.dump()

    def import_(self, d: A.ImportDecl):
        text = d.module.dotted
        if d.members:
            text += ".{" + ", ".join(n.value for n in d.members) + "}"
        if d.alias is not None:
            text += f" as {d.alias.value}"
        if not d.meta.doc:
            return text
        m = self.map()
        m["doc"] = self.doc(d.meta.doc)
        m["module"] = d.module.dotted
        if d.members:
            m["members"] = self.seq([n.value for n in d.members])
        if d.alias is not None:
            m["as"] = d.alias.value
        return m

    def _start(self, d) -> tuple:
        m = self.map()
        if d.meta.doc:
            m["doc"] = self.doc(d.meta.doc)
        return m

    @staticmethod
    def order(m, kind: str, meta: A.Meta):
        """Puts the keys in the order the clauses were written (`Meta.clauses`); `doc` first."""
        yaml_key = _yaml_keys(kind)
        wanted: list[str] = []
        for clause, _span in meta.clauses:
            k = yaml_key.get(clause)
            if k is not None and k in m and k not in wanted:
                wanted.append(k)
        if not wanted:
            return m
        for k in wanted + [k for k in list(m) if k not in wanted]:
            m.move_to_end(k)
        if "doc" in m:
            m.move_to_end("doc", last=False)
        return m

    # -------------------------------------------------------------- declarations
    def settings(self, settings: tuple[A.Setting, ...]):
        """A small settings block (`on_demand`, `label_view`, `feature_store`) as a flow mapping."""
        sm = self.map()
        for x in settings:
            v = x.value
            if isinstance(v, A.ListExpr):
                sm[x.name.value] = self.seq([_expr(i) for i in v.items])
            elif isinstance(v, A.Literal) and v.kind == "string":
                sm[x.name.value] = v.value
            else:
                sm[x.name.value] = _value(v)
        sm.fa.set_flow_style()
        return sm

    def decl_env(self, d: A.EnvDecl, a):
        bindings = self.map()
        for b in d.bindings:
            self.put(bindings, b.name.value, _call(b.call), b.span, a)
        if not d.meta.doc and d.feature_store is None:
            return bindings
        m = self._start(d)
        m["bindings"] = bindings
        if d.feature_store is not None:
            self.put(m, "feature_store", self.settings(d.feature_store), d.feature_store_span, a)
        for x in self.anchors:
            if x.container is bindings:
                x.depth += 1
        return m

    def decl_connector(self, d: A.ConnectorDecl, a):
        m = self._start(d)
        if d.kinds:
            self.put(m, "kinds", self.seq([k.value for k in d.kinds]), d.kinds[0].span, a)
        for key, params in (("env", d.env_params), ("source", d.source_params)):
            if params:
                pm = self.map()
                anchor = self.put(m, key, pm, params[0].span, a)
                for p in params:
                    self.put(pm, p.name.value, _param_text(p.type, p.default), p.span, anchor)
        self.meta(m, d.meta, a)
        return m

    def decl_source(self, d: A.SourceDecl, a):
        m = self._start(d)
        m["kind"] = d.source_kind
        if d.connector is not None:
            self.put(m, "connector", _call(d.connector), d.connector.span, a)
        if d.batch is not None:
            self.put(m, "batch", d.batch.value, d.batch.span, a)
        if d.schema:
            anchor = self.put(m, "schema", None, _cover(d.schema), a)
            m["schema"] = self.fields(d.schema, anchor)
        if d.event_time is not None:
            self.put(m, "event_time", d.event_time.value, d.event_time.span, a)
        if d.created_time is not None:
            self.put(m, "created_time", d.created_time.value, d.created_time.span, a)
        if d.watermark is not None:
            self.put(m, "watermark", d.watermark.text, d.watermark.span, a)
        if d.arrives_every is not None:
            arr = self.map()
            arr["every"] = d.arrives_every.text
            if d.arrives_delay is not None:
                arr["delay"] = d.arrives_delay.text
            arr.fa.set_flow_style()
            self.put(m, "arrives", arr, _cover([d.arrives_every, d.arrives_delay or d.arrives_every]), a)
        self.meta(m, d.meta, a)
        return m

    def decl_entity(self, d: A.EntityDecl, a):
        m = self._start(d)
        if d.keys:
            anchor = self.put(m, "key", None, _cover(d.keys), a)
            m["key"] = self.fields(d.keys, anchor)
        self.meta(m, d.meta, a)
        if not d.meta.doc:
            self.flow_if_short(m)
        return m

    def decl_features(self, d: A.FeaturesDecl, a):
        m = self._start(d)
        if d.entity is not None:
            self.put(m, "on", d.entity.value, d.entity.span, a)
        if d.sources:
            self.put(m, "from", self.seq([r.dotted for r in d.sources]), _cover(d.sources), a)
        if d.registered is not None:
            self.put(m, "registered", True, d.registered, a)
        if d.validate is not None:
            self.put(m, "validate", True, d.validate, a)
        if d.version is not None:
            self.put(m, "version", d.version.value, d.version.span, a)
        if d.request_sources:
            if d.request:
                raise ConversionError(f"`{d.name.value}` has request fields and request sources: YAML writes one "
                                      "or the other under `request`")
            names = [n.value for n in d.request_sources]
            self.put(m, "request", names[0] if len(names) == 1 else self.seq(names), _cover(d.request_sources), a)
        if d.request:
            anchor = self.put(m, "request", None, _cover(d.request), a)
            m["request"] = self.fields(d.request, anchor)
        items = sorted([(c.span, c) for c in d.columns] + [(x.span, x) for x in d.derived],
                       key=lambda p: (p[0].line, p[0].col))
        if items:
            fm = self.map()
            anchor = self.put(m, "features", fm, _cover([x for _s, x in items]), a)
            for _s, f in items:
                if isinstance(f, A.Column):
                    self.put(fm, f.name.value, _field(f), f.span, anchor)
                    continue
                spec = self.map()
                if f.type is not None:
                    spec["type"] = _type(f.type)
                spec["expr"] = _expr(f.expr)
                if f.window is not None:
                    spec["over"] = f.window.size.text
                    if f.window.every is not None:
                        spec["every"] = f.window.every.text
                if f.description is not None:
                    spec["description"] = f.description.value
                spec.fa.set_flow_style()
                self.put(fm, f.name.value, spec, f.span, anchor)
        if d.checkpoint is not None:
            self.put(m, "checkpoint", d.checkpoint.text, d.checkpoint.span, a)
        if d.schedule is not None:
            self.put(m, "schedule", _texts().schedule_text(d.schedule), d.schedule.span, a)
        if d.timeout is not None:
            self.put(m, "timeout", d.timeout.text, d.timeout.span, a)
        if d.online is not None:
            if d.online.ttl is not None:
                on = self.map()
                on["ttl"] = d.online.ttl.text
                on.fa.set_flow_style()
            else:
                on = d.online.enabled
            self.put(m, "online", on, d.online.span, a)
        if d.ttl is not None:
            self.put(m, "ttl", d.ttl.text, d.ttl.span, a)
        if d.on_demand is not None:
            self.put(m, "on_demand", self.settings(d.on_demand), d.on_demand_span, a)
        if d.label_view is not None:
            self.put(m, "label_view", self.settings(d.label_view), d.label_view_span, a)
        if d.offline is not None:
            self.put(m, "offline", _call(d.offline), d.offline.span, a)
        if d.freshness is not None:
            self.put(m, "freshness", f"{d.freshness.op} {_expr(d.freshness.value)}", d.freshness.span, a)
        self.meta(m, d.meta, a)
        return m

    def decl_model(self, d: A.ModelDecl, a):
        m = self._start(d)
        if d.determinism is not None:
            self.put(m, "deterministic", d.determinism.value == "deterministic", d.determinism.span, a)
        if d.framework is not None:
            self.put(m, "framework", d.framework.value, d.framework.span, a)
        if d.inputs:
            self.put(m, "inputs", self.seq([_feature_ref(r) for r in d.inputs]), _cover(d.inputs), a)
        if d.output is not None:
            anchor = self.put(m, "output", None, d.output.span, a)
            out = self.fields([d.output], anchor)
            out.fa.set_flow_style()
            m["output"] = out
        if d.confidence is not None:
            self.put(m, "confidence", _expr(d.confidence), d.confidence.span, a)
        if d.fallback is not None:
            fb = d.fallback
            if fb.when is None:
                value = fb.model.value
            else:
                value = self.map()
                value["model"] = fb.model.value
                value["when"] = _expr(fb.when)
                value.fa.set_flow_style()
            self.put(m, "fallback", value, fb.span, a)
        if d.serve is not None:
            sm = self.map()
            anchor = self.put(m, "serve", sm, d.serve_span or d.span, a)
            for s in d.serve:
                self.put(sm, s.name.value, _value(s.value), s.span, anchor)
            sm.fa.set_flow_style()
        if d.service is not None:
            self.put(m, "service", d.service.value, d.service.span, a)
        if d.labels is not None:
            self.put(m, "labels", _feature_ref(d.labels), d.labels.span, a)
        self.meta(m, d.meta, a)
        return m

    def decl_service(self, d: A.ServiceDecl, a):
        m = self._start(d)
        if d.model is not None:
            self.put(m, "for", d.model.value, d.model.span, a)
        if d.features:
            self.put(m, "features", self.seq([_feature_ref(r) for r in d.features]), _cover(d.features), a)
        if d.logging is not None:
            lg = d.logging
            self.put(m, "logging", _call(lg.destination) + (f" sample {lg.sample.text}" if lg.sample else ""),
                     lg.span, a)
        self.meta(m, d.meta, a)
        return m

    def decl_signal(self, d: A.SignalDecl, a):
        m = self._start(d)
        if d.external:
            m["external"] = True
        if d.uri is not None:
            self.put(m, "uri", d.uri.value, d.uri.span, a)
        if d.fields:
            anchor = self.put(m, "fields", None, _cover(d.fields), a)
            m["fields"] = self.fields(d.fields, anchor)
        self.meta(m, d.meta, a)
        if not d.meta.doc:
            self.flow_if_short(m)
        return m

    def decl_artifact(self, d: A.ArtifactDecl, a):
        m = self._start(d)
        m["kind"] = d.artifact_kind.value
        self.put(m, "location", _call(d.location), d.location.span, a)
        if d.schema:
            anchor = self.put(m, "schema", None, _cover(d.schema), a)
            m["schema"] = self.fields(d.schema, anchor)
        if d.partition is not None:
            self.put(m, "partition", d.partition.value, d.partition.span, a)
        self.meta(m, d.meta, a)
        return m

    def decl_flow(self, d: A.FlowDecl, a):
        m = self._start(d)
        if d.schedule is not None:
            self.put(m, "schedule", _texts().schedule_text(d.schedule), d.schedule.span, a)
        if d.trigger is not None:
            self.put(m, "trigger", _texts().trigger_text(d.trigger), d.trigger.span, a)
        if d.match_keys:
            keys = [k.value for k in d.match_keys]
            self.put(m, "match", keys[0] if len(keys) == 1 else self.seq(keys), _cover(d.match_keys), a)
        for key in ("start", "end"):
            # `schedule daily from "..."` is the flow's `start` (one first date, either way)
            lit = getattr(d, key) or (d.schedule_from if key == "start" else None)
            if lit is not None:
                self.put(m, key, lit.value, lit.span, a)
        if d.catchup is not None:
            self.put(m, "catchup", bool(d.catchup.value), d.catchup.span, a)
        if d.defaults is not None:
            dm = self.map()
            anchor = self.put(m, "defaults", dm, d.defaults.span, a)
            spans = dict(d.defaults.clauses)
            keys = [k for k, _ in d.defaults.clauses] or ["retries", "retry_delay", "timeout", "owner"]
            for key in dict.fromkeys(keys):
                lit = getattr(d.defaults, key, None)
                if lit is not None:
                    value = lit.value if key in ("retries", "owner") else lit.text
                    self.put(dm, key, value, spans.get(key, lit.span), anchor)
            self.flow_if_short(dm)
        if d.runs is not None:
            self.put(m, "runs", d.runs.mode.value + (f" {d.runs.limit.text}" if d.runs.limit else ""), d.runs.span, a)
        if d.alert is not None:
            self._settings_map(m, "alert", d.alert, a)
        if d.params:
            pm = self.map()
            anchor = self.put(m, "params", pm, _cover(d.params), a)
            for p in d.params:
                self.put(pm, p.name.value, _param_text(p.type, p.default), p.span, anchor)
        if d.steps:
            sm = self.map()
            anchor = self.put(m, "steps", sm, _cover(d.steps), a)
            names: set[str] = set()
            for s in d.steps:
                if s.name.value in names:
                    raise ConversionError(f"step `{s.name.value}` is declared twice in flow `{d.name.value}`")
                names.add(s.name.value)
                sa = self.put(sm, s.name.value, None, s.span, anchor)
                sm[s.name.value] = self.step(s, sa)
        if d.edges:
            self.put(m, "edges", self.seq([_edge(e) for e in d.edges], flow=False), _cover(d.edges), a)
        self.meta(m, d.meta, a)
        return m

    def step(self, s: A.Step, a):
        m = self.map()
        if s.meta.doc:
            m["doc"] = self.doc(s.meta.doc)
        self.put(m, "run", _call(s.action), s.action.span, a)
        if s.foreach is not None:
            self.put(m, "foreach", f"{s.foreach.var.value} in {_expr(s.foreach.items)}", s.foreach.span, a)
        if s.when is not None:
            self.put(m, "when", _expr(s.when), s.when.span, a)
        if s.determinism is not None:
            self.put(m, "deterministic", s.determinism.value == "deterministic", s.determinism.span, a)
        if s.produces is not None:
            self.put(m, "produces", s.produces.value, s.produces.span, a)
        if s.uses:
            self.put(m, "uses", self.seq([u.value for u in s.uses]), _cover(s.uses), a)
        for key in ("reads", "writes"):
            names = getattr(s, key)
            if names:
                self.put(m, key, names[0].value if len(names) == 1 else self.seq([n.value for n in names]),
                         _cover(names), a)
        if s.gate is not None:
            self.put(m, "gate", _expr(s.gate), s.gate.span, a)
        if s.emits:
            self.put(m, "emits", self.seq([_emit_text(e) for e in s.emits]), _cover(s.emits), a)
        for key in ("retries", "retry_delay", "timeout"):
            lit = getattr(s, key)
            if lit is not None:
                self.put(m, key, lit.value if key == "retries" else lit.text, lit.span, a)
        self._step_policy(m, s, a)
        if s.resources:
            rm = self.map()
            anchor = self.put(m, "resources", rm, _cover(s.resources), a)
            for x in s.resources:
                self.put(rm, x.name.value, _value(x.value), x.span, anchor)
            self.flow_if_short(rm)
        if s.env:
            em = self.map()
            anchor = self.put(m, "env", em, _cover(s.env), a)
            for x in s.env:
                self.put(em, x.name.value, _value(x.value), x.span, anchor)
            self.flow_if_short(em)
        self.meta(m, s.meta, a)
        self.order(m, "step", s.meta)
        if len(m) == 1 and not s.meta.doc:
            self.anchors = [x for x in self.anchors if x.container is not m]
            return m["run"]
        if not s.meta.doc:
            self.flow_if_short(m, 90)
        return m

    def _settings_map(self, m, key: str, settings, a) -> None:
        sm = self.map()
        anchor = self.put(m, key, sm, _cover(settings), a)
        for x in settings:
            self.put(sm, x.name.value, _value(x.value), x.span, anchor)
        self.flow_if_short(sm)

    def _step_policy(self, m, s: A.Step, a) -> None:
        """A step's run policy (issue 19): `returns` as fields, `retries` by error class as settings."""
        if s.returns is not None:
            anchor = self.put(m, "returns", None, _cover(s.returns), a)
            m["returns"] = self.fields(s.returns, anchor)
        if s.retry_policy is not None:
            self._settings_map(m, "retries", s.retry_policy, a)
        for key in ("on_failure", "runtime"):
            name = getattr(s, key)
            if name is not None:
                self.put(m, key, name.value, name.span, a)
        if s.parallel is not None:
            self.put(m, "parallel", s.parallel.value, s.parallel.span, a)

    def decl_runtime(self, d: A.RuntimeDecl, a):
        m = self._start(d)
        for x in d.settings:
            value = x.value
            plain = [i.value for i in value.items] if isinstance(value, A.ListExpr) else getattr(value, "value", None)
            self.put(m, x.name.value, self.seq(plain) if isinstance(plain, list) else plain, x.span, a)
        self.meta(m, d.meta, a)
        return m

    def decl_slo(self, d: A.SloDecl, a):
        m = self._start(d)
        if d.template is not None:
            args = ", ".join(_expr(x) for x in d.args)
            self.put(m, "use", f"{d.template.dotted}({args})", d.template.span, a)
        else:
            if d.params:
                self.put(m, "params", self.seq([p.value for p in d.params]), _cover(d.params), a)
            if d.objectives:
                self.put(m, "objectives", self.seq([_objective(o) for o in d.objectives]),
                         _cover(d.objectives), a)
            self.meta(m, d.meta, a)
        if not d.meta.doc:
            self.flow_if_short(m, 90)
        return m

    # -------------------------------------------------------------- comments and text
    def place_comments(self) -> tuple[list[str], list[str]]:
        """Attaches the module's plain comments to keys; returns (header, trailer) comment lines."""
        docs = _doc_comment_lines(self.module)
        comments = [c for c in self.module.comments if (c.span.line, c.span.col) not in docs]
        _fix_holdable(self.anchors)
        anchors = sorted(self.anchors, key=lambda x: (x.span.line, x.span.col, x.depth))
        before: dict[int, list[str]] = {}
        eol: dict[int, list[str]] = {}
        by_id = {id(x): x for x in anchors}
        header: list[str] = []
        trailer: list[str] = []
        for c in comments:
            line, col = c.span.line, c.span.col
            body = c.text.rstrip()
            on_line = [x for x in anchors if (x.span.line == line and x.span.col < col)
                       or (x.span.end_line == line and x.span.end_col <= col)]
            if on_line:
                starting = [x for x in on_line if x.span.line == line]
                pick = max(starting or on_line, key=lambda x: (x.depth if starting else -x.depth))
                pick = _holder(pick)
                eol.setdefault(id(pick), []).append(body)
                continue
            after = [x for x in anchors if (x.span.line, x.span.col) > (line, col)]
            if not after:
                trailer.append(body)
                continue
            first = min((x.span.line, x.span.col) for x in after)
            pick = min((x for x in after if (x.span.line, x.span.col) == first), key=lambda x: x.depth)
            pick = _holder(pick)
            if pick is anchors[0] or (pick.depth == 0 and pick.key == next(iter(self.root), None)):
                header.append(body)
                continue
            before.setdefault(id(pick), []).append(body)
        for key_id, lines in before.items():
            x = by_id[key_id]
            x.container.yaml_set_comment_before_after_key(
                x.key, before="\n".join(_strip_hash(b) for b in lines), indent=2 * x.depth)
        for key_id, lines in eol.items():
            x = by_id[key_id]
            x.container.yaml_add_eol_comment("  ".join(lines), x.key)
        return header, trailer

    def dump(self) -> str:
        from ruamel.yaml import YAML

        header, trailer = self.place_comments()
        yaml = YAML(typ="rt", pure=True)
        yaml.indent(mapping=2, sequence=4, offset=2)
        yaml.width = 4096
        yaml.allow_unicode = True
        buf = io.StringIO()
        yaml.dump(self.root, buf)
        text = _blank_lines(buf.getvalue())
        if header:
            text = "\n".join(header) + "\n" + text
        if trailer:
            text = text.rstrip("\n") + "\n\n" + "\n".join(trailer) + "\n"
        return text


def _yaml_keys(kind: str) -> dict[str, str]:
    """.flow clause -> the YAML key that holds it, for one declaration kind (or "step")."""
    from mlc.dsl.yaml_front import CLAUSES, META_CLAUSES

    out = {clause: key for key, clause in META_CLAUSES.items()}
    out["tag_values"] = "tags"
    if kind == "features":
        out["request_source"] = "request"
    for key, clause in CLAUSES[kind].items():
        if clause is None:
            for c in (("key", "composite_key") if kind == "entity" else ("column", "derived")):
                out[c] = key
        else:
            out[clause.lstrip("*")] = key
    return out


def _strip_hash(text: str) -> str:
    body = text[1:] if text.startswith("#") else text
    return body[1:] if body.startswith(" ") else body


def _holder(x: _Anchor) -> _Anchor:
    while not x.holdable and x.parent is not None:
        x = x.parent
    return x


def _fix_holdable(anchors: list[_Anchor]) -> None:
    """A key inside a one-line (flow-style) mapping cannot carry a comment."""
    for x in anchors:
        fa = getattr(x.container, "fa", None)
        if fa is not None and fa.flow_style():
            x.holdable = False
        p = x.parent
        while p is not None and x.holdable:
            pfa = getattr(p.container, "fa", None)
            if pfa is not None and pfa.flow_style():
                x.holdable = False
            p = p.parent


def _doc_comment_lines(module: A.Module) -> set[tuple[int, int]]:
    """Positions of the `##` comments that became docs (they are written as `doc:` keys)."""
    docs = {c.span.line: c for c in module.comments if c.is_doc}
    out: set[tuple[int, int]] = set()
    targets = []
    for d in module.decls:
        if isinstance(d, A.PackageDecl):
            continue  # `package:` has no `doc` key: its `##` lines stay comments, written above it
        targets.append((d.span, d.meta))
        if isinstance(d, A.FlowDecl):
            targets.extend((s.span, s.meta) for s in d.steps)
    for span, meta in targets:
        if not meta.doc:
            continue
        line = span.line - 1
        while line in docs:
            out.add((line, docs[line].span.col))
            line -= 1
    return out


def _cover(nodes) -> Span | None:
    nodes = [n for n in nodes if n is not None and getattr(n, "span", None) is not None]
    if not nodes:
        return None
    a, b = nodes[0].span, nodes[-1].span
    return Span(a.file, a.line, a.col, b.end_line, b.end_col)


def _short(obj, limit: int = _FLOW_LIMIT) -> bool:
    n = _width(obj)
    return n is not None and n <= limit


def _width(obj) -> int | None:
    """The length of `obj` written on one line, or None when it cannot be (a multi-line text)."""
    if isinstance(obj, dict):
        total = 2
        for k, v in obj.items():
            w = _width(v)
            if w is None:
                return None
            total += len(str(k)) + 2 + w + 2
        return total
    if isinstance(obj, list):
        total = 2
        for v in obj:
            w = _width(v)
            if w is None:
                return None
            total += w + 2
        return total
    if isinstance(obj, str):
        if "\n" in obj:
            return None
        return len(obj) + (2 if re.search(r"[,\[\]{}:#]|^[-?&*!|>'\"%@`]", obj) else 0)
    return len(str(obj))


_TOP_KEY = re.compile(r"^[A-Za-z_]")
_DECL_KEY = re.compile(r"^  [A-Za-z_\"'][^:]*:")


def _blank_lines(text: str) -> str:
    """A blank line between sections, and between declarations that take several lines."""
    lines = text.split("\n")
    out: list[str] = []
    last_top: str | None = None
    prev_entry_multi = False
    entry_start = -1
    for i, ln in enumerate(lines):
        is_top = bool(_TOP_KEY.match(ln))
        is_decl = bool(_DECL_KEY.match(ln)) and last_top not in ("package", "imports")
        if is_top:
            key = ln.split(":", 1)[0]
            if last_top is not None and not (last_top == "package" and key == "imports"):
                _blank_before(out)
            last_top = key
            entry_start = -1
        elif is_decl:
            multi = i + 1 < len(lines) and lines[i + 1].startswith("    ")
            if entry_start >= 0 and (multi or prev_entry_multi):
                _blank_before(out)
            entry_start = i
            prev_entry_multi = multi
        out.append(ln)
    return "\n".join(out)


def _blank_before(out: list[str]) -> None:
    """Inserts a blank line above the comment lines that lead into the next line."""
    k = len(out)
    while k > 0 and out[k - 1].lstrip().startswith("#"):
        k -= 1
    if k > 0 and out[k - 1] != "":
        out.insert(k, "")


def module_to_yaml(module: A.Module) -> str:
    """The `.flow.yaml` text of a module (raises ConversionError for a name declared twice)."""
    return _Emitter(module).run()


# ---------------------------------------------------------------- YAML-built AST -> .flow
def module_to_flow(module: A.Module) -> str:
    """The .flow text of a module read from YAML, in `mlc fmt`'s layout.

    Docs come out as `##` comments (the formatter prints `meta.doc`); each YAML comment
    goes to the same place in the .flow text: at the end of the clause's line when it
    ended a one-line clause, otherwise on its own line above the declaration, step or
    clause that followed it (above that one's doc comment).
    """
    from mlc.dsl.fmt import format_module, format_text
    from mlc.dsl.parser import parse_text

    bare = format_module(module, "")
    if not module.comments:
        return bare
    printed, diags = parse_text(bare, "<converted>")
    if any(d.is_error for d in diags) or len(printed.decls) != len(module.decls):
        return bare
    src, out = _flow_anchors(module), _flow_anchors(printed)
    pairs = sorted(((path, span, out[path][0], out[path][1]) for path, (span, _d, _doc) in src.items()
                    if path in out), key=lambda p: (p[1].line, p[1].col, len(p[0])))
    n_lines = bare.count("\n") + 1
    above: dict[int, list[str]] = {}
    trailing: dict[int, list[str]] = {}
    for c in sorted(module.comments, key=lambda c: (c.span.line, c.span.col)):
        if c.is_doc:
            continue  # a YAML `##` line is the package's doc (the only doc comment YAML has): printed as its doc
        line, col, text = c.span.line, c.span.col, c.text.rstrip()
        on_line = [p for p in pairs if (p[1].line == line and p[1].col < col)
                   or (p[1].end_line == line and p[1].end_col <= col)]
        if on_line:
            starting = [p for p in on_line if p[1].line == line]
            holder = max(starting or on_line, key=lambda p: len(p[0]))
            out_span = holder[2]
            if out_span.line == out_span.end_line:
                trailing.setdefault(out_span.line, []).append(text)
                continue
            target = holder
        else:
            target = next((p for p in pairs if (p[1].line, p[1].col) > (line, col)), None)
        if target is None:
            above.setdefault(n_lines + 1, []).append(text)
            continue
        doc = src[target[0]][2]
        at = target[2].line - (len(doc.split("\n")) if doc else 0)
        above.setdefault(at, []).append("  " * target[3] + text)
    lines: list[str] = []
    for i, ln in enumerate(bare.split("\n"), start=1):
        lines.extend(above.get(i, []))
        lines.append(ln + ("  " + "  ".join(trailing[i]) if i in trailing else ""))
    lines.extend(above.get(n_lines + 1, []))
    text = "\n".join(lines)
    formatted, _ = format_text(text, "<converted>")
    return formatted if formatted is not None else text


def _flow_anchors(module: A.Module) -> dict[tuple, tuple[Span, int, str | None]]:
    """Path -> (span, depth, doc) of every declaration, clause, step and step clause.

    Paths are positions ((declaration, clause, step clause) indexes), so the same item of a
    module and of its printed text share one; the printer keeps `Meta.clauses` order."""
    out: dict[tuple, tuple[Span, int, str | None]] = {}
    for i, d in enumerate(module.decls):
        out[(i,)] = (d.span, 0, d.meta.doc)
        steps = list(d.steps) if isinstance(d, A.FlowDecl) else []
        for k, (key, span) in enumerate(d.meta.clauses):
            step = steps.pop(0) if key == "step" and steps else None
            out[(i, k)] = (span, 1, step.meta.doc if step is not None else None)
            if step is not None:
                for m, (_key, sspan) in enumerate(step.meta.clauses):
                    out[(i, k, m)] = (sspan, 2, None)
    return out
