"""What a feature store holds: types, the shape of each feature group, request-time features
and feature services.

- E0312 a type name the language does not have (`key driver_id: banana`), with did-you-mean;
  an enum without members, a struct without fields, typed members on another type;
- E0313 request-time features that read themselves, or each other in a cycle;
- E0315 a feature group the feature store cannot hold as written: more than one `from`, a
  plain column in a group with no source, a `registered` group (or one over a push source)
  with computed features, `on_demand` on a group that reads a source or whose `inputs` miss
  what it reads, a `label_view` without a source, a push source whose batch source is not a
  table, a request source without fields, a model whose `labels` name no label view;
- E0211 a model that several services serve, none of them named by the model; a model
  naming a service that serves another model.

A group's expressions are typed in `checks.types`, which reports unknown groups, features and
entity mismatches there (E0202, E0206, E0314).
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.infer import TYPE_NAMES, walk
from mlc.diagnostics import Label, did_you_mean, error

# connector parameters may also be secrets (`credentials: secret?`)
_CONNECTOR_TYPES = (*TYPE_NAMES, "secret")
# the types with nothing inside to check: most fields, so they are passed over at once
_PLAIN = frozenset(TYPE_NAMES) - {"enum", "struct"}


def _check_type(ctx: Context, t: ir.TypeSpec, at: ir.Loc | None, names: tuple[str, ...] = TYPE_NAMES) -> None:
    if t.element is not None:
        _check_type(ctx, t.element, t.element.loc or at, names)
        return
    loc = t.loc or at
    if t.name not in names:
        ctx.report(error("E0312", f"unknown type `{t.name}`", loc, help=did_you_mean(t.name, names),
                         notes=("types: " + ", ".join(names) + ", and lists as `[type]`",)))
        return
    if t.name == "struct" and not t.fields:
        ctx.report(error("E0312", "a struct names its fields: `struct(name: string, age: int)`", loc))
    elif t.fields and t.name != "struct":
        ctx.report(error("E0312", f"`{t.name}` has no typed fields; only a struct has", loc,
                         help="write the members of an enum as names: `enum(a, b)`" if t.name == "enum" else None))
    elif t.name == "enum" and not t.args:
        ctx.report(error("E0312", "an enum lists its members: `enum(tv, mobile, web)`", loc))
    elif t.args and t.name != "enum":
        ctx.report(error("E0312", f"`{t.name}` takes no arguments", loc))
    seen: set[str] = set()
    for f in t.fields:
        if f.name in seen:
            ctx.report(error("E0312", f"the struct has two fields named `{f.name}`", f.loc))
        seen.add(f.name)
        _check_type(ctx, f.type, f.loc, names)


def _check_types(ctx: Context) -> None:
    p = ctx.program
    shared = {f.loc for s in p.sources.values() if s.kind == "request" for f in s.schema_}

    def _fields(fields, names: tuple[str, ...] = TYPE_NAMES) -> None:
        for f in fields:
            t = f.type
            if t.name not in _PLAIN or t.args or t.fields or t.element is not None:
                _check_type(ctx, t, f.loc, names)

    for src in p.sources.values():
        _fields(src.schema_)
    for ent in p.entities.values():
        _fields(ent.keys)
    for g in p.feature_groups.values():
        # a request source's fields are in the `request` of each group naming it: checked once, there
        _fields([f for f in g.request if f.loc not in shared] if g.request_sources else g.request)
        for f in g.features:
            if f.type is not None:
                _check_type(ctx, f.type, f.loc)
    for m in p.models.values():
        if m.output is not None:
            _fields((m.output,))
    for s in p.signals.values():
        _fields(s.fields)
    for fl in p.flows.values():
        _fields(fl.params)
    for c in p.connectors.values():
        _fields((*c.env_params, *c.source_params), _CONNECTOR_TYPES)


def _check_shapes(ctx: Context) -> None:
    p = ctx.program
    for src in p.sources.values():
        if src.kind == "push" and src.batch is not None and src.batch.target is not None:
            batch = p.sources.get(src.batch.target)
            if batch is not None and batch.kind != "table":
                ctx.report(error("E0315", f"push source `{src.name}` lands its rows in `{batch.name}`, a "
                                          f"{batch.kind} source; it needs a table", src.batch.loc,
                                 labels=(Label(batch.loc, "declared here"),)))
        elif src.kind == "push" and src.batch is None:
            ctx.report(error("E0315", f"push source `{src.name}` names no batch source", src.loc,
                             help="say where pushed rows are kept: `batch TABLE_SOURCE`"))
        if src.kind == "request" and not src.schema_:
            ctx.report(error("E0315", f"request source `{src.name}` has no fields", src.loc,
                             help="list what the caller sends: `schema { amount: float }`"))
    for g in p.feature_groups.values():
        if g.label is not None and (g.validation or g.version is not None):
            ctx.report(error("E0315", f"label view `{g.name}` takes no `validate` or `version` (a Feast label "
                                      "view has neither)", g.loc))
        if g.validation and not g.sources:
            ctx.report(error("E0315", f"`validate` checks the rows a stored group loads; request-time group "
                                      f"`{g.name}` loads none", g.loc, help="leave `validate` out"))
        if g.entity is None and g.sources:
            ctx.report(error("E0217", f"feature group `{g.name}` reads `{g.sources[0].name}` but is on no entity",
                             g.sources[0].loc, help=f"say whose rows they are: `features {g.name} on ENTITY`; only "
                                                    "a request-time group (no `from`) may have no entity"))
        if not g.sources:
            column = next((f for f in g.features if f.kind == "column"), None)
            if column is not None:
                ctx.report(error("E0315", f"`{column.name}` is a plain column, but `{g.name}` reads no source",
                                 column.loc, help="name the source it comes from: `from SOURCE`, or compute it "
                                                  "(`name = expression`)"))
        if len(g.sources) > 1:
            ctx.report(error("E0315", f"feature group `{g.name}` reads {len(g.sources)} sources; a group reads "
                                      "one (a feature view has one source)", g.sources[1].loc,
                             labels=(Label(g.sources[0].loc, "first source"),),
                             help="split the group, or join the sources upstream into one"))
        for r in g.sources:
            src = p.sources.get(r.target or "")
            if src is not None and src.kind == "request":
                ctx.report(error("E0315", f"`{src.name}` is a request source: a group reads it with "
                                          f"`request {src.name}`, not `from`", r.loc,
                                 labels=(Label(src.loc, "declared here"),)))
        for r in g.request_sources:
            src = p.sources.get(r.target or "")
            if src is not None and src.kind != "request":
                ctx.report(error("E0315", f"`request {r.name}` names a {src.kind} source; it needs a request "
                                          "source", r.loc, labels=(Label(src.loc, "declared here"),)))
        if g.request_sources and g.sources:
            ctx.report(error("E0315", f"`{g.name}` reads a source and a request source; request fields are read "
                                      "by request-time groups, which have no `from`", g.request_sources[0].loc))
        if g.registered:
            for f in g.features:
                if f.kind != "column":
                    why = "reads a push source" if not _says_registered(g) else "is `registered`"
                    ctx.report(error("E0315", f"`{g.name}` {why}: no job computes it, so it holds plain columns "
                                              f"only; `{f.name}` is computed", f.loc,
                                     help="compute it in another group that reads this one's source"))
                    break
            if not g.sources:
                ctx.report(error("E0315", f"`registered` group `{g.name}` names no source", g.loc,
                                 help="say which table it registers: `from SOURCE`"))
        if g.on_demand is not None and g.sources:
            ctx.report(error("E0315", f"`on_demand` is for request-time groups; `{g.name}` reads a source",
                             g.on_demand.loc))
        elif g.on_demand is not None and g.on_demand.inputs:
            _check_inputs_cover(ctx, g)
        if g.label is not None:
            if not g.sources:
                ctx.report(error("E0315", f"label view `{g.name}` names no source", g.label.loc,
                                 help="labels are pushed or read from a table: `from SOURCE`"))
            lab = g.label.labeler
            if lab is not None and lab.name not in {f.name for f in g.features}:
                ctx.report(error("E0206", f"`labeler` names `{lab.name}`, which `{g.name}` lacks", lab.loc,
                                 help=did_you_mean(lab.name, [f.name for f in g.features])))


def _check_inputs_cover(ctx: Context, g: ir.FeatureGroup) -> None:
    """`on_demand { inputs [...] }` must name every group the expressions read and every request
    source the group names: the feature store gives the view nothing else."""
    named = {r.target for r in g.on_demand.inputs if r.target}  # type: ignore[union-attr]
    file = g.loc.file if g.loc else None
    for r in g.request_sources:
        if r.target and r.target not in named:
            ctx.report(error("E0315", f"`on_demand` inputs of `{g.name}` lack request source `{r.name}`, which it "
                                      "reads", g.on_demand.loc, labels=(Label(r.loc, "read here"),)))  # type: ignore[union-attr]
    for f in g.features:
        for node in (walk(f.expr) if f.expr is not None and file else ()):
            if node.op != "ref" or not node.name or "." not in node.name:
                continue
            group = node.name.rpartition(".")[0]
            found = ctx.resolver.outcome(file, group, ("features",))
            if isinstance(found, tuple) and found[0] not in named:
                ctx.report(error("E0315", f"`on_demand` inputs of `{g.name}` lack group `{group}`, which `{f.name}` "
                                          "reads", g.on_demand.loc, labels=(Label(node.loc, "read here"),)))  # type: ignore[union-attr]
                named.add(found[0])


def _says_registered(g: ir.FeatureGroup) -> bool:
    return g.registered and g.mode == "batch"


def _check_cycles(ctx: Context) -> None:
    """Request-time features read other groups' features by `group.feature`: none may read
    itself, directly or through others."""
    p = ctx.program
    edges: dict[tuple[str, str], list[tuple[tuple[str, str], ir.Expr]]] = {}
    where: dict[tuple[str, str], ir.Feature] = {}
    for key, g in p.feature_groups.items():
        file = g.loc.file if g.loc else None
        if file is None:
            continue
        for f in g.features:
            where[(key, f.name)] = f
            if f.kind != "expression" or f.expr is None:
                continue
            for node in walk(f.expr):
                if node.op != "ref" or not node.name or "." not in node.name:
                    continue
                group, _, feature = node.name.rpartition(".")
                found = ctx.resolver.outcome(file, group, ("features",))
                if isinstance(found, tuple):
                    edges.setdefault((key, f.name), []).append(((found[0], feature), node))
    done: set[tuple[str, str]] = set()
    for start in sorted(edges, key=lambda n: _pos(where.get(n))):
        if start in done:
            continue
        path = _cycle_from(start, edges, done)
        if path is None:
            continue
        f = where[start]
        names = " -> ".join(f"{p.feature_groups[g].name}.{n}" for g, n in path)
        first_ref = next(node for nxt, node in edges[start] if nxt == path[1])
        if len(path) == 2:
            msg = f"request-time feature `{f.name}` reads itself"
        else:
            msg = f"request-time features read each other in a cycle: {names}"
        ctx.report(error("E0313", msg, first_ref.loc or f.loc,
                         help="a feature is computed from stored features and request fields, never from itself"))
        done.update(path)


def _cycle_from(start, edges, done) -> list | None:
    """The first cycle through `start` (as a path start ... start), if any."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for nxt, _ref in edges.get(node, ()):
            if nxt == start:
                return path + [start]
            if nxt not in seen and nxt not in done:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def _pos(f: ir.Feature | None) -> tuple:
    loc = f.loc if f is not None else None
    return (loc.file, loc.line, loc.col) if loc else ("", 0, 0)


