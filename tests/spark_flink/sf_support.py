"""Helpers of the Spark/Flink engine tests: the engine worker client, compiling a project,
input files, running a pair of jobs, reading tables back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parent / "worker.py"
MARK = "@@mlc-worker@@ "
ENGINES = ROOT / ".engines"
KAFKA_JARS = ENGINES / "flink-kafka-jars"


def engine_python(name: str) -> Path:
    return ENGINES / name / "bin" / "python"


def build_engines() -> None:
    """Builds the engine environments (idempotent: a no-op when engines/*.txt did not change)."""
    done = subprocess.run(["bash", str(ROOT / "scripts" / "engines.sh"), "spark", "flink"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1500, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/engines.sh spark flink failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


class JobFailed(Exception):
    def __init__(self, answer: dict) -> None:
        super().__init__(answer.get("error", "?"))
        self.answer = answer
        self.error = answer.get("error", "")
        self.type = answer.get("type")


class Worker:
    """A client of tests/spark_flink/worker.py running under an engine's python."""

    def __init__(self, engine: str, log_dir: Path) -> None:
        self.engine = engine
        self.log = open(log_dir / f"{engine}-worker.log", "w")  # noqa: SIM115  (open while the worker lives)
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONUNBUFFERED": "1",
               "PYSPARK_PYTHON": str(engine_python(engine))}
        self.started = time.monotonic()
        self.proc = subprocess.Popen([str(engine_python(engine)), str(WORKER), engine], cwd=log_dir,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, bufsize=1, env=env)
        self.lock = threading.Lock()
        self.pending = 0
        self.ready: dict | None = None

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK):])
        raise RuntimeError(f"the {self.engine} worker stopped (exit {self.proc.wait()}); "
                           f"see {self.log.name}")

    def wait_ready(self) -> dict:
        if self.ready is None:
            self.ready = self._read()
            self.ready["wall"] = time.monotonic() - self.started
            if not self.ready.get("ok"):
                raise RuntimeError(f"the {self.engine} engine did not start: {self.ready}")
        return self.ready

    def submit(self, **request) -> None:
        """Sends a request without waiting; `result()` collects the answer (in order)."""
        self.wait_ready()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        self.pending += 1

    def result(self) -> dict:
        self.pending -= 1
        answer = self._read()
        if not answer.get("ok"):
            raise JobFailed(answer)
        return answer

    def call(self, **request) -> dict:
        self.submit(**request)
        return self.result()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def compile_project(project: Path, env: str, out: Path, targets=("spark", "flink")) -> Path:
    """`mlc compile` of a project into `out` (the real CLI, in the compiler's environment)."""
    cmd = [sys.executable, "-m", "mlc", "compile", "--env", env, "--out", str(out), "--no-cache"]
    for t in targets:
        cmd += ["--target", t]
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("build", ".mlc_cache", "__pycache__", "data"))
    return dst


DAY = "2024-01-01"


def T(hm: str, day: str = DAY) -> str:
    """'00:05' or '00:05:30' -> how a table read back shows a UTC timestamp."""
    parts = hm.split(":")
    hh, mm = parts[0], parts[1]
    ss = parts[2] if len(parts) > 2 else "00"
    return f"{day}T{hh}:{mm}:{ss}.000Z"


def D(day: str) -> str:
    """A date (midnight UTC) as a table read back shows it."""
    return f"{day}T00:00:00.000Z"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_table(spark: Worker, path: Path) -> tuple[dict[str, str], list[dict]]:
    """(column types, rows without the event_date partition column), rows sorted."""
    got = spark.call(cmd="read", path=str(path))
    schema = {n: t for n, t in got["schema"] if n != "event_date"}
    rows = [{k: v for k, v in r.items() if k != "event_date"} for r in got["rows"]]
    rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
    return schema, rows


def index(rows: list[dict], *keys: str) -> dict[tuple, dict]:
    out = {}
    for r in rows:
        k = tuple(r[x] for x in keys) + (r["event_timestamp"],)
        assert k not in out, f"two rows for {k}"
        out[k] = r
    return out


def check_rows(table: dict[tuple, dict], expected: dict[tuple, dict]) -> None:
    """Every expected (key..., event_timestamp) row is there with exactly these values."""
    problems = []
    for k, want in expected.items():
        got = table.get(k)
        if got is None:
            problems.append(f"{k}: no row")
            continue
        for col, v in want.items():
            if got[col] != v:
                problems.append(f"{k}: {col} = {got[col]!r}, expected {v!r}")
    assert not problems, "\n".join(problems)


def run_stream_pair(spark: Worker, flink: Worker, build: Path, project: Path, group: str,
                    spark_out: Path, flink_out: Path, extra: list[str] | None = None,
                    feature_server: str | None = None) -> None:
    """Runs a stream group's Flink job and its Spark job on the same input, side by side,
    then the Flink publisher (JSON lines -> Parquet)."""
    extra = extra or []
    flink.submit(cmd="job", file=str(build / "flink" / "features" / f"{group}.py"),
                 argv=["--output", str(flink_out), *extra], cwd=str(project))
    spark_error = None
    try:
        spark.call(cmd="job", file=str(build / "spark" / "features" / f"{group}.py"),
                   argv=["--output", str(spark_out), *extra], cwd=str(project))
    except Exception as e:  # noqa: BLE001  (collect the Flink answer first, so the worker stays in step)
        spark_error = e
    flink.result()
    if spark_error is not None:
        raise spark_error
    push = ["--feature-server", feature_server] if feature_server else []
    flink.call(cmd="script", file=str(build / "flink" / "publish" / f"{group}.py"),
               argv=["--offline", str(flink_out), *push], cwd=str(project))


class FeatureServer:
    """A stand-in for Feast's feature server on 127.0.0.1: records the bodies of POST /push."""

    def __init__(self) -> None:
        import http.server

        self.pushed: list[dict] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.pushed.append({"path": self.path, "body": json.loads(body)})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
