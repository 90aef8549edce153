"""The syntax tree of a .flow file: what was written, with a span on every node.

Plain slotted dataclasses: cheap to build for 10^5 declarations, picklable for
the parse cache. The compiler lowers this tree to the typed IR; the formatter
and the language server read it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from mlc.diagnostics import Span


@dataclass(slots=True)
class Name:
    value: str
    span: Span


# ---------------------------------------------------------------- values and expressions


@dataclass(slots=True)
class Literal:
    """kind: string | int | float | bool | duration | size | percent.

    `value` is normalised: durations in milliseconds, sizes in bytes,
    percentages as the written number (99.9% -> 99.9). `text` is the source spelling.
    """

    kind: str
    value: object
    text: str
    span: Span


@dataclass(slots=True)
class Range:
    low: Literal
    high: Literal
    span: Span


@dataclass(slots=True)
class Ref:
    """A dotted reference: `ranker`, `run.id`, `std.slo.fresh_within`."""

    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(slots=True)
class Star:
    span: Span


@dataclass(slots=True)
class Arg:
    """A call argument; `name` is None for a positional one."""

    name: Name | None
    value: "Expr"
    span: Span


@dataclass(slots=True)
class Call:
    func: Ref
    args: tuple[Arg, ...]
    span: Span
    depth: int = field(default=1, compare=False, repr=False)  # see MAX_DEPTH

    def kwargs(self) -> dict[str, "Expr"]:
        return {a.name.value: a.value for a in self.args if a.name is not None}

    def positional(self) -> list["Expr"]:
        return [a.value for a in self.args if a.name is None]


@dataclass(slots=True)
class ListExpr:
    items: tuple["Expr", ...]
    span: Span
    depth: int = field(default=1, compare=False, repr=False)


# How deeply expressions may nest (E0008). Every later stage walks expressions recursively
# (lowering, checks, the formatter, pickling, the IR's JSON, the generated Python and Jinja),
# so the tree is kept shallow where it is built: a row of one operator is one node
# (`BinOp.operands`), parentheses are no node at all, and only real nesting counts.
MAX_DEPTH = 40


@dataclass(slots=True)
class BinOp:
    """op: or and == != < <= > >= in + - * /

    `operands` are two or more: the operator applied left to right (`a - b - c` is
    `(a - b) - c`), so that a row of thousands of `and` or `+` is one node, not a tree
    thousands deep. Comparisons and `in` never chain: they have two.
    """

    op: str
    operands: list["Expr"]
    span: Span
    depth: int = field(default=1, compare=False, repr=False)

    @property
    def left(self) -> "Expr":
        return self.operands[0]

    @property
    def right(self) -> "Expr":
        """The last operand (of a binary operation: the right one)."""
        return self.operands[-1]


@dataclass(slots=True)
class UnaryOp:
    """op: not -"""

    op: str
    operand: "Expr"
    span: Span
    depth: int = field(default=1, compare=False, repr=False)


Expr = Union[Literal, Range, Ref, Star, Call, ListExpr, BinOp, UnaryOp]


# ---------------------------------------------------------------- shared pieces


@dataclass(slots=True)
class TypeRef:
    """`string`, `enum(a, b)`, `[float]`, `int?`."""

    name: str
    args: tuple[str, ...]
    nullable: bool
    element: "TypeRef | None"
    span: Span
    fields: tuple["Field", ...] = ()  # of a `struct(name: string, ...)`


@dataclass(slots=True)
class Field:
    """`name: type ["description"]`."""

    name: Name
    type: TypeRef
    span: Span
    description: Literal | None = None


@dataclass(slots=True)
class ParamField:
    name: Name
    type: TypeRef
    default: Expr | None
    span: Span


@dataclass(slots=True)
class Setting:
    """`replicas 2`, `memory 16Gi`: a name and a value inside `serve` or `resources`."""

    name: Name
    value: Expr
    span: Span


@dataclass(slots=True)
class Comparison:
    """A bound such as `<= 10m`."""

    op: str
    value: Expr
    span: Span


@dataclass(slots=True)
class Meta:
    """Metadata of a declaration or a step. `clauses` lists the items of its block in
    source order as (key, span) — what the formatter needs to keep order and comments."""

    doc: str | None = None
    owner: Literal | None = None
    tags: tuple[Literal, ...] = ()
    tag_values: tuple[tuple[Literal, Literal], ...] = ()  # `tags { key = "value" }`: (key, value)
    description: Literal | None = None
    clauses: tuple[tuple[str, Span], ...] = ()


@dataclass(slots=True)
class Decl:
    name: Name
    span: Span
    meta: Meta


# ---------------------------------------------------------------- declarations


@dataclass(slots=True)
class PackageDecl(Decl):
    kind = "package"


@dataclass(slots=True)
class ImportDecl(Decl):
    """`name` holds the dotted module; `members` the braced names, `alias` the `as` name."""

    kind = "import"
    module: Ref = None  # type: ignore[assignment]
    members: tuple[Name, ...] = ()
    alias: Name | None = None


@dataclass(slots=True)
class Binding:
    name: Name
    call: Call
    span: Span


@dataclass(slots=True)
class EnvDecl(Decl):
    kind = "env"
    bindings: tuple[Binding, ...] = ()
    feature_store: tuple[Setting, ...] | None = None
    feature_store_span: Span | None = None


@dataclass(slots=True)
class ConnectorDecl(Decl):
    kind = "connector"
    kinds: tuple[Name, ...] = ()
    env_params: tuple[ParamField, ...] = ()
    source_params: tuple[ParamField, ...] = ()


@dataclass(slots=True)
class SourceDecl(Decl):
    kind = "source"
    source_kind: str = "table"  # stream | table | push | request
    connector: Call | None = None  # None for push and request sources
    schema: tuple[Field, ...] = ()
    event_time: Name | None = None
    created_time: Name | None = None
    batch: Name | None = None  # of a push source
    watermark: Literal | None = None
    arrives_every: Literal | None = None
    arrives_delay: Literal | None = None


@dataclass(slots=True)
class EntityDecl(Decl):
    kind = "entity"
    keys: tuple[Field, ...] = ()
    composite: bool = False


@dataclass(slots=True)
class Window:
    size: Literal
    every: Literal | None
    span: Span


@dataclass(slots=True)
class Column:
    """A plain column taken as it is: `conv_rate: float ["description"]`."""

    name: Name
    type: TypeRef
    span: Span
    description: Literal | None = None


@dataclass(slots=True)
class Derived:
    """`name [: T] ["description"] = expr [over W [every S]]`: an aggregation or a request-time expression."""

    name: Name
    type: TypeRef | None
    expr: Expr
    window: Window | None
    span: Span
    description: Literal | None = None


@dataclass(slots=True)
class Online:
    """`online [ttl D]`, or `online true|false` (`enabled`)."""

    ttl: Literal | None
    span: Span
    enabled: bool = True


@dataclass(slots=True)
class Schedule:
    """kind: cron | interval | preset. `value` is the cron text, the interval literal or the preset name."""

    kind: str
    value: Literal | Name
    span: Span


@dataclass(slots=True)
class FeaturesDecl(Decl):
    kind = "features"
    entity: Name | None = None  # None: no `on ENTITY` (a request-time group; a stored one is E0217)
    sources: tuple[Ref, ...] = ()
    columns: tuple[Column, ...] = ()
    derived: tuple[Derived, ...] = ()
    request: tuple[Field, ...] = ()
    request_sources: tuple[Name, ...] = ()
    checkpoint: Literal | None = None
    online: Online | None = None
    ttl: Literal | None = None
    registered: Span | None = None
    validate: Span | None = None  # `validate`: the feature store checks rows against the schema
    version: Literal | None = None  # `version "latest"`: the feature store's definition version
    on_demand: tuple[Setting, ...] | None = None
    on_demand_span: Span | None = None
    label_view: tuple[Setting, ...] | None = None
    label_view_span: Span | None = None
    offline: Call | None = None
    schedule: Schedule | None = None
    timeout: Literal | None = None
    freshness: Comparison | None = None


@dataclass(slots=True)
class FeatureRef:
    """`group.feature` or `group.*` (feature is None)."""

    group: Name
    feature: Name | None
    span: Span


@dataclass(slots=True)
class Fallback:
    model: Name
    when: Expr | None
    span: Span


@dataclass(slots=True)
class ModelDecl(Decl):
    kind = "model"
    determinism: Name | None = None
    framework: Name | None = None
    inputs: tuple[FeatureRef, ...] = ()
    output: Field | None = None
    confidence: Range | None = None
    fallback: Fallback | None = None
    serve: tuple[Setting, ...] | None = None
    serve_span: Span | None = None
    service: Name | None = None
    labels: FeatureRef | None = None


@dataclass(slots=True)
class ServiceLogging:
    destination: Call
    sample: Literal | None
    span: Span


@dataclass(slots=True)
class ServiceDecl(Decl):
    """`service NAME [for MODEL] { features [...], logging files("...") [sample 10%] }`."""

    kind = "service"
    model: Name | None = None
    features: tuple[FeatureRef, ...] = ()
    logging: ServiceLogging | None = None


@dataclass(slots=True)
class SignalDecl(Decl):
    """`uri`: the Airflow asset address the signal is bound to (`uri "s3://bucket/raw/"`), so
    that DAGs not written in .flow can emit it or wait for it."""

    kind = "signal"
    external: bool = False
    fields: tuple[Field, ...] = ()
    uri: Literal | None = None


@dataclass(slots=True)
class ArtifactDecl(Decl):
    """`artifact NAME: KIND CALL { schema { ... }, partition COLUMN }`: data that steps write
    (`writes NAME`) and read (`reads NAME`). `artifact_kind`: dataset | file | metrics (as
    written; checked later); `location`: the logical connector and its arguments, bound per env
    as a source's are."""

    kind = "artifact"
    artifact_kind: Name = None  # type: ignore[assignment]
    location: Call = None  # type: ignore[assignment]
    schema: tuple[Field, ...] = ()
    partition: Name | None = None