def _check_services(ctx: Context) -> None:
    p = ctx.program
    serving: dict[str, list[ir.FeatureService]] = {}
    for s in p.feature_services.values():
        if s.model is not None and s.model.target is not None and not s.implicit:
            serving.setdefault(s.model.target, []).append(s)
        if s.logging is not None and not 0 < s.logging.sample_rate <= 1:
            ctx.report(error("E0308", f"the logging sample of `{s.name}` is a fraction above 0 and at most 100%",
                             s.logging.loc))
        if not s.implicit:
            for i in s.features:
                group = p.feature_groups.get(i.target or "")
                if group is not None and i.feature is not None and i.feature not in {f.name for f in group.features}:
                    ctx.report(error("E0206", f"feature group `{i.group}` has no feature `{i.feature}`", i.loc,
                                     help=did_you_mean(i.feature, [f.name for f in group.features])))
    for key, m in p.models.items():
        lab = m.labels
        group = p.feature_groups.get(lab.target or "") if lab is not None else None
        if lab is not None and group is not None:
            if group.label is None:
                ctx.report(error("E0315", f"`labels` of `{m.name}` names `{group.name}`, which holds features, not "
                                          "labels", lab.loc, labels=(Label(group.loc, "declared here"),),
                                 help="a group of labels says `label_view { labeler COLUMN }`"))
            elif lab.feature is None or lab.feature not in {f.name for f in group.features}:
                ctx.report(error("E0206", f"label view `{group.name}` has no feature `{lab.feature or '*'}`", lab.loc,
                                 help=did_you_mean(lab.feature or "", [f.name for f in group.features])))
        found = serving.get(key, [])
        if m.service is None and len(found) > 1:
            ctx.report(error("E0211", f"{len(found)} services serve `{m.name}`, and it names none of them", m.loc,
                             labels=tuple(Label(s.loc, "serves it") for s in found if s.loc),
                             help=f"say which one serves it: `service {found[-1].name}`"))
        elif m.service is not None and m.service.target is not None:
            svc = p.feature_services.get(m.service.target)
            if svc is not None and svc.model is not None and svc.model.target not in (None, key):
                ctx.report(error("E0211", f"`{m.name}` names service `{svc.name}`, which serves "
                                          f"`{svc.model.name}`", m.service.loc,
                                 labels=(Label(svc.loc, "declared here"),)))
        if m.service is not None and m.service.target is not None:
            _check_service_covers(ctx, m, p.feature_services.get(m.service.target))


