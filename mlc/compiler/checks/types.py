"""Types: schemas, feature expressions, model inputs, fallback conditions and signal payloads.

Expressions are typed by `mlc.compiler.infer`; what their names mean is decided by
`mlc.compiler.references` (which writes it into the IR after the checks); this module reports
the names that mean nothing.

- E0206 a model input naming a feature its group lacks;
- E0301 an aggregation over a column of the wrong type;
- E0302 a signal match or payload on a field the signal lacks; E0303 a value of the wrong type
  (a payload value that does not fit its field) and operands that do not fit their operator
  (`count(kind == 3)` with an enum `kind`, `fallback m when confidence < "high"`);
- E0304 an entity key missing from a source's schema;
- E0305 an `event_time` that is not a timestamp or date column of the schema;
- E0306 a column that the group's sources do not have.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.infer import NUMBERS, Inferrer, misfit, names_lookup
from mlc.compiler.references import (
    GroupNames,
    fallback_names,
    feature_type,
    flow_meanings,
    group_finder,
    in_flow,
    typed,
)
from mlc.diagnostics import Label, did_you_mean, error

NUMERIC = set(NUMBERS)
ORDERED = NUMERIC | {"timestamp", "date", "duration"}
# What each aggregation accepts, and the type it yields (None: the argument's type).
AGGREGATION_TYPES: dict[str, tuple[set[str] | None, str | None]] = {
    "count": (None, "int"),
    "sum": (NUMERIC, None),
    "avg": (NUMERIC, "float"),
    "min": (ORDERED, None),
    "max": (ORDERED, None),
    "last": (None, None),
    "distinct_count": (None, "int"),
}


class Scope:
    """The names an expression of one feature group can use (`references.GroupNames`; a
    `group.feature` whose group does not resolve is reported, E0202)."""

    def __init__(self, ctx: Context, key: str, group: ir.FeatureGroup) -> None:
        self.ctx = ctx
        self.group = group  # whose expressions these are: the groups they read must share its keys
        self.names = GroupNames(ctx.program, key, group, group_finder(ctx.resolver, ctx.report))


class ExprTyper:
    """Infers the type of an expression of a feature group (`mlc.compiler.infer`), reporting
    unknown columns (E0306, once each) and operands that do not fit (E0303)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.inferrer = Inferrer(self._ref, scope.ctx.report, calls=True)

    def type_of(self, e: ir.Expr) -> str | None:
        """The expression's type name, or None when unknown (already reported or not knowable)."""
        return self.inferrer.type_of(e)

    def _ref(self, e: ir.Expr) -> str | None:
        name = e.name or ""
        names = self.scope.names
        found = names.bare(name)
        if found is not None:
            return found[1]
        if "." in name:
            return self._feature_ref(e, name)
        self.scope.ctx.report(error(
            "E0306", f"unknown column `{name}`", e.loc,
            help=did_you_mean(name, list(names.names) + sorted(names.enums)),
            notes=(f"columns here: {', '.join(sorted(names.names)) or 'none'}",)))
        return None

    def _same_keys(self, e: ir.Expr, other: ir.FeatureGroup) -> None:
        """A group reads another group's feature for its own key: the other's entity keys must
        be among its own (`member_title` may read a `member` group, `customer` no `driver` one)."""
        own = self.scope.group
        if own is None or own.entity is None or other.entity is None or other.entity.target == own.entity.target:
            return  # a group on no entity (request-time) is keyed by whatever rows the caller sends
        p = self.scope.ctx.program
        mine, theirs = p.entities.get(own.entity.target or ""), p.entities.get(other.entity.target or "")
        if mine is None or theirs is None:
            return
        missing = [k.name for k in theirs.keys if k.name not in {k.name for k in mine.keys}]
        if missing:
            self.scope.ctx.report(error(
                "E0314", f"`{own.name}` is on `{mine.name}` but reads `{other.name}`, which is on `{theirs.name}`: "
                         f"its key `{missing[0]}` is not a key of `{mine.name}`", e.loc,
                labels=(Label(other.entity.loc, f"`{other.name}` is on `{theirs.name}`"),) if other.entity.loc else (),
                help=f"read groups keyed by {', '.join(k.name for k in mine.keys)}, or put `{own.name}` "
                     f"on an entity that has `{missing[0]}`"))

    def _feature_ref(self, e: ir.Expr, name: str) -> str | None:
        group_name, _, feature = name.rpartition(".")
        ctx = self.scope.ctx
        key, f = self.scope.names.feature(name, e.loc)
        group = ctx.program.feature_groups.get(key or "")
        if group is None:
            return None
        self._same_keys(e, group)
        if f is not None:
            return feature_type(ctx.program, key, f)
        ctx.report(error("E0206", f"feature group `{group_name}` has no feature `{feature}`", e.loc,
                         help=did_you_mean(feature, [f.name for f in group.features])))
        return None


