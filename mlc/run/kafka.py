"""The Kafka broker of a deploy's stream sources: which address a stream run reads
(`bootstrap`), and the local broker `mlc kafka up` runs for it (`up`, `down`).

The address, first found wins (docs/run.md, "Streaming"):
1. `mlc run --bootstrap HOST:PORT`;
2. `$MLC_KAFKA_BOOTSTRAP`;
3. `kafka_bootstrap` of `[deploy.ENV]` in mlc.toml (the deploy also writes it into deploy.env);
4. the broker `mlc kafka up` runs for this deploy (recorded in `ROOT/kafka/mlc-kafka.json`);
5. the program's binding of the stream (`kafka(...)` in the env) — compiled into the job.
Each is a run-time setting: nothing is recompiled. A run that finds no broker names the one
of these its address came from.

`mlc kafka up` runs the kafka engine's Tansu broker (`ENGINES/kafka/bin/tansu`) on 127.0.0.1,
in memory (its topics last as long as it runs), in a process group of its own, until Ctrl-C
or `mlc kafka down`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mlc.run import background
from mlc.run.deployed import Deployed, RunError

VARIABLE = "MLC_KAFKA_BOOTSTRAP"
RECORD, LOG = "mlc-kafka.json", "tansu.log"
READY_WITHIN = 30.0


def folder(deployed: Deployed) -> Path:
    return deployed.config.root / "kafka"


def command(deployed: Deployed, verb: str) -> str:
    """`mlc kafka VERB` of this deploy, as the user runs it."""
    return f"mlc kafka {verb} --env {deployed.config.env} --to {deployed.config.root}"


def bootstrap(deployed: Deployed, binding: str, flag: str | None = None) -> tuple[str, str]:
    """(the broker address a stream run of this deploy reads, where it came from, in words)."""
    env = deployed.config.env
    if flag:
        return flag, "given by --bootstrap"
    if os.environ.get(VARIABLE):
        return os.environ[VARIABLE], f"from ${VARIABLE}"
    if deployed.config.kafka_bootstrap:
        return deployed.config.kafka_bootstrap, f"from `kafka_bootstrap` of [deploy.{env}] in mlc.toml"
    record = folder(deployed) / RECORD
    info = background.recorded(record)
    if info is not None:
        return info["bootstrap"], f"the broker `mlc kafka up` runs ({record})"
    return binding, f"the binding of the stream in env `{env}` (its `kafka(...)` in the program)"


def where_from(address: str, source: str, deployed: Deployed) -> str:
    """What a run that reached no broker at `address` tells: where the address came from, and the
    ways to name another or start one."""
    return (f"the broker address {address} is {source}; start a broker: {command(deployed, 'up')}, or name "
            f"another: --bootstrap HOST:PORT, ${VARIABLE}, or `kafka_bootstrap` of [deploy.{deployed.config.env}]\n")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_ready(proc: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while not _answers(port):
        if proc.poll() is not None:
            raise RunError(f"the Tansu broker exited with {proc.returncode}:\n" + background.tail(log))
        if time.monotonic() > deadline:
            raise RunError(f"the Tansu broker is not listening after {READY_WITHIN:.0f}s:\n" + background.tail(log))
        time.sleep(0.1)


def up(deployed: Deployed, port: int | None, on_ready: Callable[[str], None]) -> int:
    """Runs the kafka engine's Tansu broker on 127.0.0.1:`port` (default: a free one) until it
    exits or this process is stopped; records its address for stream runs. Its exit status."""
    from mlc.run.background import free_port

    tansu = deployed.engine("kafka", "tansu")
    record = folder(deployed) / RECORD
    running = background.recorded(record)
    if running is not None:
        raise RunError(f"a Kafka broker of this deploy is already running at {running['bootstrap']} "
                       f"(pid {running['pid']})", help=f"stop it: {command(deployed, 'down')}")
    port = port or free_port()
    if _answers(port):
        raise RunError(f"port {port} of 127.0.0.1 is taken", help="choose another with --port, or leave it out")
    url, log = f"tcp://127.0.0.1:{port}", folder(deployed) / LOG
    # the flags, not Tansu's environment variables (LISTENER_URL, STORAGE_ENGINE...): one broker
    # on loopback only, whatever the caller's environment says
    proc = background.start([str(tansu), "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/"], dict(os.environ), log)
    address = f"127.0.0.1:{port}"
    return background.hold(proc, record, {"bootstrap": address, "log": str(log)},
                           lambda: _wait_ready(proc, port, log), lambda: on_ready(address))


def down(deployed: Deployed) -> str | None:
    """Stops the broker `mlc kafka up` runs for this deploy; its address, or None if none ran."""
    info = background.down(folder(deployed) / RECORD)
    return info["bootstrap"] if info else None
