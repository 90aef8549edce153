"""Lowers feature groups and `spark(...)` flow steps to PySpark job files.

One job per stored feature group that reads a source: batch groups (the offline table on
their schedule) and stream groups (a backfill of the same table the Flink job writes,
from the stream's archive), so one definition gives the same values on both engines.
The SQL comes from `mlc.targets.sql`; the jobs' code is one module shipped once per bundle
(`templates/runtime/mlc_spark_runtime.py`, written where the layout's `spark_runtime()`
says); each job file is its docstring, one literal `SPEC` (everything specific to a group
and an env) and a call into that module. Paths and run parameters come from the command
line (see docs/targets/spark.md), never from text spliced into code or SQL.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlc.compiler import ir
from mlc.compiler.metrics import feature_metrics
from mlc.diagnostics import Diagnostic, error
from mlc.targets import Artifact
from mlc.targets import sql as S
from mlc.targets.layout import Layout, source_line
from mlc.targets.literals import pretty
from mlc.targets.templating import TargetError, jinja_environment, runtime_call

TEMPLATES = Path(__file__).resolve().parent / "templates"
RUNTIME = TEMPLATES / "runtime" / "mlc_spark_runtime.py"


def _uri(loc: dict) -> str | None:
    """A files/s3 location as the path Spark reads (files stay relative: the job resolves them)."""
    if loc["kind"] == "files":
        return loc["path"]
    if loc["kind"] == "s3":
        return f"s3a://{loc['bucket']}/{loc['path']}".rstrip("/")
    return None


def spark_conf(program: ir.Program, env: str) -> tuple[dict[str, str], bool, str | None]:
    """(Spark configuration, whether Hive support is on, env var of S3 credentials) of an env."""
    conf = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    hive = False
    s3_secret = None
    for name, binding in sorted(S.environment(program, env).bindings.items()):
        kind, args = binding.connector, binding.settings
        if kind == "hive":
            hive = True
            if args.get("metastore"):
                conf["spark.hadoop.hive.metastore.uris"] = str(args["metastore"])
        elif kind == "s3":
            if args.get("endpoint"):
                conf["spark.hadoop.fs.s3a.endpoint"] = str(args["endpoint"])
                conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
            if args.get("region"):
                conf["spark.hadoop.fs.s3a.endpoint.region"] = str(args["region"])
            if isinstance(args.get("credentials"), ir.Secret):
                s3_secret = args["credentials"].env
    return conf, hive, s3_secret


def _placed(program: ir.Program, env: str, key: str) -> tuple[S.GroupPlan, dict, dict | None]:
    """The plan of group `key` and where its job reads and writes in `env`: everything of its
    spec that can fail (PlanError), which the validation asks without writing the rest."""
    plan = S.plan_group(program, key)
    group = program.feature_groups[key]
    source = program.sources[plan.source_key]
    src_loc = S.location(program, env, plan.source_key, "source", source.connector.loc)
    out_loc = S.location(program, env, key, "offline", group.offline.loc) if group.offline is not None else None
    if out_loc is not None and out_loc["kind"] not in ("files", "s3"):
        raise S.PlanError(f"the offline store of `{group.name}` must be files or s3 in env `{env}`", group.offline.loc)
    return plan, src_loc, out_loc


def group_spec(program: ir.Program, env: str, key: str) -> dict:
    plan, src_loc, out_loc = _placed(program, env, key)
    conf, hive, s3_secret = spark_conf(program, env)
    sql = S.once(program, ("spark-sql", key), lambda: _sql(plan))
    return {
        "group": plan.group,
        "key": key,
        "env": env,
        "mode": plan.mode,
        "app_name": S.once(program, ("layout",), lambda: Layout(program)).job_name(key),
        "source": {
            "name": plan.source,
            "kind": plan.source_kind,
            "columns": [[n, t] for n, t in plan.columns.items()],
            "event_time": plan.event_time,
            "watermark_ms": plan.watermark_ms,
            "location": src_loc,
            "uri": _uri(src_loc),
        },
        "keys": list(plan.keys),
        "window_ms": plan.window_ms,
        "slide_ms": plan.slide_ms,
        "output": _uri(out_loc) if out_loc else None,
        "output_schema": [[n, t] for n, t in plan.output_schema()],
        "spark_conf": conf,
        "hive": hive,
        "s3_credentials_env": s3_secret,
        "sql": sql,
        # what the job pushes when it has written (mlc.compiler.metrics): the freshness alerts read it
        "metrics": feature_metrics(S.once(program, ("layout",), lambda: Layout(program)).label("features", key)),
    }


def _sql(plan: S.GroupPlan) -> dict:
    """The queries of a group's job (the same in every env)."""
    spark = S.DIALECTS["spark"]
    arrival = spark.arrival_sql(plan, "mlc_source") if plan.watermark else None
    return {
        "arrival": arrival,
        "input": spark.input_sql(plan, "mlc_arrival" if arrival else "mlc_source"),
        "features": spark.features_sql(plan, "mlc_input"),
    }


def _spark_steps(program: ir.Program):
    for fkey, flow in sorted(program.flows.items()):
        for step in flow.steps:
            if step.kind == "spark":
                yield fkey, flow, step