@dataclass(slots=True)
class OnFinish:
    flow: Name
    span: Span


@dataclass(slots=True)
class OnSignal:
    """`signal(S, field = value, rows >= 1000)`: `match` the `field = value` pairs, `conditions`
    the comparisons, in the order written."""

    signal: Name
    match: tuple[Arg, ...]
    span: Span
    conditions: tuple[Expr, ...] = ()


@dataclass(slots=True)
class TriggerAll:
    items: tuple["Trigger", ...]
    span: Span


@dataclass(slots=True)
class TriggerAny:
    items: tuple["Trigger", ...]
    span: Span


Trigger = Union[OnFinish, OnSignal, TriggerAll, TriggerAny]


@dataclass(slots=True)
class Param:
    name: Name
    type: TypeRef
    default: Expr | None
    span: Span


@dataclass(slots=True)
class Emit:
    signal: Name
    payload: tuple[Arg, ...]
    span: Span


@dataclass(slots=True)
class Foreach:
    var: Name
    items: Expr
    span: Span


@dataclass(slots=True)
class Step:
    name: Name
    action: Call
    span: Span
    meta: Meta
    retries: Literal | None = None
    retry_delay: Literal | None = None
    timeout: Literal | None = None
    resources: tuple[Setting, ...] = ()
    env: tuple[Arg, ...] = ()
    determinism: Name | None = None
    produces: Name | None = None
    uses: tuple[Name, ...] = ()
    reads: tuple[Name, ...] = ()
    writes: tuple[Name, ...] = ()
    gate: Expr | None = None
    emits: tuple[Emit, ...] = ()
    foreach: Foreach | None = None
    when: Expr | None = None
    # issue 19's run policy of a step (see RuntimeDecl, Runs): `returns { f: T }`, `retries {
    # error 1, platform 10, timeout 0, backoff exponential(1m, max = 30m) }`, `on_failure
    # continue`, `runtime NAME`, `parallel N`
    returns: tuple[Field, ...] | None = None
    retry_policy: tuple[Setting, ...] | None = None
    on_failure: Name | None = None
    runtime: Name | None = None
    parallel: Literal | None = None


