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
    try:
        record = json.loads((folder / PIDFILE).read_text())
        pid, worker_key = int(record["pid"]), str(record["key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
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


def _start(root: Path, python: Path, script: Path, worker_key: str, env: dict[str, str]) -> subprocess.Popen:
    folder = root / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)  # the socket answers whoever can reach it: the user only
    with open(folder / LOG, "wb") as log:
        # its own session: it outlives this deploy and a Ctrl-C of it; no pipe of ours held open
        return subprocess.Popen([str(python), "-P", str(script), "--serve", str(folder), "--key", worker_key,
                                 "--idle", str(idle_seconds())], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True)


def request(root: Path, python: Path, script: Path, payload: dict, cwd: Path,
            env: dict[str, str]) -> tuple[dict, str] | None:
    """Runs `payload` in the warm worker of `root` (started first if none runs): its result
    and captured log, or None when the worker cannot serve it (the caller runs it itself)."""
    worker_key = key(python, script)
    folder = root / FOLDER
    found = running(root)
    if found is None or found.get("key") != worker_key:
        stop(root)
        try:
            proc = _start(root, python, script, worker_key, env)
        except OSError:
            return None
        deadline = time.monotonic() + START_SECONDS
        while (found := running(root)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(root)
                return None
            time.sleep(0.05)
    try:
        answer = _ask(folder, {"op": "apply", "request": payload, "cwd": str(cwd), "env": env}, None)
    except (OSError, ValueError):  # it died mid-request
        stop(root)
        return None
    return answer["result"], answer["log"]
