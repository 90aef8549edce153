"""Issue 19 (policy): typed step returns, subflows, run and failure policy, alerts and runtimes —
the front ends (parse, fmt, YAML both ways), the IR, the checks (each code's failing and passing
program is in mlc/lint/registry.py, linted by tests/test_lint.py; here the finer cases), the
freshness calculus and the Airflow lowering (what dag.test() and standalone run is in
tests/airflow/test_engine.py and tests/standalone/test_subflows.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlc.compiler.driver import check
from mlc.compiler.freshness import step_cost, waves
from mlc.compiler.project import load_project
from mlc.dsl.fmt import format_text
from mlc.dsl.parser import parse_text
from mlc.dsl.yaml_emit import module_to_flow, module_to_yaml
from mlc.dsl.yaml_front import parse_yaml
from mlc.targets import get
from mlc.targets.layout import Layout

HEAD = """package p
import std.connectors.{files, log, pagerduty}
env local { data = files("data"), oncall = log() }
env prod { data = files("data"), oncall = pagerduty(key = secret("pd")) }
runtime trainer { image "registry/recs/trainer:1.4", python "3.11", pypi ["torch==2.5"] }
"""

FLOWS = """flow child {
  param region: string = "us"
  step fit python("m.fit:main") { returns { auc: float } }
}
flow parent {
  runs parallel 2
  alert { failure oncall }
  param regions: [string] = ["us", "eu", "apac"]
  step train python("m.t:main") {
    returns { auc: float, n: int }
    retries { error 1, platform 3, backoff exponential(1m, max = 5m) }
    runtime trainer
    on_failure continue
    timeout 10m
  }
  step each    subflow(child, region = r) { foreach r in regions, parallel 2, returns { auc: float }, timeout 1h }
  step publish bash("make publish")       { when train.auc >= 0.80, env { AUCS = each.auc } }
  step report  bash("make report")        { when train.auc < 0.80 }
  train >> [publish, report]
  each >> publish
}
"""


def _project(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "mlc.toml").write_text('[project]\nname = "p"\nsources = ["."]\n')
    (tmp_path / "main.flow").write_text(text)
    return tmp_path


def _checked(tmp_path: Path, text: str):
    return check(load_project([str(_project(tmp_path, text))]), use_cache=False)


def _ir(program) -> dict:
    """The program's flows and runtimes as JSON, without where they were written."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "loc" and not k.endswith(("_loc", "_locs"))}
        return [strip(v) for v in value] if isinstance(value, list) else value
    data = program.model_dump(mode="json")
    return strip({"flows": data["flows"], "runtimes": data["runtimes"]})


def _codes(tmp_path: Path, body: str) -> list[str]:
    return [d.code for d in _checked(tmp_path, HEAD + body).diagnostics]


def test_the_constructs_check_clean_and_reach_the_ir(tmp_path):
    result = _checked(tmp_path, HEAD + FLOWS)
    assert [d.code for d in result.diagnostics] == []
    p = result.program
    parent = p.flows["p.parent"]
    assert parent.runs.mode == "parallel" and parent.runs.limit == 2
    assert [(a.event, a.to) for a in parent.alerts] == [("failure", "oncall")]
    train, each, publish = parent.steps[0], parent.steps[1], parent.steps[2]
    assert [(f.name, f.type.name) for f in train.returns] == [("auc", "float"), ("n", "int")]
    policy = train.retry_policy
    assert (policy.error, policy.platform, policy.timeout, policy.backoff) == (1, 3, 0, "exponential")
    assert (policy.delay_ms, policy.max_delay_ms, train.retries, train.retry_delay_ms) == (60_000, 300_000, 3, 60_000)
    assert train.on_failure == "continue" and train.runtime.target == "p.trainer"
    assert each.subflow.target == "p.child" and each.parallel == 2
    refs = {a.name: (a.target, a.type) for a in publish.when.args if a.op == "ref"}
    assert refs == {"train.auc": ("returns:train.auc", "float")}
    assert publish.env["AUCS"].target == "returns:each.auc" and publish.env["AUCS"].type == "list"
    assert p.runtimes["p.trainer"].pypi == ("torch==2.5",)
    assert set(p.environments["local"].alerts) == {"oncall"} and "oncall" not in p.environments["local"].bindings
    assert p.environments["local"].local   # an alert destination is not where data is


