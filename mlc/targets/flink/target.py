"""Lowers stream feature groups to PyFlink (Table API / SQL) jobs and their publishers.

For each group whose source is a stream:
- `flink/features/<group>.py`: the job. Source: in prod the Kafka topic of the env's
  binding (format, bootstrap servers, credentials from a `secret`), locally the topic's
  folder of JSON lines read as a bounded stream; event time and watermark from the source;
  hopping windows `over W every S`; checkpointing as declared. Sink: JSON lines under
  `<offline>/_mlc_stream/` (Flink here has no Parquet format jar).
- `flink/publish/<group>.py`: converts the committed JSON files to Parquet in the layout
  Feast's file offline store reads (the same as the Spark job's), and pushes the same rows
  to the online store through the Feast feature server's `/push` endpoint.
The SQL comes from `mlc.targets.sql`, the same plan as the Spark job's. The code of both is
one module shipped once per bundle (`templates/runtime/mlc_flink_runtime.py`, written where
the layout's `flink_runtime()` says); each file is its docstring, one literal `SPEC` and a
call into it. See docs/targets/flink.md.
"""

from __future__ import annotations

from pathlib import Path

from mlc.compiler import ir
from mlc.compiler.metrics import feature_metrics
from mlc.diagnostics import Diagnostic, error, warning
from mlc.targets import Artifact
from mlc.targets import sql as S
from mlc.targets.layout import Layout, source_line
from mlc.targets.templating import TargetError, jinja_environment, runtime_call

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME = TEMPLATES / "runtime" / "mlc_flink_runtime.py"
DEFAULT_CHECKPOINT_MS = 60_000
FORMATS = {"json", "csv", "avro"}


def _uri(loc: dict) -> str | None:
    if loc["kind"] == "files":
        return loc["path"]
    if loc["kind"] == "s3":
        return f"s3://{loc['bucket']}/{loc['path']}".rstrip("/")
    return None


def _placed(program: ir.Program, env: str, key: str) -> tuple[S.GroupPlan, dict, dict | None]:
    """The plan of stream group `key` and where its job reads and writes in `env`: everything of
    its spec that can fail (PlanError), which the validation asks without writing the rest."""
    plan = S.plan_group(program, key)
    group = program.feature_groups[key]
    source = program.sources[plan.source_key]
    src_loc = S.location(program, env, plan.source_key, "source", source.connector.loc)
    if src_loc["kind"] not in ("files", "kafka"):
        raise S.PlanError(f"stream source `{source.name}` is bound to {src_loc['kind']} in env `{env}`; the Flink "
                          "target reads streams from Kafka or from files", source.connector.loc)
    fmt = src_loc.get("format") or "json"
    if fmt not in FORMATS or (src_loc["kind"] == "files" and fmt == "avro"):
        raise S.PlanError(f"stream source `{source.name}`: format `{fmt}` cannot be read by the Flink target "
                          f"from {src_loc['kind']}", source.connector.loc)
    out_loc = S.location(program, env, key, "offline", group.offline.loc) if group.offline is not None else None
    if out_loc is not None and out_loc["kind"] not in ("files", "s3"):
        raise S.PlanError(f"the offline store of `{group.name}` must be files or s3 in env `{env}`", group.offline.loc)
    return plan, src_loc, out_loc


