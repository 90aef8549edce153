"""The runtime of mlc's generated Spark jobs, shipped once per bundle.

`mlc compile --target spark` writes this module as `spark/runtime/mlc_spark_runtime.py`.
Every generated job file holds its docstring, one literal `SPEC` and a call into this
module; the code is here, once, linted and unit-tested (tests/test_runtimes.py):

- `main(spec, argv)`: a feature group's job (docs/targets/spark.md, "Command line of a
  feature job"); `parse_args` and `run` are its two halves.
- `step_main(spec, argv)`: a flow step's launcher (the env's session, then the user's job).

pyspark is imported inside the functions that use it: the module imports with the
standard library alone. Under `spark-submit --deploy-mode cluster` the job file travels
alone: pass this module with `--py-files`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import runpy
import sys
import time
import urllib.parse
import urllib.request

# What every user step of the bundle's env sees (MLC_ENV, MLC_BRANCH, MLC_BINDING_*, MLC_OUTPUT_*,
# MLC_FEATURES_*), before its launcher's own variables: the Spark backend writes it on this line,
# once per bundle, not into each launcher (thousands of steps times thousands of feature tables).
ENVIRONMENT: dict[str, str] = {}


class DataError(Exception):
    """The input does not match the source's declared schema (exit status 1)."""


# ------------------------------------------------------------------ pure helpers
def key_value(text: str) -> tuple[str, str]:
    """An argument `KEY=VALUE`, split at its first `=`."""
    key, sep, val = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE (got {text!r})")
    return key, val


def parse_time(text: str) -> _dt.datetime:
    """ISO-8601 (`2024-01-04`, `2024-01-04T00:00:00Z`, with an offset) as a UTC datetime;
    a time without a zone is UTC."""
    t = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t.replace(tzinfo=_dt.timezone.utc) if t.tzinfo is None else t).astimezone(_dt.timezone.utc)


def local_uri(uri: str) -> str:
    """Relative and absolute paths are local files (made absolute `file://` URIs); URIs stay
    as they are."""
    if "://" in uri or uri.startswith("file:"):
        return uri
    return "file://" + os.path.abspath(uri)


def whole_days(start: _dt.datetime | None, end: _dt.datetime | None):
    """`[start, end)` widened to whole UTC days: start down to its midnight, end up to the
    next one (an end on midnight stays)."""
    day = _dt.timedelta(days=1)
    first = last = None
    if start is not None:
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if end is not None:
        last = end.replace(hour=0, minute=0, second=0, microsecond=0)
        if last < end:
            last += day
    return first, last


def jaas(cred: dict) -> str:
    """The `sasl.jaas.config` of a Kafka secret: `{"jaas": ...}` as given, else PLAIN with
    `{"username", "password"}` (values quoted as JSON strings)."""
    if "jaas" in cred:
        return cred["jaas"]
    module = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return f"{module} required username={json.dumps(cred['username'])} password={json.dumps(cred['password'])};"


def secret(env: str) -> dict:
    """A secret's JSON value from the environment variable `env`."""
    text = os.environ.get(env)
    if text is None:
        raise DataError(f"secret: environment variable {env} is not set")
    return json.loads(text)


# A declared type -> the Spark types (simpleString, before any parenthesis) read as it at once.
CASTABLE = {
    "int": ("bigint", "int", "smallint", "tinyint"),
    "float": ("double", "float", "bigint", "int", "smallint", "tinyint", "decimal"),
    "string": ("string",),
    "bool": ("boolean",),
    "date": ("date",),
    "timestamp": ("timestamp", "timestamp_ntz", "date"),
}
SQL_TYPES = {"string": "STRING", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "date": "DATE",
             "timestamp": "TIMESTAMP"}


