"""The runtime of mlc's generated Flink jobs and publishers, shipped once per bundle.

`mlc compile --target flink` writes this module as `flink/runtime/mlc_flink_runtime.py`.
Every generated job and publisher holds its docstring, one literal `SPEC` and a call into
this module; the code is here, once, linted and unit-tested (tests/test_runtimes.py):

- `main(spec, argv)`: a stream feature group's job (docs/targets/flink.md, "The job");
  `parse_args` and `run` are its two halves.
- `publish_main(spec, argv)`: its publisher (committed JSON lines -> Parquet offline
  table and Feast's online store); `publish_args` and `publish` are its two halves.

pyflink and pyarrow are imported inside the functions that use them: the module imports
with the standard library alone. `flink run -py JOB.py` may run the job from a copy of
its file elsewhere: pass this module with `-pyfs`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.request


class DataError(Exception):
    """The input does not match the source's declared schema (exit status 1)."""


# ------------------------------------------------------------------ pure helpers
def key_value(text: str) -> tuple[str, str]:
    """An argument `KEY=VALUE`, split at its first `=`."""
    key, sep, val = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"takes KEY=VALUE (got {text!r})")
    return key, val


def local_uri(uri: str, scheme: str = "file://") -> str:
    """Relative and absolute paths are local files, made absolute (with `scheme` in front);
    URIs stay as they are."""
    if "://" in uri or uri.startswith("file:"):
        return uri
    return scheme + os.path.abspath(uri)


def secret(env: str) -> dict:
    """A secret's JSON value from the environment variable `env`."""
    text = os.environ.get(env)
    if text is None:
        raise DataError(f"secret: environment variable {env} is not set")
    return json.loads(text)


def jaas(cred: dict) -> str:
    """The `sasl.jaas.config` of a Kafka secret: `{"jaas": ...}` as given, else the login
    module of its `mechanism` (PLAIN by default, SCRAM-*) with `{"username", "password"}`
    (values quoted as JSON strings)."""
    if "jaas" in cred:
        return cred["jaas"]
    module = ("org.apache.kafka.common.security.scram.ScramLoginModule"
              if cred.get("mechanism", "PLAIN").startswith("SCRAM") else
              "org.apache.kafka.common.security.plain.PlainLoginModule")
    return f"{module} required username={json.dumps(cred['username'])} password={json.dumps(cred['password'])};"


def data_error(spec: dict, e: Exception) -> Exception:
    """A failed job's exception as a DataError naming the source and the column when its
    text (py4j's, with the Java cause chain) says a record was bad or the input is missing;
    else `e` itself."""
    text = str(e)
    src = spec["source"]
    record = re.search(r"Failed to deserialize JSON '(.*?)'\.?\s*$", text, re.MULTILINE)
    field = re.search(r"Fail to deserialize at field: ([A-Za-z_][A-Za-z0-9_]*)", text)
    types = dict(src["columns"])
    if field:
        shown = record.group(1) if record else "?"
        return DataError(f"source `{src['name']}`: column `{field.group(1)}` has a value that is not of "
                         f"type {types.get(field.group(1), '?')}: record {shown}")
    if record and "is missing" in text:
        try:
            row = json.loads(record.group(1))
        except ValueError:
            row = {}
        gone = [n for n, _t in src["columns"] if n not in row]
        name = gone[0] if gone else "?"
        return DataError(f"source `{src['name']}`: column `{name}` is missing: record {record.group(1)}")
    causes = [line.strip() for line in text.splitlines() if line.strip().startswith("Caused by:")]
    if causes and ("does not exist" in causes[-1] or "FileNotFound" in causes[-1]):
        return DataError(f"source `{src['name']}`: no data: {causes[-1]}")
    return e


# ------------------------------------------------------------------ the job
def parse_args(spec: dict, argv=None) -> argparse.Namespace:
    """The job's command line (docs/targets/flink.md); `sources` maps NAME -> URI and
    `confs` is a list of (KEY, VALUE)."""
    p = argparse.ArgumentParser(prog=spec["group"],
                                description=f"Flink job of stream feature group `{spec['group']}`")
    p.add_argument("--source", action="append", default=[], type=key_value, metavar="NAME=URI")
    p.add_argument("--output", default=spec["output"], required=spec["output"] is None)
    p.add_argument("--parallelism", type=int, default=spec["parallelism"])
    p.add_argument("--checkpoint-dir", metavar="URI")
    p.add_argument("--jars", metavar="URL;URL", help="pipeline.jars")
    p.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka: these bootstrap servers, not the binding's")
    p.add_argument("--until-offsets", metavar="partition:0,offset:N;...",
                   help="Kafka: a bounded run, from the earliest offsets up to these (exclusive), then end")
    p.add_argument("--conf", action="append", default=[], type=key_value, metavar="KEY=VALUE")
    p.add_argument("--explain", action="store_true")
    p.add_argument("--stand-in", action="store_true")
    args = p.parse_args(argv)
    name = spec["source"]["name"]
    other = [f"{k}={v}" for k, v in args.source if k != name]
    if other:
        p.error(f"--source takes {name}=URI (got {other[0]!r})")
    args.sources, args.confs = dict(args.source), args.conf
    return args