def group_spec(program: ir.Program, env: str, key: str) -> dict:
    plan, src_loc, out_loc = _placed(program, env, key)
    flink = S.DIALECTS["flink"]
    local = src_loc["kind"] == "files"
    return {
        "group": plan.group,
        "key": key,
        "env": env,
        "app_name": S.once(program, ("layout",), lambda: Layout(program)).job_name(key),
        "source": {
            "name": plan.source,
            "columns": [[n, t] for n, t in plan.columns.items()],
            "event_time": plan.event_time,
            "event_time_sql": flink.event_time_sql(plan),
            "watermark_sql": flink.watermark_sql(plan),
            "watermark_ms": plan.watermark_ms,
            "location": src_loc,
            "uri": _uri(src_loc),
        },
        "keys": list(plan.keys),
        "window_ms": plan.window_ms,
        "slide_ms": plan.slide_ms,
        "output": _uri(out_loc) if out_loc else None,
        "output_schema": [[n, t] for n, t in plan.output_schema()],
        "checkpoint_ms": plan.checkpoint_ms or DEFAULT_CHECKPOINT_MS,
        # Per-record watermarks where the input is files (deterministic late-data handling,
        # as in the tests); the default 200 ms period against Kafka.
        "watermark_interval_ms": 0 if local else 200,
        "parallelism": 1 if local else None,
        # With checkpointing on, Flink would otherwise restart forever on a bad record: fail
        # at once on files; against Kafka retry 3 times, 10 s apart, then fail with the message.
        "restart": ({"restart-strategy.type": "none"} if local else
                    {"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
                     "restart-strategy.fixed-delay.delay": "10 s"}),
        "sql": S.once(program, ("flink-sql", key), lambda: {
            "input": flink.input_sql(plan, "mlc_source"),
            "features": flink.features_sql(plan, "mlc_input"),
            "stand_in": ("CREATE TEMPORARY TABLE `mlc_source` WITH ('connector' = 'datagen') "
                         "LIKE `mlc_declared` (EXCLUDING OPTIONS)"),
        }),
    }


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    """What the Flink target cannot lower, as diagnostics: E1011 (a group the engines cannot
    compute, the same diagnostic as the Spark target's), E1013 (a source or store Flink cannot
    use in this env), W1014 (no `checkpoint every`)."""
    diags: list[Diagnostic] = []
    try:
        S.environment(program, env)
    except S.PlanError as e:
        return [error("E1013", e.message, e.loc)]
    for key in S.stored_groups(program, ("stream",)):
        group = program.feature_groups[key]
        try:
            plan = S.plan_group(program, key)
        except S.PlanError as e:
            diags.append(error("E1011", e.message, e.loc, help=e.help))
            continue
        clash = [c for c in S.FLINK_WINDOW_COLUMNS if c in plan.columns]
        if clash:
            source = program.sources[plan.source_key]
            diags.append(error(
                "E1011", f"stream group `{group.name}`: its source `{source.name}` has a column `{clash[0]}`, "
                         "a name Flink's window functions give a column of their own",
                next((f.loc for f in source.schema_ if f.name == clash[0]), None) or source.loc,
                help="rename the column in the source's schema (Flink reserves window_start, window_end "
                     "and window_time)"))
            continue
        try:
            # the errors writing the spec would raise, in its order, without writing it
            S.judge(program, _placed(program, env, key)[0])
        except S.PlanError as e:
            diags.append(error("E1013", e.message, e.loc, help=e.help))
            continue
        if group.checkpoint_ms is None:
            diags.append(warning("W1014", f"stream group `{group.name}` declares no `checkpoint every`; its Flink "
                                 f"job checkpoints every {DEFAULT_CHECKPOINT_MS // 1000}s", group.loc,
                                 help="add `checkpoint every DURATION`: results reach the stores when a "
                                      "checkpoint commits"))
    return diags


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    problems = [d for d in validate(program, env, layout) if d.is_error]
    if problems:
        raise TargetError(problems)
    jinja = jinja_environment("mlc.targets.flink")
    runtime = layout.flink_runtime()
    artifacts: list[Artifact] = []

    def job(path: str, template: str, entry: str, kind: str, source: str, references=(), **values) -> None:
        text = jinja.get_template(template).render(runtime=runtime, call=runtime_call(path, runtime, entry), **values)
        artifacts.append(Artifact(path, text, kind=kind, source=source, references=(runtime, *references)))

    for key in S.stored_groups(program, ("stream",)):
        spec = group_spec(program, env, key)
        where = source_line(program.feature_groups[key].loc)
        job(layout.flink_feature_job(key), "job.py.j2", "main", "flink-feature-job", key, spec=spec, loc=where)
        pub_spec = {**{k: spec[k] for k in ("group", "key", "env", "keys", "output", "output_schema")},
                    "push_source": layout.push_source_id(key),
                    # what it pushes when it has published (mlc.compiler.metrics): the freshness alerts read it
                    "metrics": feature_metrics(layout.label("features", key))}
        # the publisher pushes to the Feast feature server of the repository the bundle holds
        job(layout.flink_publisher(key), "publish.py.j2", "publish_main", "flink-publisher", key,
            references=(layout.feast_repo(),), spec=pub_spec, loc=where)
    if artifacts:
        # the code of every job and publisher above, once per bundle
        artifacts.append(Artifact(runtime, RUNTIME.read_text(encoding="utf-8"), kind="flink-runtime"))
    return artifacts
