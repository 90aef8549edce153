"""The shape of a `.flow.yaml` document, as pydantic models.

They validate the loaded YAML (before it is turned into the same AST the .flow
parser builds) and give `mlc schema --yaml` the JSON Schema that editors use to
check and complete YAML programs. Every key is a .flow clause; values that are
expressions, calls, types, triggers or schedules are strings in .flow syntax,
parsed afterwards with the language's own grammar.

The models say only what the document may look like; what the strings mean is
checked by the grammar (E0113) and by the compiler, as for .flow files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag,
                      WithJsonSchema, model_validator)
from pydantic_core import PydanticCustomError

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DOTTED_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h|d|w))+$"


class Words:
    """What a value must be, in words, for schema-violation messages."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _flow(what: str, example: str) -> Any:
    return Annotated[str, Field(min_length=1, description=f"{what} in .flow syntax, e.g. `{example}`"),
                     Words(f"{what} in .flow syntax (e.g. `{example}`)")]


Name = Annotated[str, Field(pattern=NAME_PATTERN, description="a name: letters, digits and `_`"),
                 Words("a name (letters, digits and `_`, not starting with a digit)")]
Dotted = Annotated[str, Field(pattern=DOTTED_PATTERN, description="a dotted name such as `std.connectors`"),
                   Words("a dotted name such as `netflix.recs`")]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, description="a duration: `500ms`, `30s`, `5m`, `2h`, `1d`, `1w`, `1h30m`"),
                     Words("a duration such as `30s`, `5m`, `2h` or `1d`")]
Text = Annotated[str, Words("text")]
TypeText = _flow("a type", "enum(view, click)")
FieldText = _flow("a type and an optional description", 'int64 "Average daily trips"')
CallText = _flow("a call", 'hive(table = "warehouse.plays")')
ExprText = _flow("an expression", "auc >= 0.80")
Trigger = _flow("a trigger", 'on_finish(a) and signal(b, region = "us")')
ScheduleText = _flow("a schedule", 'daily, every 6h or cron("0 1 * * *")')


def _scalar(v: Any) -> Any:
    if isinstance(v, (bool, int, float, str)):
        return v
    raise PydanticCustomError("flow_value", "expected a .flow value")


# An expression or value in .flow syntax; a YAML number or true/false is taken as that literal.
Value = Annotated[Any, BeforeValidator(_scalar),
                  WithJsonSchema({"type": ["string", "number", "boolean"],
                                  "description": "a .flow expression or value: a string in .flow "
                                                 "syntax (a .flow string keeps its double quotes), "
                                                 "a number or true/false"}),
                  Words("a .flow expression: text in .flow syntax, a number or true/false")]


def _text_or(model: type, text: Any) -> Any:
    """A value written either as one .flow-syntax string or as a mapping."""
    return Annotated[Union[Annotated[text, Tag("text")], Annotated[model, Tag("mapping")]],
                     Discriminator(lambda v: "text" if isinstance(v, str) else "mapping")]


