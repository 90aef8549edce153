"""Every example project checks clean (no error, no warning) and compiles to an IR that the
published JSON Schema and the IR's own models accept."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from mlc.compiler import driver, ir
from mlc.compiler.project import load_project
from mlc.dsl.parser import parse_text

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROJECTS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "mlc.toml").is_file())


def test_there_are_examples() -> None:
    assert {"fraud", "nightly_batch", "recommendations"} <= set(PROJECTS)


@pytest.mark.parametrize("name", PROJECTS)
def test_every_file_parses_without_diagnostics(name: str) -> None:
    files = sorted((EXAMPLES / name).rglob("*.flow"))
    assert files
    for f in files:
        module, diags = parse_text(f.read_text(encoding="utf-8"), str(f))
        assert diags == [], [str(d.span) + " " + d.message for d in diags]
        assert module.decls


@pytest.mark.parametrize("name", PROJECTS)
def test_example_checks_clean(name: str) -> None:
    result = driver.check(load_project([str(EXAMPLES / name)]), use_cache=False)
    assert [f"{d.code} {d.span}: {d.message}" for d in result.diagnostics] == []
    assert result.program is not None


@pytest.fixture(scope="module")
def ir_schema() -> dict:
    schema = ir.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize("name", PROJECTS)
def test_example_compiles_to_valid_ir(name: str, tmp_path: Path, ir_schema: dict) -> None:
    from mlc.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["compile", str(EXAMPLES / name), "--env", "local", "--out", str(out),
                                       "--emit", "ir", "--no-cache"])
    assert result.exit_code == 0, result.output
    text = (out / "ir.json").read_text(encoding="utf-8")
    doc = json.loads(text)
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in jsonschema.Draft202012Validator(ir_schema).iter_errors(doc)]
    assert errors == []
    # The IR is built without validation for speed: the models must accept what was built,
    # and give back the same data.
    program = ir.Program.model_validate_json(text)
    assert json.loads(program.model_dump_json(by_alias=True)) == doc
    assert doc["files"]


@pytest.mark.parametrize("name", PROJECTS)
def test_ir_json_is_what_the_validated_model_writes(name: str) -> None:
    """Byte for byte: every node's keys in the order of its fields, whichever fields the
    lowering passed (a node built without validation must not order them differently)."""
    program = driver.check(load_project([str(EXAMPLES / name)]), use_cache=False).program
    text = program.model_dump_json(by_alias=True, indent=2)
    assert ir.Program.model_validate_json(text).model_dump_json(by_alias=True, indent=2) == text
