"""Where a flow's alerts go (issue 19 leftovers): a test branch (`mlc compile --branch`) never calls
production's pager or chat channel (the run's log instead, unless the binding says `branches =
true`), and a failed `on_failure continue` step, whose run goes on, is still reported to the
flow's `failure` destinations, as a warning. The generated alert code is stdlib only: it is run
here with a stand-in context (tests/airflow/test_engine.py runs it in real Airflow)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from mlc.compiler.driver import check
from mlc.compiler.namespaces import on_branch
from mlc.compiler.project import load_project
from mlc.targets import get
from mlc.targets.layout import Layout

TEXT = """package p
import std.connectors.{files, log, pagerduty, slack}
env local { data = files("data"), oncall = log(), team = log() }
env prod {
  data = files("data")
  oncall = pagerduty(key = secret("pd"))
  team = slack(channel = "#ml", webhook = secret("hook"))
}
env staging {
  data = files("data")
  oncall = pagerduty(key = secret("pd-staging"))
  team = slack(channel = "#ml-dev", webhook = secret("hook-dev"), branches = true)
}
flow nightly {
  alert { failure oncall, failure team }
  step lint  bash("make lint") { on_failure continue }
  step build bash("make build")
  lint >> build
}
flow quiet {
  step lint bash("make lint") { on_failure continue }
}
"""


def _program(tmp_path: Path, text: str = TEXT):
    (tmp_path / "mlc.toml").write_text('[project]\nname = "p"\nsources = ["."]\n')
    (tmp_path / "main.flow").write_text(text)
    return check(load_project([str(tmp_path)]), use_cache=False)


def _dags(program, env: str, branch: str | None = None) -> dict[str, str]:
    program = on_branch(program, branch)
    return {a.path.rsplit("/", 1)[-1]: a.text for a in get("airflow").lower(program, env, Layout(program))}


def _alert_calls(text: str) -> list[list[dict]]:
    """The destinations of every `_mlc_alert([...], ...)` call of a generated DAG."""
    calls = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", None) == "_mlc_alert" and isinstance(n.args[0], ast.List)]
    return [ast.literal_eval(c.args[0]) for c in calls]


def test_a_branch_never_calls_production_pager_or_channel(tmp_path):
    program = _program(tmp_path).program
    prod = _dags(program, "prod")["nightly.py"]
    assert {d["kind"] for call in _alert_calls(prod) for d in call} == {"pagerduty", "slack"}
    branch = _dags(program, "prod", "test.alice")["nightly.py"]
    calls = _alert_calls(branch)
    assert len(calls) == 2   # the run's failure and the continued step's warning
    assert all(d == {"kind": "log", "name": d["name"], "instead_of": d["instead_of"]} for c in calls for d in c)
    # nothing of production's destinations is left to call: no routing key, no webhook
    assert "MLC_SECRET_PD" not in branch and "MLC_SECRET_HOOK" not in branch and '"#ml"' not in branch


def test_a_destination_that_accepts_branches_keeps_them(tmp_path):
    program = _program(tmp_path).program
    calls = _alert_calls(_dags(program, "staging", "pr-7")["nightly.py"])
    kinds = {d["name"]: d["kind"] for call in calls for d in call}
    assert kinds == {"oncall": "log", "team": "slack"}


def test_branches_takes_true_or_false(tmp_path):
    result = _program(tmp_path, TEXT.replace("branches = true", 'branches = "yes"'))
    assert [(d.code, d.message, d.help) for d in result.diagnostics if d.is_error] == \
        [("E0303", "`branches` takes true or false", "write `branches = true` or `branches = false`")]
    typo = _program(tmp_path, TEXT.replace("branches = true", "branches = ture"))
    assert [(d.code, d.help) for d in typo.diagnostics if d.is_error] == [("E0303", "did you mean `true`?")]


def test_a_continued_step_reports_its_failure_as_a_warning(tmp_path):
    dags = _dags(_program(tmp_path).program, "prod")
    nightly = dags["nightly.py"]
    # the step's own callback, beside the DAG's failure callback
    assert nightly.count("on_failure_callback=_alert_continued,") == 1
    assert 'severity="warning"' in nightly and "on_failure_callback=_alert_failure," in nightly
    # a flow without `alert { failure }` has nobody to tell
    assert "_alert_continued" not in dags["quiet.py"] and "_mlc_alert" not in dags["quiet.py"]


class _Ti:
    task_id, map_index = "lint", -1


class _Run:
    dag_id, run_id = "test.alice.nightly", "manual__1"


def _generated(dags: dict[str, str], dag: str) -> dict:
    """The DAG's alert functions and the helpers they call (in the DAG file, or in the helper
    module the DAG folder shares), run as plain Python (their imports are inside them)."""
    texts = [dags[dag], *(t for name, t in dags.items() if not name.endswith(".py") or name.startswith("mlc_"))]
    keep = [n for text in texts for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)
            and n.name.startswith(("_mlc_alert", "_mlc_cont", "_alert_"))]
    scope: dict = {}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "dag", "exec"), scope)  # noqa: S102  (our own output)
    return scope


def test_the_warning_reaches_the_log_on_a_branch_and_pagerduty_in_production(tmp_path, capsys, monkeypatch):
    program = _program(tmp_path).program
    context = {"ti": _Ti(), "dag_run": _Run(), "exception": RuntimeError("lint found 3 problems")}
    _generated(_dags(program, "prod", "test.alice"), "nightly.py")["_alert_continued"](context)
    out = capsys.readouterr().out
    assert "mlc warning to oncall: mlc: flow test.alice.nightly: step lint failed (run manual__1) and the run " \
           "goes on (on_failure continue): lint found 3 problems (test branch: pagerduty not called)" in out
    sent = []

    class _Answer:
        def close(self):
            pass

    def urlopen(request, timeout):
        sent.append((request.full_url, json.loads(request.data)))
        return _Answer()

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    monkeypatch.setenv("MLC_SECRET_PD", "routing-key")
    monkeypatch.setenv("MLC_SECRET_HOOK", "https://hooks.example/x")
    _generated(_dags(program, "prod"), "nightly.py")["_alert_continued"](context)
    pager = next(body for url, body in sent if "pagerduty" in url)
    assert pager["payload"]["severity"] == "warning" and pager["routing_key"] == "routing-key"
    slack = next(body for url, body in sent if url == "https://hooks.example/x")
    assert slack["text"].startswith("warning: mlc: flow test.alice.nightly: step lint failed")