def _one_or_list(item: Any) -> Any:
    """One item, or a list of them: `uses: ranker` or `uses: [ranker, baseline]`."""
    return Annotated[Union[Annotated[item, Tag("one")], Annotated[list[item], Tag("list")]],
                     Discriminator(lambda v: "one" if isinstance(v, str) else "list")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class _Meta(_Strict):
    doc: Text = Field(None, description="the doc comment (`##` in .flow)")
    owner: Text = Field(None, description="a team or a person")
    tags: Annotated[Union[Annotated[list[Text], Tag("list")], Annotated[dict[Text, Text], Tag("mapping")]],
                    Discriminator(lambda v: "mapping" if isinstance(v, dict) else "list")] = Field(
        None, description="free-form labels, or key/value tags (`{team: driver_performance}`)")
    description: Text = Field(None, description="a one-line description")


# ---------------------------------------------------------------- imports and envs
class ImportSpec(_Strict):
    module: Dotted = Field(description="the module: a package name or `std.connectors`, `std.slo`")
    members: list[Name] = Field(None, description="import these names only (`import m.{a, b}`)")
    as_: Name = Field(None, alias="as", description="use the module under this name")
    doc: Text = None


ImportItem = _text_or(ImportSpec, _flow("an import", "std.connectors.{kafka, hive}"))


class FeatureStoreSpec(_Strict):
    online: CallText = Field(None, description='the online store: `sqlite("data/online_store.db")`, `redis("host:6379")`')
    registry: Text = Field(None, description="the registry file, e.g. `data/registry.db`")


class EnvSpec(_Strict):
    doc: Text = None
    bindings: dict[Name, CallText] = Field(description="logical connector -> a standard connector call")
    feature_store: FeatureStoreSpec = Field(None, description="the env's online store and registry")


EnvItem = Annotated[
    Union[Annotated[EnvSpec, Tag("mapping")], Annotated[dict[Name, CallText], Tag("bindings")]],
    Discriminator(lambda v: "mapping" if isinstance(v, dict) and ("bindings" in v or "doc" in v
                                                                  or "feature_store" in v) else "bindings")]


class ParamSpec(_Strict):
    type: TypeText
    default: Value = None


ParamItem = _text_or(ParamSpec, _flow("a type and an optional default", "duration = 28d"))


class ConnectorSpec(_Meta):
    kinds: list[Name] = None
    env: dict[Name, ParamItem] = Field(None, description="arguments of an env binding")
    source: dict[Name, ParamItem] = Field(None, description="arguments of a source call")


# ---------------------------------------------------------------- sources, entities, features
class ArrivesSpec(_Strict):
    every: Duration
    delay: Duration = None


Fields = dict[Name, FieldText]


class SourceSpec(_Meta):
    kind: Literal["stream", "table", "push", "request"]
    connector: CallText = Field(None, description="what a stream or table source reads (push and request "
                                                  "sources have none)")
    schema_: Fields = Field(None, alias="schema", description="column -> type")
    batch: Name = Field(None, description="of a push source: the table source pushed rows land in")
    event_time: Name = None
    created_time: Name = Field(None, description="the column that orders two rows of one key and time")
    watermark: Duration = None
    arrives: ArrivesSpec = None


class EntitySpec(_Meta):
    key: Annotated[Fields, Field(min_length=1)] = Field(
        None, description="the key column, or several for a composite key")


class FeatureSpec(_Strict):
    type: TypeText = None
    expr: ExprText = None
    over: Duration = None
    every: Duration = None
    description: str = Field(None, description="what a derived feature means (`f = E \"text\"` in .flow)")

    @model_validator(mode="after")
    def _shape(self) -> "FeatureSpec":
        if self.expr is None:
            if self.type is None:
                raise ValueError("a feature needs `expr` (a derived feature) or `type` (a plain column)")
            if self.over is not None or self.every is not None:
                raise ValueError("`over` and `every` window an aggregation: they need `expr`")
        if self.every is not None and self.over is None:
            raise ValueError("`every` is the slide of a window: it needs `over`")
        return self


class OnlineSpec(_Strict):
    ttl: Duration = None


class OnDemandSpec(_Strict):
    mode: Literal["python", "pandas"] = None
    write_to_online: bool = None
    inputs: list[Name] = Field(None, description="the groups and request sources it reads")


class LabelViewSpec(_Strict):
    labeler: Name = Field(None, description="the column naming who labelled a row")
    conflict: Literal["last_write_wins", "labeler_priority", "majority_vote"] = None


class FeaturesSpec(_Meta):
    on: Name = Field(None, description="the entity (a request-time group may have none)")
    from_: _one_or_list(Dotted) = Field(
        None, alias="from", description="the source(s) the group reads")
    registered: bool = Field(None, description="the source's table as it stands: no job computes the group")
    validate_: bool = Field(None, alias="validate", description="the feature store checks loaded rows against the schema")
    version: str = Field(None, description="the feature store's active definition version (`latest`)")
    features: dict[Name, Annotated[Union[Annotated[FieldText, Tag("text")], Annotated[FeatureSpec, Tag("mapping")]],
                                   Discriminator(lambda v: "text" if isinstance(v, str) else "mapping")]] = Field(
        None, description="a plain column (`name: type`) or a derived feature (`{expr, over, every, type}`)")
    request: Annotated[Union[Annotated[Fields, Tag("fields")], Annotated[_one_or_list(Name), Tag("sources")]],
                       Discriminator(lambda v: "fields" if isinstance(v, dict) else "sources")] = Field(
        None, description="request fields (`{amount: float}`), or the request source(s) the group reads")
    checkpoint: Duration = Field(None, description="`checkpoint every D`")
    online: Annotated[Union[Annotated[bool, Tag("flag")], Annotated[OnlineSpec, Tag("mapping")]],
                      Discriminator(lambda v: "mapping" if isinstance(v, dict) else "flag")] = Field(
        None, description="`true`, `false`, or `{ttl: D}`")
    ttl: Duration = Field(None, description="how long a value stays valid")
    on_demand: OnDemandSpec = None
    label_view: LabelViewSpec = None
    offline: CallText = None
    schedule: ScheduleText = None
    timeout: Duration = None
    freshness: _flow("a bound", "<= 10m") = None


# ---------------------------------------------------------------- models and signals
class FallbackSpec(_Strict):
    model: Name
    when: ExprText = None


class ModelSpec(_Meta):
    deterministic: bool = Field(None, description="false for a probabilistic (ML) model")
    framework: Name = None
    inputs: list[_flow("a feature reference", "member_activity.*")] = None
    output: Annotated[Fields, Field(min_length=1, max_length=1)] = Field(None, description="`{name: type}`")
    confidence: _flow("a range", "0.0..1.0") = None
    fallback: _text_or(FallbackSpec, _flow("a fallback", "popular_titles when confidence < 0.6")) = None
    serve: dict[Name, Value] = Field(None, description="serving settings: replicas, timeout, cpu, memory, ...")
    service: Name = Field(None, description="the feature service that serves it")
    labels: _flow("a feature reference", "driver_quality_labels.is_reliable") = None


class ServiceSpec(_Meta):
    for_: Name = Field(None, alias="for", description="the model it serves")
    features: list[_flow("a feature reference", "driver_hourly_stats.conv_rate")] = None
    logging: _flow("a log destination and an optional sample", 'files("logs") sample 10%') = None


class SignalSpec(_Meta):
    external: bool = None
    uri: Text = Field(None, description="the Airflow asset address the signal is bound to, e.g. `s3://bucket/raw/`")
    fields: Fields = None


class ArtifactSpec(_Meta):
    """Data that steps write and read (`artifact NAME: KIND CALL { ... }`)."""

    kind: Literal["dataset", "file", "metrics"]
    location: CallText = Field(description='where it is, through a connector bound per env: `s3("datasets/x")`')
    schema_: Fields = Field(None, alias="schema", description="column -> type")
    partition: Name = Field(None, description="the column that partitions a dataset")


# ---------------------------------------------------------------- flows
class StepSpec(_Meta):
    run: CallText = Field(description='the action: `python("m:f")`, `spark("x.py")`, `deploy(model)`, ...')
    retries: Annotated[Union[Annotated[int, Tag("count")], Annotated[dict[Name, Value], Tag("classes")]],
                       Discriminator(lambda v: "classes" if isinstance(v, dict) else "count")] = Field(
        None, description="a count, or by class of failure: `{error: 1, platform: 10, backoff: exponential(1m)}`")
    retry_delay: Duration = None
    timeout: Duration = None
    resources: dict[Name, Value] = None
    env: dict[Name, Value] = Field(None, description="environment variables: name -> expression")
    deterministic: bool = None
    produces: Name = None
    uses: _one_or_list(Name) = None
    reads: _one_or_list(Name) = Field(None, description="the artifacts the step reads")
    writes: _one_or_list(Name) = Field(None, description="the artifacts the step writes")
    gate: ExprText = None
    emits: _one_or_list(_flow("a signal and its payload", "ranker_published(version = run.id)")) = None
    foreach: _flow("a loop", "region in regions") = None
    when: ExprText = None
    returns: Fields = Field(None, description="the typed values the step publishes: name -> type")
    on_failure: Name = Field(None, description="`continue`: the step's failure does not stop its siblings")
    runtime: Name = Field(None, description="the runtime the step runs in")
    parallel: int = Field(None, description="at most this many foreach instances at once")


StepItem = _text_or(StepSpec, CallText)


class DefaultsSpec(_Strict):
    """What every step of the flow gets unless it says otherwise."""

    retries: int = None
    retry_delay: Duration = None
    timeout: Duration = None
    owner: Text = None


class FlowSpec(_Meta):
    schedule: ScheduleText = None
    trigger: Trigger = None
    match: _one_or_list(Name) = Field(None, description="the payload fields the trigger's signals join on "
                                                        "(`trigger ... match ds`)")
    params: dict[Name, ParamItem] = None
    start: Text = Field(None, description='the first date, UTC: `"2026-01-01"` or `"2026-01-01T06:00:00Z"`')
    end: Text = Field(None, description="the last date, UTC, after `start`")
    catchup: bool = None
    defaults: DefaultsSpec = Field(None, description="retries, retry_delay, timeout and owner of every step "
                                                     "that does not give its own")
    runs: _flow("a run policy", "last_only") = None
    alert: dict[Name, Value] = Field(None, description="what calls whom: `{failure: oncall, late: oncall}`")
    steps: dict[Name, StepItem] = None
    edges: _one_or_list(_flow("a chain of steps", "a >> [b, c] >> d")) = None


class RuntimeSpec(_Meta):
    """Where steps that name it run: an image in a cluster env, a cached virtualenv locally."""

    image: Text = None
    python: Text = None
    pypi: list[Text] = None


# ---------------------------------------------------------------- SLOs
class SloSpec(_Meta):
    params: list[Name] = Field(None, description="a template's parameters")
    objectives: _one_or_list(_flow("an objective", "freshness(ranker) <= 3d")) = None
    use: _flow("a template use", "fresh_within(member_activity, 10m)") = Field(
        None, description="an SLO made from a template (`slo x = template(args)`)")

    @model_validator(mode="after")
    def _shape(self) -> "SloSpec":
        if self.use is not None and (self.objectives is not None or self.params is not None
                                     or self.owner is not None or self.tags is not None
                                     or self.description is not None):
            raise ValueError("an slo is either `use: template(args)` (with at most a `doc`) or "
                             "`objectives`, not both")
        return self


class Document(_Strict):
    """A .flow.yaml file: the declarations of one .flow file, grouped by kind."""

    model_config = ConfigDict(extra="forbid", strict=True, title="mlc .flow.yaml document")

    package: Dotted = None
    imports: list[ImportItem] = None
    connectors: dict[Name, ConnectorSpec] = None
    envs: dict[Name, EnvItem] = None
    sources: dict[Name, SourceSpec] = None
    entities: dict[Name, EntitySpec] = None
    features: dict[Name, FeaturesSpec] = None
    models: dict[Name, ModelSpec] = None
    services: dict[Name, ServiceSpec] = None
    signals: dict[Name, SignalSpec] = None
    artifacts: dict[Name, ArtifactSpec] = None
    flows: dict[Name, FlowSpec] = None
    slos: dict[Name, SloSpec] = None
    runtimes: dict[Name, RuntimeSpec] = None


SECTIONS = ("connectors", "envs", "sources", "entities", "features", "models", "services", "signals", "artifacts",
            "flows",
            "slos", "runtimes")


def json_schema() -> dict:
    schema = Document.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlc.dev/schema/flow.yaml.json"
    return schema