def configuration(spec: dict, args) -> list[tuple[str, str]]:
    """The Flink configuration of a run, in the order it is set: the group's (time zone,
    name, watermark interval, checkpoints, restarts), then the command line's."""
    conf = [("table.local-time-zone", "UTC"), ("pipeline.name", spec["app_name"]),
            ("pipeline.auto-watermark-interval", f"{spec['watermark_interval_ms']} ms"),
            ("execution.checkpointing.interval", f"{spec['checkpoint_ms']} ms"),
            *sorted(spec["restart"].items())]
    if args.parallelism:
        conf.append(("parallelism.default", str(args.parallelism)))
    if args.checkpoint_dir:
        conf.append(("execution.checkpointing.dir", args.checkpoint_dir))
    if args.jars:
        conf.append(("pipeline.jars", args.jars))
    return conf + list(args.confs)


def environment(spec: dict, args):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    conf = Configuration()
    for key, val in configuration(spec, args):
        conf.set_string(key, val)
    settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
    return TableEnvironment.create(settings)


def _type(name: str, source: bool):
    from pyflink.table import DataTypes

    if name == "timestamp":
        return DataTypes.TIMESTAMP_LTZ(3) if source else DataTypes.TIMESTAMP(3)
    return {"string": DataTypes.STRING, "int": DataTypes.BIGINT, "float": DataTypes.DOUBLE,
            "bool": DataTypes.BOOLEAN, "date": DataTypes.DATE}[name]()


def _format(builder, fmt: str):
    if fmt == "json":
        return (builder.format("json").option("json.timestamp-format.standard", "ISO-8601")
                .option("json.fail-on-missing-field", "true").option("json.ignore-parse-errors", "false"))
    if fmt == "csv":
        return builder.format("csv").option("csv.ignore-parse-errors", "false")
    return builder.format(fmt)


def source_descriptor(spec: dict, args):
    """The source table: declared columns, the event time `__mlc_et` and its watermark."""
    from pyflink.table import Schema, TableDescriptor

    src = spec["source"]
    schema = Schema.new_builder()
    for name, typ in src["columns"]:
        schema = schema.column(name, _type(typ, source=True))
    schema = schema.column_by_expression("__mlc_et", src["event_time_sql"])
    schema = schema.watermark("__mlc_et", src["watermark_sql"]).build()
    loc = src["location"]
    if loc["kind"] == "kafka" and src["name"] not in args.sources:
        builder = (TableDescriptor.for_connector("kafka").schema(schema)
                   .option("topic", loc["topic"])
                   .option("properties.bootstrap.servers", args.bootstrap or loc["bootstrap"])
                   .option("properties.group.id", loc["group"] or spec["app_name"])
                   .option("properties.security.protocol", loc["security_protocol"]))
        if args.until_offsets:
            # a bounded run recomputes the windows from the topic's beginning: resuming from
            # the group's offsets would leave the events before them out of the windows
            builder = (builder.option("scan.startup.mode", "earliest-offset")
                       .option("scan.bounded.mode", "specific-offsets")
                       .option("scan.bounded.specific-offsets", args.until_offsets))
        else:
            builder = (builder.option("scan.startup.mode", "group-offsets")
                       .option("properties.auto.offset.reset", "earliest"))
        cred = loc.get("credentials")
        if isinstance(cred, dict):
            value = secret(cred["env"])
            builder = (builder.option("properties.sasl.mechanism", value.get("mechanism", "PLAIN"))
                       .option("properties.sasl.jaas.config", jaas(value)))
        return _format(builder, loc["format"]).build()
    uri = args.sources.get(src["name"]) or src["uri"]
    builder = TableDescriptor.for_connector("filesystem").schema(schema).option("path", local_uri(uri))
    return _format(builder, loc.get("format") or "json").build()


def sink_descriptor(spec: dict, args):
    """The offline staging table: JSON lines under OUTPUT/_mlc_stream/, rolled and committed
    at checkpoints (at the end of a bounded input, everything is committed)."""
    from pyflink.table import Schema, TableDescriptor

    schema = Schema.new_builder()
    for name, typ in spec["output_schema"]:
        schema = schema.column(name, _type(typ, source=False))
    every = f"{spec['checkpoint_ms']} ms"
    return (TableDescriptor.for_connector("filesystem").schema(schema.build())
            .option("path", local_uri(args.output).rstrip("/") + "/_mlc_stream")
            .option("sink.rolling-policy.rollover-interval", every)
            .option("sink.rolling-policy.inactivity-interval", every)
            .option("sink.rolling-policy.check-interval", f"{min(spec['checkpoint_ms'], 10000)} ms")
            .format("json").option("json.timestamp-format.standard", "ISO-8601").build())


