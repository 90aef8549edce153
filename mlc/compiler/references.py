"""What every name in every expression means: one decision, written into the IR.

Each `ref` node gets `target` (what it names, in the forms `ir.Expr` lists) and `type`
(`mlc.compiler.infer`'s type name). The scopes:

- a feature group's expressions: its sources' columns, its request fields, the enum members
  of those, the run's fields, `group.feature` of another group (resolved in the group's file,
  as the checks resolve it) and, in an expression feature of an aggregating group, the
  group's earlier features (the aggregated values it combines);
- a model's `fallback ... when`: the model's `confidence`, `unavailable` and output;
- a flow's `when`, `env`, args, `foreach ... in`, `gate`, emits payloads and trigger matches:
  its parameters, the run's fields, the step's `foreach` variable, `trigger.F` (a field every
  signal of the trigger declares) and, in a gate or a payload, any other bare name: a metric.

A name that means nothing where it is written keeps `target` None: the checks report it
(E0202, E0206, E0306). Only expressions that hold a ref are rebuilt.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mlc.compiler import ir
from mlc.compiler.infer import (
    METRIC,
    RUN_FIELDS,
    TRIGGER,
    Inferrer,
    flow_names,
    trigger_fields,
    type_name,
)
from mlc.diagnostics import Diagnostic

Meaning = tuple[str, "str | None"]  # (target, type)
Meanings = Callable[[str], "Meaning | None"]
# the key of the group a `name.feature` written in a group means (None: no group of that name)
FindGroup = Callable[[ir.FeatureGroup, str, "ir.Loc | None"], "str | None"]

AGGREGATION_RESULTS = {"count": "int", "avg": "float", "distinct_count": "int"}  # others: the argument's type


def run_field(name: str) -> Meaning | None:
    """`run.id` and the other fields every run has."""
    t = RUN_FIELDS.get(name)
    return None if name not in RUN_FIELDS else (f"run:{name[len('run.'):]}", t)


class GroupNames:
    """The names the expressions of one feature group may use."""

    def __init__(self, program: ir.Program, key: str, group: ir.FeatureGroup, find_group: FindGroup) -> None:
        self.program = program
        self.key = key
        self.group = group
        self.find_group = find_group
        self.names: dict[str, Meaning] = {}
        types: list[ir.TypeSpec] = []
        for r in group.sources:
            src = program.sources.get(r.target or "")
            table = r.target
            if src is not None and src.kind == "push" and src.batch is not None:  # pushed rows: its batch schema
                table = src.batch.target
                src = program.sources.get(table or "")
            if src is None or src.kind == "request":
                continue
            for f in src.schema_:
                if f.name not in self.names:
                    self.names[f.name] = (f"column:{table}.{f.name}", type_name(f.type))
                    types.append(f.type)
        named: dict[str, str | None] = {}  # field -> the named request source that declares it
        for r in group.request_sources:
            src = program.sources.get(r.target or "")
            for f in (src.schema_ if src is not None else ()):
                named.setdefault(f.name, r.target)
        for f in group.request:
            self.names[f.name] = (f"request:{named.get(f.name) or key}.{f.name}", type_name(f.type))
            types.append(f.type)
        self.enums = {a for t in types if t.name == "enum" for a in t.args}

    def bare(self, name: str) -> Meaning | None:
        """A name without a group: a column, a request field, a run field or an enum member."""
        found = self.names.get(name) or run_field(name)
        if found is None and name in self.enums:
            return (f"enum:{name}", "enum")
        return found

    def feature(self, name: str, loc: ir.Loc | None) -> tuple[str | None, ir.Feature | None]:
        """`group.feature`: the key of the group it names (None: unknown) and its feature
        (None: the group has none of that name)."""
        group_name, _, feature = name.rpartition(".")
        other = self.find_group(self.group, group_name, loc)
        group = self.program.feature_groups.get(other or "")
        if group is None:
            return None, None
        return other, next((f for f in group.features if f.name == feature), None)

    def meaning(self, name: str, loc: ir.Loc | None) -> Meaning | None:
        found = self.bare(name)
        if found is not None or "." not in name:
            return found
        other, f = self.feature(name, loc)
        if other is None or f is None:
            return None
        return (f"feature:{other}.{f.name}", feature_type(self.program, other, f))


def feature_type(program: ir.Program, key: str, f: ir.Feature, names: GroupNames | None = None) -> str | None:
    """The type of a feature as another expression reads it: declared, else its column's,
    else its aggregation's. `names`: the group's, when the caller has them (they are made
    from its sources' schemas: once per group, not once per feature)."""
    if f.type is not None:
        return type_name(f.type)
    if f.kind == "aggregation" and f.agg in AGGREGATION_RESULTS:
        return AGGREGATION_RESULTS[f.agg]
    if names is None:
        names = GroupNames(program, key, program.feature_groups[key], lambda *_: None)
    if f.kind == "column":
        found = names.bare(f.name)
        return found[1] if found else None
    if f.expr is None:
        return None
    return Inferrer(lambda e: (names.bare(e.name or "") or (None, None))[1]).type_of(f.expr)


def flow_meanings(flow: ir.Flow, signals: Mapping[str, ir.Signal], var: str | None = None,
                  items: ir.Expr | None = None) -> dict[str, Meaning]:
    """The names a flow's expressions may use (a step's, with its `foreach` variable `var`)."""
    types = flow_names(flow, var, items)
    out: dict[str, Meaning] = {}
    for name, t in types.items():
        if name in RUN_FIELDS and name != "run.id":
            continue  # a flow's expressions read the run's id only (the DAG has no other field: E0202)
        out[name] = (f"foreach:{name}" if name == var else run_field(name)[0] if name in RUN_FIELDS
                     else f"param:{name}", t)
    for name, t in trigger_fields(flow, signals)[0].items():
        out[name] = (f"{TRIGGER}:{name[len(TRIGGER) + 1:]}", t)
    out.update(step_returns(flow))
    return out


def step_returns(flow: ir.Flow) -> dict[str, Meaning]:
    """`step.field` for every value a step of `flow` returns: its declared type, or a list (one
    value per instance) for a foreach step. Whether the reader runs after the step is
    `mlc.compiler.checks.policy`'s business."""
    return {f"{s.name}.{f.name}": (f"returns:{s.name}.{f.name}", "list" if s.foreach is not None
                                   else type_name(f.type))
            for s in flow.steps for f in s.returns}


def typed(meanings: Meanings) -> Callable[[ir.Expr], str | None]:
    """An `Inferrer` lookup of the types of what `meanings` resolves."""
    return lambda e: (meanings(e.name or "") or (None, None))[1]


def in_flow(names: Mapping[str, Meaning], metrics: bool = False) -> Meanings:
    """A flow scope as a lookup; with `metrics`, any other bare name is one of the step's metrics."""
    def meaning(name: str) -> Meaning | None:
        found = names.get(name)
        if found is None and metrics and "." not in name:
            return (f"metric:{name}", METRIC)
        return found
    return meaning


def after_step(step: ir.Step, metrics: Meanings) -> Meanings:
    """What a step's `gate` and `emits` payload read: a step that declares `returns` is read by
    its fields' bare names, typed (any other bare name means nothing: E0202); one that does
    not, by any bare name (a metric, a number)."""
    if not step.returns:
        return metrics
    own = {f.name: (f"returns:{step.name}.{f.name}", "list" if step.foreach is not None else type_name(f.type))
           for f in step.returns}

    def meaning(name: str) -> Meaning | None:
        found = own.get(name)
        if found is not None or "." in name:
            return found or metrics(name)
        found = metrics(name)
        return found if found is not None and not found[0].startswith("metric:") else None
    return meaning


def annotated(e: ir.Expr, meanings: Callable[[str, ir.Loc | None], Meaning | None]) -> ir.Expr:
    """`e` with its refs annotated; `e` itself when it holds none."""
    if e.op == "ref":
        found = meanings(e.name or "", e.loc)
        if found is None or (e.target, e.type) == found:
            return e
        return ir.replace(e, target=found[0], type=found[1])
    if not e.args:
        return e
    args = tuple(annotated(a, meanings) for a in e.args)
    if all(a is b for a, b in zip(args, e.args)):
        return e
    return ir.replace(e, args=args)


def _each(values: Mapping[str, ir.Expr], meanings) -> dict[str, ir.Expr]:
    return {k: annotated(v, meanings) for k, v in values.items()}


def _same(new, old) -> bool:
    """Whether `new` is `old`, or a tuple or dict rebuilt of the very same items."""
    if new is old:
        return True
    if isinstance(new, tuple) and isinstance(old, tuple):
        return len(new) == len(old) and all(a is b for a, b in zip(new, old))
    if isinstance(new, dict) and isinstance(old, dict):
        return new.keys() == old.keys() and all(new[k] is old[k] for k in new)
    return False


def _updated(node, update: dict):
    """`node` with those values of `update` that are not already its own, or `node` itself
    when none is new: the annotated program shares every node without a ref with the program
    it was made from (a copy of each of 22,000 steps, none of them changed, was ~20 MiB of
    the peak memory of `mlc check` on 100,000 lines)."""
    changed = {k: v for k, v in update.items() if not _same(v, getattr(node, k))}
    return ir.replace(node, **changed) if changed else node


def _first(table: Mapping[str, Meaning], then: Callable[[str, ir.Loc | None], Meaning | None]):
    """A lookup of `table`, else `then`."""
    return lambda name, loc: table.get(name) or then(name, loc)


def _group(program: ir.Program, key: str, group: ir.FeatureGroup, find_group: FindGroup) -> ir.FeatureGroup:
    names = GroupNames(program, key, group, find_group)
    aggregating = any(f.kind == "aggregation" for f in group.features)
    features: list[ir.Feature] = []
    earlier: dict[str, Meaning] = {}
    for f in group.features:
        if f.expr is not None:
            if aggregating and f.kind == "expression":
                expr = annotated(f.expr, _first(dict(earlier), names.meaning))
            else:
                expr = annotated(f.expr, names.meaning)
            f = f if expr is f.expr else ir.replace(f, expr=expr)
        features.append(f)
        if f.kind != "expression":
            earlier[f.name] = (f"feature:{key}.{f.name}", feature_type(program, key, f, names))
    return _updated(group, {"features": tuple(features)})


def fallback_names(key: str, model: ir.Model) -> dict[str, Meaning]:
    """What `fallback M when ...` reads: the model's `confidence` (a number), `unavailable` (a
    boolean) and its output."""
    names: dict[str, Meaning] = {"confidence": (f"model:{key}.confidence", "float"),
                                 "unavailable": (f"model:{key}.unavailable", "bool")}
    if model.output is not None:
        names[model.output.name] = (f"model:{key}.{model.output.name}", type_name(model.output.type))
    return names


def _model(key: str, model: ir.Model) -> ir.Model:
    fb = model.fallback
    if fb is None or fb.when is None:
        return model
    names = fallback_names(key, model)
    when = annotated(fb.when, lambda name, _loc: names.get(name))
    return _updated(model, {"fallback": _updated(fb, {"when": when})})


def _trigger(t: ir.Trigger, meanings, signals: Mapping[str, ir.Signal]) -> ir.Trigger:
    if t.kind in ("all", "any"):
        return _updated(t, {"items": tuple(_trigger(i, meanings, signals) for i in t.items)})
    update = {"match": _each(t.match, meanings)} if t.match else {}
    if t.conditions:  # `signal(S, rows >= 1000)`: a bare name is a field of S's payload
        fields = signal_fields(signals.get(t.target.target or "") if t.target else None)
        update["conditions"] = tuple(annotated(c, lambda name, _loc: fields.get(name)) for c in t.conditions)
    return _updated(t, update)


def signal_fields(signal: ir.Signal | None) -> dict[str, Meaning]:
    """The fields of a signal's payload as a condition on its events reads them (`trigger:F`)."""
    return {f.name: (f"{TRIGGER}:{f.name}", type_name(f.type)) for f in (signal.fields if signal else ())}


def param_binding(flow: ir.Flow, signals: Mapping[str, ir.Signal], p: ir.Param) -> Meaning | None:
    """What a parameter's default binds it to, when it is not a value: `run.date` (the run's
    logical date, `run:date`) or `S.F`, a field of a signal of the flow's trigger
    (`signal:<signal key>.F`); None otherwise (a literal, an enum member, a name that means
    nothing: the payload checks report it)."""
    d = p.default
    if d is None or d.op != "ref" or "." not in (d.name or ""):
        return None
    if d.name == "run.date":
        return "run:date", "date"
    name, _, field = (d.name or "").rpartition(".")
    for t in (flow.trigger.leaves() if flow.trigger else ()):
        if t.kind == "signal" and t.target is not None and t.target.name == name and t.target.target:
            fields = signal_fields(signals.get(t.target.target))
            if field in fields:
                return f"signal:{t.target.target}.{field}", fields[field][1]
    return None


def _located(meanings: Meanings) -> Callable[[str, ir.Loc | None], Meaning | None]:
    """A flow lookup as `annotated` calls it (a flow's names do not depend on where they are)."""
    return lambda name, _loc: meanings(name)


def _flow(flow: ir.Flow, signals: Mapping[str, ir.Signal]) -> ir.Flow:
    names = flow_meanings(flow, signals)
    plain = in_flow(names)
    with_metrics = in_flow(names, metrics=True)
    steps = []
    for s in flow.steps:
        var = s.foreach.var if s.foreach else None
        own = in_flow(flow_meanings(flow, signals, var, s.foreach.items)) if var else plain
        mine = _located(own)
        update: dict = {"args": tuple(annotated(a, mine) for a in s.args), "env": _each(s.env, mine),
                        "resources": _each(s.resources, mine)}
        if s.when is not None:
            update["when"] = annotated(s.when, mine)
        if s.foreach is not None:
            update["foreach"] = _updated(s.foreach, {"items": annotated(s.foreach.items, _located(plain))})
        after = _located(after_step(s, with_metrics))
        if s.gate is not None:
            update["gate"] = annotated(s.gate, after)
        if s.emits:
            update["emits"] = tuple(_updated(e, {"payload": _each(e.payload, after)})
                                    for e in s.emits)
        steps.append(_updated(s, update))
    update = {"steps": tuple(steps)}
    if flow.trigger is not None:
        update["trigger"] = _trigger(flow.trigger, _located(plain), signals)
    bound = {p.name: b for p in flow.params if (b := param_binding(flow, signals, p)) is not None}
    if bound:
        update["params"] = tuple(p.model_copy(update={"default": p.default.model_copy(update={
            "target": bound[p.name][0], "type": bound[p.name][1]})}) if p.name in bound else p for p in flow.params)
    return _updated(flow, update)


def annotate(program: ir.Program, find_group: FindGroup) -> ir.Program:
    """The program with every ref of its feature groups, models and flows annotated.
    `find_group(group, name, loc)`: the group a `name.feature` written in `group` means."""
    groups = {k: _group(program, k, g, find_group) for k, g in program.feature_groups.items()}
    models = {k: _model(k, m) for k, m in program.models.items()}
    flows = {k: _flow(f, program.signals) for k, f in program.flows.items()}
    return program.model_copy(update={"feature_groups": groups, "models": models, "flows": flows})


def group_finder(resolver, report: Callable[[Diagnostic], None] | None = None) -> FindGroup:
    """`find_group` by the resolver: the declaration a name means in the file of the group
    that writes it. Why a name means nothing (E0202) goes to `report` (the checks'); without
    it, it is dropped (the checks said it already)."""
    def find(group: ir.FeatureGroup, name: str, loc: ir.Loc | None) -> str | None:
        file = group.loc.file if group.loc else None
        if file is None or loc is None:
            return None
        before = len(resolver.diagnostics)
        symbol = resolver.lookup(file, name, loc, ("features",))
        for d in resolver.diagnostics[before:] if report is not None else ():
            report(d)
        del resolver.diagnostics[before:]
        return symbol.key if symbol is not None else None
    return find


def by_package(program: ir.Program) -> FindGroup:
    """`find_group` without the files' imports: the group of that name in the writer's
    package, else the one group of that name."""
    def find(group: ir.FeatureGroup, name: str, _loc: ir.Loc | None) -> str | None:
        own = f"{group.package}.{name}" if group.package else name
        if own in program.feature_groups:
            return own
        found = [k for k, g in program.feature_groups.items() if g.name == name]
        return found[0] if len(found) == 1 else None
    return find
