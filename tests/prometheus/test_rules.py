"""The generated rules of every example, judged by Prometheus's own `promtool`: each rule file
checks (`promtool check rules`), each alert fires when its objective is broken and stays quiet
when it is kept (`promtool test rules`, on synthetic series made from the objectives by
synth.py), every dashboard query is a valid expression (checked as recording rules of a
scratch file), and every dashboard holds to the schema of the library that built it
(grafana-foundation-sdk, pinned in pyproject.toml: its typed model, `schema_errors`). promtool comes from scripts/setup.sh (Debian's `prometheus`); without it the
tests fail, never skip."""

from __future__ import annotations

import copy
import enum
import json
import shutil
import subprocess
import tempfile
import typing
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


def schema_errors(value, hint, where: str = "dashboard") -> list[str]:
    """Where `value` (the library's model read from a dashboard's JSON, `Dashboard.from_json`) breaks
    the types its generated classes declare: the Grafana schema the library is generated from, as
    its Python model states it (the reading itself checks no type)."""
    if hint is typing.Any:
        return []
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        tries = [schema_errors(value, a, where) for a in args]
        # none fits: the reasons of the one that came closest (the deepest mismatch)
        return [] if any(not t for t in tries) else max(tries, key=lambda t: max(len(e.split(": ")[0]) for e in t))
    if origin is typing.Literal:
        return [] if value in args else [f"{where}: {value!r} is not one of {args}"]
    if origin in (list, dict):
        if not isinstance(value, origin):
            return [f"{where}: {type(value).__name__}, not a {origin.__name__}"]
        if origin is list:
            return [e for i, v in enumerate(value) for e in schema_errors(v, args[0] if args else typing.Any, f"{where}[{i}]")]
        return [e for k, v in value.items() for e in schema_errors(v, args[1] if args else typing.Any, f"{where}.{k}")]
    if hint is type(None):
        return [] if value is None else [f"{where}: {value!r} is not null"]
    if not isinstance(hint, type):
        return []  # a type variable or a protocol of the library: nothing to hold it to
    if issubclass(hint, enum.Enum):
        try:
            hint(value)
            return []
        except ValueError:
            return [f"{where}: {value!r} is not a {hint.__name__}"]
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, hint)
    if not ok:
        return [f"{where}: {value!r} is not a {hint.__name__}"]
    if not type(value).__module__.startswith("grafana_foundation_sdk."):
        return []
    hints = typing.get_type_hints(type(value))
    return [e for name, h in hints.items() for e in schema_errors(getattr(value, name, None), h, f"{where}.{name}")]


def test_the_schema_check_finds_a_wrong_type_an_unknown_value_and_a_null_panel_option() -> None:
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    _program, files = compiled("fraud", Path(tempfile.mkdtemp()))
    board = json.loads(next(t for p, t in sorted(files.items()) if p.endswith(".json")))
    assert schema_errors(Dashboard.from_json(board), Dashboard) == []
    for change, found in ((lambda b: b["panels"][0]["gridPos"].update(h="8"), "panels[0].grid_pos.h: '8' is not a int"),
                          (lambda b: b["templating"]["list"][0].update(type="picker"), "is not a VariableType"),
                          (lambda b: b["panels"][0]["targets"][0].update(expr=3), "targets[0].expr: 3 is not a str")):
        wrong = copy.deepcopy(board)
        change(wrong)
        assert found in " ".join(schema_errors(Dashboard.from_json(wrong), Dashboard))
    with pytest.raises(TypeError):  # a time series panel's options are an object (what the builder left null)
        Dashboard.from_json({**board, "panels": [{**board["panels"][0], "options": None}]})


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_dashboard_query_is_valid_promql(name: str, tmp_path: Path) -> None:
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    # the library reads each panel's options, field config and queries with their own types
    # (a time series panel's, a Prometheus query's) once its plugins are registered
    register_default_plugins()
    _program, files = compiled(name, tmp_path)
    boards = {p: json.loads(t) for p, t in files.items() if p.endswith(".json")}
    assert boards, "a dashboard per flow at least"
    rules = []
    for path, board in sorted(boards.items()):
        # the library's model reads it back and writes the same document (no key it does not know),
        # and every value has the type, enum member or literal the library's schema gives it
        read = Dashboard.from_json(board)
        assert schema_errors(read, Dashboard) == [], path
        again = json.loads(json.dumps(read.to_json(), default=lambda o: o.to_json()))
        assert again == board, path
        assert board["panels"], path
        for i, expr in enumerate(queries(board)):
            rules.append({"record": f"scratch:panel:{len(rules)}", "expr": expr})
    scratch = tmp_path / "panels.yml"
    scratch.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}, sort_keys=False))
    said = run("check", "rules", scratch.name, cwd=tmp_path)
    assert f"SUCCESS: {len(rules)} rules found" in said, said
