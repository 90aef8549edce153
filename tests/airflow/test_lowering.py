"""The Airflow backend without Airflow: golden files, determinism, static and injection-proof
output, literals, and the diagnostics of what Airflow cannot take."""

from __future__ import annotations

import ast
import json
import difflib
import shutil
from pathlib import Path

import jinja2.sandbox
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from mlc.cli import main
from mlc.targets.airflow.expr import jinja_text
from mlc.targets.literals import py, py_str

from airflow_support import PROJECTS, compile_project, envs_of

GOLDEN = Path(__file__).resolve().parent / "golden"


# ------------------------------------------------------------------ golden


def test_golden_recommendations(tmp_path, update_golden):
    """The recommendations example compiled for `local`, byte for byte (MLC_UPDATE_GOLDEN=1 rewrites)."""
    out = tmp_path / "out"
    files = compile_project(PROJECTS["recommendations"], "local", out)
    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        shutil.copytree(out / "airflow", GOLDEN / "airflow")
    expected = sorted(str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file())
    assert files == expected, "a different set of files; regenerate with MLC_UPDATE_GOLDEN=1 and review"
    for rel in files:
        got, want = (out / rel).read_text(), (GOLDEN / rel).read_text()
        if got != want:
            diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), f"golden/{rel}", rel))
            pytest.fail(f"{rel} differs from the golden file (MLC_UPDATE_GOLDEN=1 to accept):\n{diff}")


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_deterministic(name, tmp_path):
    """Same input, byte-identical output, for every env."""
    for env in envs_of(PROJECTS[name]):
        a, b = tmp_path / f"{env}-a", tmp_path / f"{env}-b"
        files = compile_project(PROJECTS[name], env, a)
        assert files == compile_project(PROJECTS[name], env, b)
        for rel in files:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


# ------------------------------------------------------------------ static files

ALLOWED_TOP_IMPORTS = {"__future__", "datetime", "airflow.sdk", "airflow.providers.standard.operators.python",
                       "airflow.providers.standard.operators.bash",
                       "airflow.providers.apache.spark.operators.spark_submit",
                       "airflow.providers.standard.operators.trigger_dagrun",   # a subflow step
                       "os.path", "sys"}
RUNTIME = "mlc_airflow_runtime_"   # the module of the helpers the DAGs share, beside them (+ its hash)
# the one statement a DAG file runs besides its Assets and its DAG: the helpers' folder on sys.path
BOOTSTRAP = ("if dirname(abspath(__file__)) not in _mlc_path:\n"
             "    _mlc_path.append(dirname(abspath(__file__)))")


def _all_outputs(tmp_path) -> dict[str, str]:
    texts = {}
    for name, project in PROJECTS.items():
        for env in envs_of(project):
            out = tmp_path / f"{name}-{env}"
            for rel in compile_project(project, env, out):
                texts[f"{name}-{env}/{rel}"] = (out / rel).read_text()
    return texts


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, str]:
    return _all_outputs(tmp_path_factory.mktemp("outputs"))


def test_files_are_static(outputs):
    """One DAG per file; only light imports at module top; no Variable.get, no YAML/IR loading,
    no open() at parse time (a Variable only inside a task's function), no machine paths."""
    dags = {k: v for k, v in outputs.items() if "/airflow/dags/" in k and not k.endswith("/.airflowignore")
            and f"/{RUNTIME}" not in k}
    assert len(dags) >= 20
    for path, text in dags.items():
        tree = ast.parse(text)
        top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in top_imports:
            assert isinstance(node, ast.ImportFrom) and (node.module in ALLOWED_TOP_IMPORTS or (
                node.module.startswith(RUNTIME) and f"{path.rsplit('/', 1)[0]}/{node.module}.py" in outputs)), \
                (path, ast.dump(node))
        withs = [n for n in tree.body if isinstance(n, ast.With)]
        assert len(withs) == 1 and text.count("with DAG(") == 1, path
        for word in ("yaml", "ir.json", "open(", "/work/", "/tmp/", "/home/", "/root/"):
            assert word not in text, (path, word)
        # a Variable is read only when a task runs (`runs first_only` keeps its state in one),
        # never while the file is parsed
        parsed = "\n".join(ast.get_source_segment(text, n) or "" for n in tree.body if not isinstance(n, ast.FunctionDef))
        assert "Variable" not in parsed, path
        # Module-level statements: docstring, imports, assets, function definitions, the DAG.
        for node in tree.body:
            if isinstance(node, ast.If):
                assert ast.get_source_segment(text, node) == BOOTSTRAP, path
                continue
            assert isinstance(node, (ast.Expr, ast.Import, ast.ImportFrom, ast.Assign, ast.FunctionDef, ast.With)), \
                (path, ast.dump(node)[:200])
            if isinstance(node, ast.Assign):
                assert isinstance(node.value, ast.Call) and node.value.func.id == "Asset", path


