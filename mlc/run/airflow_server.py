"""The local deployment's Airflow server: `mlc airflow up` runs `airflow standalone` (scheduler,
DAG processor, triggerer, API server) of the Airflow engine on the deploy's Airflow home, on
127.0.0.1; `mlc signal` and `mlc trigger` find it (`locate`) and talk to its REST API.

A running server is recorded in `AIRFLOW_HOME/mlc-server.json` (its URL and the pid of the
`mlc airflow up` holding it); its output goes to `AIRFLOW_HOME/standalone.log`. The admin's
password is the one `airflow standalone` generates into
`AIRFLOW_HOME/simple_auth_manager_passwords.json.generated` (the simple auth manager's file).

`standalone_env` is the one place that says how standalone runs here; the tests'
session fixture (`tests/standalone/conftest.py`) starts its server with it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mlc.run import background
from mlc.run.airflow_api import Client
from mlc.run.background import tail
from mlc.run.deployed import Deployed, RunError

READY_WITHIN = 180.0
RECORD = "mlc-server.json"
LOG = "standalone.log"
PASSWORDS = "simple_auth_manager_passwords.json.generated"
USER = "admin"  # the simple auth manager's default user (`simple_auth_manager_users = admin:admin`)


def standalone_env(base: dict[str, str], home: Path, port: int, dags: Path | None = None,
                   parallelism: int = 4) -> dict[str, str]:
    """The environment of `airflow standalone` on 127.0.0.1:`port` with its home in `home`.
    Each setting is here for a reason on a small shared machine:"""
    url = f"http://127.0.0.1:{port}"
    env = {**base, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
           # the workers reach the execution API through the base URL (default :8080)
           "AIRFLOW__API__BASE_URL": url, "AIRFLOW__API__WORKERS": "1",
           # standalone starts one worker per parallelism slot (32 by default)
           "AIRFLOW__CORE__PARALLELISM": str(parallelism),
           # deployed means running: a DAG waiting on a signal must be unpaused to be started by it
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           # a new DAG file is listed within seconds (default: every 5 minutes)
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5"}
    if dags is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    return env


def start(airflow: Path, env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """`airflow standalone` in its own process group (stop it with `stop`), output to `log`; the
    workers run bash steps in `cwd`. Standalone starts its components as `airflow ...`: the engine's bin goes first on PATH."""
    env = {**env, "PATH": os.pathsep.join([str(airflow.parent), env.get("PATH", "")])}
    return background.start([str(airflow), "standalone"], env, log, cwd)


def wait_healthy(client: Client, proc: subprocess.Popen, log: Path, within: float = READY_WITHIN) -> None:
    """Until the API answers and reports every component healthy; a RunError with the log's
    tail when the server exits first or is not ready in time."""
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            raise RunError(f"airflow standalone exited with {proc.returncode}:\n" + tail(log))
        try:
            health = client.health()
            if all(part.get("status") == "healthy" for part in health.values() if isinstance(part, dict)):
                return
        except RunError:
            pass
        if time.monotonic() > deadline:
            raise RunError(f"airflow standalone is not ready after {within:.0f}s:\n" + tail(log))
        time.sleep(0.5)


def home(deployed: Deployed) -> Path:
    return Path(deployed.env["AIRFLOW_HOME"])


def password(airflow_home: Path, user: str = USER) -> str | None:
    try:
        return json.loads((airflow_home / PASSWORDS).read_text(encoding="utf-8")).get(user)
    except (OSError, ValueError):
        return None


def command(deployed: Deployed, verb: str) -> str:
    """`mlc airflow VERB` of this deploy, as the user runs it."""
    return f"mlc airflow {verb} --env {deployed.config.env} --to {deployed.config.root}"


def up(deployed: Deployed, port: int | None, on_ready: Callable[[str], None]) -> int:
    """Runs standalone on the deploy's Airflow home until it exits or this process is stopped
    (SIGINT/SIGTERM stop its whole process group). Returns its exit status."""
    from mlc.run.background import free_port

    airflow = deployed.engine("airflow", "airflow")
    airflow_home = home(deployed)
    record = airflow_home / RECORD
    running = background.recorded(record)
    if running is not None:
        raise RunError(f"an Airflow server of this deploy is already running at {running['url']} "
                       f"(pid {running['pid']})", help=f"stop it: {command(deployed, 'down')}")
    port = port or free_port()
    env = standalone_env(deployed.process_env(), airflow_home, port)
    log = airflow_home / LOG
    # bash steps run in the project root, as under `mlc run`
    proc = start(airflow, env, log, deployed.config.project_root)
    client = Client(f"http://127.0.0.1:{port}", USER, None)
    return background.hold(proc, record, {"url": client.url, "log": str(log)},
                           lambda: wait_healthy(client, proc, log), lambda: on_ready(client.url))


def down(deployed: Deployed) -> str | None:
    """Stops the server `mlc airflow up` runs for this deploy; its URL, or None if none ran."""
    info = background.down(home(deployed) / RECORD)
    return info["url"] if info else None


def locate(deployed: Deployed, url: str | None = None) -> Client:
    """The Airflow API of the deploy: `url` (--url), else $MLC_AIRFLOW_URL, else `airflow_url`
    of `[deploy.ENV]`, else the server `mlc airflow up` recorded. Credentials:
    $MLC_AIRFLOW_USERNAME / $MLC_AIRFLOW_PASSWORD, else the admin's password standalone
    generated in the Airflow home. Nothing is sent here."""
    start_help = f"start it: {command(deployed, 'up')}"
    url = url or os.environ.get("MLC_AIRFLOW_URL") or deployed.config.airflow_url
    if url is None:
        info = background.recorded(home(deployed) / RECORD)
        if info is None:
            raise RunError(f"no Airflow server is running for env `{deployed.config.env}` "
                           f"(nothing recorded in {home(deployed) / RECORD})", help=start_help)
        url = info["url"]
    user = os.environ.get("MLC_AIRFLOW_USERNAME", USER)
    secret = os.environ.get("MLC_AIRFLOW_PASSWORD") or password(home(deployed), user)
    return Client(url.rstrip("/"), user if secret is not None else None, secret, start_help)