def build(spec: dict, t_env, args):
    """Registers the tables and views; returns the statement set that runs the job."""
    if args.stand_in:
        t_env.create_temporary_table("mlc_declared", source_descriptor(spec, args))
        t_env.execute_sql(spec["sql"]["stand_in"])
    else:
        t_env.create_temporary_table("mlc_source", source_descriptor(spec, args))
    t_env.create_temporary_view("mlc_input", t_env.sql_query(spec["sql"]["input"]))
    t_env.create_temporary_table("mlc_offline", sink_descriptor(spec, args))
    statements = t_env.create_statement_set()
    statements.add_insert("mlc_offline", t_env.sql_query(spec["sql"]["features"]))
    return statements


def run(spec: dict, args) -> str | None:
    """Runs the job to its end (a bounded input) or until cancelled; returns the plan with
    --explain, else where the output went. Submitted by `flink run --detached` (a cluster's
    start, jobs/streaming.json of a release), it returns None once the job is submitted:
    waiting for an unbounded job's end would hold the client forever."""
    t_env = environment(spec, args)
    statements = build(spec, t_env, args)
    if args.explain:
        return statements.explain()
    try:
        result = statements.execute()
        if t_env.get_config().get("execution.attached", "true") == "false":
            print(f"{spec['group']}: submitted job {result.get_job_client().get_job_id()} ({spec['app_name']}), "
                  f"writing JSON lines to {local_uri(args.output)}/_mlc_stream", file=sys.stderr)
            return None
        result.wait()
    except Exception as e:  # noqa: BLE001  (py4j's Py4JJavaError, with the Java cause chain in its text)
        raise data_error(spec, e) from None
    return local_uri(args.output)


def main(spec: dict, argv=None) -> int:
    """A feature job from its command line: 0 done, 1 bad data, 2 usage (argparse exits)."""
    args = parse_args(spec, argv)
    try:
        out = run(spec, args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.explain:
        print(out)
    elif out is not None:
        print(f"{spec['group']}: wrote JSON lines to {out}/_mlc_stream; publish them with the group's publisher",
              file=sys.stderr)
    return 0


# ------------------------------------------------------------------ the publisher
def publish_args(spec: dict, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=spec["group"], description=f"Publisher of stream feature group `{spec['group']}`")
    p.add_argument("--offline", default=spec["output"], required=spec["output"] is None)
    p.add_argument("--feature-server", metavar="URL", help="push online through this Feast feature server")
    p.add_argument("--push-source", default=spec["push_source"])
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--online-until", metavar="ISO-TIME", type=lambda t: value(t, "timestamp"),
                   help="push online only rows of windows ending at or before this time (a bounded run "
                        "fires every window at its end, also those ending after the last event's hour)")
    return p.parse_args(argv)


def value(text, typ: str):
    """A JSON value the job wrote, as the Python value of its column type (timestamps UTC)."""
    if text is None:
        return None
    if typ == "timestamp":
        t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        return t.replace(tzinfo=_dt.timezone.utc) if t.tzinfo is None else t.astimezone(_dt.timezone.utc)
    if typ == "date":
        return _dt.date.fromisoformat(str(text))
    if typ == "float":
        return float(text)
    if typ == "int":
        return int(text)
    if typ == "bool":
        return text if isinstance(text, bool) else str(text).lower() == "true"
    return str(text)


def parse_rows(spec: dict, text: str) -> list[dict]:
    """JSON lines -> rows of the output schema's columns and types (blank lines skipped)."""
    types = dict(spec["output_schema"])
    rows = []
    for line in text.splitlines():
        if line.strip():
            raw = json.loads(line)
            rows.append({n: value(raw.get(n), t) for n, t in types.items()})
    return rows