def check_columns(source: str, where: str, present: dict[str, str], declared) -> list[tuple[str, str]]:
    """Judges the columns found (`name -> Spark simpleString`) against the declared ones
    (`[name, type]`): a missing column or one of another type is a DataError; returns the
    string (or all-null) columns whose values must still be tried as their declared type."""
    missing = [n for n, _t in declared if n not in present]
    if missing:
        raise DataError(f"source `{source}` ({where}): column `{missing[0]}` is missing"
                        f" (columns found: {', '.join(sorted(present)) or 'none'})")
    checks = []
    for name, typ in declared:
        raw = present[name].split("(")[0]
        if raw in CASTABLE[typ]:
            continue
        if raw not in ("string", "void"):
            raise DataError(f"source `{source}` ({where}): column `{name}` holds {present[name]} values, "
                            f"not {typ}")
        checks.append((name, typ))
    return checks


def exposition(values: dict[str, float]) -> str:
    """Gauges in Prometheus's text format, names sorted."""
    return "".join(f"# TYPE {name} gauge\n{name} {values[name]!r}\n" for name in sorted(values))


def push_url(gateway: str, metrics: dict) -> str:
    """The Pushgateway URL of a job's group: /metrics/job/JOB/LABEL/VALUE..., each part quoted."""
    base = gateway if "://" in gateway else "http://" + gateway
    parts = [metrics["job"]] + [x for k, v in sorted(metrics["grouping"].items()) for x in (k, v)]
    return base.rstrip("/") + "/metrics/job/" + "/".join(urllib.parse.quote(str(x), safe="") for x in parts)


