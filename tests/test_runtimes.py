"""The Spark and Flink runtimes (the modules a bundle ships once and every generated job
imports), without the engines: command lines, time windows, paths, Kafka credentials,
schema checks, Flink's error messages, the publisher's bookkeeping; and a compiled job
found its runtime from its own file under `python job.py` and runpy."""

from __future__ import annotations

import datetime as dt
import http.server
import importlib.util
import json
import os
import runpy
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.targets import get
from mlc.targets.layout import Layout

ROOT = Path(__file__).resolve().parent.parent
SPARK_RUNTIME = ROOT / "mlc/targets/spark/templates/runtime/mlc_spark_runtime.py"
FLINK_RUNTIME = ROOT / "mlc/targets/flink/templates/runtime/mlc_flink_runtime.py"
UTC = dt.timezone.utc


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sr = _load(SPARK_RUNTIME)
fr = _load(FLINK_RUNTIME)

COLUMNS = [["user_id", "string"], ["amount", "int"], ["ts", "timestamp"]]
SPARK_SPEC = {"group": "g", "output": "build/g", "app_name": "mlc.features.g",
              "source": {"name": "events", "columns": COLUMNS}}
FLINK_SPEC = {"group": "g", "output": None, "app_name": "mlc.features.g", "parallelism": 1,
              "watermark_interval_ms": 0, "checkpoint_ms": 10000,
              "restart": {"restart-strategy.type": "none"}, "push_source": "g_push", "keys": ["user_id"],
              "source": {"name": "events", "columns": COLUMNS},
              "output_schema": [["user_id", "string"], ["event_timestamp", "timestamp"], ["n", "int"],
                                ["avg", "float"], ["day", "date"], ["ok", "bool"]]}


def usage_error(parse, *argv) -> str:
    with pytest.raises(SystemExit) as stop:
        parse(list(argv))
    assert stop.value.code == 2
    return str(stop.value)


# ---------------------------------------------------------------- Spark: command line and time
def test_spark_arguments_default_to_the_spec_and_collect_sources_and_confs():
    args = sr.parse_args(SPARK_SPEC, [])
    assert (args.output, args.app_name, args.sources, args.confs, args.start) == ("build/g", "mlc.features.g", {},
                                                                                  [], None)
    args = sr.parse_args(SPARK_SPEC, ["--source", "events=/in/x.jsonl", "--conf", "a.b=c=d", "--conf", "e=",
                                      "--from", "2024-01-04", "--to", "2024-01-05T06:00:00Z"])
    assert args.sources == {"events": "/in/x.jsonl"}
    assert args.confs == [("a.b", "c=d"), ("e", "")]  # the first `=` splits
    assert args.start == dt.datetime(2024, 1, 4, tzinfo=UTC) and args.end == dt.datetime(2024, 1, 5, 6, tzinfo=UTC)


@pytest.mark.parametrize("argv, words", [
    (["--source", "plays=/x"], "--source takes events=URI"),
    (["--source", "events"], "argument --source: takes KEY=VALUE (got 'events')"),
    (["--conf", "novalue"], "argument --conf: takes KEY=VALUE (got 'novalue')"),
    (["--from", "2024-01-05", "--to", "2024-01-05"], "--from must be before --to"),
    (["--from", "yesterday"], "invalid parse_time value"),
])
def test_spark_bad_arguments_are_usage_errors(capsys, argv, words):
    usage_error(lambda a: sr.parse_args(SPARK_SPEC, a), *argv)
    assert words in capsys.readouterr().err


def test_spark_output_is_required_when_the_group_has_no_offline_binding(capsys):
    usage_error(lambda a: sr.parse_args({**SPARK_SPEC, "output": None}, a))
    assert "--output" in capsys.readouterr().err
    assert sr.parse_args({**SPARK_SPEC, "output": None}, ["--output", "o"]).output == "o"


def test_times_are_utc():
    assert sr.parse_time("2024-01-04") == dt.datetime(2024, 1, 4, tzinfo=UTC)
    assert sr.parse_time("2024-01-04T01:02:03Z") == dt.datetime(2024, 1, 4, 1, 2, 3, tzinfo=UTC)
    assert sr.parse_time("2024-01-04T02:00:00+02:00") == dt.datetime(2024, 1, 4, tzinfo=UTC)


def test_time_ranges_widen_to_whole_days():
    t = dt.datetime
    assert sr.whole_days(t(2024, 1, 4, 5, tzinfo=UTC), t(2024, 1, 6, tzinfo=UTC)) == (
        t(2024, 1, 4, tzinfo=UTC), t(2024, 1, 6, tzinfo=UTC))  # an end on midnight stays
    assert sr.whole_days(None, t(2024, 1, 6, 0, 0, 1, tzinfo=UTC)) == (None, t(2024, 1, 7, tzinfo=UTC))
    assert sr.whole_days(None, None) == (None, None)