def test_fmt_and_yaml_keep_every_clause(tmp_path):
    text = HEAD + FLOWS
    formatted, diags = format_text(text, "main.flow")
    assert diags == [] and formatted is not None
    again, _ = format_text(formatted, "main.flow")
    assert again == formatted
    module, _ = parse_text(text, "main.flow")
    yaml_text = module_to_yaml(module)
    back, diags = parse_yaml(yaml_text, "main.flow.yaml")
    assert diags == []
    assert "runtime trainer" in module_to_flow(back)
    # the same program either way
    flow_ir = _ir(_checked(tmp_path / "flow", text).program)
    (tmp_path / "yaml").mkdir()
    yaml_project = _project(tmp_path / "yaml", "")
    (yaml_project / "main.flow").unlink()
    (yaml_project / "main.flow.yaml").write_text(yaml_text)
    assert _ir(check(load_project([str(yaml_project)]), use_cache=False).program) == flow_ir
    for clause in ("runs parallel 2", "alert { failure oncall }", "returns { auc: float, n: int }",
                   "retries { error 1, platform 3, backoff exponential(1m, max = 5m) }", "runtime trainer",
                   "on_failure continue", "parallel 2", 'runtime trainer { image "registry/recs/trainer:1.4"'):
        assert clause in formatted, clause


@pytest.mark.parametrize("body, code", [
    # a step reading a value of a step that does not run before it
    ('flow f {\n step a python("m:f") { returns { x: int } }\n step b bash("b") { when a.x > 1 }\n}\n', "E1402"),
    # its own value in its `when`: not yet
    ('flow f {\n step a python("m:f") { returns { x: int }, when a.x > 1 }\n}\n', "E1402"),
    # an unknown field: a did-you-mean
    ('flow f {\n step a python("m:f") { returns { x: int } }\n step b bash("b") { when a.y > 1 }\n a >> b\n}\n',
     "E0202"),
    # the wrong type
    ('flow f {\n step a python("m:f") { returns { x: int } }\n step b bash("b") { when a.x == "one" }\n a >> b\n}\n',
     "E0303"),
    # a gate of a step with returns reads its fields, typed
    ('flow f {\n step a python("m:f") { returns { x: int }, gate y > 1 }\n}\n', "E0202"),
    ('flow f {\n runs newest_only\n step a bash("a")\n}\n', "E1401"),
    ('flow f {\n runs parallel\n step a bash("a")\n}\n', "E1401"),
    ('flow f {\n step a bash("a") { on_failure ignore }\n}\n', "E1401"),
    ('flow f {\n alert { broken oncall }\n step a bash("a")\n}\n', "E1401"),
    ('flow f {\n step a python("m:f") { retries { error 1, network 2 } }\n}\n', "E0308"),
    ('flow f {\n step a python("m:f") { retries { error 1, backoff linear(1m) } }\n}\n', "E0308"),
    ('flow f {\n step a python("m:f") { retries 2, retries { error 1 } }\n}\n', "E0110"),
    ('flow f {\n step a python("m:f") { retry_delay 1m, retries { error 1, backoff fixed(2m) } }\n}\n', "E0110"),
    ('runtime r2 { image "x", cuda "12" }\nflow f {\n step a python("m:f") { runtime r2 }\n}\n', "E0308"),
    ('flow f {\n step a python("m:f") { runtime trainr }\n}\n', "E0202"),
    ('flow f {\n step a bash("a") { parallel 0, foreach x in [1] }\n}\n', "E0308"),
])
def test_mistakes_are_diagnostics(tmp_path, body, code):
    assert _codes(tmp_path, body) == [code]