def push_freshness(metrics: dict, newest: _dt.datetime | None, environ=os.environ) -> bool:
    """Pushes the newest event time written and the time of this write (`mlc.compiler.metrics`) to
    the Pushgateway at $MLC_PUSHGATEWAY (set by the deploy env); the freshness alerts read them.
    Without the variable, or with nothing written, nothing is pushed; a failed push is reported and
    does not fail the job (the data is written; the alert then says the group went unreported)."""
    gateway = environ.get("MLC_PUSHGATEWAY")
    if not gateway or newest is None:
        return False
    body = exposition({metrics["newest_event"]: newest.timestamp(), metrics["last_write"]: time.time()})
    request = urllib.request.Request(push_url(gateway, metrics), data=body.encode("utf-8"), method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except OSError as e:
        print(f"warning: could not push the freshness of `{metrics['grouping']}` to {gateway}: {e}", file=sys.stderr)
        return False


def first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


# ------------------------------------------------------------------ a feature job
def parse_args(spec: dict, argv=None) -> argparse.Namespace:
    """The job's command line (docs/targets/spark.md); `sources` maps NAME -> URI and
    `confs` is a list of (KEY, VALUE)."""
    p = argparse.ArgumentParser(prog=spec["group"], description=f"Spark job of feature group `{spec['group']}`")
    p.add_argument("--source", action="append", default=[], type=key_value, metavar="NAME=URI")
    p.add_argument("--output", default=spec["output"], required=spec["output"] is None)
    p.add_argument("--from", dest="start", type=parse_time, metavar="TIME")
    p.add_argument("--to", dest="end", type=parse_time, metavar="TIME")
    p.add_argument("--conf", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    p.add_argument("--app-name", default=spec["app_name"])
    p.add_argument("--explain", action="store_true", help="print Spark's plan of the job instead of writing the table")
    args = p.parse_args(argv)
    name = spec["source"]["name"]
    other = [f"{k}={v}" for k, v in args.source if k != name]
    if other:
        p.error(f"--source takes {name}=URI (got {other[0]!r})")
    args.sources, args.confs = dict(args.source), args.conf
    if args.start and args.end and args.start >= args.end:
        p.error("--from must be before --to")
    return args


def session(spec: dict, app_name: str, confs=()):
    """The Spark session with the env's configuration, then `confs`, and Hive support when
    the env binds a metastore (an existing session is returned as it is)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    for key, val in [*sorted(spec["spark_conf"].items()), *confs]:
        builder = builder.config(key, val)
    if spec["hive"]:
        builder = builder.enableHiveSupport()
    return builder.getOrCreate()


def _raw(spec: dict, spark, args):
    src = spec["source"]
    loc = src["location"]
    uri = args.sources.get(src["name"]) or src["uri"]
    if loc["kind"] == "hive" and src["name"] not in args.sources:
        return spark.table(loc["table"]), f"table {loc['table']}"
    if loc["kind"] == "kafka" and src["name"] not in args.sources:
        return _kafka(spec, spark, loc), f"topic {loc['topic']}"
    fmt = loc.get("format") or "parquet"
    path = local_uri(uri)
    reader = spark.read
    if fmt == "csv":
        reader = reader.option("header", "true")
    try:
        return reader.format(fmt).load(path), path
    except Exception as e:  # noqa: BLE001  (pyspark's AnalysisException: PATH_NOT_FOUND and the like)
        raise DataError(f"source `{src['name']}`: cannot read {fmt} at {path}: {first_line(e)}") from None


def _kafka(spec: dict, spark, loc: dict):
    """A stream's topic read as a batch (the backfill of a stream group); needs the
    spark-sql-kafka package on the classpath (see docs/targets/spark.md)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    reader = (spark.read.format("kafka").option("kafka.bootstrap.servers", loc["bootstrap"])
              .option("subscribe", loc["topic"]).option("startingOffsets", "earliest")
              .option("kafka.security.protocol", loc["security_protocol"]))
    cred = loc.get("credentials")
    if isinstance(cred, dict):
        reader = reader.option("kafka.sasl.jaas.config", jaas(secret(cred["env"])))
    raw = reader.load()
    schema = StructType([StructField(n, StringType()) for n, _t in spec["source"]["columns"]])
    parsed = F.from_json(F.col("value").cast("string"), schema)
    return raw.select(parsed.alias("r"), F.col("partition").alias("__mlc_part"), F.col("offset").alias("__mlc_off")) \
        .select("r.*", "__mlc_part", "__mlc_off")


def read_source(spec: dict, spark, args):
    """The source's rows with its declared columns and types, and `__mlc_et`, the event time.

    Fails with DataError naming the source and the column when a declared column is
    missing or holds values that are not of its type."""
    from pyspark.sql import functions as F

    src = spec["source"]
    df, where = _raw(spec, spark, args)
    present = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    declared = src["columns"]
    checks = check_columns(src["name"], where, present, declared)
    if checks:
        bad = [F.min(F.when(F.col(n).isNotNull() & F.col(n).try_cast(SQL_TYPES[t]).isNull(),
                            F.col(n))).alias(n) for n, t in checks]
        found = df.agg(*bad).first()
        for name, typ in checks:
            if found[name] is not None:
                raise DataError(f"source `{src['name']}` ({where}): column `{name}` has a value that is not of "
                                f"type {typ}: {found[name]!r}")
    cols = [F.col(n).cast(SQL_TYPES[t]).alias(n) for n, t in declared]
    cols.append(F.col(src["event_time"]).cast("timestamp").alias("__mlc_et"))
    if src["kind"] == "stream":
        # Arrival order, for the late-data rule: file then position; or partition then offset.
        if "__mlc_part" in df.columns:
            cols += [F.format_string("%09d", F.col("__mlc_part")).alias("__mlc_file"),
                     F.col("__mlc_off").alias("__mlc_pos")]
        else:
            cols += [F.input_file_name().alias("__mlc_file"), F.monotonically_increasing_id().alias("__mlc_pos")]
    return df.select(*cols)


def run(spec: dict, spark, args) -> str:
    """Computes and writes the offline table; returns where it went, or with --explain the
    plan (analysed, optimised and physical) of what it would write."""
    from pyspark.sql import functions as F

    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    if spec["s3_credentials_env"]:
        _s3_credentials(spark, spec["s3_credentials_env"])
    rows = read_source(spec, spark, args)
    rows.createOrReplaceTempView("mlc_source")
    stage = "mlc_source"
    if spec["sql"]["arrival"]:
        # The watermark of each row is computed over every row, before any time range.
        rows, stage = spark.sql(spec["sql"]["arrival"]), "mlc_arrival"
    start, end = whole_days(args.start, args.end)
    reach = _dt.timedelta(milliseconds=spec["window_ms"] or 0)
    if start is not None:
        rows = rows.where(F.col("__mlc_et") >= F.lit(start - reach))
    if end is not None:
        rows = rows.where(F.col("__mlc_et") < F.lit(end))
    rows.createOrReplaceTempView(stage)
    spark.sql(spec["sql"]["input"]).createOrReplaceTempView("mlc_input")
    table = spark.sql(spec["sql"]["features"])
    if start is not None:
        table = table.where(F.col("event_timestamp") >= F.lit(start))
    if end is not None:
        table = table.where(F.col("event_timestamp") < F.lit(end))
    table = table.withColumn("event_date", F.date_format("event_timestamp", "yyyy-MM-dd"))
    if getattr(args, "explain", False):
        return table._jdf.queryExecution().toString()
    output = local_uri(args.output)
    mode = "dynamic" if (start is not None or end is not None) else "static"
    (table.repartition("event_date").sortWithinPartitions(*spec["keys"], "event_timestamp")
     .write.mode("overwrite").option("partitionOverwriteMode", mode)
     .partitionBy("event_date").parquet(output))
    written = spark.read.parquet(output)
    if start is not None:  # only the partitions this run wrote are read back (partition pruning)
        written = written.where(F.col("event_date") >= start.strftime("%Y-%m-%d"))
    # as epoch seconds from Spark: a collected timestamp would be read in the Python process's time zone
    newest = written.agg(F.max(F.col("event_timestamp").cast("double"))).first()[0]
    if newest is not None and spec["window_ms"]:
        # A window's rows go on past the last event until it slides out (a 28d window: 28 days
        # ahead); the freshness pushed is the newest event they reflect, else a source that
        # stopped would look fresh, and its stale alert stay quiet, for the window's length.
        latest = rows.agg(F.max(F.col("__mlc_et").cast("double"))).first()[0]
        newest = min(newest, latest) if latest is not None else newest
    push_freshness(spec["metrics"], None if newest is None else _dt.datetime.fromtimestamp(newest, _dt.timezone.utc))
    return output


def _s3_credentials(spark, env: str) -> None:
    text = os.environ.get(env)
    if text is None:
        return  # the default AWS credential chain
    cred = json.loads(text)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    conf.set("fs.s3a.access.key", cred["access_key_id"])
    conf.set("fs.s3a.secret.key", cred["secret_access_key"])


def main(spec: dict, argv=None) -> int:
    """A feature job from its command line: 0 done, 1 bad data (the message names the source
    and the column), 2 usage (argparse exits)."""
    args = parse_args(spec, argv)
    spark = session(spec, args.app_name, args.confs)
    try:
        output = run(spec, spark, args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        spark.stop()
    if args.explain:
        print(output)
        return 0
    print(f"{spec['group']}: wrote the offline table to {output}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------ a step's launcher
def step_args(spec: dict, argv, environ) -> tuple[str, list[str]]:
    """(the user's job as an absolute path, the arguments it gets): `--project-root DIR`
    (default `$MLC_PROJECT_ROOT`, else the working folder) is the launcher's own; every
    other argument is the job's."""
    p = argparse.ArgumentParser(prog=spec["step"], add_help=False)
    p.add_argument("--project-root", default=environ.get("MLC_PROJECT_ROOT", "."))
    known, rest = p.parse_known_args(argv)
    return os.path.join(os.path.abspath(known.project_root), spec["script"]), rest


def step_main(spec: dict, argv=None) -> None:
    """Creates the session with the env's configuration, sets MLC_ENV and MLC_BINDING_*,
    then runs the user's job as `__main__` (its own `getOrCreate()` gets this session)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    script, rest = step_args(spec, argv, os.environ)
    if not os.path.isfile(script):
        print(f"error: step {spec['flow']}.{spec['step']}: no job at {script} "
              "(pass --project-root or set MLC_PROJECT_ROOT)", file=sys.stderr)
        sys.exit(2)
    for key, val in sorted({**ENVIRONMENT, **spec["environment"]}.items()):
        os.environ.setdefault(key, val)
    spark = session(spec, spec["app_name"])
    for key, val in sorted(spec["spark_conf"].items()):
        if key.startswith("spark.sql.") and key != "spark.sql.catalogImplementation":
            spark.conf.set(key, val)  # also when a session already existed
    sys.argv = [script, *rest]
    sys.path.insert(0, os.path.dirname(script))
    runpy.run_path(script, run_name="__main__")
