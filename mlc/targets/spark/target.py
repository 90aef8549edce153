"""Lowers feature groups and `spark(...)` flow steps to PySpark job files.

One job per stored feature group that reads a source: batch groups (the offline table on
their schedule) and stream groups (a backfill of the same table the Flink job writes,
from the stream's archive), so one definition gives the same values on both engines.
The SQL comes from `mlc.targets.sql`; the job's runtime is the template `job.py.j2`;
everything specific to a group and an env is one literal `SPEC` in the file. Paths and
run parameters come from the command line (see docs/targets/spark.md), never from text
spliced into code or SQL.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlc.compiler import ir
from mlc.diagnostics import Diagnostic, error
from mlc.targets import Artifact
from mlc.targets import sql as S
from mlc.targets.layout import Layout, source_line
from mlc.targets.templating import TargetError, jinja_environment

TEMPLATES = Path(__file__).resolve().parent / "templates"
STEP_SCRIPT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.py\Z")


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
    for name, use in sorted(S.env_bindings(program, env).items()):
        kind, args = S.connector_args(program, use, "env")
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
            if isinstance(args.get("credentials"), dict):
                s3_secret = args["credentials"]["env"]
    return conf, hive, s3_secret


def group_spec(program: ir.Program, env: str, key: str) -> dict:
    plan = S.plan_group(program, key)
    group = program.feature_groups[key]
    source = program.sources[plan.source_key]
    src_loc = S.locate(program, env, source.connector, "source")
    out_loc = S.locate(program, env, group.offline, "offline") if group.offline is not None else None
    if out_loc is not None and out_loc["kind"] not in ("files", "s3"):
        raise S.PlanError(f"the offline store of `{group.name}` must be files or s3 in env `{env}`", group.offline.loc)
    spark = S.DIALECTS["spark"]
    conf, hive, s3_secret = spark_conf(program, env)
    arrival = spark.arrival_sql(plan, "mlc_source") if plan.watermark else None
    return {
        "group": plan.group,
        "key": key,
        "env": env,
        "mode": plan.mode,
        "app_name": f"mlc.features.{plan.group}",
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
        "sql": {
            "arrival": arrival,
            "input": spark.input_sql(plan, "mlc_arrival" if arrival else "mlc_source"),
            "features": spark.features_sql(plan, "mlc_input"),
        },
    }


def _spark_steps(program: ir.Program):
    for fkey, flow in sorted(program.flows.items()):
        for step in flow.steps:
            if step.kind == "spark":
                yield fkey, flow, step


def _step_script(step: ir.Step) -> str:
    arg = step.args[0] if step.args else None
    if arg is None or arg.op != "lit" or arg.kind != "string":
        raise S.PlanError(f"step `{step.name}`: `spark(...)` takes the job's path as a string", step.loc)
    path = str(arg.value)
    if not STEP_SCRIPT.match(path) or path.startswith("/") or ".." in path.split("/"):
        raise S.PlanError(f"step `{step.name}`: `{path}` must be a .py file inside the project "
                          "(a relative path without `..`)", arg.loc)
    return path


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    """What the Spark target cannot lower, as diagnostics: E1011 (a group the engines cannot
    compute; the Flink target reports the same diagnostic for stream groups), E1012 (a step's path)."""
    diags: list[Diagnostic] = []
    try:
        S.env_bindings(program, env)
    except S.PlanError as e:
        return [error("E1011", e.message, e.loc)]
    for key in S.stored_groups(program, ("batch", "stream")):
        try:
            group_spec(program, env, key)
        except S.PlanError as e:
            diags.append(error("E1011", e.message, e.loc, help=e.help))
    for _fkey, _flow, step in _spark_steps(program):
        try:
            _step_script(step)
        except S.PlanError as e:
            diags.append(error("E1012", e.message, e.loc, help=e.help))
    return diags


def _environment(program: ir.Program, env: str) -> dict[str, str]:
    """Variables a user's Spark step sees: the env's name and where each binding points."""
    out = {"MLC_ENV": env}
    for name, use in sorted(S.env_bindings(program, env).items()):
        kind, args = S.connector_args(program, use, "env")
        var = "MLC_BINDING_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        if kind == "files":
            out[var] = str(args.get("root") or "")
        elif kind == "s3":
            out[var] = f"s3a://{args.get('bucket')}"
        elif kind == "hive":
            out[var] = str(args.get("metastore") or "")
        elif kind == "kafka":
            out[var] = str(args.get("bootstrap") or "")
    return out


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    problems = [d for d in validate(program, env, layout) if d.is_error]
    if problems:
        raise TargetError(problems)
    jinja = jinja_environment(TEMPLATES)
    artifacts: list[Artifact] = []
    for key in S.stored_groups(program, ("batch", "stream")):
        spec = group_spec(program, env, key)
        group = program.feature_groups[key]
        text = jinja.get_template("job.py.j2").render(spec=spec, group=group, loc=source_line(group.loc))
        artifacts.append(Artifact(layout.spark_feature_job(key), text, kind="spark-feature-job", source=key))
    conf, hive, _s3 = spark_conf(program, env)
    environment = _environment(program, env)
    for fkey, flow, step in _spark_steps(program):
        spec = {"flow": flow.name, "step": step.name, "script": _step_script(step), "env": env, "spark_conf": conf,
                "hive": hive, "environment": environment, "app_name": f"{flow.name}.{step.name}"}
        text = jinja.get_template("step.py.j2").render(spec=spec, loc=source_line(step.loc))
        artifacts.append(Artifact(layout.spark_step_launcher(fkey, step.name), text, kind="spark-step-launcher",
                                  source=fkey))
    return artifacts


