"""The warm Feast worker of a local deploy root, as Gradle's daemon or Bazel's server.

`import feast` takes ~3.5 s of CPU, more than everything else of a one-view redeploy, so the
Feast applier does not start the worker script (`templates/feast_apply.py`) once per deploy:
the first deploy starts it as a long-lived process of the serving engine, listening on the
unix socket `ROOT/.feast-worker/sock` (no TCP; the folder is the user's alone), and later
deploys send it the same request the one-shot script reads from stdin. It serves one request
at a time (deploys of one root are serialised by its lock anyway) and exits after
`MLC_FEAST_WORKER_IDLE` seconds without one (default 900).

A worker is keyed by the serving Python's path and the worker script's digest: one started
by another engine or another mlc is stopped and replaced. A worker that cannot be started,
does not answer, or dies mid-request is stopped and the request runs in the one-shot
subprocess instead (a request only writes inside the new release, and starts by copying
the current registry again, so running it twice is safe).

`MLC_FEAST_WORKER=off` (or 0, false, no) switches it off; `mlc deploy --env ENV
--stop-worker` stops the one of a deploy root.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

FOLDER = ".feast-worker"  # in the deploy root
SOCKET, PIDFILE, LOG = "sock", "worker.json", "worker.log"  # the worker script names the first two too
# run in the serving engine, like the runtimes shipped with bundles (hence templates/)
SCRIPT = Path(__file__).resolve().parent / "templates" / "feast_apply.py"
IDLE = 900.0  # seconds without a request before the worker exits
START_SECONDS = 180.0  # how long a starting worker may take to answer (import feast, under load)
ANSWER_SECONDS = 10.0  # a ready worker answers `hello` at once; one that does not is stuck
OFF = ("0", "off", "false", "no")


def enabled() -> bool:
    return os.environ.get("MLC_FEAST_WORKER", "on").strip().lower() not in OFF


def idle_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get("MLC_FEAST_WORKER_IDLE", IDLE)))
    except ValueError:
        return IDLE


def key(python: Path, script: Path) -> str:
    """What a worker must have been started with to serve a deploy."""
    return hashlib.sha256(f"{python}\0{hashlib.sha256(script.read_bytes()).hexdigest()}".encode()).hexdigest()


def _ask(folder: Path, message: dict, timeout: float | None) -> dict:
    """Sends one message to the worker of `folder`, returns its answer; OSError or ValueError
    when there is no worker or it fails."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = os.open(folder, os.O_RDONLY)
    try:
        sock.settimeout(timeout)
        # through the folder's descriptor: a socket's path is limited to 107 bytes
        sock.connect(f"/proc/self/fd/{fd}/{SOCKET}")
        sock.sendall(json.dumps(message).encode() + b"\n")
        line = sock.makefile("rb").readline()
    finally:
        os.close(fd)
        sock.close()
    if not line:
        raise ConnectionError("the Feast worker closed the connection without an answer")
    return json.loads(line)


def running(root: Path) -> dict | None:
    """The record ({"pid", "key"}) of the worker of `root` that answers, else None."""
    folder = root / FOLDER
    try:
        return _ask(folder, {"op": "hello"}, ANSWER_SECONDS)
    except (OSError, ValueError):
        return None


def _ours(pid: int, worker_key: str) -> bool:
    """Whether `pid` is the worker started with `worker_key` (not a process that reused its id)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--serve" in args and worker_key.encode() in args


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child (this process started it): reaped
                return True
        except ChildProcessError:
            pass
        if not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (OSError, IndexError):
        return "zombie"


def stop(root: Path) -> int | None:
    """Stops the worker of `root`: asked to, else (stuck) terminated by its recorded pid once
    that pid is known to be the worker. Returns its pid, None when none was running."""
    folder = root / FOLDER
    record = _record(folder)
    if record is None:
        return None
    pid, worker_key = record
    if not _ours(pid, worker_key):  # exited (killed) without tidying up
        for name in (SOCKET, PIDFILE):
            (folder / name).unlink(missing_ok=True)
        return None
    try:
        _ask(folder, {"op": "stop"}, ANSWER_SECONDS)
    except (OSError, ValueError):
        pass
    if not _gone(pid, 5.0) and _ours(pid, worker_key):
        os.kill(pid, signal.SIGKILL)
        _gone(pid, 5.0)
    for name in (SOCKET, PIDFILE):
        (folder / name).unlink(missing_ok=True)
    return pid


def _record(folder: Path) -> tuple[int, str] | None:
    try:
        record = json.loads((folder / PIDFILE).read_text())
        return int(record["pid"]), str(record["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _start(root: Path, python: Path, worker_key: str, env: dict[str, str]) -> None:
    folder = root / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)  # the socket answers whoever can reach it: the user only
    with open(folder / LOG, "wb") as log:
        # its own session: it outlives this deploy and a Ctrl-C of it; no pipe of ours held open
        proc = subprocess.Popen([str(python), "-P", str(SCRIPT), "--serve", str(folder), "--key", worker_key,
                                 "--idle", str(idle_seconds())], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True)
    # /proc shows the new command line a moment after Popen returns: until then `_ours` is false
    deadline = time.monotonic() + ANSWER_SECONDS
    while not _ours(proc.pid, worker_key) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    # recorded at once (the worker writes the same when it answers): a deploy finding it still
    # importing Feast waits for it, and `stop` can end it
    (folder / PIDFILE).write_text(json.dumps({"pid": proc.pid, "key": worker_key}))


def _ready(root: Path, worker_key: str) -> dict | None:
    """The answer of the worker started with `worker_key`, once it has started; None when
    none with that key is alive or it does not answer in time."""
    deadline = time.monotonic() + START_SECONDS
    while (found := running(root)) is None:
        record = _record(root / FOLDER)
        if record is None or record[1] != worker_key or not _ours(record[0], worker_key) \
                or time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return found if found.get("key") == worker_key else None


def prestart(root: Path, python: Path) -> None:
    """Starts the worker of `root` if none runs, without waiting: at the start of a deploy,
    so that `import feast` overlaps the compile (a deploy with nothing for Feast leaves it
    for the next one)."""
    if not enabled() or not python.is_file() or running(root) is not None:
        return
    worker_key = key(python, SCRIPT)
    record = _record(root / FOLDER)
    if record is not None and record[1] == worker_key and _ours(record[0], worker_key):
        return  # starting already
    stop(root)
    try:
        _start(root, python, worker_key, {**os.environ, "FEAST_USAGE": "False"})
    except OSError:
        pass  # the deploy starts one, or runs the one-shot script


def request(root: Path, python: Path, payload: dict, cwd: Path, env: dict[str, str]) -> tuple[dict, str] | None:
    """Runs `payload` in the warm worker of `root` (started first if none runs): its result
    and captured log, or None when the worker cannot serve it (the caller runs it itself)."""
    worker_key = key(python, SCRIPT)
    found = _ready(root, worker_key)  # one already running, or started by `prestart`
    if found is None:
        stop(root)
        try:
            _start(root, python, worker_key, env)
        except OSError:
            return None
        if _ready(root, worker_key) is None:
            stop(root)
            return None
    try:
        answer = _ask(root / FOLDER, {"op": "apply", "request": payload, "cwd": str(cwd), "env": env}, None)
    except (OSError, ValueError):  # it died mid-request
        stop(root)
        return None
    return answer["result"], answer["log"]