@pytest.mark.parametrize("runtime", [sr, fr], ids=["spark", "flink"])
def test_local_paths_become_absolute_uris_and_uris_stay(runtime, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runtime.local_uri("data/x") == "file://" + str(tmp_path / "data/x")
    assert runtime.local_uri("/abs/y") == "file:///abs/y"
    for uri in ("s3a://b/p", "s3://b/p", "file:///z", "hdfs://nn/p"):
        assert runtime.local_uri(uri) == uri


def test_the_publisher_opens_local_paths_without_a_scheme(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert fr.local_uri("out", scheme="") == str(tmp_path / "out")


# ---------------------------------------------------------------- credentials
@pytest.mark.parametrize("runtime", [sr, fr], ids=["spark", "flink"])
def test_jaas_text_of_a_plain_secret_quotes_its_values(runtime):
    text = runtime.jaas({"username": "u", "password": 'p"w;x'})
    assert text == ('org.apache.kafka.common.security.plain.PlainLoginModule required '
                    'username="u" password="p\\"w;x";')
    assert runtime.jaas({"jaas": "Custom required;"}) == "Custom required;"


def test_flink_jaas_follows_a_scram_mechanism():
    text = fr.jaas({"username": "u", "password": "p", "mechanism": "SCRAM-SHA-512"})
    assert text.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required ")


@pytest.mark.parametrize("runtime", [sr, fr], ids=["spark", "flink"])
def test_secrets_come_from_the_environment_only(runtime, monkeypatch):
    monkeypatch.delenv("MLC_SECRET_T", raising=False)
    with pytest.raises(runtime.DataError, match="environment variable MLC_SECRET_T is not set"):
        runtime.secret("MLC_SECRET_T")
    monkeypatch.setenv("MLC_SECRET_T", '{"username": "u", "password": "p"}')
    assert runtime.secret("MLC_SECRET_T") == {"username": "u", "password": "p"}


# ---------------------------------------------------------------- Spark: the source's columns
def test_columns_of_their_type_pass_and_strings_are_left_to_try():
    present = {"user_id": "string", "amount": "string", "ts": "timestamp"}
    assert sr.check_columns("events", "file:///e", present, COLUMNS) == [("amount", "int")]
    present = {"user_id": "string", "amount": "bigint", "ts": "date", "extra": "double"}
    assert sr.check_columns("events", "file:///e", present, COLUMNS) == []
    # a float column may be read from a decimal of any precision; an all-null column is tried
    assert sr.check_columns("s", "w", {"x": "decimal(10,2)", "y": "void"}, [["x", "float"], ["y", "int"]]) == [
        ("y", "int")]


def test_a_missing_column_names_the_source_and_what_was_found():
    with pytest.raises(sr.DataError) as e:
        sr.check_columns("events", "file:///e", {"user_id": "string", "ts": "timestamp"}, COLUMNS)
    assert str(e.value) == ("source `events` (file:///e): column `amount` is missing "
                            "(columns found: ts, user_id)")


def test_a_column_of_another_type_is_refused():
    with pytest.raises(sr.DataError) as e:
        sr.check_columns("events", "table t", {"user_id": "string", "amount": "boolean", "ts": "timestamp"}, COLUMNS)
    assert str(e.value) == "source `events` (table t): column `amount` holds boolean values, not int"


# ---------------------------------------------------------------- Spark: a step's launcher
def test_a_step_takes_its_project_root_and_passes_every_other_argument():
    spec = {"step": "s", "script": "jobs/x.py"}
    script, rest = sr.step_args(spec, ["--lookback", "28d", "--project-root", "/p", "--x"], {})
    assert script == "/p/jobs/x.py" and rest == ["--lookback", "28d", "--x"]
    script, rest = sr.step_args(spec, [], {"MLC_PROJECT_ROOT": "/q"})
    assert script == "/q/jobs/x.py" and rest == []


def test_a_step_without_its_job_stops_with_status_2(tmp_path, capsys):
    spec = {"flow": "f", "step": "s", "script": "jobs/x.py"}
    with pytest.raises(SystemExit) as stop:
        sr.step_main(spec, ["--project-root", str(tmp_path)])
    assert stop.value.code == 2
    assert f"step f.s: no job at {tmp_path}/jobs/x.py" in capsys.readouterr().err


# ---------------------------------------------------------------- Flink: the job
def test_flink_configuration_in_order_then_the_command_line():
    args = fr.parse_args(FLINK_SPEC, ["--output", "o"])
    assert fr.configuration(FLINK_SPEC, args) == [
        ("table.local-time-zone", "UTC"), ("pipeline.name", "mlc.features.g"),
        ("pipeline.auto-watermark-interval", "0 ms"), ("execution.checkpointing.interval", "10000 ms"),
        ("restart-strategy.type", "none"), ("parallelism.default", "1")]
    args = fr.parse_args({**FLINK_SPEC, "parallelism": None},
                         ["--output", "o", "--checkpoint-dir", "file:///c", "--jars", "file:///a.jar;file:///b.jar",
                          "--conf", "parallelism.default=4"])
    assert fr.configuration(FLINK_SPEC, args)[-3:] == [
        ("execution.checkpointing.dir", "file:///c"), ("pipeline.jars", "file:///a.jar;file:///b.jar"),
        ("parallelism.default", "4")]  # the command line's last, so it wins


def test_flink_arguments(capsys):
    args = fr.parse_args(FLINK_SPEC, ["--output", "o", "--explain", "--stand-in", "--source", "events=in"])
    assert args.explain and args.stand_in and args.sources == {"events": "in"} and args.parallelism == 1
    usage_error(lambda a: fr.parse_args(FLINK_SPEC, a))  # no offline binding: --output is required
    usage_error(lambda a: fr.parse_args(FLINK_SPEC, a), "--output", "o", "--source", "other=x")
    assert "--source takes events=URI" in capsys.readouterr().err


def test_a_field_that_does_not_parse_names_the_column_and_its_type():
    error = Exception("Py4JJavaError: ...\nCaused by: java.io.IOException: Failed to deserialize JSON "
                      "'{\"user_id\": \"u1\", \"amount\": \"ten\"}'.\nCaused by: ... "
                      "Fail to deserialize at field: amount.")
    got = fr.data_error(FLINK_SPEC, error)
    assert isinstance(got, fr.DataError)
    assert str(got) == ("source `events`: column `amount` has a value that is not of type int: "
                        'record {"user_id": "u1", "amount": "ten"}')


def test_a_missing_field_names_the_first_declared_column_absent_from_the_record():
    error = Exception("Caused by: java.io.IOException: Failed to deserialize JSON '{\"user_id\": \"u1\", "
                      "\"ts\": \"2024-01-01T00:00:00Z\"}'.\nCaused by: ...: Could not find field amount, "
                      "field is missing")
    assert str(fr.data_error(FLINK_SPEC, error)) == (
        'source `events`: column `amount` is missing: record {"user_id": "u1", "ts": "2024-01-01T00:00:00Z"}')


def test_missing_input_is_no_data_and_other_failures_stay_as_they_are():
    gone = Exception("boom\nCaused by: java.io.FileNotFoundException: File /x/events does not exist")
    assert str(fr.data_error(FLINK_SPEC, gone)).startswith("source `events`: no data: Caused by: java.io.File")
    other = RuntimeError("Caused by: java.lang.OutOfMemoryError")
    assert fr.data_error(FLINK_SPEC, other) is other


# ---------------------------------------------------------------- Flink: the publisher
def test_json_values_become_values_of_their_column_type():
    assert fr.value("2024-01-01T00:05:00Z", "timestamp") == dt.datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert fr.value("2024-01-01 00:05:00", "timestamp") == dt.datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert fr.value("2024-01-01T02:05:00+02:00", "timestamp") == dt.datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert fr.value("2024-01-02", "date") == dt.date(2024, 1, 2)
    assert (fr.value("3", "int"), fr.value(2, "float"), fr.value(7, "string")) == (3, 2.0, "7")
    assert (fr.value(True, "bool"), fr.value("TRUE", "bool"), fr.value("no", "bool")) == (True, True, False)
    assert fr.value(None, "int") is None


def test_json_lines_become_rows_of_the_output_schema():
    text = ('{"user_id": "u1", "event_timestamp": "2024-01-01T00:10:00Z", "n": 2, "avg": 1.5, '
            '"day": "2024-01-01", "ok": true, "extra": 1}\n\n{"user_id": "u2", "event_timestamp": '
            '"2024-01-02T00:00:00Z", "n": 1}\n')
    rows = fr.parse_rows(FLINK_SPEC, text)
    assert rows == [
        {"user_id": "u1", "event_timestamp": dt.datetime(2024, 1, 1, 0, 10, tzinfo=UTC), "n": 2, "avg": 1.5,
         "day": dt.date(2024, 1, 1), "ok": True},
        {"user_id": "u2", "event_timestamp": dt.datetime(2024, 1, 2, tzinfo=UTC), "n": 1, "avg": None,
         "day": None, "ok": None}]
    assert [(day, [r["user_id"] for r in part]) for day, part in fr.by_day(list(reversed(rows)))] == [
        ("2024-01-01", ["u1"]), ("2024-01-02", ["u2"])]


def test_rows_are_written_by_key_then_time():
    t = dt.datetime
    rows = [{"user_id": "u2", "event_timestamp": t(2024, 1, 1, 1, tzinfo=UTC)},
            {"user_id": "u1", "event_timestamp": t(2024, 1, 1, 2, tzinfo=UTC)},
            {"user_id": "u1", "event_timestamp": t(2024, 1, 1, 1, tzinfo=UTC)}]
    assert [(r["user_id"], r["event_timestamp"].hour) for r in fr.sorted_rows(FLINK_SPEC, rows)] == [
        ("u1", 1), ("u1", 2), ("u2", 1)]


def test_only_committed_files_not_yet_published_are_pending():
    staging = "/out/_mlc_stream"
    files = [f"{staging}/2024-01-01--00/part-b-0.json", f"{staging}/part-a-0.json",
             f"{staging}/.part-c-0.json.inprogress", f"{staging}/_published.json", f"{staging}/part-z.json"]
    assert fr.pending(staging, files, done=["part-z.json"]) == [
        (f"{staging}/2024-01-01--00/part-b-0.json", "2024-01-01--00/part-b-0.json"),
        (f"{staging}/part-a-0.json", "part-a-0.json")]


def test_the_push_body_is_columns_of_text_values():
    rows = [{"user_id": "u1", "event_timestamp": dt.datetime(2024, 1, 1, 0, 10, tzinfo=UTC), "n": 2, "avg": None,
             "day": dt.date(2024, 1, 1), "ok": True}]
    assert fr.push_body(FLINK_SPEC, "g_push", rows) == {
        "push_source_name": "g_push", "to": "online", "allow_registry_cache": True,
        "df": {"user_id": ["u1"], "event_timestamp": ["2024-01-01 00:10:00.000000"], "n": [2], "avg": [None],
               "day": ["2024-01-01"], "ok": [True]}}


def test_push_posts_the_body_to_the_feature_server():
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((self.path, self.headers["Content-Type"],
                        json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        fr.push(f"http://127.0.0.1:{server.server_address[1]}/", {"push_source_name": "g_push"})
    finally:
        server.shutdown()
        server.server_close()
    assert got == [("/push", "application/json", {"push_source_name": "g_push"})]


def test_publisher_arguments_default_to_the_spec():
    args = fr.publish_args({**FLINK_SPEC, "output": "s3://b/features/g"}, [])
    assert (args.offline, args.push_source, args.feature_server, args.batch_size) == (
        "s3://b/features/g", "g_push", None, 1000)


# ---------------------------------------------------------------- the modules themselves
def test_the_runtimes_import_without_any_engine():
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import mlc_spark_runtime, mlc_flink_runtime; "
            "print(sorted(m for m in ('pyspark', 'pyflink', 'pyarrow', 'py4j') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(SPARK_RUNTIME.parent), str(FLINK_RUNTIME.parent)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The consistency project's Spark and Flink files for env local, written as a bundle."""
    project = ROOT / "tests/spark_flink/projects/consistency"
    old = os.getcwd()
    os.chdir(project)
    try:
        program = check(load_project(()), use_cache=False).program
    finally:
        os.chdir(old)
    out = tmp_path_factory.mktemp("bundle")
    for target in ("spark", "flink"):
        for a in get(target).lower(program, "local", Layout(program)):
            (out / a.path).parent.mkdir(parents=True, exist_ok=True)
            (out / a.path).write_text(a.text, encoding="utf-8")
    return out


@pytest.mark.parametrize("job, words", [
    ("spark/features/user_stats.py", "usage: user_stats [-h] [--source NAME=URI]"),
    ("flink/features/user_stats.py", "[--explain] [--stand-in]"),
    ("flink/publish/user_stats.py", "[--feature-server URL]"),
])
def test_a_job_finds_its_runtime_from_its_own_file(bundle, tmp_path, job, words):
    """`python JOB --help` from another folder: the job puts its bundle's runtime on sys.path."""
    done = subprocess.run([sys.executable, str(bundle / job), "--help"], cwd=tmp_path, capture_output=True,
                          text=True, check=False, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert words in done.stdout


def test_a_job_run_by_runpy_gets_the_runtime_and_its_exit_status(bundle, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(bundle / "spark/features/user_stats.py"), "--source", "nope=x"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(bundle / "spark/features/user_stats.py"), run_name="__main__")
    assert stop.value.code == 2
    assert "--source takes events=URI (got 'nope=x')" in capsys.readouterr().err
    assert str(bundle / "spark/runtime") in [os.path.normpath(p) for p in sys.path]
