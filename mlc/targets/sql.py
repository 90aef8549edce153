"""Feature groups as SQL, for the engines that run them (Spark SQL and Flink SQL).

Pure Python, no engine imported. Organised as sqlglot organises a dialect: declarative
tables (types, operators, functions) on a `Dialect` class, one method per expression
node kind (`lit_sql`, `ref_sql`, `binop_sql`, ...), and a small subclass per engine that
overrides only what differs (string escapes, hopping windows, interval literals).

What both engines compute for a group is fixed here, once (`GroupPlan`), so that the
Spark job and the Flink job built from one definition produce the same values:

- an aggregating group is evaluated over hopping windows of its longest size `W`,
  advanced every `S` (its slide); a row per entity and window end that has an event;
  `event_timestamp` is the window's end (exclusive). A feature over a shorter window
  `w` aggregates the rows of the same window whose event time is `>= end - w`.
- `avg` is `AVG(CAST(x AS DOUBLE))`; `/` is a float division, `NULL` when dividing by 0.
- `count(cond)` counts rows where cond is true; `count(x)` of a non-boolean counts
  non-null x; `last(x)` is the non-null x with the latest event time (ties: the
  greatest x in text form), computed as `MAX` over `'yyyy-MM-dd HH:mm:ss.SSS' || x`.
- a plain column in an aggregating group is its `last` value over `W`.
- a group without aggregations passes rows through: `event_timestamp` is the event time.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field
from typing import ClassVar

from mlc.compiler import ir
from mlc.compiler.infer import SIZED, Inferrer, type_name, walk
from mlc.targets.layout import Layout

# Internal column names; user names may not start with `__mlc`.
ET = "__mlc_et"  # the event time as a timestamp
WM = "__mlc_wm"  # (Spark) the watermark in force when the row arrived
FILE = "__mlc_file"
POS = "__mlc_pos"
WINDOW = "__mlc_w"  # (Spark) the window struct of a row; a source may have a column `w`
# Columns Flink's window table functions add to every row: a stream group's source may not
# have columns of these names (the Flink target's validation says so, E1011).
FLINK_WINDOW_COLUMNS = ("window_start", "window_end", "window_time")
EVENT_TIMESTAMP = "event_timestamp"
EVENT_DATE = "event_date"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Language types -> the types of an output table (also the names used in job specs).
SCALARS = {"string", "int", "float", "bool", "date", "timestamp"}


class PlanError(Exception):
    """A feature group that the SQL engines cannot run as written; carries where and why."""

    def __init__(self, message: str, loc: ir.Loc | None = None, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.help = help


def check_name(name: str, what: str, loc: ir.Loc | None = None) -> str:
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise PlanError(f"{what} `{name}` is not a name the engines can take", loc)
    if name.startswith("__mlc"):
        raise PlanError(f"{what} `{name}`: names starting with `__mlc` are reserved", loc)
    return name


def scalar_type(t: ir.TypeSpec | None) -> str:
    """The column type of a declared type: enums and JSON text are strings, a sized number is
    held at the engines' one width (BIGINT, DOUBLE); lists, maps, structs and bytes are not
    supported by the jobs (a `registered` group, which no job computes, may hold them)."""
    if t is None:
        return "string"
    if t.element is not None or t.name in ("map", "struct", "bytes"):
        shown = "a list" if t.element is not None else f"type `{t.name}`"
        raise PlanError(f"{shown} cannot be a column of a feature table a Spark or Flink job writes (use string, "
                        f"int, float, bool, date, timestamp, json or an enum)",
                        help="a group that only registers an existing table (`registered`) may hold it")
    if t.name in ("enum", "json"):
        return "string"
    if t.name in SIZED:
        return SIZED[t.name]
    if t.name in SCALARS:
        return t.name
    raise PlanError(f"type `{t.name}` cannot be a column of a feature table (use string, int, float, bool, "
                    f"date, timestamp or an enum)")


# ------------------------------------------------------------------ typing
def is_enum(e: ir.Expr) -> bool:
    """Whether a ref names an enum member (written bare: `kind == view`)."""
    return e.target is not None and e.target.startswith("enum:")


class Scope:
    """The table an expression is computed over. `columns`: the refs it may read, by the
    target `mlc.compiler.references` resolved them to (`column:SOURCE.c`, `feature:GROUP.f`)
    -> the table's column; a ref's type is its own (`ir.Expr.type`). An enum member is a ref
    resolved to `enum:MEMBER`."""

    def __init__(self, columns: dict[str, str], where: str = "") -> None:
        self.columns = columns
        self.where = where

    def column(self, e: ir.Expr) -> str | None:
        """The column a ref reads here (None: it reads none of this table's)."""
        return self.columns.get(e.target or "") if e.op == "ref" else None

    def type_of(self, e: ir.Expr) -> str | None:
        """The column type of an expression (`mlc.compiler.infer`, which the checks use too):
        an enum value is a string, a duration a number of milliseconds."""
        t = Inferrer(self._lookup).type_of(e)
        return _COLUMN_TYPES.get(t, t) if t in SCALARS or t in _COLUMN_TYPES else None

    def _lookup(self, e: ir.Expr) -> str | None:
        return e.type if e.target in self.columns or is_enum(e) else None


def table_scope(kind: str, table: str, names, where: str = "") -> Scope:
    """The scope of a table whose columns `names` are the `kind` refs (`column`, `feature`) of
    `table` (a source's key, a group's key)."""
    return Scope({f"{kind}:{table}.{n}": n for n in names}, where)


# How a type of the language is held in a column.
_COLUMN_TYPES = {"enum": "string", "json": "string", "duration": "int"}

# The SQL names of the functions an expression may call (their types: `mlc.compiler.infer.FUNCTIONS`).
FUNCTIONS: dict[str, str] = {
    "abs": "ABS",
    "lower": "LOWER",
    "upper": "UPPER",
    "length": "CHAR_LENGTH",
    "coalesce": "COALESCE",
    "floor": "FLOOR",
    "ceil": "CEIL",
}


# ------------------------------------------------------------------ dialects
class Dialect:
    """SQL text for one engine. Subclasses override tables and the methods that differ."""

    name = "sql"
    TYPES: ClassVar[dict[str, str]] = {"string": "STRING", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
                             "date": "DATE", "timestamp": "TIMESTAMP"}
    BINOPS: ClassVar[dict[str, str]] = {"and": "AND", "or": "OR", "==": "=", "!=": "<>", "<": "<", "<=": "<=",
                              ">": ">", ">=": ">=", "+": "+", "-": "-", "*": "*"}
    # The end of the current window, as the aggregate query names it.
    WINDOW_END = "window_end"

    # -- atoms
    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def type(self, t: str) -> str:
        return self.TYPES[t]

    def cast(self, sql: str, t: str) -> str:
        return f"CAST({sql} AS {self.type(t)})"

    def interval(self, ms: int) -> str:
        """An interval literal of `ms` milliseconds, in the largest whole unit."""
        for unit, size in (("DAY", 86_400_000), ("HOUR", 3_600_000), ("MINUTE", 60_000), ("SECOND", 1000)):
            if ms % size == 0:
                return self._interval(str(ms // size), unit)
        return self._interval(f"{ms // 1000}.{ms % 1000:03d}", "SECOND")

    def _interval(self, amount: str, unit: str) -> str:
        return f"INTERVAL '{amount}' {unit}"

    # -- expressions: one method per node kind
    def expr(self, e: ir.Expr, scope: Scope) -> str:
        method = getattr(self, f"{e.op}_sql", None)
        if method is None:
            raise PlanError(f"`{e.op}` cannot be computed by SQL{scope.where}", e.loc)
        return method(e, scope)

    def lit_sql(self, e: ir.Expr, scope: Scope) -> str:
        kind, value = e.kind, e.value
        if kind == "string":
            return self.string(str(value))
        if kind == "bool":
            return "TRUE" if value else "FALSE"
        if kind in ("int", "duration", "size"):
            return str(int(value))
        if kind in ("float", "percent"):
            number = float(value) / (100 if kind == "percent" else 1)
            if not math.isfinite(number):
                raise PlanError("a number that is not finite", e.loc)
            return self.cast(repr(number), "float")
        raise PlanError(f"a {kind} literal cannot be used here{scope.where}", e.loc)

    def ref_sql(self, e: ir.Expr, scope: Scope) -> str:
        name = e.name or ""
        column = scope.column(e)
        if column is not None:
            return self.quote(column)
        if is_enum(e):
            return self.string(name)
        raise PlanError(f"`{name}` is not a column here{scope.where}", e.loc)

    def binop_sql(self, e: ir.Expr, scope: Scope) -> str:
        """A row of one operator (`a and b and c`, IR `binop` with its operands) stays one row."""
        if e.name == "/":
            # A float division on both engines (Flink divides integers as integers),
            # NULL when the divisor is 0 (Spark under ANSI would raise); a row, left to right.
            sql = self.cast(self.expr(e.args[0], scope), "float")
            for divisor in e.args[1:]:
                sql = (f"({sql} / NULLIF({self.cast(self.expr(divisor, scope), 'float')}, "
                       f"{self.cast('0', 'float')}))")
            return sql
        left, right = e.args[0], e.args[-1]
        if e.name == "in":
            if right.op != "list":
                raise PlanError("`in` needs a list on its right: `x in [a, b]`", e.loc)
            items = ", ".join(self.expr(a, scope) for a in right.args)
            return f"({self.expr(left, scope)} IN ({items}))"
        op = self.BINOPS.get(e.name or "")
        if op is None:
            raise PlanError(f"operator `{e.name}` cannot be computed by SQL", e.loc)
        return "(" + f" {op} ".join(self.expr(a, scope) for a in e.args) + ")"

    def unop_sql(self, e: ir.Expr, scope: Scope) -> str:
        inner = self.expr(e.args[0], scope)
        return f"(NOT {inner})" if e.name == "not" else f"(- {inner})"

    def call_sql(self, e: ir.Expr, scope: Scope) -> str:
        fn = FUNCTIONS.get(e.name or "")
        if fn is None:
            raise PlanError(f"function `{e.name}` is not known to the SQL targets", e.loc,
                            help="functions: " + ", ".join(sorted(FUNCTIONS)))
        if any(a.op == "arg" for a in e.args):
            raise PlanError(f"`{e.name}` takes positional arguments only", e.loc)
        return f"{fn}({', '.join(self.expr(a, scope) for a in e.args)})"

    # -- aggregations
    def timestamp_text(self, sql: str) -> str:
        """A timestamp as text that sorts as time: 'yyyy-MM-dd HH:mm:ss.SSS' (23 characters)."""
        return f"DATE_FORMAT({sql}, 'yyyy-MM-dd HH:mm:ss.SSS')"

    def aggregate(self, agg: AggSpec, scope: Scope) -> str:
        conds = []
        if agg.within_ms is not None:
            conds.append(f"{self.quote(ET)} >= {self.window_end()} - {self.interval(agg.within_ms)}")
        arg = self.expr(agg.arg, scope) if agg.arg is not None else None
        kind = agg.agg
        if kind == "count" and arg is not None and agg.arg_type == "bool":
            conds.insert(0, f"({arg}) IS TRUE")
            arg = None
        where = f" FILTER (WHERE {' AND '.join(conds)})" if conds else ""
        if kind == "count":
            return f"COUNT({arg if arg is not None else '*'}){where}"
        if kind == "distinct_count":
            return f"COUNT(DISTINCT {arg}){where}"
        if kind == "sum":
            return f"SUM({arg}){where}"
        if kind == "avg":
            return f"AVG({self.cast(arg, 'float')}){where}"
        if kind in ("min", "max"):
            return f"{kind.upper()}({arg}){where}"
        if kind == "last":
            keyed = f"CONCAT({self.timestamp_text(self.quote(ET))}, {self.cast(arg, 'string')})"
            text = f"SUBSTRING(MAX({keyed}){where}, 24)"
            return text if agg.type == "string" else self.cast(text, agg.type)
        raise PlanError(f"aggregation `{kind}` is not known to the SQL targets", agg.loc)

    def window_end(self) -> str:
        return self.WINDOW_END

    # -- the group's queries
    def select_list(self, plan: GroupPlan, scope: Scope) -> list[str]:
        cols = [self.quote(k) for k in plan.keys]
        if plan.aggregating:
            cols.append(f"{self.window_end_out()} AS {self.quote(EVENT_TIMESTAMP)}")
            for f in plan.features:
                if f.kind != "expression":
                    cols.append(f"{self.aggregate(f.agg, scope)} AS {self.quote(f.name)}")
        else:
            cols.append(f"{self.event_time_out()} AS {self.quote(EVENT_TIMESTAMP)}")
            for f in plan.features:
                sql = self.quote(f.name) if f.kind == "column" else self.expr(f.expr, scope)
                cols.append(f"{self.cast(sql, f.type)} AS {self.quote(f.name)}")
        return cols

    def window_end_out(self) -> str:
        return self.quote(self.WINDOW_END)

    def event_time_out(self) -> str:
        return self.cast(self.quote(ET), "timestamp")

    def outer(self, plan: GroupPlan, inner: str) -> str:
        """Expression features of an aggregating group, computed over its aggregated row."""
        exprs = [f for f in plan.features if f.kind == "expression"]
        if not plan.aggregating or not exprs:
            return inner
        scope = plan.aggregated_scope()
        cols = [self.quote(k) for k in plan.keys] + [self.quote(EVENT_TIMESTAMP)]
        for f in plan.features:
            if f.kind == "expression":
                cols.append(f"{self.cast(self.expr(f.expr, scope), f.type)} AS {self.quote(f.name)}")
            else:
                cols.append(self.quote(f.name))
        return f"SELECT {', '.join(cols)}\nFROM (\n{inner}\n) AS {self.quote('mlc_aggregated')}"

    def input_sql(self, plan: GroupPlan, source_view: str) -> str:
        """The rows a group reads: those with an entity key and an event time."""
        keep = " AND ".join(f"{self.quote(c)} IS NOT NULL" for c in (*plan.keys, ET))
        return f"SELECT * FROM {self.quote(source_view)} WHERE {keep}"

    def features_sql(self, plan: GroupPlan, input_view: str) -> str:
        raise NotImplementedError


class SparkSQL(Dialect):
    name = "spark"
    WINDOW_END = WINDOW

    def string(self, value: str) -> str:
        # Spark reads backslash escapes in literals, and `'a''b'` as two adjacent literals.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def window_end(self) -> str:
        return f"{self.quote(WINDOW)}.`end`"

    def window_end_out(self) -> str:
        return self.window_end()

    def duration(self, ms: int) -> str:
        return f"'{ms // 1000} seconds'" if ms % 1000 == 0 else f"'{ms} milliseconds'"

    def features_sql(self, plan: GroupPlan, input_view: str) -> str:
        scope = plan.scope(self)
        cols = self.select_list(plan, scope)
        if not plan.aggregating:
            return self.outer(plan, f"SELECT {', '.join(cols)}\nFROM {self.quote(input_view)}")
        windowed = (f"SELECT *, window({self.quote(ET)}, {self.duration(plan.window_ms)}, "
                    f"{self.duration(plan.slide_ms)}) AS {self.quote(WINDOW)} FROM {self.quote(input_view)}")
        where = ""
        if plan.watermark:
            # The late-data rule (docs/targets/flink.md): a row counts in a window only if
            # the watermark in force when it arrived had not reached the window's end.
            where = (f"\nWHERE {self.quote(WM)} IS NULL OR {self.quote(WM)} < "
                     f"{self.window_end()} - {self.interval(1)}")
        group = ", ".join([self.quote(k) for k in plan.keys] + [self.quote(WINDOW)])
        inner = (f"SELECT {', '.join(cols)}\nFROM ({windowed}) AS {self.quote('mlc_windowed')}{where}\n"
                 f"GROUP BY {group}")
        return self.outer(plan, inner)

    def arrival_sql(self, plan: GroupPlan, source_view: str) -> str:
        """Stream sources read by Spark: each row with the watermark in force when it arrived
        (arrival order: file name, then position in the file)."""
        order = f"{self.quote(FILE)}, {self.quote(POS)}"
        return (f"SELECT *, MAX({self.quote(ET)}) OVER (ORDER BY {order} ROWS BETWEEN UNBOUNDED PRECEDING "
                f"AND 1 PRECEDING) - {self.interval(plan.watermark_ms or 0)} AS {self.quote(WM)} "
                f"FROM {self.quote(source_view)}")


class FlinkSQL(Dialect):
    name = "flink"
    TYPES: ClassVar[dict[str, str]] = {**Dialect.TYPES, "timestamp": "TIMESTAMP(3)"}

    def _interval(self, amount: str, unit: str) -> str:
        whole = amount.split(".")[0]
        # Flink's interval fields default to a leading precision of 2 digits.
        precision = f"({len(whole)})" if len(whole) > 2 else ""
        return f"INTERVAL '{amount}' {unit}{precision}"

    def features_sql(self, plan: GroupPlan, input_view: str) -> str:
        scope = plan.scope(self)
        cols = self.select_list(plan, scope)
        if not plan.aggregating:
            return self.outer(plan, f"SELECT {', '.join(cols)}\nFROM {self.quote(input_view)}")
        hop = (f"TABLE(HOP(TABLE {self.quote(input_view)}, DESCRIPTOR({self.quote(ET)}), "
               f"{self.interval(plan.slide_ms)}, {self.interval(plan.window_ms)}))")
        group = ", ".join([self.quote(k) for k in plan.keys] + [self.quote("window_start"), self.quote("window_end")])
        inner = f"SELECT {', '.join(cols)}\nFROM {hop}\nGROUP BY {group}"
        return self.outer(plan, inner)

    def watermark_sql(self, plan: GroupPlan) -> str:
        return f"{self.quote(ET)} - {self.interval(plan.watermark_ms or 0)}"

    def event_time_sql(self, plan: GroupPlan) -> str:
        """The computed event-time column of the source table (a rowtime attribute)."""
        col = self.quote(plan.event_time)
        if plan.event_time_type == "timestamp":
            return col
        return f"CAST({col} AS TIMESTAMP(3))"


DIALECTS: dict[str, Dialect] = {"spark": SparkSQL(), "flink": FlinkSQL()}


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class AggSpec:
    agg: str
    arg: ir.Expr | None
    arg_type: str | None
    type: str  # the result type
    within_ms: int | None  # a shorter window than the group's: rows with event time >= end - this
    loc: ir.Loc | None = None


@dataclass(frozen=True)
class FeaturePlan:
    name: str
    kind: str  # column | aggregation | expression
    type: str
    agg: AggSpec | None = None
    expr: ir.Expr | None = None


@dataclass
class GroupPlan:
    """What a feature group computes, independent of the engine."""

    key: str  # qualified name of the group
    group: str
    package: str | None
    source_key: str
    source: str
    source_kind: str  # stream | table
    columns: dict[str, str]  # the source schema: name -> column type
    event_time: str
    event_time_type: str
    watermark_ms: int | None
    keys: tuple[str, ...]
    features: tuple[FeaturePlan, ...]
    aggregating: bool
    window_ms: int | None
    slide_ms: int | None
    checkpoint_ms: int | None
    mode: str
    doc: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def watermark(self) -> bool:
        """Whether the late-data rule applies: a stream source read through windows."""
        return self.source_kind == "stream" and self.aggregating

    def scope(self, dialect: Dialect) -> Scope:
        return table_scope("column", self.source_key, self.columns, where=f" in feature group `{self.group}`")

    def aggregated_scope(self) -> Scope:
        """What the expression features of an aggregating group read: its other features' row."""
        return table_scope("feature", self.key, [f.name for f in self.features if f.kind != "expression"],
                           where=f" in feature group `{self.group}`")

    def output_schema(self) -> list[tuple[str, str]]:
        """(name, type) of every column of the offline table, in order (event_date excluded)."""
        cols = [(k, self.columns[k]) for k in self.keys] + [(EVENT_TIMESTAMP, "timestamp")]
        return cols + [(f.name, f.type) for f in self.features]


def _default_slide(group: ir.FeatureGroup, window_ms: int) -> int:
    if group.mode == "batch" and group.schedule is not None:
        from mlc.compiler.freshness import schedule_gap

        gap, _how = schedule_gap(group.schedule)
        if gap:
            return gap
    return window_ms


def once(program: ir.Program, key: tuple, compute):
    """`compute()` once per program (mlc.targets.memo); a PlanError is kept and raised again."""
    from mlc.targets.memo import once as remember

    return remember(program, key, compute, keep=(PlanError,))


def plan_group(program: ir.Program, key: str) -> GroupPlan:
    """The engine-independent plan of one stored feature group; PlanError when it cannot run."""
    return once(program, ("plan", key), lambda: _plan_group(program, key))


def judge(program: ir.Program, plan: GroupPlan) -> None:
    """Raises the PlanError that writing `plan`'s queries (in either dialect) would raise, without
    writing them: a check needs only the error, and the queries of every group of a large program
    were a quarter of its backends' validation. Once `plan_group` has accepted a group, what it
    has not written already is fixed text, but for an aggregating group's expression features,
    which read the aggregated row (`Dialect.outer`); the errors of an expression are the same in
    both dialects (they differ in how they spell literals and intervals, never in what they
    refuse). tests/test_sql_judge.py holds this equal to writing them."""
    once(program, ("judged", plan.key), lambda: _judge(plan))


def _judge(plan: GroupPlan) -> None:
    if plan.aggregating:
        scope = plan.aggregated_scope()
        for f in plan.features:
            if f.kind == "expression":
                DIALECTS["spark"].expr(f.expr, scope)


def _plan_group(program: ir.Program, key: str) -> GroupPlan:
    group = program.feature_groups[key]
    where = f" in feature group `{group.name}`"
    if not group.sources:
        raise PlanError(f"feature group `{group.name}` reads no source", group.loc)
    if len(group.sources) > 1:
        raise PlanError(f"feature group `{group.name}` reads {len(group.sources)} sources; the Spark and Flink "
                        "targets read one source per group", group.sources[1].loc,
                        help="split the group, or join the sources upstream into one")
    ref = group.sources[0]
    source = program.sources.get(ref.target or "")
    if source is None:
        raise PlanError(f"source `{ref.name}` did not resolve", ref.loc)
    columns, refused = source_columns(program, ref.target or "")
    used: set[str] | None = None  # found only for a column the jobs cannot hold: a walk of every expression
    for f, e, named in refused:
        if named:
            raise PlanError(e.message, e.loc, e.help)
        if used is None:
            used = _used_names(group, program)
        if f.name in used:  # a list or map the group never reads: the job does not read it either
            raise PlanError(f"source `{source.name}`, column `{f.name}`: {e.message}", f.loc, help=e.help)
    if source.event_time is None:
        raise PlanError(f"source `{source.name}` has no `event_time`: the engines cannot place its rows "
                        "in windows or time", source.loc, help="add `event_time COLUMN`")
    et = source.event_time.name
    if et not in columns:
        raise PlanError(f"event time `{et}` is not a column of source `{source.name}`", source.event_time.loc)
    if columns[et] not in ("timestamp", "date"):
        raise PlanError(f"event time `{et}` of source `{source.name}` is a {columns[et]}; it must be a "
                        "timestamp or a date", source.event_time.loc)
    if group.entity is None:  # E0217 says it first
        raise PlanError(f"feature group `{group.name}` is on no entity: a job keys its rows by one", group.loc)
    entity = program.entities.get(group.entity.target or "")
    if entity is None:
        raise PlanError(f"entity `{group.entity.name}` did not resolve", group.entity.loc)
    keys = tuple(k.name for k in entity.keys)
    for k in entity.keys:
        if k.name not in columns:
            raise PlanError(f"key `{k.name}` of entity `{entity.name}` is not a column of source "
                            f"`{source.name}`", group.entity.loc,
                            help=f"columns of `{source.name}`: {', '.join(columns)}")
    seen = set(keys) | {EVENT_TIMESTAMP, EVENT_DATE}
    features: list[FeaturePlan] = []
    windows: list[tuple[int, int, ir.Feature]] = []
    stored = [f for f in group.features]
    aggregating = any(f.kind == "aggregation" for f in stored)
    scope = table_scope("column", ref.target or "", columns, where=where)
    for f in stored:
        check_name(f.name, "feature", f.loc)
        if f.name in seen:
            raise PlanError(f"feature `{f.name}` has the name of another column of the feature table{where}", f.loc,
                            help=f"`{', '.join(keys)}`, `{EVENT_TIMESTAMP}` and `{EVENT_DATE}` are taken")
        seen.add(f.name)
        if f.kind == "aggregation":
            if f.window_ms is None:
                raise PlanError(f"aggregation `{f.name}` has no window{where}", f.loc, help="add `over DURATION`")
            if f.agg is None:
                raise PlanError(f"feature `{f.name}` has a window but no aggregation{where}", f.loc,
                                help="aggregations: count, sum, avg, min, max, last, distinct_count")
            slide = f.every_ms or _default_slide(group, f.window_ms)
            windows.append((f.window_ms, slide, f))
    window_ms = slide_ms = None
    if windows:
        slides = sorted({s for _w, s, _f in windows})
        if len(slides) > 1:
            f = next(f for _w, s, f in windows if s == slides[-1])
            raise PlanError(f"the windows of feature group `{group.name}` advance at different steps "
                            f"({', '.join(_fmt(s) for s in slides)}); one group emits one row per entity and "
                            "step", f.loc, help="give every window of a group the same `every`, or split the group")
        slide_ms = slides[0]
        for w, s, f in windows:
            if w % s:
                raise PlanError(f"window `over {_fmt(w)}` of `{f.name}` is not a whole number of its steps "
                                f"(`every {_fmt(s)}`)", f.loc)
        window_ms = max(w for w, _s, _f in windows)
    for f in stored:
        if f.kind == "column":
            if f.name not in columns:
                raise PlanError(f"column `{f.name}` is not a column of source `{source.name}`", f.loc)
            t = columns[f.name]
            declared = scalar_type(f.type) if f.type is not None else t
            read = ir.build(ir.Expr, op="ref", name=f.name, target=f"column:{ref.target}.{f.name}",
                            type=next(type_name(c.type) for c in source.schema_ if c.name == f.name))
            agg = AggSpec("last", read, t, t, None, f.loc) if aggregating else None
            features.append(FeaturePlan(f.name, "column", declared, agg=agg))
        elif f.kind == "aggregation":
            arg_type = scope.type_of(f.expr) if f.expr is not None else None
            if f.expr is not None:
                DIALECTS["spark"].expr(f.expr, scope)  # reports unknown names early
            t = _agg_type(f.agg or "", arg_type, f)
            within = f.window_ms if f.window_ms != window_ms else None
            features.append(FeaturePlan(f.name, "aggregation", t, agg=AggSpec(f.agg or "", f.expr, arg_type, t, within, f.loc)))
        else:
            if aggregating:
                inner = table_scope("feature", key, [p.name for p in features if p.kind != "expression"],
                                    where=where)
                for node in (walk(f.expr) if f.expr is not None else ()):
                    if node.op == "ref" and not is_enum(node) and inner.column(node) is None:
                        raise PlanError(f"expression `{f.name}` uses `{node.name}`, which is not an earlier "
                                        f"feature of the group{where}; in an aggregating group, expressions "
                                        "combine the group's aggregated features", f.loc)
                t = scalar_type(f.type) if f.type is not None else (inner.type_of(f.expr) or "float")
            else:
                DIALECTS["spark"].expr(f.expr, scope)
                t = scalar_type(f.type) if f.type is not None else (scope.type_of(f.expr) or "string")
            features.append(FeaturePlan(f.name, "expression", t, expr=f.expr))
    if not features:
        raise PlanError(f"feature group `{group.name}` has no features", group.loc)
    return GroupPlan(
        key=key, group=group.name, package=group.package, source_key=ref.target or "", source=source.name,
        source_kind=source.kind, columns=columns, event_time=et, event_time_type=columns[et],
        watermark_ms=source.watermark_ms, keys=keys, features=tuple(features), aggregating=aggregating,
        window_ms=window_ms, slide_ms=slide_ms, checkpoint_ms=group.checkpoint_ms, mode=group.mode,
        doc=group.doc, owner=group.owner, tags=tuple(group.tags))


def source_columns(program: ir.Program, key: str) -> tuple[dict[str, str], list[tuple[ir.Field, PlanError, bool]]]:
    """The columns of source `key` a job can read (name -> column type, in schema order), and, in
    order, each column it cannot: (field, why, whether its name is refused, which is an error for
    every group; else its type, an error for a group that reads it). Once per source: the groups
    of a platform read a few sources each."""
    return once(program, ("columns", key), lambda: _source_columns(program.sources[key]))


def _source_columns(source: ir.Source) -> tuple[dict[str, str], list[tuple[ir.Field, PlanError, bool]]]:
    columns: dict[str, str] = {}
    refused = []
    for f in source.schema_:
        try:
            check_name(f.name, f"column of source `{source.name}`", f.loc)
        except PlanError as e:
            refused.append((f, e, True))
            continue
        try:
            columns[f.name] = scalar_type(f.type)
        except PlanError as e:
            refused.append((f, e, False))
    return columns, refused


def _agg_type(agg: str, arg_type: str | None, f: ir.Feature) -> str:
    if agg in ("count", "distinct_count"):
        return "int"
    if agg == "avg":
        return "float"
    if agg == "sum":
        if arg_type not in ("int", "float"):
            raise PlanError(f"`sum` of `{f.name}` needs a number", f.loc)
        return arg_type
    if agg in ("min", "max", "last"):
        if f.expr is None:
            raise PlanError(f"`{agg}` of `{f.name}` needs an argument", f.loc)
        return arg_type or "string"
    raise PlanError(f"aggregation `{agg}` is not known to the SQL targets", f.loc,
                    help="aggregations: count, sum, avg, min, max, last, distinct_count")


def _fmt(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _used_names(group: ir.FeatureGroup, program: ir.Program) -> set[str]:
    """Every source column a group may read: its entity's keys, the event time, its plain
    columns and the names its expressions use."""
    entity = program.entities.get(group.entity.target or "") if group.entity else None
    used = {k.name for k in entity.keys} if entity else set()
    for src in group.sources:
        source = program.sources.get(src.target or "")
        if source is not None and source.event_time is not None:
            used.add(source.event_time.name)
    for f in group.features:
        used.add(f.name)
        for e in (f.expr,) if f.expr is not None else ():
            used.update(n.target.rpartition(".")[2] for n in walk(e)
                        if n.op == "ref" and n.target and n.target.startswith("column:"))
    return used


def stored_groups(program: ir.Program, modes: tuple[str, ...]) -> list[str]:
    """Keys of the feature groups of these modes that a job computes, sorted (deterministic output);
    a `registered` group is its source's table as it stands: no job computes it."""
    return sorted(k for k, g in program.feature_groups.items() if g.mode in modes and not g.registered)


# ------------------------------------------------------------------ where data is
def environment(program: ir.Program, env: str) -> ir.Environment:
    """The env as the compiler resolved it (`mlc.compiler.bindings`), with the locations this
    deployment writes on its test branch (`Layout.environment`)."""
    if env not in program.environments:
        raise PlanError(f"no env `{env}` in this program")
    return once(program, ("environment", env), lambda: Layout(program).environment(env))


_FIELDS = {  # what the jobs read of a location, by its kind
    "files": ("path", "format"),
    "kafka": ("topic", "format", "group", "bootstrap", "security_protocol", "credentials"),
    "hive": ("table", "metastore", "credentials"),
    "s3": ("bucket", "path", "format", "endpoint", "region", "credentials"),
}


def location(program: ir.Program, env: str, key: str, role: str, loc: ir.Loc | None = None) -> dict:
    """Where source `key` (role "source") or the offline store of group `key` (role "offline")
    is in `env`, as plain data for a job's SPEC: {"kind": files|kafka|hive|s3, ...}; a
    credential is {"secret": NAME, "env": VARIABLE}."""
    resolved = environment(program, env)
    found = (resolved.sources if role == "source" else resolved.offline).get(key)
    if found is None:
        raise PlanError(f"`{key}` has no location in env `{env}`", loc)
    if found.kind not in _FIELDS:
        raise PlanError(f"connector `{found.kind}` of env `{env}` is not known to the Spark and Flink targets", loc)
    return {"kind": found.kind, **{name: _plain(getattr(found, name)) for name in _FIELDS[found.kind]}}


def _plain(value):
    return {"secret": value.name, "env": value.env} if isinstance(value, ir.Secret) else value