def test_a_subflow_cycle_names_every_hop(tmp_path):
    body = 'flow a {\n step to_b subflow(b)\n}\nflow b {\n step to_c subflow(c)\n}\nflow c {\n step to_a subflow(a)\n}\n'
    found = [d for d in _checked(tmp_path, HEAD + body).diagnostics]
    assert [d.code for d in found] == ["E1404"]
    assert "a --to_b--> b, b --to_c--> c, c --to_a--> a" in found[0].message


def test_the_calculus_counts_rounds_and_exponential_waits(tmp_path):
    p = _checked(tmp_path, HEAD + FLOWS).program
    parent = p.flows["p.parent"]
    train, each = parent.steps[0], parent.steps[1]
    # 4 attempts of 10m, and waits of at most 2m, 4m, 5m (twice the doubling delay, capped at 5m)
    assert step_cost(train) == 4 * 600_000 + 120_000 + 240_000 + 300_000
    assert waves(parent, each) == 2   # three regions, two at once


def _dags(tmp_path: Path, env: str) -> dict[str, str]:
    program = _checked(tmp_path, HEAD + FLOWS).program
    return {a.path.rsplit("/", 1)[-1]: a.text for a in get("airflow").lower(program, env, Layout(program))}


def test_airflow_lowering(tmp_path):
    dags = _dags(tmp_path, "local")
    parent = dags["parent.py"]
    assert "max_active_runs=2," in parent and "on_failure_callback=_alert_failure," in parent
    assert '_mlc_alert([{"kind": "log", "name": "oncall"}], _mlc_failure_message(context))' in parent
    assert 'python_callable=_mlc_policy_step,' in parent
    assert '"mlc_retry": {"error": 1, "platform": 3, "timeout": 0}' in parent
    assert '"mlc_returns": {"auc": "float", "n": "int"}' in parent and '"mlc_runtime": "p.trainer"' in parent
    assert "retries=3," in parent and "retry_exponential_backoff=2.0," in parent
    assert "max_retry_delay=timedelta(seconds=300)," in parent
    assert 'task_id="train-done",' in parent and 'trigger_rule="all_done",' in parent
    assert "TriggerDagRunOperator.partial(" in parent and 'trigger_dag_id="child",' in parent
    assert "wait_for_completion=True," in parent and "max_active_tis_per_dagrun=2," in parent
    assert 'return bool(_mlc_returned(context, "train", "auc") >= 0.8)' in parent
    assert 'ti.xcom_pull(task_ids=\\"each\\") | map(attribute=\\"auc\\") | list) | tojson' in parent
    assert "done_train >> when_publish" in parent and "step_each >> when_publish" in parent
    prod = _dags(tmp_path, "prod")["parent.py"]
    assert '"key": {"env": "MLC_SECRET_PD"}' in prod and "pd-secret" not in prod


def test_runtime_image_in_a_cluster_env(tmp_path):
    text = HEAD.replace('env prod { data = files("data")', 'import std.connectors.{s3}\nenv prod { data = s3(bucket = "b")') \
        + 'flow f {\n step a python("m:f") { runtime trainer, resources { cpu 2 } }\n}\n'
    text = text.replace('import std.connectors.{files, log, pagerduty}\n', 'import std.connectors.{files, log, pagerduty, s3}\n') \
        .replace('import std.connectors.{s3}\n', '')
    program = _checked(tmp_path, text).program
    out = {a.path.rsplit("/", 1)[-1]: a.text for a in get("airflow").lower(program, "prod", Layout(program))}
    assert '_mlc_pod({"cpu": "2"}, image="registry/recs/trainer:1.4")' in out["f.py"]


ENGINES = Path(__file__).resolve().parent.parent / ".engines"


def test_a_local_deploy_finds_or_builds_a_runtime_environment(tmp_path):
    from mlc.deploy import runtimes

    # the serving engine has this python and these pins: linked, nothing installed; the same spec is kept
    spec = {"python": "3.11", "pypi": ["scikit-learn==1.7.2", "bentoml==1.4.40"]}
    assert runtimes.ensure(tmp_path, ENGINES, "recs.trainer", spec) == "found serving"
    assert runtimes.ensure(tmp_path, ENGINES, "recs.trainer", spec) == "kept"
    assert (tmp_path / "runtimes" / "recs.trainer" / "bin" / "python").is_file()
    # no engine has this pin: a virtualenv of its own (nothing to install: offline)
    assert runtimes.ensure(tmp_path, tmp_path / "no-engines", "bare", {"python": "3.11", "pypi": []}) == "built"
    assert (tmp_path / "runtimes" / "bare" / "pyvenv.cfg").is_file()


