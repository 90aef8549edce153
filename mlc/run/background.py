"""Servers that `mlc ... up` holds in the foreground and `mlc ... down` stops (`mlc airflow
up`, `mlc kafka up`): each runs in a process group of its own, so that stopping it stops
everything it started, and is recorded in a JSON file (what it serves, and the pid of the
`mlc ... up` holding it) that the commands using it read and `down` signals.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server to bind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """`argv` in a process group of its own (stop it with `stop`), its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen, within: float = 30.0) -> None:
    """Stops `proc` and everything it started: SIGTERM to its process group, then, for what is
    left after `within` seconds, SIGKILL. (A leader may exit at once on SIGTERM while its
    children still finish their shutdown: the group, not the leader, is waited for.)"""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        proc.poll()  # reaps the leader once it exits
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "  | (no log)"
    return "\n".join("  | " + line for line in text.rstrip().splitlines()[-lines:])


def recorded(record: Path) -> dict | None:
    """The record of a server that still runs (a record left by a killed `mlc ... up` is
    removed)."""
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
        return info
    except (OSError, ValueError, KeyError, TypeError):
        record.unlink(missing_ok=True)
        return None


def hold(proc: subprocess.Popen, record: Path, info: dict, wait_ready: Callable[[], None],
         on_ready: Callable[[], None]) -> int:
    """Holds the started `proc` until it exits or this process is stopped: once `wait_ready()`
    returns, `info` (with this process's pid) is recorded and `on_ready()` called. SIGINT and
    SIGTERM (`mlc ... down`, a script stopping `mlc ... up &`) stop its whole process group and
    remove the record. Returns its exit status (0 when stopped)."""
    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_ready()
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({**info, "pid": os.getpid()}, sort_keys=True) + "\n", encoding="utf-8")
        on_ready()
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
        record.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, old)


def down(record: Path, within: float = 40.0) -> dict | None:
    """Stops the server `record` names (SIGTERM to the `mlc ... up` holding it, which stops its
    process group) and waits until its record is gone; the record, or None if none ran."""
    info = recorded(record)
    if info is None:
        return None
    os.kill(int(info["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + within
    while record.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return info