HOSTILE_MARKERS = ("canary", "__import__", "import os", "{{ 7", "config }}", "endraw")
GENERATED_NAMES = ("step_", "gate_", "when_", "items_", "emit_", "asset_", "match_trigger", "join_finished",
                   "_mlc_", "_gate_", "_when_", "_items_", "_emit_", "_match_trigger")


def _names(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
    return out


def test_hostile_strings_are_only_constants(outputs):
    """Every hostile string of the hostile fixture is in the generated files only inside string
    constants: with all constants blanked out, nothing of them is left; no name is bound
    or read that the backend did not make."""
    # (the success listener holds no program text, only mlc.compiler.metrics' names: its code is its own)
    # (nor the helpers' module, the same for every program, nor `.airflowignore`, which names it)
    hostile = {k: v for k, v in outputs.items() if k.startswith("hostile-")
               and not k.endswith(("/mlc_metrics.py", "/.airflowignore")) and f"/{RUNTIME}" not in k}
    assert hostile
    for path, text in hostile.items():
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                node.value = ""
        skeleton = ast.unparse(tree)
        for marker in HOSTILE_MARKERS:
            assert marker not in skeleton, (path, marker)
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        for marker in HOSTILE_MARKERS:
            assert not any(marker in c for c in comments), (path, marker)
        imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        local = {"context", "params", "run_id", "result", "item", "items", "payload", "dag", "module", "function",
                 "importlib", "events", "event", "extra", "ok", "key", "value", "asset", "expected", "step",
                 "mapped", "results", "json", "annotations", "__file__"}
        builtins = {"bool", "all", "getattr", "list", "isinstance", "dict", "TypeError", "type", "print", "str", "repr",
                    "True", "False", "None"}
        for name in _names(tree):
            assert name in imported | local | builtins or name.startswith(GENERATED_NAMES), (path, name)


def test_docstrings_and_comments_cannot_break_out(outputs):
    """Every generated Python file is valid Python whose module docstring is the header only
    (a runtime's spec, `airflow/runtimes/KEY.json`, is JSON)."""
    for path, text in outputs.items():
        if path.endswith(".json"):
            json.loads(text)
            continue
        if path.endswith("/.airflowignore"):
            assert text.startswith(RUNTIME) and f"{path.rsplit('/', 1)[0]}/{text.strip()}" in outputs, path
            continue
        tree = ast.parse(text)
        doc = ast.get_docstring(tree)
        assert doc and doc.startswith(("Airflow DAG of", "Callbacks of the DeadlineAlerts",
                                       "Reports each successful DAG run", "Helpers of the DAG files")), path


# ------------------------------------------------------------------ literals


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_py_str_reads_back_in_python_and_jinja(s):
    assert ast.literal_eval(py_str(s)) == s
    env = jinja2.sandbox.SandboxedEnvironment()
    assert env.from_string("{{ " + py_str(s, jinja=True) + " }}").render() == s
    assert env.from_string(jinja_text(s)).render() == s


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=12))
def test_py_literals_read_back(value):
    assert ast.literal_eval(py(value)) == value


def test_jinja_text_of_plain_strings_is_unchanged():
    assert jinja_text("echo hi > out.txt") == "echo hi > out.txt"
    assert jinja_text("echo ${X}") == "{% raw %}echo ${X}{% endraw %}"
    assert jinja_text("{% endraw %}") == '{{ "\\x7b% endraw %\\x7d" }}'


# ------------------------------------------------------------------ diagnostics


def _compile_text(tmp_path: Path, text: str, env: str = "local") -> tuple[int, str]:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "bad"\nsources = ["."]\n')
    (tmp_path / "bad.flow").write_text("package bad\n\nenv local { }\n\n" + text)
    result = CliRunner().invoke(main, ["compile", str(tmp_path), "--env", env, "--target", "airflow",
                                       "--out", str(tmp_path / "out"), "--no-cache", "--format", "json"])
    return result.exit_code, result.output


