"""One real `airflow standalone` (Airflow 3.3.2 of `.engines/airflow`) per test session, on
127.0.0.1 and a free port, for every test in this folder: `mlc signal`, `mlc trigger`, and
the other helpers' proofs that compiled DAGs run under a scheduler.

It is started the way `mlc airflow up` starts one (`mlc.run.airflow_server.standalone_env`):
its own AIRFLOW_HOME in a temporary folder, a DAG folder this fixture controls, 4 workers,
no examples, DAGs unpaused at creation, new DAG files listed within seconds. It is stopped
by process group at the end of the session. A server that cannot start fails the tests
(never a skip).

Interface (the fixture `airflow`, a `Standalone`):
- `airflow.install(project, name=None, branch=None) -> Installed`: deploys the project
  (`mlc deploy --env local --to TMP/deploys/NAME`), copies its DAG files into
  `DAGS/NAME/`, links its top-level Python packages into a folder on the workers'
  PYTHONPATH (python steps import them), and waits until every DAG of it is parsed and
  unpaused (an import error fails at once, with its text). ~5-15 s.
- `Installed.mlc(*args)`: runs `mlc ARGS --to DEPLOY` in the project with this server's URL and
  credentials in the environment (`mlc signal`, `mlc trigger`, ...): a CompletedProcess;
  `airflow.mlc(cwd, *args)` the same anywhere.
- `Installed.dag_ids`, `Installed.deploy`, `Installed.project`.
- `airflow.client` (`mlc.run.airflow_api.Client`, logged in): `trigger`, `wait_run`,
  `task_states`, `asset`, `create_asset_event`, `asset_runs`, `call(method, path)`.
- `airflow.wait_run(dag_id, run_id, timeout=120) -> (state, {task: state})`.
- `airflow.runs(dag_id) -> list[dict]`, `airflow.log_tail()` (the server's output).
DAG ids are global to the server: give your flows names no other test uses (or a branch).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mlc.run import airflow_server, background
from mlc.run.airflow_api import Client
from mlc.run.background import free_port
from mlc.run.deployed import RunError

ROOT = Path(__file__).resolve().parent.parent.parent
MLC = [str(ROOT / ".venv" / "bin" / "python"), "-m", "mlc"]
AIRFLOW = ROOT / ".engines" / "airflow" / "bin" / "airflow"
PARSED_WITHIN = 120.0
_DAG_ID = re.compile(r'^\s*dag_id="([^"]+)",', re.MULTILINE)


@dataclass
class Installed:
    server: Standalone
    project: Path
    deploy: Path
    dag_ids: list[str]

    def mlc(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.server.mlc(self.project, *args, "--to", str(self.deploy), timeout=timeout)


@dataclass
class Standalone:
    url: str
    home: Path
    dags: Path
    lib: Path
    work: Path
    client: Client
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # for `mlc` processes: the URL and credentials
    _names: set[str] = field(default_factory=set)

    def mlc(self, cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`mlc ARGS` in `cwd` with this server's URL and credentials in the environment."""
        return subprocess.run([*MLC, *args], cwd=cwd, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def install(self, project: Path, name: str | None = None, branch: str | None = None) -> Installed:
        name = name or project.name
        assert name not in self._names, f"a program named {name} is installed already: pass name="
        self._names.add(name)
        deploy = self.work / "deploys" / name
        done = self.mlc(project, "deploy", "--env", "local", "--to", str(deploy), *(["--branch", branch] if branch else []))
        assert done.returncode == 0, f"mlc deploy of {project} failed:\n{done.stdout}{done.stderr}"
        self._link_packages(project)
        target = self.dags / name
        target.mkdir(parents=True)
        ids = []
        for dag in sorted((deploy / "current" / "airflow" / "dags").glob("*.py")):
            shutil.copy(dag, target / dag.name)
            ids += _DAG_ID.findall(dag.read_text(encoding="utf-8"))
        self._wait_parsed(ids, target)
        return Installed(self, project, deploy, ids)

    def _link_packages(self, project: Path) -> None:
        """The project's top-level packages and modules, where the workers import them from."""
        for entry in project.iterdir():
            if entry.name.startswith((".", "_")) or entry.name in ("deploy", "build", "data"):
                continue
            if (entry.is_dir() and any(entry.glob("*.py"))) or entry.suffix == ".py":
                link = self.lib / entry.name
                assert not link.exists() or link.resolve() == entry.resolve(), \
                    f"two installed projects have a top-level package {entry.name}: rename one"
                if not link.exists():
                    link.symlink_to(entry.resolve())

    def _wait_parsed(self, ids: list[str], folder: Path) -> None:
        deadline = time.monotonic() + PARSED_WITHIN
        waiting = set(ids)
        while waiting:
            errors = [e for e in self.client.import_errors() if str(folder) in e.get("filename", "")]
            assert not errors, "import errors in the installed DAGs:\n" + "\n".join(e["stack_trace"] for e in errors)
            for dag_id in sorted(waiting):
                dag = self.client.dag(dag_id)
                if dag is None:
                    continue
                if dag.get("is_paused"):
                    self.client.unpause(dag_id)
                    continue
                waiting.discard(dag_id)
            if waiting and time.monotonic() > deadline:
                pytest.fail(f"DAGs {sorted(waiting)} not parsed within {PARSED_WITHIN:.0f}s\n{self.log_tail()}")
            if waiting:
                time.sleep(1.0)

    def runs(self, dag_id: str) -> list[dict]:
        return self.client.call("GET", f"/dags/{dag_id}/dagRuns?order_by=run_after&limit=100")["dag_runs"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 120) -> tuple[str, dict[str, str | None]]:
        try:
            state = self.client.wait_run(dag_id, run_id, timeout)["state"]
        except RunError as e:
            pytest.fail(f"{e}\n{self.log_tail()}")
        return state, self.client.task_states(dag_id, run_id)

    def log_tail(self, lines: int = 60) -> str:
        return background.tail(self.log, lines)


@pytest.fixture(scope="session")
def airflow(tmp_path_factory) -> Standalone:
    if not AIRFLOW.is_file():
        pytest.fail(f"the Airflow engine is missing ({AIRFLOW}): bash scripts/engines.sh airflow")
    work = tmp_path_factory.mktemp("standalone")
    home, dags, lib = work / "home", work / "dags", work / "lib"
    for folder in (home, dags, lib):
        folder.mkdir()
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLC_AIRFLOW"))}
    base["PYTHONPATH"] = str(lib)
    env = airflow_server.standalone_env(base, home, port, dags=dags)
    log = work / "standalone.log"
    started = time.perf_counter()
    # the workers run bash steps in their working folder: this session's, not the checkout
    proc = airflow_server.start(AIRFLOW, env, log, cwd=work)
    try:
        client = Client(f"http://127.0.0.1:{port}")
        try:
            airflow_server.wait_healthy(client, proc, log)
        except RunError as e:
            pytest.fail(str(e))
        password = airflow_server.password(home)
        assert password, f"standalone wrote no admin password in {home}"
        client = Client(client.url, airflow_server.USER, password)
        client.token()
        print(f"\nairflow standalone ready at {client.url} in {time.perf_counter() - started:.1f}s")
        server = Standalone(client.url, home, dags, lib, work, client, log, env={
            **os.environ, "MLC_AIRFLOW_URL": client.url, "MLC_AIRFLOW_USERNAME": airflow_server.USER,
            "MLC_AIRFLOW_PASSWORD": password})
        yield server
    finally:
        background.stop(proc)