@dataclass(slots=True)
class Runs:
    """A flow's `runs sequential | last_only | first_only | parallel N`."""

    mode: Name
    limit: Literal | None
    span: Span


@dataclass(slots=True)
class Edge:
    """`a >> [b, c] >> d`: each hop is a group of step names."""

    hops: tuple[tuple[Name, ...], ...]
    span: Span


@dataclass(slots=True)
class StepDefaults:
    """`defaults { retries 2, retry_delay 5m, timeout 1h, owner "team" }`: what every step of the
    flow gets unless it says otherwise. `clauses` as in `Meta`: (key, span) in source order."""

    span: Span
    retries: Literal | None = None
    retry_delay: Literal | None = None
    timeout: Literal | None = None
    owner: Literal | None = None
    clauses: tuple[tuple[str, Span], ...] = ()


@dataclass(slots=True)
class FlowDecl(Decl):
    """`start`/`end`: the flow's first and last dates (string literals, UTC; checked later)."""

    kind = "flow"
    schedule: Schedule | None = None
    trigger: Trigger | None = None
    params: tuple[Param, ...] = ()
    catchup: Literal | None = None
    steps: tuple[Step, ...] = ()
    edges: tuple[Edge, ...] = ()
    start: Literal | None = None
    end: Literal | None = None
    defaults: StepDefaults | None = None
    runs: Runs | None = None
    alert: tuple[Setting, ...] | None = None   # `alert { failure oncall, late oncall }`
    schedule_from: Literal | None = None   # `schedule daily from "2024-01-01"`: the first date
    match_keys: tuple[Name, ...] = ()      # `trigger ... match ds`: the join keys of its signals