def _check_service_covers(ctx: Context, m: ir.Model, svc: ir.FeatureService | None) -> None:
    """E0216: the service a model is served and trained with holds every one of its inputs (the
    model would otherwise be called without a feature it was declared to read)."""
    if svc is None or svc.implicit:
        return
    groups = ctx.program.feature_groups
    held: dict[str, set[str]] = {}
    for f in svc.features:
        group = groups.get(f.target or "")
        names = {x.name for x in group.features} if group is not None else set()
        if group is None or (f.feature is not None and f.feature not in names):
            return  # the service names something that does not exist: that error is the one to fix
        held.setdefault(f.target, set()).update(names if f.feature is None else {f.feature})
    for i in m.inputs:
        group = groups.get(i.target or "")
        if group is None:
            continue
        wanted = [x.name for x in group.features] if i.feature is None else [i.feature]
        lacking = [w for w in wanted if w not in held.get(i.target, set())]
        if lacking:
            ctx.report(error(
                "E0216", f"service `{svc.name}` does not hold `{i.group}.{lacking[0]}`, an input of `{m.name}`",
                i.loc, labels=(Label(svc.loc, f"`{m.name}` is served and trained with this service"),) if svc.loc else (),
                help=f"add `{i.group}.{lacking[0]}` (or `{i.group}.*`) to the features of `{svc.name}`"))


def check(ctx: Context) -> None:
    _check_types(ctx)
    _check_shapes(ctx)
    _check_cycles(ctx)
    _check_services(ctx)