def _columns(ctx: Context, group: ir.FeatureGroup) -> dict[str, ir.TypeSpec] | None:
    """Every column of the group's sources; None when a source did not resolve."""
    cols: dict[str, ir.TypeSpec] = {}
    for r in group.sources:
        src = ctx.program.sources.get(r.target or "")
        if src is not None and src.kind == "push":  # pushed rows have the schema of its batch source
            src = ctx.program.sources.get(src.batch.target or "") if src.batch else None
        if src is None or src.kind == "request":  # a request source after `from`: E0315 says so
            return None
        for f in src.schema_:
            cols.setdefault(f.name, f.type)
    return cols


def _check_source(ctx: Context, src: ir.Source) -> None:
    names = {f.name: f for f in src.schema_}
    if src.event_time is not None:
        col = names.get(src.event_time.name)
        if col is None:
            ctx.report(error("E0305", f"`event_time` names `{src.event_time.name}`, which the schema lacks",
                             src.event_time.loc, help=did_you_mean(src.event_time.name, names)))
        elif col.type.name not in ("timestamp", "date"):
            ctx.report(error("E0305", f"`event_time` must be a timestamp or date column; "
                                      f"`{col.name}` is {col.type.name}", src.event_time.loc,
                             labels=(Label(col.loc, "declared here"),)))


def _check_group(ctx: Context, group_key: str, group: ir.FeatureGroup) -> None:
    cols = _columns(ctx, group)
    entity = ctx.program.entities.get(group.entity.target or "") if group.entity else None  # None: E0217
    if cols is None:
        return
    if entity is not None and group.sources:
        for key in entity.keys:
            if key.name not in cols:
                ctx.report(error(
                    "E0304", f"entity `{entity.name}` is keyed by `{key.name}`, which the source of "
                             f"`{group.name}` lacks", group.sources[0].loc,
                    labels=(Label(key.loc, "key declared here"),),
                    help=did_you_mean(key.name, cols)))
    typer = ExprTyper(Scope(ctx, group_key, group))
    for f in group.features:
        if f.kind == "column":
            if group.sources and f.name not in cols:
                ctx.report(error("E0306", f"column `{f.name}` is not in the schema of `{group.sources[0].name}`",
                                 f.loc, help=did_you_mean(f.name, cols)))
            elif f.type and f.name in cols and cols[f.name].name != f.type.name:
                ctx.report(error("E0303", f"`{f.name}` is {cols[f.name].name} in the source, not {f.type.name}",
                                 f.loc))
            continue
        if f.kind == "aggregation" and f.agg:
            _check_aggregation(ctx, typer, f)
        elif f.expr is not None:
            typer.type_of(f.expr)


