"""Long and deep expressions through the command line (`mlc check`, `compile`, `fmt`): a row of
thousands of `and`, `or`, `+` or `-` terms compiles to flat code that Python and Airflow's
Jinja take; nesting past `MAX_DEPTH` is E0008, never a RecursionError (exit 2)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from mlc.compiler import ir
from mlc.dsl.ast import MAX_DEPTH
from tests.test_cli import mlc, project

HEAD = 'package demo\nimport std.connectors.{files}\nenv local { kafka = files("data") }\n'


def flow_of(n: int) -> str:
    """A flow whose gate, `when` and env are rows of `n` terms."""
    gate = " and ".join(f"m{i} > {i}" for i in range(n))
    plus = " + ".join(f"m{i}" for i in range(n))
    ors = " or ".join(f"k == {i}" for i in range(n))
    minus = " - ".join("k" for _ in range(n))
    return HEAD + (
        "flow f {\n  schedule daily\n  param k: int = 3\n"
        f'  step a python("m:f") {{ gate {gate} and {plus} > 0 }}\n'
        f'  step b bash("echo $X") {{ env {{ X = {ors}, Y = {minus} }} }}\n'
        f'  step c python("m:g") {{ when {minus} < 0 or {ors} }}\n'
        "  a >> b >> c\n}\n")


def _function(source: str, name: str):
    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    scope: dict = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "dag", "exec"), scope)
    return scope[name]


@pytest.mark.parametrize("n", [300, 3000])
def test_long_rows_check_and_compile_to_flat_code(tmp_path: Path, n: int) -> None:
    root = project(tmp_path / "p", {"main.flow": flow_of(n)})
    r = mlc("check", "--no-cache", cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    r = mlc("compile", "--no-cache", "--env", "local", "--out", "out", "--emit", "ir", cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    dag = (root / "out" / "airflow" / "dags" / "f.py").read_text()
    compile(dag, "f.py", "exec")  # Python takes it (it refuses ~3,000 nested operations)
    when = _function(dag, "_when_c")
    assert when(params={"k": 3}) is True          # 3 - 3 - ... < 0
    assert when(params={"k": -1}) is False         # -1 + (n - 1) is not < 0, and no term is k == -1
    from jinja2.sandbox import SandboxedEnvironment  # a dependency of mlc: never missing

    templates = [c.value for c in ast.walk(ast.parse(dag))
                 if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value.startswith("{{")]
    rendered = sorted(SandboxedEnvironment().from_string(t).render(params={"k": 7}) for t in templates)
    assert rendered == sorted(["True", str(7 - 7 * (n - 1))])
    ir_text = next((root / "out").rglob("*ir*.json")).read_text()
    ir.Program.model_validate_json(ir_text)  # the IR reads back


def test_a_long_row_is_one_node_and_formats_back(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": flow_of(3000)})
    r = mlc("fmt", "--check", cwd=root)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr[-2000:]
    r = mlc("fmt", cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    assert mlc("check", "--no-cache", cwd=root).returncode == 0
    # the parse cache pickles the tree: a second run reads it back
    assert mlc("check", cwd=root).returncode == 0
    r = mlc("check", cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]


def _deep(depth: int) -> str:
    """`depth` levels of `and` inside `or` inside `and` ...: each level really nests."""
    return "(m > 1 and (m > 2 or " * (depth // 2) + "m > 0" + "))" * (depth // 2)


@pytest.mark.parametrize("text", [
    HEAD + f'flow f {{\n  schedule daily\n  step a python("m:f") {{ gate {_deep(5000)} }}\n}}\n',
    HEAD + f'flow f {{\n  schedule daily\n  step a python("m:f") {{ gate {"not " * 5000}m > 0 }}\n}}\n',
    HEAD + f'flow f {{\n  schedule daily\n  step a python("m:f") {{ gate {"-" * 5000}m > 0 }}\n}}\n',
    HEAD + f'flow f {{\n  schedule daily\n  param k: int = 1\n  step a bash("x") {{ env {{ X = {"[" * 5000}k{"]" * 5000} }} }}\n}}\n',
], ids=["and-or", "not", "minus", "lists"])
def test_deep_nesting_is_e0008_not_a_crash(tmp_path: Path, text: str) -> None:
    root = project(tmp_path / "p", {"main.flow": text})
    for args in (("check", "--no-cache"), ("compile", "--no-cache", "--env", "local", "--out", "out")):
        r = mlc(*args, cwd=root)
        assert r.returncode == 1, r.stderr[-2000:]
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr
        assert r.stderr.count("error[E0008]") == 1, r.stderr[-3000:]
        assert f"nests more than {MAX_DEPTH} levels deep" in r.stderr


def test_deep_nesting_in_yaml_is_e0008(tmp_path: Path) -> None:
    doc = {"package": "demo", "flows": {"f": {"schedule": "daily", "steps": {
        "a": {"run": 'python("m:f")', "gate": _deep(5000)}}}}}
    root = project(tmp_path / "p", {"main.flow.yaml": json.dumps(doc)})
    r = mlc("check", "--no-cache", cwd=root)
    assert r.returncode == 1 and "error[E0008]" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


def test_parentheses_that_change_nothing_do_not_count(tmp_path: Path) -> None:
    text = HEAD + f'flow f {{\n  schedule daily\n  step a python("m:f") {{ gate {"(" * 5000}m > 0{")" * 5000} }}\n}}\n'
    root = project(tmp_path / "p", {"main.flow": text})
    r = mlc("compile", "--no-cache", "--env", "local", "--out", "out", cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]


def test_the_deepest_expression_allowed_goes_through_every_stage(tmp_path: Path) -> None:
    text = HEAD + (f'flow f {{\n  schedule daily\n  param k: int = 1\n'
                   f'  step a bash("x") {{ env {{ X = {_deep(MAX_DEPTH - 2).replace("m ", "k ")} }} }}\n'
                   f'  step b python("m:f") {{ gate {_deep(MAX_DEPTH - 2)} }}\n  a >> b\n}}\n')
    root = project(tmp_path / "p", {"main.flow": text})
    r = mlc("compile", "--no-cache", "--env", "local", "--out", "out", "--emit", "ir", cwd=root)
    assert r.returncode == 0, r.stderr[-2000:]
    dag = (root / "out" / "airflow" / "dags" / "f.py").read_text()
    compile(dag, "f.py", "exec")
    ir.Program.model_validate_json(next((root / "out").rglob("*ir*.json")).read_text())
    r = mlc("fmt", "--check", cwd=root)
    assert "Traceback" not in r.stderr
