"""The generated rules of every example, judged by Prometheus's own `promtool`: each rule file
checks (`promtool check rules`), each alert fires when its objective is broken and stays quiet
when it is kept (`promtool test rules`, on synthetic series made from the objectives by
synth.py), and every dashboard query is a valid expression (checked as recording rules of a
scratch file). promtool comes from scripts/setup.sh (Debian's `prometheus`); without it the
tests fail, never skip."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from synth import promtool_tests

from mlc.compiler.project import load_project
from mlc.deploy.bundle import compile as compile_bundle
from mlc.targets.layout import Layout
from mlc.targets.prometheus.dashboards import queries
from mlc.targets.prometheus.watch import plan

ROOT = Path(__file__).resolve().parents[2]
# every example, and a project with the objectives the examples lack (a 7d period, p95, a step, a severity tag)
PROJECTS = {**{p.name: p for p in sorted((ROOT / "examples").iterdir()) if (p / "mlc.toml").is_file()},
            "watch": Path(__file__).resolve().parent / "fixtures" / "watch"}
EXAMPLES = sorted(PROJECTS)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run `bash scripts/setup.sh` (it installs Debian's prometheus)")
    return found


def compiled(name: str, out: Path):
    """(program, {bundle path: text}) of a project compiled for its local env with the prometheus target."""
    done = compile_bundle(load_project([str(PROJECTS[name])]).rooted(), "local", ["prometheus"], use_cache=False)
    assert done.ok, [str(d) for d in done.result.diagnostics]
    files = {a.path: a.text for a in done.artifacts if a.path.startswith("prometheus/")}
    for path, text in files.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    return done.result.program, files


def run(*args: str, cwd: Path) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_rules_check_and_alerts_fire_when_they_should(name: str, tmp_path: Path) -> None:
    program, files = compiled(name, tmp_path)
    rule_paths = sorted(p for p in files if p.endswith(".yml"))
    if not rule_paths:
        assert not plan(program, Layout(program)).burns
        return
    said = run("check", "rules", *rule_paths, cwd=tmp_path)
    assert said.count("SUCCESS") == len(rule_paths), said
    layout = Layout(program)
    watched = plan(program, layout)
    by_subject = {}
    for kind in ("models", "features", "flows"):
        section = {"models": program.models, "features": program.feature_groups, "flows": program.flows}[kind]
        for key in section:
            path = layout.prometheus_rules(kind, key)
            if path in files:
                by_subject[(kind, key)] = (path, yaml.safe_load(files[path]))
    tests = promtool_tests(watched, by_subject)
    tested: dict[str, set[str]] = {}
    for test, doc in tests.items():
        rule_path = str(Path(test).parent / doc["rule_files"][0])
        tested.setdefault(rule_path, set()).update(t["alertname"] for c in doc["tests"] for t in c["alert_rule_test"])
        (tmp_path / test).write_text(yaml.safe_dump(doc, sort_keys=False))
        said = run("test", "rules", Path(test).name, cwd=(tmp_path / test).parent)
        assert "SUCCESS" in said, said
    # every alert of every rule file is exercised by some case
    for path in rule_paths:
        rules = yaml.safe_load(files[path])
        alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
        assert alerts <= tested.get(path, set()), (path, alerts - tested.get(path, set()))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_dashboard_query_is_valid_promql(name: str, tmp_path: Path) -> None:
    from grafana_foundation_sdk.models.dashboard import Dashboard

    _program, files = compiled(name, tmp_path)
    boards = {p: json.loads(t) for p, t in files.items() if p.endswith(".json")}
    assert boards, "a dashboard per flow at least"
    rules = []
    for path, board in sorted(boards.items()):
        # the library's model reads it back and writes the same document: it is a dashboard of its schema
        again = json.loads(json.dumps(Dashboard.from_json(board).to_json(),
                                      default=lambda o: o.to_json()))
        assert again == board, path
        assert board["panels"], path
        for i, expr in enumerate(queries(board)):
            rules.append({"record": f"scratch:panel:{len(rules)}", "expr": expr})
    scratch = tmp_path / "panels.yml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}, sort_keys=False))
    said = run("check", "rules", scratch.name, cwd=tmp_path)
    assert f"SUCCESS: {len(rules)} rules found" in said, said