def test_a_local_bundle_carries_the_runtime_specs(tmp_path):
    program = _checked(tmp_path, HEAD + FLOWS).program
    out = {a.path: a.text for a in get("airflow").lower(program, "local", Layout(program))}
    assert out["airflow/runtimes/p.trainer.json"] == '{"pypi": ["torch==2.5"], "python": "3.11"}\n'


ALERTS = """package p
import std.connectors.{files, pagerduty, slack}
env prod {
  data = files("data")
  oncall = pagerduty(key = secret("pd"), events_url = "EVENTS_URL")
  team = slack(channel = "#ml", webhook = secret("hook"))
}
flow nightly {
  alert { failure oncall, failure team }
  step build bash("make build")
}
"""


def _helpers(tmp_path: Path, program, env: str):
    """({file name: text} of the program's DAG folder for `env`, its shared helper module loaded:
    stdlib only at import, Airflow imported inside the functions)."""
    import importlib.util

    out = {a.path.rsplit("/", 1)[-1]: a.text for a in get("airflow").lower(program, env, Layout(program))}
    helpers = next(name for name in out if name.startswith("mlc_airflow_runtime_"))
    (tmp_path / helpers).write_text(out[helpers])
    spec = importlib.util.spec_from_file_location(f"helpers_{env}", tmp_path / helpers)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return out, module


