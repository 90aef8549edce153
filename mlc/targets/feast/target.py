"""Lowers the program's entities, feature groups and models to a Feast feature repository.

One repository per env (`layout.feast_repo()`):
- `feature_store.yaml`: the project, the registry, the online store (the env's
  `feature_store`, else Feast's local template: SQLite), the file offline store;
- `definitions.py`: entities (one per key of a composite entity), a source per stored group
  (a FileSource over the Parquet table its Spark/Flink job writes, at the location the IR
  gives for the env; a PushSource over it for stream groups, which the Flink publisher
  pushes to; a KafkaSource where the stream is Kafka), a FeatureView per stored group, an
  on-demand view per request-time group (its expressions lowered by `expr.py` with the
  SQL targets' meaning), a FeatureService per model holding exactly its inputs (and one
  per declared service);
- `.feastignore`: keeps the runtime out of what the Feast CLI imports;
- `runtime/mlc_feast_runtime.py`: training sets and materialisation (docs/targets/feast.md).
"""

from __future__ import annotations

import keyword
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlc.compiler import ir
from mlc.compiler.infer import SIZED, an, walk
from mlc.compiler.references import GroupNames
from mlc.diagnostics import Diagnostic, error
from mlc.targets import Artifact
from mlc.targets import sql as S
from mlc.targets.feast import expr as X
from mlc.targets.layout import Layout, source_line
from mlc.targets.literals import py
from mlc.targets.memo import once
from mlc.targets.templating import TargetError, jinja_environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME = TEMPLATES / "runtime" / "mlc_feast_runtime.py"

