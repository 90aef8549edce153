"""The typed IR: one frozen, versioned, JSON-serialisable model of the whole program.

The contract between the compiler and every backend. Targets read only this,
never the AST or the text. Every node carries the source location it came
from, so later stages can point at the line that caused a finding.

Units are fixed: durations in milliseconds (`*_ms`), sizes in bytes.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field as PField

from mlc.diagnostics import Span

FORMAT_VERSION = "0.1"


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def __reduce__(self):
        # Pickled as (class, field values): half the size of pydantic's default state and
        # faster to load, which is most of a warm `mlc check` on a large project.
        cls = type(self)
        spec = _FIELD_NAMES.get(cls)
        if spec is None:
            names = tuple(cls.model_fields)
            get = itemgetter(*names)  # the values in field order, in C: a fifth of the pickling
            spec = _FIELD_NAMES[cls] = (names, get if len(names) > 1 else lambda state: (get(state),))
        return (_restore, (cls, spec[0], spec[1](self.__dict__)))


# Where a node was written: (file, line, col, end_line, end_col), 1-based, end column
# exclusive. The diagnostics' Span itself, so that a check can point at it directly;
# in JSON it is an array.
Loc = Span


class Expr(Node):
    """An expression or a value, as a small tagged tree.

    op: lit (kind, value, text) | ref (name: dotted) | call (name, args) | arg (name, args[0])
        | list (args) | range (args[0], args[1]) | star
        | binop (name: operator, args: two or more, the operator applied left to right:
          `a - b - c` is one node, ((a - b) - c); comparisons and `in` have two)
        | unop (name: `not` or `-`, args[0]) | secret (value: the secret's name)

    On a `ref`, `target` and `type` say what the name means and its type (an
    `mlc.compiler.infer` type name), set once by `mlc.compiler.references` after assembly;
    None on other nodes, and on a ref whose name means nothing there (a check reports it).
    target: `column:<source key>.<col>` (a column of the group's source) |
        `feature:<group key>.<feature>` (another group's feature, or in an aggregating group
        an earlier feature of its own) | `request:<group or request-source key>.<field>` |
        `enum:<member>` | `param:<name>` | `run:<field>` (`run.id` -> `run:id`) |
        `foreach:<var>` | `trigger:<field>` | `metric:<name>` (a step's metric, in a gate or
        an emits payload) | `model:<model key>.<name>` (`confidence`, `unavailable` or the
        output, in a fallback's `when`)
    """

    op: Literal["lit", "ref", "call", "arg", "list", "range", "star", "binop", "unop", "secret"]
    name: str | None = None
    kind: str | None = None
    value: Any = None
    text: str | None = None
    args: tuple["Expr", ...] = ()
    loc: Loc | None = None
    target: str | None = None
    type: str | None = None


class Ref(Node):
    """A reference as written (`name`) and, for declarations, the key of the one it means
    (`target`, a qualified name; None where the name did not resolve)."""

    name: str
    target: str | None = None
    loc: Loc | None = None


class TypeSpec(Node):
    """A declared type. `name`: one of `mlc.compiler.infer.TYPE_NAMES` (string, bool, int,
    int32, int64, float, float32, float64, bytes, date, timestamp, duration, enum, map, json,
    struct, list); `int` is int64 and `float` float64 (the sized names say the width a store
    keeps). `args`: the members of an enum; `element`: the element type of a list;
    `fields`: the named, typed members of a `struct(name: string, age: int)`; a `map` maps
    strings to strings (Feast's Map), `json` is JSON text."""

    name: str
    args: tuple[str, ...] = ()
    nullable: bool = False
    element: "TypeSpec | None" = None
    fields: tuple["Field", ...] = ()
    loc: Loc | None = None


class Field(Node):
    """A named, typed field; `description` is the text written after its type
    (`avg_daily_trips: int64 "Average daily trips"`)."""

    name: str
    type: TypeSpec
    description: str | None = None
    loc: Loc | None = None


class ParamSpec(Node):
    name: str
    type: TypeSpec
    default: Expr | None = None
    loc: Loc | None = None


class Decl(Node):
    """What every declaration has: its name, package, metadata and location.

    `tags`: the list form (`tags ["a", "b"]`); `tag_values`: the key/value form
    (`tags { team = "x", "feast.io/role" = "label" }`), keys sorted. A declaration may
    have either (both forms in one block: E0110)."""

    name: str
    package: str | None = None
    doc: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    tag_values: dict[str, str] = PField(default_factory=dict)
    description: str | None = None
    loc: Loc | None = None


class ConnectorUse(Node):
    """`kafka(topic = "x", format = json)`: a connector and its arguments as written."""

    connector: Ref
    args: dict[str, Expr] = PField(default_factory=dict)
    positional: tuple[Expr, ...] = ()
    arg_locs: dict[str, Loc] = PField(default_factory=dict)
    loc: Loc | None = None


class Import(Decl):
    module: str
    members: tuple[str, ...] = ()
    alias: str | None = None


class FeatureStoreSpec(Node):
    """An env's `feature_store { online sqlite("data/online.db"), registry "data/registry.db" }`
    as written; `ir.Environment.feature_store` holds it resolved (defaults filled in).
    `online`: the online store kind and its argument (a path for sqlite, a connection string
    for redis); `registry`: the registry's path."""

    online_kind: str | None = None
    online_path: str | None = None
    registry: str | None = None
    setting_locs: dict[str, Loc] = PField(default_factory=dict)
    loc: Loc | None = None


class Env(Decl):
    bindings: dict[str, ConnectorUse] = PField(default_factory=dict)
    feature_store: FeatureStoreSpec | None = None


class Connector(Decl):
    kinds: tuple[str, ...] = ()
    env_params: tuple[ParamSpec, ...] = ()
    source_params: tuple[ParamSpec, ...] = ()


class Source(Decl):
    """kind: stream | table (read through `connector`) | push (`source s: push { batch b }`:
    rows are pushed by a caller, and land in the batch source `batch`, whose schema,
    event_time and created_time it shares; connector None) | request (`source r: request
    { schema { ... } }`: fields a caller sends with each request, shared by the request-time
    groups that name it; connector None).

    `created_time`: the column that orders two rows of one key and event time (Feast's
    `created_timestamp_column`), None when not said."""

    kind: Literal["stream", "table", "push", "request"]
    connector: ConnectorUse | None = None
    schema_: tuple[Field, ...] = PField(default=(), alias="schema")
    event_time: Ref | None = None
    created_time: Ref | None = None
    batch: Ref | None = None
    watermark_ms: int | None = None
    arrives_every_ms: int | None = None
    arrives_delay_ms: int | None = None
    watermark_loc: Loc | None = None  # the `watermark` clause, which freshness proofs cite
    arrives_loc: Loc | None = None  # the `arrives` clause

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class Entity(Decl):
    keys: tuple[Field, ...] = ()


class Feature(Node):
    """One feature of a group: a plain column, an aggregation over a window, or an expression.

    `agg` names the aggregation (count, sum, avg, min, max, last, distinct_count) and
    `expr` its argument (None for `count(*)`); an expression feature has `expr` only.
    """

    name: str
    kind: Literal["column", "aggregation", "expression"]
    type: TypeSpec | None = None
    agg: str | None = None
    expr: Expr | None = None
    window_ms: int | None = None
    every_ms: int | None = None
    description: str | None = None
    loc: Loc | None = None


class Schedule(Node):
    """kind: cron (value: the expression) | interval (every_ms) | preset (value: daily, hourly, ...).

    What the schedule means, read once with croniter when it is lowered
    (`mlc.compiler.schedules.timing`); all None when it cannot run (the checks say why):
    cron: the five-field expression (`0 0 * * *` for `daily`); airflow: what a DAG's
    `schedule=` takes (`@daily`, the cron text); daily_start_ms: the time of day (ms after
    midnight UTC) every run starts at, if fixed; first_run_ms: the time of day of the first
    run on a day it runs; longest_gap_ms: the longest time between two runs."""

    kind: Literal["cron", "interval", "preset"]
    value: str | None = None
    every_ms: int | None = None
    cron: str | None = None
    airflow: str | None = None
    daily_start_ms: int | None = None
    first_run_ms: int | None = None
    longest_gap_ms: int | None = None
    loc: Loc | None = None


class Bound(Node):
    op: str
    value_ms: int
    loc: Loc | None = None


class OnDemand(Node):
    """A request-time group's `on_demand { mode python, write_to_online true, inputs [g, r] }`.
    `mode`: how the feature store runs its expressions (Feast's on-demand `mode`);
    `write_to_online`: computed when written and stored, not at each request;
    `inputs`: the groups and request sources it reads, said explicitly (they must cover
    what its expressions read); () when not said (then read off the expressions)."""

    mode: Literal["python", "pandas"] = "pandas"
    write_to_online: bool = False
    inputs: tuple[Ref, ...] = ()
    loc: Loc | None = None


class LabelSpec(Node):
    """`label_view { labeler COLUMN, conflict last_write_wins }` in a group: the group holds
    labels (Feast's LabelView), not features. `labeler`: the column naming who labelled a row;
    `conflict`: how two labels of one key are resolved."""

    labeler: Ref | None = None
    conflict: Literal["last_write_wins", "labeler_priority", "majority_vote"] = "last_write_wins"
    loc: Loc | None = None


class FeatureGroup(Decl):
    """`mode`: stream (a stream source), batch (table or push sources), request (no `from`).

    `registered`: the group is its source's table as it stands (`registered`, or a `from` a
    push source): only plain columns, no compute job, no DAG; the feature store reads the
    source's location. `ttl_ms`: how long a value stays valid (`ttl 1d`, or `online ttl 1d`),
    None: not said; `online_ttl_ms`: the ttl written in `online ttl`. `online`: `online`
    written (`online false`: not online, as when absent).
    `request`: every request field the group reads: its own `request { }` fields, then
    those of the named request sources (`request vals_to_add`), which `request_sources`
    lists. `on_demand`, `label`: see OnDemand, LabelSpec. `entity`: None for a request-time
    group written without `on ENTITY` (a Feast on-demand view needs none; the checks refuse it
    for a stored group, E0217)."""

    entity: Ref | None
    mode: Literal["stream", "batch", "request"]
    sources: tuple[Ref, ...] = ()
    features: tuple[Feature, ...] = ()
    request: tuple[Field, ...] = ()
    request_sources: tuple[Ref, ...] = ()
    checkpoint_ms: int | None = None
    online: bool = False
    online_ttl_ms: int | None = None
    ttl_ms: int | None = None
    ttl_loc: Loc | None = None
    registered: bool = False
    # `validation` (`validate`): the feature store checks the rows it loads against the schema
    # (Feast `enable_validation`); `version`: which definition version is active (Feast
    # `version`, "latest" when not said)
    validation: bool = False
    version: str | None = None
    on_demand: OnDemand | None = None
    label: LabelSpec | None = None
    offline: ConnectorUse | None = None
    schedule: Schedule | None = None
    timeout_ms: int | None = None
    freshness: Bound | None = None
    checkpoint_loc: Loc | None = None  # the `checkpoint` clause, which freshness proofs cite
    timeout_loc: Loc | None = None  # the `timeout` clause


class FeatureRef(Node):
    """`group.feature`, or `group.*` when feature is None."""

    group: str
    feature: str | None = None
    target: str | None = None
    loc: Loc | None = None


class Fallback(Node):
    model: Ref
    when: Expr | None = None
    loc: Loc | None = None


class Serve(Node):
    replicas: int | None = None
    timeout_ms: int | None = None
    timeout_loc: Loc | None = None  # the `timeout` setting, which latency proofs cite
    settings: dict[str, Expr] = PField(default_factory=dict)
    loc: Loc | None = None


class ServiceLogging(Node):
    """`logging files("logs/x") [sample 10%]`: where a service's served features are logged
    (an offline-store connector call, located per env like `offline`) and the fraction logged."""

    destination: ConnectorUse
    sample_rate: float = 1.0
    loc: Loc | None = None


class FeatureService(Decl):
    """`service NAME [for MODEL] { features [g.f, h.*], logging files("...") }`: the features
    a model is served and trained with (Feast's FeatureService). `model`: the model it serves
    (several services may serve one model: versions). `implicit`: made by the compiler for a
    model that no service serves, named after the model, holding exactly its inputs."""

    features: tuple[FeatureRef, ...] = ()
    model: Ref | None = None
    logging: ServiceLogging | None = None
    implicit: bool = False


class Model(Decl):
    """`service`: the feature service the model is served with, always set after assembly:
    the one its `service NAME` names, else the one service `for` it, else its implicit
    service (key: the model's key, `FeatureService.implicit`). `labels`: the label feature
    its training rows take (`labels g.f`, a group with `label_view`)."""

    deterministic: bool
    framework: str | None = None
    inputs: tuple[FeatureRef, ...] = ()
    service: Ref | None = None
    labels: FeatureRef | None = None
    output: Field | None = None
    confidence: tuple[float, float] | None = None
    fallback: Fallback | None = None
    serve: Serve | None = None


class Signal(Decl):
    """`uri`: the Airflow asset address the signal is bound to, as written (None: the
    compiler's own `mlc://signal/KEY`); `uri_loc` where it was written."""

    external: bool = False
    fields: tuple[Field, ...] = ()
    uri: str | None = None
    uri_loc: Loc | None = None


class Trigger(Node):
    """kind: on_finish (target: a flow) | signal (target, match, conditions) | all | any (items).
    `match`: the `field = value` pairs an event must carry; `conditions`: the comparisons it
    must pass (`signal(plays_landed, rows >= 1000)`), refs to its fields as `trigger:FIELD`."""

    kind: Literal["on_finish", "signal", "all", "any"]
    target: Ref | None = None
    match: dict[str, Expr] = PField(default_factory=dict)
    match_locs: dict[str, Loc] = PField(default_factory=dict)
    conditions: tuple[Expr, ...] = ()
    items: tuple["Trigger", ...] = ()
    loc: Loc | None = None

    def leaves(self):
        """The `on_finish` and `signal` triggers inside `and`/`or`."""
        if self.kind in ("all", "any"):
            for i in self.items:
                yield from i.leaves()
        else:
            yield self


class Emit(Node):
    signal: Ref
    payload: dict[str, Expr] = PField(default_factory=dict)
    payload_locs: dict[str, Loc] = PField(default_factory=dict)
    loc: Loc | None = None


class Foreach(Node):
    var: str
    items: Expr
    loc: Loc | None = None


class RetryPolicy(Node):
    """`retries { error 1, platform 10, timeout 0, backoff exponential(1m, max = 30m) }`: attempts
    after a failure, by what failed. `error`: the step's own code raised; `platform`: the
    infrastructure failed under it (OSError, ConnectionError, a lost worker or engine);
    `timeout`: an attempt ran past the step's `timeout`. `backoff`: fixed (every wait
    `delay_ms`) or exponential (`delay_ms`, doubling, at most `max_delay_ms`). `attempts`: the
    most retries any class may take (Airflow's one `retries` count; the runtime stops a class
    at its own)."""

    error: int = 0
    platform: int = 0
    timeout: int = 0
    backoff: Literal["fixed", "exponential"] = "fixed"
    delay_ms: int | None = None
    max_delay_ms: int | None = None
    loc: Loc | None = None

    @property
    def attempts(self) -> int:
        return max(self.error, self.platform, self.timeout)


class Step(Node):
    """One task of a flow. `kind` is the action (python, spark, flink, bash, materialize,
    deploy); `args` its arguments as written. `setting_locs`: where `retries`, `retry_delay`
    and `timeout` were written (their values). `retries`, `retry_delay_ms`, `timeout_ms` and
    `owner` are the effective values: the step's own, else the flow's `defaults`; `inherited`
    names those that came from the defaults (their `setting_locs` point into the defaults)."""

    name: str
    kind: str
    args: tuple[Expr, ...] = ()
    retries: int | None = None
    retry_delay_ms: int | None = None
    timeout_ms: int | None = None
    setting_locs: dict[str, Loc] = PField(default_factory=dict)
    resources: dict[str, Expr] = PField(default_factory=dict)
    env: dict[str, Expr] = PField(default_factory=dict)
    deterministic: bool | None = None
    produces: Ref | None = None
    uses: tuple[Ref, ...] = ()
    reads: tuple[Ref, ...] = ()
    writes: tuple[Ref, ...] = ()
    gate: Expr | None = None
    emits: tuple[Emit, ...] = ()
    foreach: Foreach | None = None
    when: Expr | None = None
    doc: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    inherited: tuple[str, ...] = ()
    loc: Loc | None = None
    # issue 19's run policy. `returns`: the typed values the step publishes (later steps read
    # `step.field`; one value per instance of a foreach step or a subflow, read as a list);
    # `retry_policy`: retries by error class (then `retries` is its `attempts`); `on_failure`:
    # `continue` when the step's failure must not stop the steps after it; `runtime`: the
    # runtime it runs in; `parallel`: at most this many foreach instances at once; `subflow`:
    # the flow a `subflow(FLOW, k = v)` step runs (its named args are `args`).
    returns: tuple[Field, ...] = ()
    retry_policy: RetryPolicy | None = None
    on_failure: Literal["fail", "continue"] = "fail"
    runtime: Ref | None = None
    parallel: int | None = None
    subflow: Ref | None = None


class StepDefaults(Node):
    """A flow's `defaults { }`: already applied to every step (see `Step.inherited`); kept
    for the checks, which report a bad value once, here, and for tools that show it."""

    retries: int | None = None
    retry_delay_ms: int | None = None
    timeout_ms: int | None = None
    owner: str | None = None
    setting_locs: dict[str, Loc] = PField(default_factory=dict)
    loc: Loc | None = None


class Param(Node):
    """`default`: a literal, or what the run binds it to: `run.date` (the run's logical date,
    target `run:date`) or a field of the triggering signal (`plays_landed.ds`, target
    `signal:<signal key>.<field>`), which a run started by hand must then pass."""

    name: str
    type: TypeSpec
    default: Expr | None = None
    loc: Loc | None = None


class Edge(Node):
    """`upstream >> downstream`, one pair per arrow (fan-out and fan-in expanded)."""

    upstream: Ref
    downstream: Ref


class Runs(Node):
    """`runs sequential | last_only | first_only | parallel N`: how runs of one flow overlap.
    sequential: one at a time, the others queue; parallel: at most `limit` at once; last_only:
    a newer run supersedes a queued or running older one; first_only: a run that finds another
    running skips itself."""

    mode: Literal["sequential", "last_only", "first_only", "parallel"]
    limit: int | None = None
    loc: Loc | None = None


class AlertRoute(Node):
    """`alert { failure oncall }`: on `event` (failure: a run failed; late: a `completion`
    objective was missed), notify the alert destination the env binds to the logical name `to`
    (`oncall = pagerduty(key = secret("pd"))` in each env)."""

    event: Literal["failure", "late"]
    to: str
    loc: Loc | None = None


class Flow(Decl):
    """`start`/`end`: the texts of the flow's first and last dates as written (UTC; see
    `mlc.compiler.dates`), `start_loc`/`end_loc` where (`schedule daily from "2024-01-01"`
    is a `start`). `match_keys`: `trigger ... match ds`: the payload fields every signal of
    the trigger must agree on for the events to start one run together."""

    schedule: Schedule | None = None
    trigger: Trigger | None = None
    params: tuple[Param, ...] = ()
    catchup: bool = False
    steps: tuple[Step, ...] = ()
    edges: tuple[Edge, ...] = ()
    start: str | None = None
    end: str | None = None
    start_loc: Loc | None = None
    end_loc: Loc | None = None
    defaults: StepDefaults | None = None
    runs: Runs | None = None
    alerts: tuple[AlertRoute, ...] = ()
    match_keys: tuple[str, ...] = ()
    match_loc: Loc | None = None


class Artifact(Decl):
    """`artifact training_set: dataset s3("datasets/training_set") { schema {...}, partition ds }`:
    data that steps write (`Step.writes`) and read (`Step.reads`), in one flow or across flows.
    `kind`: dataset | file | metrics; `location`: the connector use, located per env like a
    source (`Environment.artifacts`); `partition`: the schema column partitioning a dataset."""

    kind: Literal["dataset", "file", "metrics"]
    location: ConnectorUse
    schema_: tuple[Field, ...] = PField(default=(), alias="schema")
    partition: Ref | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)


class Runtime(Decl):
    """`runtime trainer { image "registry/recs/trainer:1.4", python "3.11", pypi ["torch==2.5"] }`:
    where the steps that name it run: the image's pod in a cluster env, a virtualenv of that
    python with those packages locally (built once, cached by its contents)."""

    image: str | None = None
    python: str | None = None
    pypi: tuple[str, ...] = ()


class Objective(Node):
    """kind: freshness | latency | availability | quality | completion.

    `metric` is a latency percentile (p99) or a quality metric; `window` the
    availability window (or the fallback rate's); for completion, `op` is `by` and `value` the
    time of day; for drift, `metric` is what drifts (`confidence`).
    For `freshness(flow.step)`, `target` is the flow and `step` the step's name.
    """

    kind: Literal["freshness", "latency", "availability", "quality", "completion", "fallback_rate", "drift"]
    target: Ref
    step: str | None = None
    metric: str | None = None
    op: str
    value: Expr
    window: Expr | None = None
    loc: Loc | None = None


class Slo(Decl):
    params: tuple[str, ...] = ()
    objectives: tuple[Objective, ...] = ()
    template: Ref | None = None
    args: tuple[Expr, ...] = ()


class Secret(Node):
    """A `secret("name")`: the generated code reads it from the environment variable `env`."""

    name: str
    env: str


class Binding(Node):
    """How an env reaches one logical connector: the connector and its settings (defaults filled in)."""

    connector: str
    settings: dict[str, Any] = PField(default_factory=dict)
    loc: Loc | None = None


class Location(Node):
    """Where a source or an offline store is in one env (`mlc.compiler.bindings`): the kind of
    the binding that serves it, and what that kind needs. files: path, format; kafka: topic,
    format, group, bootstrap, security_protocol, credentials; hive: table, metastore,
    credentials; s3: bucket, path, format, endpoint, region, credentials. A connector outside
    the standard library keeps its arguments in `settings`."""

    kind: str
    path: str | None = None
    format: str | None = None
    topic: str | None = None
    group: str | None = None
    bootstrap: str | None = None
    security_protocol: str | None = None
    table: str | None = None
    metastore: str | None = None
    bucket: str | None = None
    endpoint: str | None = None
    region: str | None = None
    credentials: Secret | None = None
    settings: dict[str, Any] = PField(default_factory=dict)


class FeatureStore(Node):
    """An env's feature store, resolved: what its `feature_store { }` says, defaults filled in
    (sqlite at `data/online_store.db`, registry `data/registry.db`, Feast's local template).
    `online_kind`: sqlite | redis | ...; `online_path`: the sqlite file or the connection
    string; `registry`: the registry file; `declared`: the env wrote `feature_store`."""

    online_kind: str = "sqlite"
    online_path: str | None = "data/online_store.db"
    registry: str = "data/registry.db"
    declared: bool = False


class Environment(Node):
    """One env resolved: its bindings, and the location of every source and offline store
    (by the qualified key of the source, or of the feature group)."""

    name: str
    bindings: dict[str, Binding] = PField(default_factory=dict)
    sources: dict[str, Location] = PField(default_factory=dict)
    offline: dict[str, Location] = PField(default_factory=dict)
    service_logs: dict[str, Location] = PField(default_factory=dict)
    artifacts: dict[str, Location] = PField(default_factory=dict)
    # the alert destinations (`oncall = pagerduty(key = secret("pd"))`: connectors of kind
    # alert), by logical name; not in `bindings`, which say where data is
    alerts: dict[str, Binding] = PField(default_factory=dict)
    feature_store: "FeatureStore | None" = None

    @property
    def local(self) -> bool:
        """Every binding is files: the env runs on one machine."""
        return all(b.connector == "files" for b in self.bindings.values())


class Program(Node):
    """The whole program. Declarations are keyed by qualified name (`package.name`), sorted."""

    format_version: str = FORMAT_VERSION
    files: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    # the `##` doc comment above a package's `package` line (the first file's that has one)
    package_docs: dict[str, str] = PField(default_factory=dict)
    imports: tuple[Import, ...] = ()
    envs: dict[str, Env] = PField(default_factory=dict)
    connectors: dict[str, Connector] = PField(default_factory=dict)
    sources: dict[str, Source] = PField(default_factory=dict)
    entities: dict[str, Entity] = PField(default_factory=dict)
    feature_groups: dict[str, FeatureGroup] = PField(default_factory=dict)
    models: dict[str, Model] = PField(default_factory=dict)
    feature_services: dict[str, FeatureService] = PField(default_factory=dict)
    signals: dict[str, Signal] = PField(default_factory=dict)
    artifacts: dict[str, Artifact] = PField(default_factory=dict)
    flows: dict[str, Flow] = PField(default_factory=dict)
    slos: dict[str, Slo] = PField(default_factory=dict)
    runtimes: dict[str, Runtime] = PField(default_factory=dict)
    # `mlc compile --branch test.alice`: the namespace of a test deployment, which every backend
    # reads (prefixed DAG ids, signal assets and artifact locations); None: production
    branch: str | None = None
    # by env name; filled in after the checks, for a program without errors (mlc.compiler.bindings)
    environments: dict[str, Environment] = PField(default_factory=dict)


_FIELD_NAMES: dict[type, tuple] = {}  # class -> (field names, their values of a __dict__)
# class -> the set of all its field names, which every node of the class shares as its
# `__pydantic_fields_set__`: nothing reads which fields were given (the IR is frozen, its JSON
# writes every field), and a set of its own was ~0.5 KiB a node, a fifth of loading one
_ALL_FIELDS: dict[type, set[str]] = {}


def _all_fields(cls: type) -> set[str]:
    fields = _ALL_FIELDS.get(cls)
    if fields is None:
        fields = _ALL_FIELDS[cls] = set(cls.model_fields)
    return fields


def _restore(cls: type, names: tuple[str, ...], values: tuple) -> BaseModel:
    obj = _new(cls)
    _set(obj, "__dict__", dict(zip(names, values)))
    _set(obj, "__pydantic_fields_set__", _ALL_FIELDS.get(cls) or _all_fields(cls))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_N = TypeVar("_N", bound=BaseModel)
_DEFAULTS: dict[type, tuple[tuple[str, Any, Any], ...]] = {}


def build(cls: type[_N], **values: Any) -> _N:
    """Constructs a node from trusted values without validation.

    `model_construct` costs ~35 µs a call (it resolves every default each time); the
    lowering creates several nodes per line of source, so this keeps the defaults per
    class and fills the instance directly, as `model_construct` does.
    """
    spec = _DEFAULTS.get(cls)
    if spec is None:
        spec = _DEFAULTS[cls] = tuple((n, f.default, f.default_factory) for n, f in cls.model_fields.items())
    # in field order, as validation would: JSON output must not depend on which fields were passed
    state = {}
    for name, default, factory in spec:
        if name in values:
            state[name] = values[name]
        else:
            state[name] = factory() if factory is not None else default
    obj = _new(cls)
    _set(obj, "__dict__", state)
    _set(obj, "__pydantic_fields_set__", _ALL_FIELDS.get(cls) or _all_fields(cls))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def replace(node: _N, **changed: Any) -> _N:
    """A copy of `node` with the `changed` fields, from trusted values without validation.

    `model_copy` also copies the set of the fields given at construction, which nothing here
    reads (the IR is frozen, and its JSON writes every field): the copy shares `node`'s. A copy
    of every step and expression that holds a reference is what resolving names makes of a
    program (`mlc.compiler.references`): ~1 KiB less each."""
    obj = _new(type(node))
    _set(obj, "__dict__", {**node.__dict__, **changed})
    _set(obj, "__pydantic_fields_set__", node.__pydantic_fields_set__)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_set = object.__setattr__
# `cls.__new__` is looked up through pydantic's metaclass: twice the cost of a whole restore
_new = object.__new__


def json_schema() -> dict:
    schema = Program.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"mlc IR {FORMAT_VERSION}"
    return schema