def test_a_failed_run_reaches_pagerduty_and_slack_over_http(tmp_path, monkeypatch):
    """The generated senders make real HTTP calls: a server on 127.0.0.1 stands in for PagerDuty's
    Events API (`events_url`, as for an EU account or a relay) and for the Slack webhook (the
    secret's URL), and records what each receives."""
    import ast
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, dict]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server calls it by this name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(202 if self.path.startswith("/v2") else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        program = _checked(tmp_path, ALERTS.replace("EVENTS_URL", base + "/v2/enqueue")).program
        out, module = _helpers(tmp_path, program, "prod")
        callback = next(n for n in ast.parse(out["nightly.py"]).body
                        if isinstance(n, ast.FunctionDef) and n.name == "_alert_failure")
        exec(compile(ast.Module(body=[callback], type_ignores=[]), "nightly.py", "exec"), vars(module))  # noqa: S102
        monkeypatch.setenv("MLC_SECRET_PD", "routing-key")
        monkeypatch.setenv("MLC_SECRET_HOOK", base + "/services/T0/B0/x")
        run = type("Run", (), {"dag_id": "nightly", "run_id": "scheduled__1"})()
        module._alert_failure({"dag_run": run, "reason": "task_failure"})
    finally:
        server.shutdown()
        server.server_close()
    sent = dict(received)
    assert sorted(sent) == ["/services/T0/B0/x", "/v2/enqueue"], received
    pager = sent["/v2/enqueue"]
    assert pager["routing_key"] == "routing-key" and pager["event_action"] == "trigger"
    assert pager["payload"]["severity"] == "error" and pager["payload"]["summary"].startswith("mlc: flow nightly failed")
    assert sent["/services/T0/B0/x"] == {"channel": "#ml", "text": pager["payload"]["summary"]}


def test_first_only_drops_an_earlier_run_the_scheduler_starts_after_the_working_one(tmp_path, monkeypatch):
    """`runs first_only` with the generated helpers and a stand-in for Airflow's Variable store:
    the scheduler orders queued runs by more than their run_after (last_scheduling_decision
    first), so a run triggered at 10:00 may start after one triggered at 10:01 has done the work;
    it is dropped like one triggered while that run ran, a run triggered after it ended works, and
    the working run's own retried gate still works. A working run that ended without its
    runs-policy-end (marked failed: Airflow skips the tasks left) does not drop every later run."""
    import sys
    import types
    from datetime import UTC, datetime, timedelta

    program = _checked(tmp_path, HEAD + 'flow f {\n  runs first_only\n  step a bash("make a")\n}\n').program
    _out, module = _helpers(tmp_path, program, "local")
    store: dict = {}

    class Variable:
        @staticmethod
        def get(key, default=None, deserialize_json=False):
            return store.get(key, default)

        @staticmethod
        def set(key, value, serialize_json=False):
            store[key] = value

    monkeypatch.setitem(sys.modules, "airflow.sdk", types.SimpleNamespace(Variable=Variable))
    t0 = datetime.now(UTC) - timedelta(hours=1)  # the runs-policy-end task records the time it ran

    states = {"second": "running", "killed": "failed"}  # what the Execution API answers per run

    def get_dagrun_state(dag_id: str, run_id: str) -> str:
        assert dag_id == "f"
        if run_id not in states:
            raise LookupError(f"no run {run_id}")  # a deleted run: the API answers 404
        return states[run_id]

    def context(run_id: str, minutes: int) -> dict:
        return {"ti": types.SimpleNamespace(dag_id="f", get_dagrun_state=get_dagrun_state), "run_id": run_id,
                "dag_run": types.SimpleNamespace(run_after=t0 + timedelta(minutes=minutes))}

    def gate(run_id: str, minutes: int) -> bool:
        return module._mlc_runs_policy(context(run_id, minutes), "first_only")

    assert gate("second", 1)          # started first: it works
    assert gate("second", 1)          # its gate retried: still its own run
    assert not gate("third", 2)       # triggered while it runs
    module._mlc_runs_ended(**context("second", 1))
    assert not gate("first", 0)       # triggered before it, started after it: dropped
    assert gate("later", 61)          # triggered after it ended
    # a working run that never recorded its end (marked failed, timed out): the next run works,
    # once; the runs triggered while that one works are dropped again
    store["mlc_first_only__f"] = {"run_id": "killed", "started": t0.isoformat(), "ended": None}
    assert gate("after_kill", 62)
    states["after_kill"] = "running"
    assert not gate("while_it_works", 63)
    store["mlc_first_only__f"] = {"run_id": "deleted", "started": t0.isoformat(), "ended": None}
    assert gate("after_delete", 64)


def test_one_unbound_alert_destination_is_one_error_per_flow(tmp_path):
    # `failure oncall, late oncall` is one binding of `oncall`: one E1409 for it, not one per event
    text = HEAD.replace(', oncall = pagerduty(key = secret("pd"))', "") + """flow nightly {
  schedule cron("0 2 * * *")
  alert { failure oncall, late oncall }
  step a bash("x") { timeout 10m }
}
slo on_time { completion(nightly) by "06:00" }
"""
    errors = [d for d in _checked(tmp_path, text).diagnostics if d.is_error]
    assert [(d.code, d.message) for d in errors] == [("E1409", "env `prod` binds no alert destination `oncall`")]


def test_a_late_alert_on_a_triggered_flow_is_told_to_go_not_to_add_a_deadline(tmp_path):
    # a completion objective cannot help a flow started by a trigger (no time of day to count
    # from, W1005): the help that offered one led to a second warning
    text = HEAD + """signal ready external { ds: date }
flow on_signal {
  trigger signal(ready)
  alert { late oncall }
  step a bash("x") { timeout 10m }
}
flow nightly {
  schedule cron("0 2 * * *")
  alert { late oncall }
  step a bash("x") { timeout 10m }
}
"""
    found = {d.message.split("`")[3]: d.help for d in _checked(tmp_path, text).diagnostics if d.code == "W1410"}
    assert found == {
        "on_signal": "remove it: a run of `on_signal` starts when it is triggered, not at a time of day, so it has "
                     "no deadline to miss",
        "nightly": 'add `slo on_time { completion(nightly) by "06:00" }`, or remove it'}
