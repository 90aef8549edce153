"""`mlc signal` and `mlc trigger` against a running `airflow standalone` (the session's, see
conftest.py): a matching payload starts the waiting flow and its steps run; a payload that
does not match starts it and its steps are skipped (the `trigger-match` short-circuit);
`mlc trigger` starts a run; a wrong field or type is a diagnostic and nothing is sent."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from mlc.run.background import free_port

MLC = [sys.executable, "-m", "mlc"]

PROGRAM = """\
package sigtest

env local {
}

## Published by the catalog service when a region's catalog is rebuilt.
signal sig_catalog_ready external { region: string, rows: int, ds: date }

## Loads the US catalog: its step fails unless it got the payload's region.
flow sig_load_catalog {
  trigger signal(sig_catalog_ready, region = "us")
  step load bash("test \\"$REGION\\" = us && test \\"$ROWS\\" = 5") {
    env { REGION = trigger.region, ROWS = trigger.rows }
  }
}

flow sig_nightly {
  param top_k: int = 5
  step hello bash("test \\"$TOP_K\\" = 7") { env { TOP_K = top_k } }
}
"""


@pytest.fixture(scope="module")
def installed(airflow, tmp_path_factory):
    project = tmp_path_factory.mktemp("sigproj")
    (project / "mlc.toml").write_text('[project]\nname = "sigproj"\nsources = ["."]\n')
    (project / "flows.flow").write_text(PROGRAM)
    return airflow.install(project, "sigproj")


def _events(airflow, asset: str) -> int:
    found = airflow.client.asset(asset)
    return airflow.client.call("GET", f"/assets/events?asset_id={found['id']}&limit=1")["total_entries"]


def test_a_matching_payload_runs_the_waiting_flow(airflow, installed):
    done = installed.mlc("signal", "sig_catalog_ready", "region=us", "rows=5", "ds=2026-12-01", "--wait", "180")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out + airflow.log_tail()
    assert re.search(r'published signal sig_catalog_ready \(asset mlc\.signal\.sigtest\.sig_catalog_ready, event \d+\)',
                     out), out
    assert '{"ds": "2026-12-01", "region": "us", "rows": 5}' in out  # typed: rows is a number
    assert 'waiting: sig_load_catalog (runs its steps when region = "us")' in out
    run_id = re.search(r"run (\S+) of sig_load_catalog: success", out).group(1)
    assert run_id.startswith("asset_triggered__")
    # the run, as the server has it: both tasks succeeded (the step read region and rows)
    state, tasks = airflow.wait_run("sig_load_catalog", run_id)
    assert state == "success" and tasks == {"trigger-match": "success", "load": "success"}, tasks


def test_a_payload_that_does_not_match_skips_the_steps(airflow, installed):
    done = installed.mlc("signal", "sig_catalog_ready", "region=eu", "rows=5", "--wait", "180")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out + airflow.log_tail()
    run_id = re.search(r"run (\S+) of sig_load_catalog: success", out).group(1)
    assert "the payload does not match the flow's trigger: its steps were skipped" in out
    state, tasks = airflow.wait_run("sig_load_catalog", run_id)
    # a run was created, the short-circuit passed nothing on
    assert state == "success" and tasks == {"trigger-match": "success", "load": "skipped"}, tasks


def test_trigger_starts_a_run_with_typed_params(airflow, installed):
    done = installed.mlc("trigger", "sig_nightly", "--conf", "top_k=7", "--wait", "180")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out + airflow.log_tail()
    run_id = re.search(r"started run (\S+) of sig_nightly \(DAG sig_nightly\)", out).group(1)
    run = airflow.client.run("sig_nightly", run_id)
    assert run["run_type"] == "manual" and run["conf"] == {"top_k": 7}  # an int, as the Param wants
    assert airflow.wait_run("sig_nightly", run_id) == ("success", {"hello": "success"})


def test_a_wrong_field_or_type_is_a_diagnostic_and_nothing_is_sent(airflow, installed):
    asset = "mlc.signal.sigtest.sig_catalog_ready"
    before = _events(airflow, asset)
    done = installed.mlc("signal", "sig_catalog_ready", "regoin=us")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error[E0302]: signal `sig_catalog_ready` has no field `regoin`" in done.stderr
    assert "flows.flow:7:1" in done.stderr and "did you mean `region`?" in done.stderr
    done = installed.mlc("signal", "sig_catalog_ready", "region=us", "rows=many")
    assert done.returncode == 1
    assert "error[E0303]: `rows` of signal `sig_catalog_ready` is int; `rows=many` gives \"many\", not a whole number" \
        in done.stderr
    done = installed.mlc("signal", "sig_catalog_ready", "ds=2026-13-01")
    assert done.returncode == 1 and "`ds` of signal `sig_catalog_ready` is date" in done.stderr
    done = installed.mlc("signal", "sig_catalog_redy", "region=us")
    assert done.returncode == 1 and "did you mean `sig_catalog_ready`?" in done.stderr
    done = installed.mlc("trigger", "sig_nightly", "--conf", "top_k=many")
    assert done.returncode == 1 and "param `top_k` of flow `sig_nightly` is int" in done.stderr
    assert _events(airflow, asset) == before  # nothing reached the server


def test_no_server_is_a_message_with_the_command_that_starts_one(installed):
    url = f"http://127.0.0.1:{free_port()}"
    done = installed.mlc("signal", "sig_catalog_ready", "region=us", "--url", url)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"error: no Airflow API server answers at {url}" in done.stderr
    assert f"help: start it: mlc airflow up --env local --to {installed.deploy}" in done.stderr


def test_the_published_event_carries_the_payload(airflow, installed):
    found = airflow.client.asset("mlc.signal.sigtest.sig_catalog_ready")
    events = airflow.client.call("GET", f"/assets/events?asset_id={found['id']}&order_by=-timestamp&limit=5")
    extras = [e["extra"] for e in events["asset_events"]]
    assert any(e.get("region") == "us" and e.get("rows") == 5 for e in extras), json.dumps(extras)


def test_airflow_down_without_a_server_and_up_before_a_deploy(installed, tmp_path):
    done = installed.mlc("airflow", "down")
    assert done.returncode == 0 and "no Airflow server runs for env `local`" in done.stderr
    project = tmp_path / "fresh"
    project.mkdir()
    (project / "mlc.toml").write_text('[project]\nname = "fresh"\nsources = ["."]\n')
    (project / "f.flow").write_text("package fresh\n\nenv local {\n}\n\nflow fresh_one {\n  step a bash(\"true\")\n}\n")
    done = installed.server.mlc(project, "airflow", "up")
    assert done.returncode == 1 and "error: env `local` is not deployed at" in done.stderr
    assert "help: deploy it first: mlc deploy --env local" in done.stderr


def test_the_server_mlc_airflow_up_recorded_is_found_with_its_generated_password(airflow, installed):
    """Without --url or $MLC_AIRFLOW_*: the record `mlc airflow up` writes in the deploy's
    Airflow home and the admin password standalone generated there (both put in place here
    for the session's server: its pid is this process, so nothing may `down` it)."""
    from mlc.run import airflow_server

    home = installed.deploy / "airflow"
    record = home / airflow_server.RECORD
    record.write_text(json.dumps({"url": airflow.url, "pid": os.getpid()}))
    (home / airflow_server.PASSWORDS).write_text((airflow.home / airflow_server.PASSWORDS).read_text())
    env = {k: v for k, v in airflow.env.items() if not k.startswith("MLC_AIRFLOW")}
    try:
        done = subprocess.run([*MLC, "trigger", "sig_nightly", "--conf", "top_k=7", "--wait", "180",
                               "--to", str(installed.deploy)], cwd=installed.project, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        record.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"of sig_nightly (DAG sig_nightly) at {airflow.url}" in done.stdout
    assert "run manual__" in done.stdout and "ok hello" in done.stdout