# language type -> (Feast type code, Feast ValueType member of an entity key)
_TYPES = {
    "string": ("String", "STRING"), "enum": ("String", "STRING"),
    "int": ("Int64", "INT64"), "int64": ("Int64", "INT64"), "int32": ("Int32", "INT32"),
    "float": ("Float64", "DOUBLE"), "float64": ("Float64", "DOUBLE"), "float32": ("Float32", "FLOAT"),
    "bool": ("Bool", "BOOL"), "timestamp": ("UnixTimestamp", "UNIX_TIMESTAMP"), "bytes": ("Bytes", "BYTES"),
    "map": ("Map", None), "json": ("Json", None),
}
# the column type a language type is held in (sql.py's names); sized types keep their width
_HELD = {"enum": "string", "int64": "int", "float64": "float", "duration": "int"}
_FEAST_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class FeastError(Exception):
    def __init__(self, code: str, message: str, loc: ir.Loc | None, help: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.loc, self.help = code, message, loc, help


def feast_type(t: ir.TypeSpec | str, loc: ir.Loc | None = None) -> str:
    """The Feast type (code, e.g. `Float64`, `Array(String)`) of a language type."""
    name = t if isinstance(t, str) else t.name
    if not isinstance(t, str):
        if name == "list" and t.element is not None:
            return f"Array({feast_type(t.element, loc)})"
        if name == "struct":
            return "Struct({" + ", ".join(f"{py(f.name)}: {feast_type(f.type, f.loc)}" for f in t.fields) + "})"
    if name not in _TYPES:
        raise FeastError("E1103", f"a {name} cannot be a feature Feast serves", loc,
                         help="Feast holds string, int32/int64, float32/float64, bool, timestamp, bytes, map, "
                              "json, struct and lists of these")
    return _TYPES[name][0]


def held(t: ir.TypeSpec | None) -> str:
    """The column type a declared type is held in (`int` for `int64`, a sized type as itself)."""
    if t is None:
        return "string"
    return _HELD.get(t.name, t.name)


def tags(decl: ir.Decl) -> dict[str, str]:
    """Feast tags: the key/value tags as written, a list tag as `{tag: ""}`."""
    out = {t: "" for t in decl.tags}
    out.update(decl.tag_values)
    return dict(sorted(out.items()))


def meta(decl: ir.Decl) -> list[str]:
    """description, tags and owner arguments of a declaration (those it has)."""
    args = []
    text = decl.description or decl.doc
    if text:
        args.append(f"description={py(text)}")
    if tags(decl):
        args.append(f"tags={py(tags(decl))}")
    if decl.owner:
        args.append(f"owner={py(decl.owner)}")
    return args


# names the definitions file imports or defines: never a variable of a Feast object
RESERVED = frozenset({
    "os", "pd", "np", "timedelta", "_path", "on_demand_feature_view", "LoggingConfig", "FileLoggingDestination",
    "ConflictPolicy", "Entity", "Project", "FeatureService", "FeatureView", "LabelView", "Field", "FileSource", "PushSource", "RequestSource", "ValueType",
    "Array", "Bool", "Bytes", "Float32", "Float64", "Int32", "Int64", "Json", "Map", "String", "Struct",
    "UnixTimestamp"})


def _var(name: str, prefix: str, taken: set[str]) -> str:
    """A Python variable for a Feast object, unique in the file."""
    base = prefix + re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not base.isidentifier() or keyword.iskeyword(base):
        base = f"v_{base}"
    var, n = base, 2
    while var in taken or var in RESERVED:
        var, n = f"{base}_{n}", n + 1
    taken.add(var)
    return var


def _duration(ms: int | None) -> str:
    if not ms:
        return "timedelta(0)"
    if ms % 1000:
        return f"timedelta(milliseconds={ms})"
    return f"timedelta(seconds={ms // 1000})"


@dataclass
class View:
    """What the repository knows of a stored group: its Feast view and its columns."""

    key: str
    name: str
    var: str
    join_keys: tuple[str, ...]
    features: dict[str, str]  # feature name -> column type


@dataclass
class Repo:
    """The definitions of one repository, as code lines per object, in order."""

    imports: set[str] = field(default_factory=set)
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (comment, code)
    views: dict[str, View] = field(default_factory=dict)
    entity_vars: dict[str, list[str]] = field(default_factory=dict)
    odfv_vars: dict[str, str] = field(default_factory=dict)
    # groups the store does not hold: stored groups without an offline table in the env, and
    # request-time groups that read one (docs/targets/feast.md)
    absent: set[str] = field(default_factory=set)
    sources: dict[str, str] = field(default_factory=dict)  # source (or group) key -> its variable
    logging: bool = False
    errors: list[FeastError] = field(default_factory=list)
    numpy: bool = False
    # False: only judged (`validate`), no code written: on the 1M-line platform writing every
    # view's code for each env was most of the backends' validation
    render: bool = True


def feast_project(program: ir.Program) -> str:
    """The Feast project name: the program's first package, as Feast spells names (a test
    branch's own, `Layout.feast_project`)."""
    first = program.packages[0] if program.packages else "mlc"
    name = re.sub(r"[^A-Za-z0-9_]", "_", first).strip("_") or "mlc"
    return Layout(program).feast_project(name if name[0].isalpha() else f"p_{name}")


def _env(program: ir.Program, env: str) -> ir.Environment:
    try:
        return S.environment(program, env)
    except S.PlanError as e:
        raise FeastError("E1105", e.message, e.loc) from None


def stored(program: ir.Program, resolved: ir.Environment) -> list[str]:
    """Keys of the groups Feast reads from a table, sorted: those with an offline table in
    the env (written by their job), and registered groups (their source's table)."""
    return sorted(k for k, g in program.feature_groups.items()
                  if g.mode != "request" and (g.registered or k in resolved.offline))


def _offline_path(loc: ir.Location, what: str, where: ir.Loc | None) -> str:
    """The path Feast reads a Parquet table at: relative files stay relative (to the project
    root, as the jobs read them), s3 is an s3:// URI."""
    if loc.kind == "files" and (loc.format or "parquet") == "parquet" and loc.path:
        return loc.path
    if loc.kind == "s3" and (loc.format or "parquet") == "parquet":
        return f"s3://{loc.bucket}/{loc.path or ''}".rstrip("/")
    raise FeastError("E1105", f"{what} is {loc.kind}{' ' + loc.format if loc.format else ''}; Feast's file "
                     "offline store reads Parquet folders (files or s3)", where,
                     help="bind the store to files(...) or s3(...) with Parquet")


@dataclass(frozen=True)
class Table:
    """The table Feast reads a stored group from. `source`/`push`: the keys of the declared
    table and push sources of a registered group (None: the group's own offline table)."""

    path: str
    event_time: str
    created: str | None
    columns: dict[str, str]
    source: str | None = None
    push: str | None = None


def _group_table(program: ir.Program, resolved: ir.Environment, key: str) -> Table:
    """The table Feast reads for stored group `key`: its offline table (written by its job),
    or, for a registered group, its source's own table (a push source's batch source)."""
    group = program.feature_groups[key]
    if group.registered:
        ref = group.sources[0] if group.sources else None
        source = program.sources.get(ref.target or "") if ref else None
        if source is None:
            raise FeastError("E1101", f"registered group `{group.name}` reads no source", group.loc)
        push = ref.target if source.kind == "push" else None
        table_key = (source.batch.target or "") if push and source.batch else (ref.target or "")
        table = program.sources.get(table_key)
        loc = resolved.sources.get(table_key) if table is not None else None
        if loc is None:
            raise FeastError("E1105", f"source `{source.name}` has no location in this env", source.loc)
        columns = {f.name: held(f.type) for f in table.schema_}
        et = table.event_time.name if table.event_time else None
        if et is None:
            raise FeastError("E1101", f"source `{table.name}` has no `event_time`: Feast reads rows by time",
                             table.loc, help="add `event_time COLUMN`")
        created = table.created_time.name if table.created_time else None
        return Table(_offline_path(loc, f"source `{table.name}`", table.loc), et, created, columns, table_key, push)
    loc = resolved.offline[key]
    try:
        plan = S.plan_group(program, key)
    except S.PlanError as e:
        raise FeastError("E1104", e.message, e.loc, help=e.help) from None
    columns = dict(plan.output_schema())
    where = group.offline.loc if group.offline else group.loc
    return Table(_offline_path(loc, f"the offline store of `{group.name}`", where), S.EVENT_TIMESTAMP, None, columns)


def _entity(program: ir.Program, layout: Layout, repo: Repo, key: str, taken: set[str]) -> None:
    """One Feast entity per key field (Feast entities have one join key): named after the
    entity, or `entity__key` for each key of a composite entity."""
    entity = program.entities[key]
    name = layout.entity_id(key)
    vars_ = []
    for k in entity.keys:
        fname = name if len(entity.keys) == 1 else f"{name}__{k.name}"
        value_type = _TYPES.get(k.type.name, (None, None))[1]
        if value_type is None:
            raise FeastError("E1103", f"key `{k.name}` of entity `{entity.name}` is a {k.type.name}; a Feast "
                             "join key is a string, an int, a float, bool, bytes or timestamp", k.loc)
        if not repo.render:
            continue
        var = _var(fname, "entity_", taken)
        args = [f"name={py(fname)}", f"join_keys={py([k.name])}", f"value_type=ValueType.{value_type}",
                *meta(entity)]
        repo.blocks.append((f"entity {entity.name}, key {k.name} ({source_line(entity.loc)})",
                            f"{var} = Entity({', '.join(args)})"))
        vars_.append(var)
    repo.entity_vars[key] = vars_
    repo.imports.update({"Entity", "ValueType"})


def _field(name: str, t: ir.TypeSpec | str, description: str | None = None, loc: ir.Loc | None = None) -> str:
    args = [f"name={py(name)}", f"dtype={feast_type(t, loc)}"]
    if description:
        args.append(f"description={py(description)}")
    return f"Field({', '.join(args)})"


def _file_source(program: ir.Program, layout: Layout, repo: Repo, key: str, table: Table, taken: set[str]) -> str:
    """The FileSource of a stored group's table: its own offline table (`GROUP_source`), or
    the declared source a registered group reads (one FileSource per source, shared)."""
    shared = table.source
    if shared in repo.sources:
        return repo.sources[shared]
    decl = program.sources[shared] if shared else program.feature_groups[key]
    name = layout.source_id(shared) if shared else f"{layout.feature_view_id(key)}_source"
    var = _var(name, "", taken)
    args = [f"name={py(name)}", f"path=_path({py(table.path)})", f"timestamp_field={py(table.event_time)}"]
    if table.created:
        args.append(f"created_timestamp_column={py(table.created)}")
    if shared:
        args += meta(decl)
    what = f"source {decl.name}" if shared else f"the offline table of feature group {decl.name}"
    repo.blocks.append((f"{what} ({source_line(decl.loc)})", f"{var} = FileSource({', '.join(args)})"))
    repo.imports.add("FileSource")
    repo.sources[shared or key] = var
    return var


def _push_source(repo: Repo, key: str, name: str, batch_var: str, decl: ir.Source | None, taken: set[str]) -> str:
    """A PushSource over a FileSource: a declared push source, or a stream group's (which its
    Flink publisher pushes to); one per key."""
    if key in repo.sources:
        return repo.sources[key]
    var = _var(name, "", taken)
    args = [f"name={py(name)}", f"batch_source={batch_var}", *(meta(decl) if decl else [])]
    what = f"push source {decl.name} ({source_line(decl.loc)})" if decl else f"rows of {key} pushed by its Flink publisher"
    repo.blocks.append((what, f"{var} = PushSource({', '.join(args)})"))
    repo.imports.add("PushSource")
    repo.sources[key] = var
    return var


def _spec(f: ir.Feature, held_type: str) -> ir.TypeSpec | str:
    """The type a feature is given to Feast as: its declared list or struct, else its column's."""
    return f.type if f.type is not None and f.type.name in ("list", "struct") else held_type


def _features(group: ir.FeatureGroup, entity: ir.Entity, columns: dict[str, str]) -> dict[str, str]:
    """The column type of each feature of stored `group` in the table Feast reads (`columns`);
    a FeastError for a feature or join key the table does not hold as declared, or that Feast
    cannot hold."""
    feats: dict[str, str] = {}
    for f in group.features:
        t = f.type if f.type is not None and f.kind == "column" and group.registered else columns.get(f.name)
        if t is None:
            raise FeastError("E1104", f"feature `{f.name}` is not a column of the table of `{group.name}`", f.loc)
        declared = held(f.type) if f.type is not None else None
        table_type = columns.get(f.name)
        if declared is not None and table_type is not None and declared != table_type:
            raise FeastError("E1103", f"feature `{f.name}` of `{group.name}` is declared {declared}, but the table "
                             f"Feast reads holds {table_type}", f.loc,
                             help=f"declare `{f.name}: {table_type}`, or change the column's type")
        held_type = table_type or declared or "string"
        feats[f.name] = held_type
        feast_type(_spec(f, held_type), f.loc)  # what Feast cannot hold is an error
    for k in entity.keys:
        if k.name not in columns:
            raise FeastError("E1102", f"join key `{k.name}` of entity `{entity.name}` is not a column of the table "
                             f"of `{group.name}`", group.entity.loc,
                             help="columns: " + ", ".join(columns))
        if columns[k.name] != held(k.type):
            raise FeastError("E1102", f"join key `{k.name}` of entity `{entity.name}` is {an(held(k.type))}, but the "
                             f"table of `{group.name}` holds {an(columns[k.name])}", k.loc)
    return feats


def _stored_group(program: ir.Program, env: str, layout: Layout, repo: Repo, resolved: ir.Environment,
                  key: str, taken: set[str]) -> None:
    group = program.feature_groups[key]
    if group.entity is None:  # E0217 says it first
        raise FeastError("E1101", f"stored group `{group.name}` is on no entity: a feature view needs one", group.loc)
    entity = program.entities.get(group.entity.target or "")
    if entity is None:
        raise FeastError("E1101", f"entity `{group.entity.name}` of `{group.name}` is not registered",
                         group.entity.loc)
    if group.entity.target in repo.absent:
        repo.absent.add(key)  # its entity was refused (reported there)
        return
    table = _group_table(program, resolved, key)
    columns = table.columns
    name = layout.feature_view_id(key)
    # what the view's columns hold, judged once for every env (the table's columns are the same in each)
    feats = once(program, ("feast-features", key), lambda: _features(group, entity, columns), keep=(FeastError,))
    if not repo.render:
        repo.views[key] = View(key, name, "", tuple(k.name for k in entity.keys), feats)
        return
    schema = [_field(f.name, _spec(f, feats[f.name]), f.description, f.loc) for f in group.features]
    where = source_line(group.loc)
    source_var = _file_source(program, layout, repo, key, table, taken)
    if table.push is not None:
        source_var = _push_source(repo, table.push, layout.source_id(table.push), source_var,
                                  program.sources[table.push], taken)
    elif group.mode == "stream":
        # the Flink publisher pushes each committed window to the online store through this
        source_var = _push_source(repo, name, layout.push_source_id(key), source_var, None, taken)
    ttl = group.ttl_ms if group.ttl_ms is not None else group.online_ttl_ms
    var = _var(name, "view_", taken)
    ents = ", ".join(repo.entity_vars[group.entity.target or ""])
    args = [f"name={py(name)}", f"entities=[{ents}]", f"ttl={_duration(ttl)}",
            "schema=[\n        " + ",\n        ".join(schema) + ",\n    ]",
            f"online={py(bool(group.online))}", f"source={source_var}"]
    if group.validation:  # not on a label view (E0315)
        args.append("enable_validation=True")
    if group.version is not None:
        args.append(f"version={py(group.version)}")
    kind = "FeatureView"
    if group.label is not None:
        # labels (Feast's LabelView): who labelled a row, and how two labels of a key resolve
        kind = "LabelView"
        if group.label.labeler is not None:
            args.append(f"labeler_field={py(group.label.labeler.name)}")
        args.append(f"conflict_policy=ConflictPolicy.{group.label.conflict.upper()}")
        repo.imports.add("ConflictPolicy")
    args += meta(group)
    repo.blocks.append((f"feature group {group.name} ({where})", f"{var} = {kind}(\n    " + ",\n    ".join(args) + ",\n)"))
    repo.imports.update({kind, "Field"})
    repo.views[key] = View(key, name, var, tuple(k.name for k in entity.keys), feats)


def _request_group(program: ir.Program, layout: Layout, repo: Repo, key: str, taken: set[str]) -> None:
    group = program.feature_groups[key]
    name = layout.feature_view_id(key)
    where = f" in request-time group `{group.name}`"
    # on no entity (an on-demand view needs none), the rows carry the keys of what it reads
    entity = program.entities.get(group.entity.target or "") if group.entity else None
    own_keys = {k.name for k in entity.keys} if entity else None
    # the request fields, as the expressions' refs were resolved: target -> the field's name
    names = GroupNames(program, key, group, lambda *_: None)
    columns = {target: name for name, (target, _t) in names.names.items() if target.startswith("request:")}
    read: dict[str, list[str]] = {}  # group key -> the features the expressions read, in order
    for f in group.features:
        for ref in (walk(f.expr) if f.expr is not None else ()):
            if ref.op != "ref" or ref.target in columns or S.is_enum(ref):
                continue
            group_name, _, feature = ref.name.rpartition(".") if ref.name else ("", "", "")
            if not group_name:
                continue  # a bare name that means nothing: the expression's lowering says so (E1106)
            target = _feature_group(ref)
            if target in repo.absent:
                repo.absent.add(key)  # reads a group the store does not hold: not in the store either
                return
            view = repo.views.get(target or "")
            if view is None:
                raise FeastError("E1101", f"`{ref.name}`{where}: `{group_name}` is not a group the feature store "
                                 "holds (a stored group with an `offline` table)", ref.loc,
                                 help=f"give `{group_name}` an `offline` store")
            if feature not in view.features:
                raise FeastError("E1104", f"`{feature}` is not a feature of `{group_name}`", ref.loc)
            missing = [k for k in view.join_keys if k not in own_keys] if own_keys is not None else []
            if missing:
                raise FeastError("E1102", f"`{ref.name}`{where}: `{group_name}` is keyed by "
                                 f"{', '.join(view.join_keys)}, which the rows of `{group.name}` (entity "
                                 f"`{group.entity.name}`) do not carry: {', '.join(missing)}", ref.loc,
                                 help="read a group whose join keys are among this group's entity keys")
            columns[ref.target or ""] = f"{view.name}__{feature}"
            if feature not in read.setdefault(target, []):
                read[target].append(feature)
    scope = X.Scope(columns, where)
    schema, body = [], []
    for f in group.features:
        if f.expr is None:
            raise FeastError("E1104", f"feature `{f.name}`{where} has no expression", f.loc)
        inferred = scope.type_of(f.expr)
        inferred = {"enum": "string", "duration": "int"}.get(inferred or "", inferred)
        t = held(f.type) if f.type is not None else (inferred or "string")
        family = SIZED.get(t, t)  # the expression's type is a family (`int`), the declared one may be sized
        if f.type is not None and inferred is not None and inferred != family and not (family == "float" and inferred == "int"):
            raise FeastError("E1103", f"feature `{f.name}`{where} is declared {t}, but its expression is "
                             f"{an(inferred)}", f.loc)
        try:
            code, numpy = X.output(f.expr, scope, t)
        except S.PlanError as e:
            raise FeastError("E1106", e.message, e.loc, help=e.help) from None
        repo.numpy |= numpy
        schema.append(_field(f.name, t, f.description, f.loc))
        body.append(f"    out[{py(f.name)}] = {code}")
    # each view projected on what the expressions read (Feast fetches only those; its python
    # mode infers types from every input it is given)
    sources = [f"{repo.views[k].var}[{py(features)}]" for k, features in read.items()]
    for ref in group.request_sources:
        if ref.target in program.sources:
            sources.append(_request_source(program, layout, repo, ref.target, taken))
    # the fields of no named request source: the group's own RequestSource
    own = [f for f in group.request if names.names[f.name][0] == f"request:{key}.{f.name}"]
    if own:
        req_var = _var(name, "request_", taken)
        fields = ", ".join(_field(f.name, held(f.type), f.description, f.loc) for f in own)
        repo.blocks.append((f"the request fields of {group.name}",
                            f"{req_var} = RequestSource(name={py(name + '_request')}, schema=[{fields}])"))
        repo.imports.add("RequestSource")
        sources.append(req_var)
    od = group.on_demand or ir.OnDemand()
    if od.inputs:
        # said explicitly: those, in the order written (they cover what the expressions read: E0xxx)
        sources = []
        for ref in od.inputs:
            if ref.target in repo.views:
                sources.append(repo.views[ref.target].var)
            elif ref.target in program.sources:
                sources.append(_request_source(program, layout, repo, ref.target or "", taken))
            elif ref.target in repo.absent:
                repo.absent.add(key)
                return
            else:
                raise FeastError("E1101", f"input `{ref.name}`{where} is not a stored group or a request source "
                                 "the feature store holds", ref.loc)
    if not sources:
        raise FeastError("E1101", f"request-time group `{group.name}` reads no request field and no stored group: "
                         "Feast needs a source for an on-demand view", group.loc)
    var = _var(name, "", taken | set(repo.odfv_vars.values()))
    args = [f"name={py(name)}", f"sources=[{', '.join(sources)}]",
            "schema=[\n        " + ",\n        ".join(schema) + ",\n    ]", f"mode={py(od.mode)}"]
    if od.write_to_online:
        args.append("write_to_online_store=True")
    if group.version is not None:
        args.append(f"version={py(group.version)}")
    args += meta(group)
    head = "@on_demand_feature_view(\n    " + ",\n    ".join(args) + ",\n)\n"
    if od.mode == "python":
        # Feast passes columns as lists (dict in, dict out): the same pandas code computes them.
        # Each value is returned under its full name too: Feast 0.67 does not rename a python
        # view's outputs, so `full_feature_names=True` would find none (docs/targets/feast.md).
        code = (head + f"def {var}(columns: dict) -> dict:\n"
                "    inputs = pd.DataFrame(columns)\n    out = pd.DataFrame(index=inputs.index)\n" + "\n".join(body)
                + "\n    values = {name: out[name].tolist() for name in out.columns}\n"
                + f"    return {{**values, **{{{py(name + '__')} + name: v for name, v in values.items()}}}}")
    else:
        code = (head + f"def {var}(inputs: pd.DataFrame) -> pd.DataFrame:\n"
                "    out = pd.DataFrame(index=inputs.index)\n" + "\n".join(body) + "\n    return out")
    repo.blocks.append((f"request-time group {group.name} ({source_line(group.loc)})", code))
    repo.imports.update({"Field"})
    repo.odfv_vars[key] = var


def _request_source(program: ir.Program, layout: Layout, repo: Repo, key: str, taken: set[str]) -> str:
    """A named request source (`source r: request { ... }`), shared by the groups naming it."""
    if key in repo.sources:
        return repo.sources[key]
    decl = program.sources[key]
    name = layout.source_id(key)
    var = _var(name, "request_", taken)
    fields = ", ".join(_field(f.name, held(f.type), f.description, f.loc) for f in decl.schema_)
    args = [f"name={py(name)}", f"schema=[{fields}]", *meta(decl)]
    repo.blocks.append((f"request source {decl.name} ({source_line(decl.loc)})",
                        f"{var} = RequestSource({', '.join(args)})"))
    repo.imports.add("RequestSource")
    repo.sources[key] = var
    return var


def _feature_group(ref: ir.Expr) -> str | None:
    """The key of the group a `group.feature` ref reads (`mlc.compiler.references` resolved it)."""
    if ref.target is None or not ref.target.startswith("feature:"):
        return None
    return ref.target[len("feature:"):].rpartition(".")[0]


def _service(program: ir.Program, repo: Repo, name: str, refs: tuple[ir.FeatureRef, ...], decl: ir.Decl,
             where: str, taken: set[str], logs: ir.Location | None = None, sample_rate: float = 1.0) -> None:
    """A FeatureService of exactly these features: whole views, or a view's subset."""
    parts: list[str] = []
    chosen: dict[str, list[str] | None] = {}
    for r in refs:
        key = r.target or ""
        if key in repo.absent:
            return  # a model of features the store does not hold has no feature service
        if key not in repo.views and key not in repo.odfv_vars:
            raise FeastError("E1101", f"`{r.group}` is not a group the feature store holds (a stored group "
                             "with an `offline` table, or a request-time group)", r.loc,
                             help=f"give `{r.group}` an `offline` store")
        if r.feature is None:
            chosen[key] = None
        elif chosen.get(key, []) is not None:
            chosen.setdefault(key, []).append(r.feature)
    for key, features in chosen.items():
        var = repo.views[key].var if key in repo.views else repo.odfv_vars[key]
        parts.append(var if features is None else f"{var}[{py(features)}]")
    var = _var(name, "service_", taken)
    args = [f"name={py(name)}", f"features=[{', '.join(parts)}]"]
    if logs is not None:
        # where the features it serves are logged (Feast's feature logging), and what fraction
        repo.logging = True
        destination = f"FileLoggingDestination(path=_path({py(_offline_path(logs, f'the logging of `{name}`', decl.loc))}))"
        args.append(f"logging_config=LoggingConfig(destination={destination}, sample_rate={py(sample_rate)})")
    args += meta(decl)
    repo.blocks.append((f"{where}", f"{var} = FeatureService({', '.join(args)})"))
    repo.imports.add("FeatureService")


def build(program: ir.Program, env: str, layout: Layout, render: bool = True) -> Repo:
    """The repository's definitions, and in `Repo.errors` what Feast cannot be given (each
    declaration refused is left out with what reads it, so one mistake is reported once);
    without `render`, only the errors (the same)."""
    resolved = _env(program, env)
    repo = Repo(render=render)
    taken: set[str] = set()
    doc = program.package_docs.get(program.packages[0]) if program.packages else None
    if doc:  # the project's description: the doc comment of the package it is named after
        var = _var("project", "", taken)
        repo.blocks.append((f"project {feast_project(program)}",
                            f"{var} = Project(name={py(feast_project(program))}, description={py(doc)})"))
        repo.imports.add("Project")

    def attempt(key: str, lowering, *args) -> None:
        try:
            lowering(*args)
        except FeastError as e:
            repo.errors.append(e)
            repo.absent.add(key)

    for key in sorted(program.entities):
        attempt(key, _entity, program, layout, repo, key, taken)
    for key in stored(program, resolved):
        attempt(key, _stored_group, program, env, layout, repo, resolved, key, taken)
    repo.absent.update(k for k, g in program.feature_groups.items() if g.mode != "request" and k not in repo.views)
    for key in sorted(k for k, g in program.feature_groups.items() if g.mode == "request"):
        attempt(key, _request_group, program, layout, repo, key, taken)
    for key, svc in sorted(program.feature_services.items()):
        what = f"the inputs of model {svc.name}" if svc.implicit else f"feature service {svc.name}"
        attempt(key, _service, program, repo, layout.service_id(key), svc.features, svc,
                f"{what} ({source_line(svc.loc)})", taken, resolved.service_logs.get(key) if svc.logging else None,
                svc.logging.sample_rate if svc.logging else 1.0)
    return repo


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    """What Feast would take and get wrong, or not take: E1101 (a view, entity or service
    reads something Feast is not given), E1102 (join keys that do not match), E1103 (types
    Feast cannot hold or that differ from the table's), E1104 (a group the feature store
    cannot read), E1105 (an offline table Feast cannot read in this env), E1106 (an
    expression an on-demand view cannot compute)."""
    if not program.feature_groups and not program.models:
        return []
    return _built(program, env, layout, render=False)[1]


def _built(program: ir.Program, env: str, layout: Layout, render: bool = True) -> tuple[Repo | None, list[Diagnostic]]:
    """The repository (None when it could not be built) and its errors as diagnostics."""
    try:
        repo = build(program, env, layout, render)
    except FeastError as e:
        repo, errors = None, [e]
    else:
        errors = repo.errors
    return repo, [error(e.code, e.message, e.loc, help=e.help) for e in errors]


def store_yaml(program: ir.Program, env: str) -> str:
    resolved = _env(program, env)
    fs = resolved.feature_store or ir.FeatureStore()
    lines = [f"project: {feast_project(program)}", f"registry: {py(fs.registry)}", "provider: local",
             "online_store:"]
    if fs.online_kind == "sqlite":
        lines += ["    type: sqlite", f"    path: {py(fs.online_path or 'data/online_store.db')}"]
    else:
        lines += [f"    type: {py(fs.online_kind)}", f"    connection_string: {py(fs.online_path or '')}"]
    lines += ["offline_store:", "    type: file", "entity_key_serialization_version: 3", "auth:", "    type: no_auth"]
    return "\n".join(lines) + "\n"


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    if not program.feature_groups and not program.models:
        return []
    repo, problems = _built(program, env, layout)  # built once: validated and lowered from the same
    problems = [d for d in problems if d.is_error]
    if problems:
        raise TargetError(problems)
    jinja = jinja_environment("mlc.targets.feast")
    definitions = jinja.get_template("definitions.py.j2").render(
        env=env, project=feast_project(program), imports=sorted(repo.imports), numpy=repo.numpy,
        blocks=repo.blocks, runtime=layout.feast_runtime(), logging=repo.logging)
    root = layout.feast_repo()
    # the runtime's folder, relative to the repository (what .feastignore lists)
    runtime_dir = posixpath.relpath(posixpath.dirname(layout.feast_runtime()), root)
    ignore = jinja.get_template("feastignore.j2").render(runtime=runtime_dir)
    return [
        Artifact(layout.feast_store_yaml(), store_yaml(program, env), kind="feast-store-config"),
        Artifact(layout.feast_definitions(), definitions, kind="feast-definitions",
                 references=(layout.feast_store_yaml(),)),
        Artifact(layout.feast_ignore(), ignore, kind="feast-ignore", references=(layout.feast_runtime(),)),
        Artifact(layout.feast_runtime(), RUNTIME.read_text(encoding="utf-8"), kind="feast-runtime"),
    ]