@dataclass(slots=True)
class RuntimeDecl(Decl):
    """`runtime NAME { image "...", python "3.11", pypi ["pkg==1.0"] }`: where a step that names
    it runs (a pod image in a cluster env, a cached virtualenv locally); settings as written."""

    kind = "runtime"
    settings: tuple[Setting, ...] = ()


@dataclass(slots=True)
class Objective:
    """kind: freshness | latency | availability | quality | completion | fallback_rate | drift.

    `metric` is the percentile of a latency objective (`p99`) or the metric of a
    quality one; `window` the `over` of availability; `op` is `by` for completion.
    """

    kind: str
    target: Ref
    metric: Name | None
    op: str
    value: Expr
    window: Expr | None
    span: Span


@dataclass(slots=True)
class SloDecl(Decl):
    kind = "slo"
    params: tuple[Name, ...] = ()
    objectives: tuple[Objective, ...] = ()
    template: Ref | None = None
    args: tuple[Expr, ...] = ()


Declaration = Union[
    PackageDecl, ImportDecl, EnvDecl, ConnectorDecl, SourceDecl, EntityDecl,
    FeaturesDecl, ModelDecl, ServiceDecl, SignalDecl, ArtifactDecl, FlowDecl, SloDecl, RuntimeDecl,
]


@dataclass(slots=True)
class Comment:
    text: str
    span: Span

    @property
    def is_doc(self) -> bool:
        return self.text.startswith("##")


@dataclass(slots=True)
class Module:
    """One parsed file."""

    path: str
    decls: list[Declaration] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    # (kind, name) of the declarations that failed to parse and were dropped, as far as their
    # names can be read: other files' uses of them are not reported as unknown names
    unread: list[tuple[str, str]] = field(default_factory=list)

    @property
    def package(self) -> str | None:
        for d in self.decls:
            if isinstance(d, PackageDecl):
                return d.name.value
        return None
