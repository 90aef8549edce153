"""A long-lived engine process for the tests: one JVM per engine per test session.

Run with an engine environment's python: `python worker.py spark|flink`. Reads one JSON
request per line on stdin and answers each with one line `@@mlc-worker@@ {json}` on stdout
(anything else on stdout is the engines' own chatter and is ignored by the client).

Requests: {"cmd": "job", "file", "argv", "cwd"} loads a generated feature job (which
imports its bundle's runtime module as `runtime`) and runs it in this process (Spark:
`runtime.run(SPEC, session, runtime.parse_args(SPEC, argv))` on the shared local[2]
session; Flink: `runtime.run(SPEC, runtime.parse_args(SPEC, argv))`, which makes its own
table environment in the shared JVM); {"cmd": "script", "file", "argv", "cwd"} runs a
generated file as `python FILE ARGV...` would (runpy, `__main__`, its exit status);
{"cmd": "read", "path"} reads a Parquet dataset (hive partitions) as rows;
{"cmd": "write_parquet", "path", "schema", "rows"} writes one Parquet file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import io
import json
import os
import runpy
import sys
import time
import traceback

MARK = "@@mlc-worker@@ "
ENGINE = sys.argv[1]
_out = sys.stdout
_session = None
_loaded = 0


def reply(obj: dict) -> None:
    _out.write(MARK + json.dumps(obj, default=str) + "\n")
    _out.flush()


def load(path: str):
    global _loaded
    _loaded += 1
    spec = importlib.util.spec_from_file_location(f"mlc_job_{_loaded}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script(path: str, argv: list[str]):
    """Runs a file as `python PATH ARGV...` (as `__main__`); returns its exit status."""
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [path, *argv]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = old_argv
        sys.path[:] = old_path
    return None


def spark():
    global _session
    if _session is None:
        from pyspark.sql import SparkSession

        _session = (SparkSession.builder.master("local[2]").appName("mlc-tests")
                    .config("spark.ui.enabled", "false")
                    .config("spark.sql.shuffle.partitions", "2")
                    .config("spark.sql.session.timeZone", "UTC")
                    .getOrCreate())
        _session.sparkContext.setLogLevel("ERROR")
    return _session


def warm() -> None:
    if ENGINE == "spark":
        spark().range(1).count()
    else:
        from pyflink.table import EnvironmentSettings, TableEnvironment

        TableEnvironment.create(EnvironmentSettings.in_streaming_mode())


@contextlib.contextmanager
def cwd(path: str | None):
    old = os.getcwd()
    if path:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextlib.contextmanager
def environ(values: dict):
    """`values` for one request; the whole environment is restored after it: a step launcher sets
    its env's MLC_* variables (unless set), which must not reach the next request's launcher."""
    old = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


@contextlib.contextmanager
def no_stop():
    """User jobs call spark.stop(); the shared session must outlive them."""
    if ENGINE != "spark":
        yield
        return
    from pyspark.sql import SparkSession

    original = SparkSession.stop
    SparkSession.stop = lambda self: None
    try:
        yield
    finally:
        SparkSession.stop = original


def _plain(v):
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if v.tzinfo \
            else v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def read(path: str) -> dict:
    import pyarrow.dataset as ds

    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    rows = [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]
    return {"schema": [[f.name, str(f.type)] for f in table.schema], "rows": rows}


def write_parquet(path: str, schema: list, rows: list) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"string": pa.string(), "int": pa.int64(), "int32": pa.int32(), "float": pa.float64(),
             "bool": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}
    fields = [(n, types[t]) for n, t in schema]

    def conv(v, t):
        if v is None:
            return None
        if t == "date":
            return dt.date.fromisoformat(v)
        if t == "timestamp":
            return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))  # noqa: FURB162
        return v

    data = [{n: conv(r.get(n), t) for n, t in schema} for r in rows]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pq.write_table(pa.Table.from_pylist(data, schema=pa.schema(fields)), path)


def handle(req: dict) -> dict:
    cmd = req["cmd"]
    if cmd == "ping":
        return {"ok": True}
    if cmd == "read":
        return {"ok": True, **read(req["path"])}
    if cmd == "write_parquet":
        write_parquet(req["path"], req["schema"], req["rows"])
        return {"ok": True}
    with cwd(req.get("cwd")), no_stop(), environ(req.get("env") or {}):
        if cmd == "job":
            module = load(req["file"])
            runtime, spec = module.runtime, module.SPEC
            args = runtime.parse_args(spec, req.get("argv", []))
            result = runtime.run(spec, spark(), args) if ENGINE == "spark" else runtime.run(spec, args)
            return {"ok": True, "result": result}
        if cmd == "script":
            code = script(req["file"], req.get("argv", []))
            return {"ok": code in (None, 0), "result": code}
    return {"ok": False, "error": f"unknown command {cmd}"}


def main() -> None:
    started = time.time()
    try:
        warm()
        reply({"ok": True, "ready": True, "seconds": time.time() - started})
    except Exception as e:  # noqa: BLE001  (the engine cannot start: say so and stop)
        reply({"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})
        return
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        t0 = time.time()
        try:
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                answer = handle(req)
            answer["stdout"] = printed.getvalue()[-4000:]
        except SystemExit as e:
            answer = {"ok": False, "error": f"exit {e.code}", "type": "SystemExit"}
        except Exception as e:  # noqa: BLE001  (any failure of a job is an answer)
            answer = {"ok": False, "error": str(e), "type": type(e).__name__,
                      "trace": traceback.format_exc()[-6000:]}
        answer["seconds"] = round(time.time() - t0, 3)
        reply(answer)


if __name__ == "__main__":
    main()