def _step_script(step: ir.Step) -> str:
    """The job's path, relative to the project root (the checks made sure it is one: E0406, E0407)."""
    return str(step.args[0].value)


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    """What the Spark target cannot lower, as diagnostics: E1011 (a group the engines cannot
    compute; the Flink target reports the same diagnostic for stream groups). A step's job path
    is the language's rule (E0407), not this target's."""
    diags: list[Diagnostic] = []
    try:
        S.environment(program, env)
    except S.PlanError as e:
        return [error("E1011", e.message, e.loc)]
    for key in S.stored_groups(program, ("batch", "stream")):
        try:
            # the errors writing the spec would raise, in its order, without writing it
            S.judge(program, _placed(program, env, key)[0])
        except S.PlanError as e:
            diags.append(error("E1011", e.message, e.loc, help=e.help))
    return diags


def _variable(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _environment(program: ir.Program, env: str, layout: Layout) -> dict[str, str]:
    """Variables every user Spark step of the env sees (docs/targets/spark.md): the env's and the
    branch's names; where each binding points (`MLC_BINDING_*`, what sources are read from:
    production's on a test branch too); the root each files or s3 binding writes under
    (`MLC_OUTPUT_*`) and each feature group's offline table (`MLC_FEATURES_*`), both the test
    branch's own (`Layout.environment`, `binding_output`), so a step never writes production's."""
    out = {"MLC_ENV": env}
    if program.branch:
        out["MLC_BRANCH"] = program.branch
    resolved = S.environment(program, env)
    for name, binding in sorted(resolved.bindings.items()):
        kind, args = binding.connector, binding.settings
        var = _variable("MLC_BINDING_", name)
        if kind == "files":
            out[var] = str(args.get("root") or "")
        elif kind == "s3":
            out[var] = f"s3a://{args.get('bucket')}"
        elif kind == "hive":
            out[var] = str(args.get("metastore") or "")
        elif kind == "kafka":
            out[var] = str(args.get("bootstrap") or "")
        output = layout.binding_output(binding)
        if output is not None:
            out[_variable("MLC_OUTPUT_", name)] = _uri({"kind": output.kind, "path": output.path,
                                                        "bucket": output.bucket}) or ""
    for key, loc in sorted(resolved.offline.items()):
        uri = _uri({"kind": loc.kind, "path": loc.path, "bucket": loc.bucket})
        if uri is not None and key in program.feature_groups:
            out[_variable("MLC_FEATURES_", layout.group_id(key))] = uri
    return out


def runtime_text(common: dict[str, str]) -> str:
    """The bundle's Spark runtime, with the variables every user step of the env sees (`common`)
    written once on its `ENVIRONMENT` line."""
    text = RUNTIME.read_text(encoding="utf-8")
    line = "ENVIRONMENT: dict[str, str] = {}\n"
    assert text.count(line) == 1, "the runtime's ENVIRONMENT line changed"
    return text.replace(line, f"ENVIRONMENT: dict[str, str] = {pretty(common, lead=len('ENVIRONMENT: dict[str, str] = '))}\n")


def _step_environment(program: ir.Program, step: ir.Step, layout: Layout, env: str) -> dict:
    """What the launcher of `step` sets before the user's job runs, over the env's variables (the
    runtime's `ENVIRONMENT`): as the DAG's task passes them too (so a launcher run by hand gets
    them), the location of each artifact the step reads or writes and the names in the BentoML
    store of the models it uses or produces."""
    out = {}
    for ref in (*step.reads, *step.writes):
        if ref.target in program.artifacts:
            out[layout.artifact_variable(program.artifacts[ref.target].name)] = \
                layout.artifact_location(ref.target, env)
    stored = layout.stored_models(r.target for r in (*step.uses, *([step.produces] if step.produces else ())))
    if stored:
        out["MLC_BENTO_MODELS"] = json.dumps(stored, sort_keys=True)
    return out


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    problems = [d for d in validate(program, env, layout) if d.is_error]
    if problems:
        raise TargetError(problems)
    jinja = jinja_environment("mlc.targets.spark")
    runtime = layout.spark_runtime()
    artifacts: list[Artifact] = []

    def job(path: str, template: str, entry: str, kind: str, source: str, **values) -> None:
        text = jinja.get_template(template).render(runtime=runtime, call=runtime_call(path, runtime, entry), **values)
        artifacts.append(Artifact(path, text, kind=kind, source=source, references=(runtime,)))

    for key in S.stored_groups(program, ("batch", "stream")):
        group = program.feature_groups[key]
        job(layout.spark_feature_job(key), "job.py.j2", "main", "spark-feature-job", key,
            spec=group_spec(program, env, key), loc=source_line(group.loc))
    conf, hive, _s3 = spark_conf(program, env)
    common = _environment(program, env, layout)
    for fkey, flow, step in _spark_steps(program):
        spec = {"flow": flow.name, "step": step.name, "script": _step_script(step), "env": env, "spark_conf": conf,
                "hive": hive, "environment": _step_environment(program, step, layout, env),
                "app_name": layout.job_name(fkey, step.name)}
        job(layout.spark_step_launcher(fkey, step.name), "step.py.j2", "step_main", "spark-step-launcher", fkey,
            spec=spec, loc=source_line(step.loc))
    if artifacts:
        # the code of every job above, once per bundle
        artifacts.append(Artifact(runtime, runtime_text(common), kind="spark-runtime"))
    return artifacts