@pytest.mark.parametrize("code,text", [
    ("E1001", "flow " + "f" * 251 + " {\n  step a bash(\"true\")\n}\n"),
    ("E1001", "flow f {\n  tags [\"" + "t" * 101 + "\"]\n  step a bash(\"true\")\n}\n"),
    ("E1001", "flow f {\n  step " + "s" * 246 + " bash(\"true\") { gate ok }\n}\n"),
    ("E1003", "flow f {\n  schedule daily\n  param n: int\n  step a bash(\"true\")\n}\n"),
    # unknown names: the checker (E0202) stops them before any backend runs
    ("E0202", "flow f {\n  step a bash(\"true\") { when nope > 1 }\n}\n"),
    ("E1004", "flow f {\n  param xs: [int] = [1]\n  step a bash(\"true\") { when len(xs) > 1 }\n}\n"),
    ("E0202", "flow f {\n  step a bash(\"true\") { env { X = other.thing } }\n}\n"),
    # a python step that is not module:function: the checker (E0406) stops it before any backend runs
    ("E0406", "flow f {\n  step a python(\"os.path:join; rm\")\n}\n"),
    ("E1008", "flow f {\n  schedule daily\n  catchup true\n  step a bash(\"true\")\n}\n"),
    # its file would be named as the module of helpers beside the DAGs
    ("E1002", "flow mlc_airflow_runtime_x {\n  step a bash(\"true\")\n}\n"),
])
def test_what_airflow_cannot_take_is_a_diagnostic(tmp_path, code, text):
    status, output = _compile_text(tmp_path, text)
    assert status == 1, output
    assert f'"code": "{code}"' in output, output
    assert not (tmp_path / "out").exists()


def test_deadline_without_daily_start_is_a_warning(tmp_path):
    status, output = _compile_text(tmp_path, "flow f {\n  schedule every 6h\n  step a bash(\"true\") { timeout 1m }\n}\n"
                                             "slo on_time { completion(f) by \"06:00\" }\n")
    assert status == 0, output
    assert '"code": "W1005"' in output
    dag = (tmp_path / "out" / "airflow" / "dags" / "f.py").read_text()
    assert "DeadlineAlert" not in dag


def test_every_example_compiles_for_every_env(tmp_path):
    for name in ("recommendations", "fraud", "nightly_batch"):
        for env in envs_of(PROJECTS[name]):
            assert compile_project(PROJECTS[name], env, tmp_path / f"{name}-{env}")


def test_no_engine_is_imported():
    """mlc's own modules never import Airflow (only the generated files do)."""
    import subprocess
    import sys

    code = ("import sys, mlc.targets.airflow, mlc.targets.airflow.target, mlc.targets.airflow.render;"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'feast', 'bentoml', 'pyspark')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"





@pytest.fixture(scope="module")
def inert(tmp_path_factory):
    """`_mlc_inert` as the hostile fixture's bundle defines it (the DAGs' helper module)."""
    out = tmp_path_factory.mktemp("inert")
    compile_project(PROJECTS["hostile"], "local", out)
    assert "_mlc_inert" in (out / "airflow" / "dags" / "hostile_flow.py").read_text()
    tree = ast.parse(next((out / "airflow" / "dags").glob(RUNTIME + "*.py")).read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_mlc_inert")
    scope: dict = {}
    exec(compile(ast.Module([fn], []), "inert", "exec"), scope)
    return scope["_mlc_inert"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_mapped_values_are_inert_to_jinja(inert, s):
    """What a foreach instance receives through XCom renders back to itself in Airflow's Jinja."""
    env = jinja2.sandbox.SandboxedEnvironment()
    assert env.from_string(inert(s)).render() == s
    assert inert([s, 1])[1] == 1 and env.from_string(inert({"k": [s]})["k"][0]).render() == s


def test_a_python_step_gets_its_env(tmp_path):
    """A python step's `env { }` once vanished from the DAG; it is set in the task's environment
    before the function is called (run for real by the fanout flow in test_engine.py)."""
    status, output = _compile_text(tmp_path, "flow f {\n  param day: string = \"x\"\n"
                                             "  step a python(\"jobs.m:main\") { env { DAY = day, K = \"v.sh\" } }\n}\n")
    assert status == 0, output
    dag = (tmp_path / "out" / "airflow" / "dags" / "f.py").read_text()
    assert 'op_kwargs={"mlc_env": {"DAY": "{{ params[\'day\'] }}", "K": "{{ \\"v.sh\\" }}"}}' in dag, dag
    assert "_mlc_python_step" in dag
    assert "os.environ.update(mlc_env or {})" in next((tmp_path / "out" / "airflow" / "dags").glob(RUNTIME + "*")).read_text()
