"""A small client of the Airflow 3.3 REST API (`/api/v2`) that `mlc signal` and `mlc trigger`
talk to: asset events, DAG runs, task instances. Standard library only (urllib): mlc imports
no engine.

Authentication is the simple auth manager's, as `airflow standalone` runs it: a JWT from
`POST /auth/token` with a user name and password, sent as `Authorization: Bearer`. Where the
server and the credentials come from is `mlc/run/airflow_server.py`'s `locate`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from mlc.run.deployed import RunError

TIMEOUT = 30.0
FINISHED = frozenset({"success", "failed"})


class ApiError(RunError):
    """The server answered with an error status; `status` is the HTTP code."""

    def __init__(self, status: int, message: str, help: str | None = None) -> None:
        super().__init__(message, help)
        self.status = status


@dataclass
class Client:
    url: str                      # the API server, e.g. http://127.0.0.1:8080
    username: str | None = None
    password: str | None = None
    start_help: str | None = None  # the command that starts the server, said when none answers
    _token: str | None = field(default=None, repr=False)

    # plumbing -------------------------------------------------------------------
    def _send(self, method: str, path: str, body: object | None, auth: bool) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth and self.token():
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url.rstrip("/") + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                answer = json.loads(raw) if raw else None
            except ValueError:
                answer = raw.decode("utf-8", "replace")
            return e.code, answer
        except OSError as e:
            raise RunError(f"no Airflow API server answers at {self.url} ({getattr(e, 'reason', e)})",
                           help=self.start_help) from e

    def token(self) -> str | None:
        """The simple auth manager's JWT for the user (None without credentials: a server with
        `simple_auth_manager_all_admins` needs none)."""
        if self._token is None and self.username is not None and self.password is not None:
            status, answer = self._send("POST", "/auth/token",
                                        {"username": self.username, "password": self.password}, auth=False)
            if status != 201 or not isinstance(answer, dict) or "access_token" not in answer:
                raise ApiError(status, f"Airflow at {self.url} refused the credentials of user `{self.username}` "
                                       f"(HTTP {status}: {_detail(answer)})",
                               help="set MLC_AIRFLOW_USERNAME and MLC_AIRFLOW_PASSWORD (`airflow standalone` "
                                    "writes the admin's password to AIRFLOW_HOME/"
                                    "simple_auth_manager_passwords.json.generated)")
            self._token = answer["access_token"]
        return self._token

    def call(self, method: str, path: str, body: object | None = None, ok: tuple[int, ...] = (200,)) -> object:
        status, answer = self._send(method, "/api/v2" + path, body, auth=True)
        if status in (401, 403):
            raise ApiError(status, f"Airflow at {self.url} refused {method} {path} (HTTP {status}: {_detail(answer)})",
                           help="set MLC_AIRFLOW_USERNAME and MLC_AIRFLOW_PASSWORD to a user allowed to do it")
        if status not in ok:
            raise ApiError(status, f"{method} {path} failed (HTTP {status}): {_detail(answer)}")
        return answer

    # the API ----------------------------------------------------------------------
    def health(self) -> dict:
        return self.call("GET", "/monitor/health")  # type: ignore[return-value]

    def asset(self, name: str) -> dict | None:
        """The asset named exactly `name` (the API's pattern search is a LIKE: `_` and `%` match
        other names too, so the answer is filtered)."""
        query = urllib.parse.urlencode({"name_pattern": name, "limit": 100})
        answer = self.call("GET", f"/assets?{query}")
        return next((a for a in answer["assets"] if a["name"] == name), None)  # type: ignore[index]

    def create_asset_event(self, asset_id: int, extra: dict, partition_key: str | None = None) -> dict:
        body = {"asset_id": asset_id, "extra": extra} | ({"partition_key": partition_key} if partition_key else {})
        return self.call("POST", "/assets/events", body)  # type: ignore[return-value]

    def asset_runs(self, dag_id: str, since: str) -> list[dict]:
        """The asset-triggered runs of `dag_id` queued at or after `since` (an event's timestamp).
        (Not the event's `created_dagruns`: 3.3.2 answers HTTP 500 for an event whose run has
        not started yet.)"""
        query = urllib.parse.urlencode({"run_type": "asset_triggered", "run_after_gte": since,
                                        "order_by": "run_after", "limit": 100})
        return self.call("GET", f"/dags/{_q(dag_id)}/dagRuns?{query}")["dag_runs"]  # type: ignore[index]

    def dag(self, dag_id: str) -> dict | None:
        status, answer = self._send("GET", f"/api/v2/dags/{_q(dag_id)}", None, auth=True)
        if status == 404:
            return None
        if status != 200:
            raise ApiError(status, f"GET /dags/{dag_id} failed (HTTP {status}): {_detail(answer)}")
        return answer  # type: ignore[return-value]

    def unpause(self, dag_id: str) -> dict:
        return self.call("PATCH", f"/dags/{_q(dag_id)}", {"is_paused": False})  # type: ignore[return-value]

    def import_errors(self) -> list[dict]:
        return self.call("GET", "/importErrors?limit=100")["import_errors"]  # type: ignore[index]

    def trigger(self, dag_id: str, conf: dict, note: str | None = None) -> dict:
        # logical_date has no default in 3.3 (None: a run not tied to a data interval)
        body = {"logical_date": None, "conf": conf, **({"note": note} if note else {})}
        return self.call("POST", f"/dags/{_q(dag_id)}/dagRuns", body)  # type: ignore[return-value]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")  # type: ignore[return-value]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        answer = self.call("GET", f"/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances?limit=1000")
        out: dict[str, str | None] = {}
        for t in answer["task_instances"]:  # type: ignore[index]
            index = t.get("map_index", -1)
            out[t["task_id"] + (f"[{index}]" if index is not None and index >= 0 else "")] = t["state"]
        return out

    def wait_run(self, dag_id: str, run_id: str, timeout: float, poll: float = 1.0) -> dict:
        """The run once it succeeded or failed; a RunError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise RunError(f"run {run_id} of {dag_id} is still {run['state']} after {timeout:.0f}s",
                               help=f"follow it in the Airflow UI: {self.url}/dags/{dag_id}/runs/{run_id}")
            time.sleep(poll)


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _detail(answer: object) -> str:
    if isinstance(answer, dict) and "detail" in answer:
        return str(answer["detail"])
    return str(answer)[:500]