def _check_aggregation(ctx: Context, typer: ExprTyper, f: ir.Feature) -> None:
    if f.agg not in AGGREGATION_TYPES:
        shown = f"`{f.agg}`" if f.agg else "this expression"
        ctx.report(error("E0307", f"{shown} is not an aggregation, but `{f.name}` has a window", f.loc,
                         help=did_you_mean(f.agg, AGGREGATION_TYPES) if f.agg else
                         f"aggregate it, as in `{f.name} = sum(...) over ...`",
                         notes=(f"aggregations: {', '.join(AGGREGATION_TYPES)}",)))
        return
    accepts, _yields = AGGREGATION_TYPES[f.agg]
    if f.expr is None:
        if f.agg != "count":
            ctx.report(error("E0301", f"`{f.agg}` needs a column: `{f.agg}(column)`", f.loc))
        return
    t = typer.type_of(f.expr)
    if t is None:
        return
    if f.agg == "count" and t != "bool":
        ctx.report(error("E0301", f"`count(...)` takes a condition, but this is {t}", f.expr.loc,
                         help="write `count(*)` to count rows, or a condition like `count(kind == view)`"))
    elif accepts is not None and t not in accepts:
        ctx.report(error("E0301", f"`{f.agg}` needs a {' or '.join(sorted(accepts))} column; this is {t}",
                         f.expr.loc))


def _check_inputs(ctx: Context, model: ir.Model) -> None:
    for i in model.inputs:
        group = ctx.program.feature_groups.get(i.target or "")
        if group is None or i.feature is None:
            continue
        if i.feature not in {f.name for f in group.features}:
            ctx.report(error("E0206", f"feature group `{i.group}` has no feature `{i.feature}`", i.loc,
                             help=did_you_mean(i.feature, [f.name for f in group.features])))


def _check_payload(ctx: Context, signal_key: str | None, values: dict[str, ir.Expr], key_locs: dict,
                   loc, what: str, inferrer: Inferrer) -> None:
    signal = ctx.program.signals.get(signal_key or "")
    if signal is None:
        return
    fields = {f.name: f for f in signal.fields}
    for name, value in values.items():
        fld = fields.get(name)
        if fld is None:
            ctx.report(error("E0302", f"signal `{signal.name}` has no field `{name}`",
                             key_locs.get(name) or value.loc or loc,
                             help=did_you_mean(name, fields),
                             notes=(f"its fields: {', '.join(fields) or 'none'}",)))
            continue
        got = misfit(fld.type, value, inferrer.type_of(value))
        if got is not None:
            ctx.report(error("E0303", f"`{name}` of signal `{signal.name}` is {fld.type.name}; {what} gives {got}",
                             value.loc or loc, labels=(Label(fld.loc, "field declared here"),)))


def _check_fallback(ctx: Context, key: str, model: ir.Model) -> None:
    """`fallback M when ...` reads what `references.fallback_names` says."""
    fb = model.fallback
    if fb is None or fb.when is None:
        return
    names = {name: t for name, (_target, t) in fallback_names(key, model).items()}
    Inferrer(names_lookup(names), ctx.report).type_of(fb.when)


def check(ctx: Context) -> None:
    p = ctx.program
    for src in p.sources.values():
        _check_source(ctx, src)
    for group_key, group in p.feature_groups.items():
        _check_group(ctx, group_key, group)
    for model_key, model in p.models.items():
        _check_inputs(ctx, model)
        _check_fallback(ctx, model_key, model)
    for flow in p.flows.values():
        names = flow_meanings(flow, p.signals)
        match = Inferrer(typed(in_flow(names)), ctx.report)
        for t in (flow.trigger.leaves() if flow.trigger else ()):
            if t.kind == "signal" and t.target is not None:
                _check_payload(ctx, t.target.target, t.match, t.match_locs, t.loc, "the match", match)
        # a payload may carry metrics, and pass on the trigger's payload
        payload = Inferrer(typed(in_flow(names, metrics=True)), ctx.report)
        for step in flow.steps:
            for e in step.emits:
                _check_payload(ctx, e.signal.target, e.payload, e.payload_locs, e.loc, "the step", payload)