def by_day(rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """Rows grouped by the UTC day of `event_timestamp` (the `event_date` partition), days in order."""
    days: dict[str, list[dict]] = {}
    for r in rows:
        days.setdefault(r["event_timestamp"].strftime("%Y-%m-%d"), []).append(r)
    return sorted(days.items())


def pending(staging: str, files: list[str], done: list[str]) -> list[tuple[str, str]]:
    """(path, name under `staging`) of the committed files not yet published, in order: hidden
    (in-progress, `.`) and bookkeeping (`_`) files are skipped, and so are those in `done`."""
    out = []
    for path in sorted(files):
        name = path[len(staging) + 1:]
        if os.path.basename(path).startswith((".", "_")) or name in done:
            continue
        out.append((path, name))
    return out


def sorted_rows(spec: dict, rows: list[dict]) -> list[dict]:
    """Rows in the order the Parquet files hold them: by entity key, then event time."""
    return sorted(rows, key=lambda r: (tuple(str(r[k]) for k in spec["keys"]), r["event_timestamp"]))


def push_body(spec: dict, source: str, rows: list[dict]) -> dict:
    """The body of the Feast feature server's POST /push: columns of values, timestamps as
    `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, dates ISO."""
    def text(v):
        if isinstance(v, _dt.datetime):
            return v.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(v, _dt.date):
            return v.isoformat()
        return v

    names = [n for n, _t in spec["output_schema"]]
    return {"push_source_name": source, "to": "online", "allow_registry_cache": True,
            "df": {n: [text(r[n]) for r in rows] for n in names}}


def push(server: str, body: dict) -> None:
    request = urllib.request.Request(server.rstrip("/") + "/push", data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status >= 300:
            raise RuntimeError(f"feature server answered {response.status}")


def _arrow_table(spec: dict, rows: list[dict]):
    import pyarrow as pa

    types = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
             "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([(n, types[t]) for n, t in spec["output_schema"]])
    return pa.Table.from_pylist(sorted_rows(spec, rows), schema=schema)


def publish(spec: dict, args) -> dict:
    """Publishes every committed file not yet published; returns counts of files, rows, pushed."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs, root = pafs.FileSystem.from_uri(local_uri(args.offline, scheme=""))
    root = root.rstrip("/")
    staging = root + "/_mlc_stream"
    manifest_path = staging + "/_published.json"
    done: list[str] = []
    if fs.get_file_info(manifest_path).type == pafs.FileType.File:
        with fs.open_input_stream(manifest_path) as f:
            done = json.loads(f.read().decode("utf-8"))["published"]
    infos = fs.get_file_info(pafs.FileSelector(staging, recursive=True, allow_not_found=True))
    files = [i.path for i in infos if i.type == pafs.FileType.File]
    stats = {"files": 0, "rows": 0, "pushed": 0, "newest": None}
    for path, name in pending(staging, files, done):
        with fs.open_input_stream(path) as f:
            rows = parse_rows(spec, f.read().decode("utf-8"))
        for day, part in by_day(rows):
            fs.create_dir(f"{root}/event_date={day}", recursive=True)
            pq.write_table(_arrow_table(spec, part), f"{root}/event_date={day}/{name.replace('/', '_')}.parquet",
                           filesystem=fs)
        if args.feature_server:
            online = [r for r in sorted_rows(spec, rows)
                      if args.online_until is None or r["event_timestamp"] <= args.online_until]
            for i in range(0, len(online), args.batch_size):
                batch = online[i:i + args.batch_size]
                push(args.feature_server, push_body(spec, args.push_source, batch))
                stats["pushed"] += len(batch)
        done.append(name)
        tmp = manifest_path + ".tmp"
        with fs.open_output_stream(tmp) as f:
            f.write(json.dumps({"published": sorted(done)}, indent=1).encode("utf-8"))
        fs.move(tmp, manifest_path)
        stats["files"] += 1
        stats["rows"] += len(rows)
        stats["newest"] = max([t for t in (stats["newest"], *(r["event_timestamp"] for r in rows)) if t is not None],
                              default=None)
    return stats


def exposition(values: dict[str, float]) -> str:
    """Gauges in Prometheus's text format, names sorted."""
    return "".join(f"# TYPE {name} gauge\n{name} {values[name]!r}\n" for name in sorted(values))


def push_url(gateway: str, metrics: dict) -> str:
    """The Pushgateway URL of a group: /metrics/job/JOB/LABEL/VALUE..., each part quoted."""
    base = gateway if "://" in gateway else "http://" + gateway
    parts = [metrics["job"]] + [x for k, v in sorted(metrics["grouping"].items()) for x in (k, v)]
    return base.rstrip("/") + "/metrics/job/" + "/".join(urllib.parse.quote(str(x), safe="") for x in parts)


def push_freshness(metrics: dict, newest: _dt.datetime | None, environ=os.environ) -> bool:
    """Pushes the newest event time published and the time of this publish (`mlc.compiler.metrics`)
    to the Pushgateway at $MLC_PUSHGATEWAY (set by the deploy env): what reaches the stores is what
    the freshness alerts watch. Nothing without the variable or new rows; a failed push is reported
    and does not fail the publisher (the rows are published)."""
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


def publish_main(spec: dict, argv=None) -> int:
    args = publish_args(spec, argv)
    stats = publish(spec, args)
    push_freshness(spec["metrics"], stats["newest"])
    print(f"{spec['group']}: published {stats['rows']} rows from {stats['files']} file(s)"
          f"{', pushed ' + str(stats['pushed']) + ' online' if args.feature_server else ''}", file=sys.stderr)
    return 0
