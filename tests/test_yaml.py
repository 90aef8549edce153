"""The YAML front end: `.flow.yaml` programs give the same IR as `.flow` ones, every
problem comes back as a located diagnostic, and `mlc fmt --to` converts both ways."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields, is_dataclass
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from mlc.cli import main
from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.diagnostics import Diagnostic, Span
from mlc.dsl import ast as A
from mlc.dsl.parser import parse_text
from mlc.dsl.yaml_emit import ConversionError, module_to_flow, module_to_yaml
from mlc.dsl.yaml_front import parse_yaml
from mlc.dsl.yaml_schema import json_schema

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
YAML_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "yaml"
PROGRAMS = sorted(p for p in YAML_FIXTURES.iterdir() if p.name.endswith((".flow.yaml", ".flow.yml")))
EXAMPLE_PROJECTS = sorted(p for p in EXAMPLES.iterdir() if (p / "mlc.toml").is_file())
STDLIB_FILES = sorted((ROOT / "mlc" / "stdlib").rglob("*.flow"))


# ---------------------------------------------------------------- helpers
def strip(value):
    """The IR as JSON without locations (`loc`, `arg_locs`, ...: where things were written)
    and `files` (their paths)."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items()
                if k not in ("loc", "files") and not k.endswith(("_loc", "_locs"))}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def ir_of(*paths: Path | str) -> tuple[dict, list[Diagnostic]]:
    result = check(load_project([str(p) for p in paths]), use_cache=False)
    assert result.program is not None
    return strip(json.loads(result.program.model_dump_json(by_alias=True))), result.diagnostics


def ast_shape(node):
    """An AST with every span and comment list removed: what was written, not where."""
    if isinstance(node, Span):
        return None
    if is_dataclass(node):
        return (type(node).__name__,) + tuple(
            (f.name, ast_shape(getattr(node, f.name))) for f in fields(node)
            if f.name not in ("span", "serve_span", "clauses", "comments", "path"))
    if isinstance(node, (list, tuple)):
        return tuple(ast_shape(x) for x in node)
    return node


def yaml_diags(text: str, path: str = "t.flow.yaml") -> list[Diagnostic]:
    _module, diags = parse_yaml(text, path)
    return diags


def one(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, diags
    return found[0]


def at(d: Diagnostic) -> tuple[int, int]:
    assert d.span is not None
    return d.span.line, d.span.col


def _copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".mlc_cache", "build"))
    return dst


# ---------------------------------------------------------------- hand-written programs
def test_fixtures_are_found() -> None:
    assert {p.name for p in PROGRAMS} >= {"shop.flow.yaml", "nightly.flow.yml"}


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_program_matches_golden_ir(path: Path, update_golden: bool) -> None:
    ir, diags = ir_of(path)
    assert diags == []
    golden = path.with_name(path.name.split(".flow.")[0] + ".ir.json")
    text = json.dumps(ir, indent=1, sort_keys=True) + "\n"
    if update_golden:
        golden.write_text(text, encoding="utf-8")
    assert json.loads(golden.read_text(encoding="utf-8")) == ir


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_program_matches_its_hand_written_flow_twin(path: Path) -> None:
    twin = YAML_FIXTURES / "flow" / (path.name.split(".flow.")[0] + ".flow")
    yaml_ir, _ = ir_of(path)
    flow_ir, flow_diags = ir_of(twin)
    assert flow_diags == []
    assert yaml_ir == flow_ir


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_program_converts_to_flow_and_its_twin_to_yaml(path: Path, tmp_path: Path) -> None:
    golden, _ = ir_of(path)
    module, _ = parse_yaml(path.read_text(), path.name)
    as_flow = tmp_path / "as.flow"
    as_flow.write_text(module_to_flow(module))
    assert ir_of(as_flow) == (golden, [])
    twin = YAML_FIXTURES / "flow" / (path.name.split(".flow.")[0] + ".flow")
    module, _ = parse_text(twin.read_text(), twin.name)
    as_yaml = tmp_path / "as.flow.yaml"
    as_yaml.write_text(module_to_yaml(module))
    assert ir_of(as_yaml) == (golden, [])


def test_golden_ir_says_what_the_yaml_says() -> None:
    """Spot checks of the golden IR, by hand: units, shorthands and metadata."""
    ir = json.loads((YAML_FIXTURES / "shop.ir.json").read_text())
    act = ir["feature_groups"]["acme.shop.shopper_activity"]
    assert act["mode"] == "stream" and act["checkpoint_ms"] == 60_000 and act["online_ttl_ms"] == 86_400_000
    assert act["doc"] == "What a shopper did in the last hour,\nrefreshed every five minutes."
    assert [(f["name"], f["agg"], f["window_ms"], f["every_ms"]) for f in act["features"]] == [
        ("views_1h", "count", 3_600_000, 300_000), ("carts_1h", "count", 3_600_000, 300_000),
        ("spend_1h", "sum", 3_600_000, 300_000)]
    assert act["freshness"] == {"op": "<=", "value_ms": 600_000}
    sales = ir["feature_groups"]["acme.shop.product_sales"]
    assert sales["online"] is True and sales["online_ttl_ms"] is None and sales["schedule"]["value"] == "daily"
    assert [f["kind"] for f in sales["features"]] == ["aggregation", "aggregation", "column"]
    assert ir["entities"]["acme.shop.shopper_product"]["keys"][1]["name"] == "product_id"
    rec = ir["models"]["acme.shop.recommender"]
    assert rec["deterministic"] is False and rec["confidence"] == [0.0, 1.0]
    assert rec["serve"]["replicas"] == 3 and rec["serve"]["timeout_ms"] == 40
    assert rec["serve"]["settings"]["memory"]["value"] == 4 * 1024 ** 3
    assert rec["fallback"]["model"]["target"] == "acme.shop.bestsellers"
    assert ir["models"]["acme.shop.reranker"]["fallback"]["when"]["name"] == "<"
    flow = ir["flows"]["acme.shop.train_recommender"]
    assert flow["trigger"]["kind"] == "all"
    assert [t["kind"] for t in flow["trigger"]["items"]] == ["on_finish", "signal"]
    assert flow["trigger"]["items"][1]["match"]["region"]["value"] == "eu"
    assert [(p["name"], p["default"]["op"]) for p in flow["params"]] == [
        ("lookback", "lit"), ("regions", "list"), ("min_auc", "lit")]
    steps = {s["name"]: s for s in flow["steps"]}
    assert steps["train"]["retries"] == 2 and steps["train"]["retry_delay_ms"] == 300_000
    assert steps["train"]["deterministic"] is False
    assert steps["publish"]["doc"] == "Goes live only after the gate."
    assert steps["publish"]["emits"][0]["payload"]["version"]["name"] == "run.id"
    assert steps["announce"]["env"]["CHANNEL"]["value"] == "#releases"
    assert [u["name"] for u in steps["score_regions"]["uses"]] == ["recommender", "reranker"]
    assert [(e["upstream"]["name"], e["downstream"]["name"]) for e in flow["edges"]] == [
        ("train", "evaluate"), ("evaluate", "publish"), ("publish", "announce"), ("publish", "score_regions")]
    assert ir["slos"]["acme.shop.activity_fresh"]["template"]["target"] == "std.slo.fresh_within"
    assert ir["envs"]["acme.shop.prod"]["bindings"]["kafka"]["args"]["credentials"]["op"] == "secret"
    nightly = json.loads((YAML_FIXTURES / "nightly.ir.json").read_text())
    export = nightly["flows"]["acme.nightly.score"]["steps"][2]
    # merged from the `&batch` anchor, with `timeout` overridden by the step itself
    assert (export["retries"], export["retry_delay_ms"], export["timeout_ms"]) == (1, 300_000, 600_000)
    assert export["env"]["LIMIT"]["kind"] == "int" and export["env"]["RATIO"]["text"] == "0.25"
    assert export["env"]["DRY_RUN"]["value"] is False
    assert export["when"]["name"] == "and"


def test_every_ast_node_has_a_span_in_the_yaml_file() -> None:
    path = YAML_FIXTURES / "shop.flow.yaml"
    text = path.read_text()
    module, diags = parse_yaml(text, "shop.flow.yaml")
    assert diags == []
    lines = text.split("\n")
    count = 0

    def walk(node) -> None:
        nonlocal count
        if isinstance(node, Span):
            count += 1
            assert node.file == "shop.flow.yaml"
            assert 1 <= node.line <= node.end_line <= len(lines), node
            assert node.col >= 1 and (node.line, node.col) <= (node.end_line, node.end_col), node
            return
        if is_dataclass(node):
            for f in fields(node):
                walk(getattr(node, f.name))
        elif isinstance(node, (list, tuple)):
            for x in node:
                walk(x)

    walk(module.decls)
    assert count > 500


def _text_at(text: str, span: Span) -> str:
    assert span.line == span.end_line
    return text.split("\n")[span.line - 1][span.col - 1: span.end_col - 1]


def test_spans_point_into_the_scalars() -> None:
    text = (YAML_FIXTURES / "shop.flow.yaml").read_text()
    module, _ = parse_yaml(text, "shop.flow.yaml")
    decls = {(d.kind, d.name.value): d for d in module.decls}
    flow = decls[("flow", "train_recommender")]
    on_signal = flow.trigger.items[1]
    assert _text_at(text, on_signal.signal.span) == "catalog_ready"
    assert _text_at(text, on_signal.match[0].value.span) == '"eu"'
    assert _text_at(text, flow.trigger.span) == 'on_finish(snapshot) and signal(catalog_ready, region = "eu")'
    assert _text_at(text, flow.name.span) == "train_recommender"
    train = flow.steps[0]
    assert _text_at(text, train.action.span) == 'python("shop.train:main")'
    assert _text_at(text, train.timeout.span) == "2h"
    busy = decls[("features", "basket_context")].derived[1]
    assert _text_at(text, busy.expr.right.span) == "(basket_size + 1)"[1:-1]  # inside "..." quotes
    rec = decls[("model", "recommender")]
    assert _text_at(text, rec.fallback.when.span) == "confidence < 0.55 or unavailable"
    assert _text_at(text, rec.inputs[1].span) == "product_sales.buyers_7d"
    orders = decls[("source", "orders")]
    assert _text_at(text, orders.connector.func.span) == "hive"  # inside '...' quotes


def test_spans_in_block_scalars() -> None:
    text = (YAML_FIXTURES / "nightly.flow.yml").read_text()
    module, _ = parse_yaml(text, "nightly.flow.yml")
    flow = next(d for d in module.decls if d.kind == "flow")
    when = flow.steps[2].when  # a folded (>-) scalar over two lines
    lines = text.split("\n")
    left = when.left.left
    assert lines[left.span.line - 1][left.span.col - 1:].startswith("threshold > 0.5")
    right = when.right.operand.right
    assert right.span.line == left.span.line + 1
    assert lines[right.span.line - 1][right.span.col - 1: right.span.end_col - 1] == "0.99"


def test_comments_are_kept_with_their_positions() -> None:
    module, _ = parse_yaml((YAML_FIXTURES / "shop.flow.yaml").read_text(), "shop.flow.yaml")
    texts = [(c.text, c.span.line) for c in module.comments]
    assert texts[0] == ("# An online shop's recommendations, written by hand in YAML: every declaration", 1)
    assert ("# the short form: connector -> call", 9) in texts
    assert not any("#releases" in t for t, _ in texts)  # a `#` inside a scalar is text


# ---------------------------------------------------------------- both front ends, one IR
def _as_yaml_project(project: Path, dest: Path) -> Path:
    dest.mkdir()
    shutil.copy(project / "mlc.toml", dest / "mlc.toml")
    for f in sorted(project.glob("*.flow")):
        module, diags = parse_text(f.read_text(), str(f))
        assert not [d for d in diags if d.is_error]
        (dest / (f.stem + ".flow.yaml")).write_text(module_to_yaml(module))
    return dest


@pytest.mark.parametrize("project", EXAMPLE_PROJECTS, ids=lambda p: p.name)
def test_example_flow_to_yaml_gives_the_same_ir(project: Path, tmp_path: Path) -> None:
    flow_ir, flow_diags = ir_of(project)
    yaml_ir, yaml_diags = ir_of(_as_yaml_project(project, tmp_path / "yaml"))
    assert yaml_ir == flow_ir
    assert [(d.code, d.message) for d in yaml_diags] == [(d.code, d.message) for d in flow_diags]


@pytest.mark.parametrize("project", EXAMPLE_PROJECTS, ids=lambda p: p.name)
def test_example_flow_to_yaml_to_flow_gives_the_same_ir_and_keeps_comments(project: Path, tmp_path: Path) -> None:
    flow_ir, _ = ir_of(project)
    back = tmp_path / "back"
    back.mkdir()
    shutil.copy(project / "mlc.toml", back / "mlc.toml")
    for f in sorted(project.glob("*.flow")):
        module, _ = parse_text(f.read_text(), str(f))
        ymodule, ydiags = parse_yaml(module_to_yaml(module), f.stem + ".flow.yaml")
        assert ydiags == []
        text = module_to_flow(ymodule)
        again, diags = parse_text(text, f.name)
        assert diags == []
        plain = sorted(c.text.strip() for c in module.comments if not c.is_doc)
        assert sorted(c.text.strip() for c in again.comments if not c.is_doc) == plain
        (back / f.name).write_text(text)
    assert ir_of(back)[0] == flow_ir


@pytest.mark.parametrize("path", STDLIB_FILES, ids=lambda p: p.name)
def test_stdlib_modules_convert_to_the_same_ast(path: Path) -> None:
    """Connectors and SLO templates (only the standard library declares them) convert too."""
    module, _ = parse_text(path.read_text(), str(path))
    ymodule, diags = parse_yaml(module_to_yaml(module), "std.flow.yaml")
    assert diags == []
    assert ast_shape(ymodule.decls) == ast_shape(module.decls)


def test_hand_written_connector() -> None:
    flow = 'connector kv {\n  kinds [table]\n  env { url: string, credentials: secret? }\n' \
           '  source { key: string = "x", limit: int }\n  owner "infra"\n}\n'
    yaml = ('connectors:\n  kv:\n    kinds: [table]\n    env: {url: string, credentials: secret?}\n'
            '    source:\n      key: string = "x"\n      limit: {type: int}\n    owner: infra\n')
    f, _ = parse_text(flow, "kv.flow")
    y, diags = parse_yaml(yaml, "kv.flow.yaml")
    assert diags == []
    assert ast_shape(y.decls) == ast_shape(f.decls)


def test_yaml_and_flow_files_share_a_package(tmp_path: Path) -> None:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "mixed"\n')
    (tmp_path / "sources.flow").write_text(
        'package mixed\nimport std.connectors.{hive, files}\nenv local { hive = files("w") }\n'
        'source t: table hive(table = "t") { schema { id: string, ds: date }, event_time ds, '
        'arrives every 1d }\nentity e { key id: string }\n')
    (tmp_path / "features.flow.yaml").write_text(
        "package: mixed\nfeatures:\n  g:\n    on: e\n    from: t\n    features: {n: {expr: count(*), over: 1d}}\n"
        "    schedule: daily\n    timeout: 1h\n")
    ir, diags = ir_of(tmp_path)
    assert [d for d in diags if d.is_error] == []
    assert ir["feature_groups"]["mixed.g"]["sources"][0]["target"] == "mixed.t"


def test_compiler_diagnostics_point_into_yaml(tmp_path: Path) -> None:
    path = tmp_path / "p.flow.yaml"
    path.write_text("package: p\nmodels:\n  m:\n    inputs: [missing_group.x]\n    output: {s: float}\n")
    _ir, diags = ir_of(path)
    d = one(diags, "E0202")
    assert "missing_group" in d.message
    assert at(d) == (4, 14)


def test_module_with_a_name_twice_is_not_converted() -> None:
    module, _ = parse_text("package p\nsignal s {}\nsignal s {}\n", "p.flow")
    with pytest.raises(ConversionError):
        module_to_yaml(module)


# ---------------------------------------------------------------- located diagnostics
def test_malformed_yaml() -> None:
    d = one(yaml_diags("flows:\n  f: {steps: [a, b}\n"), "E0111")
    assert at(d) == (2, 19)
    assert d.message == "malformed YAML: expected ',' or ']', but got '}'"
    assert d.labels and d.labels[0].span.line == 2


def test_tab_indentation() -> None:
    d = one(yaml_diags("flows:\n\tf: 1\n"), "E0111")
    assert at(d) == (2, 1)
    assert "tabs" in (d.help or "")


def test_duplicate_key() -> None:
    d = one(yaml_diags("flows:\n  f: {steps: {a: x()}}\n  f: {steps: {b: y()}}\n"), "E0111")
    assert d.message == "key `f` is given twice in this mapping"
    assert at(d) == (3, 3)
    assert d.labels[0].span.line == 2


def test_several_documents() -> None:
    d = one(yaml_diags("package: a\n---\npackage: b\n"), "E0111")
    assert at(d) == (2, 1)
    assert "single document" in d.message


@pytest.mark.parametrize("tag", ["!!python/object:os.system {}", "!!python/name:os.system",
                                 "!!python/object/apply:os.system ['touch {marker}']", "!!binary aGk=",
                                 "!custom x"])
def test_unsafe_or_unknown_tags_are_rejected(tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = "package: p\nflows:\n  f:\n    steps:\n      a: " + tag.replace("{marker}", str(marker)) + "\n"
    module, diags = parse_yaml(text, "t.flow.yaml")
    d = one(diags, "E0111")
    assert d.message.startswith("unsupported YAML tag")
    assert at(d) == (5, 10)
    # the declaration that holds the tag is dropped, as the .flow parser drops one that fails
    assert [x.kind for x in module.decls] == ["package"] and module.unread == [("flow", "f")]
    assert not marker.exists()


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    d = one(yaml_diags("\n".join(lines) + "\n"), "E0111")
    assert "too large" in d.message


def test_empty_and_comment_only_documents() -> None:
    assert parse_yaml("", "e.flow.yaml") == (A.Module("e.flow.yaml"), [])
    module, diags = parse_yaml("# nothing yet\n", "e.flow.yaml")
    assert diags == [] and module.decls == [] and module.comments[0].text == "# nothing yet"


def test_document_must_be_a_mapping() -> None:
    d = one(yaml_diags("- a\n- b\n"), "E0112")
    assert at(d) == (1, 1)
    assert "is a mapping" in d.message


def test_unknown_key_with_did_you_mean() -> None:
    text = 'flows:\n  train:\n    steps:\n      train:\n        run: python("m:f")\n        retires: 1\n'
    d = one(yaml_diags(text), "E0112")
    assert d.message == "unknown key `retires` in step `train`; did you mean `retries`?"
    assert at(d) == (6, 9)


def test_unknown_top_level_key() -> None:
    d = one(yaml_diags("pakage: a\n"), "E0112")
    assert d.message == "unknown top-level key `pakage`; did you mean `package`?"
    assert at(d) == (1, 1)


def test_missing_key() -> None:
    d = one(yaml_diags("sources:\n  plays:\n    kind: table\n"), "E0112")
    assert d.message == "source `plays` needs `connector`"
    assert at(d) == (2, 3)


@pytest.mark.parametrize("text, message, position", [
    ("flows:\n  f:\n    steps:\n      a: {run: x(), retries: two}\n",
     "`retries` of step `a` must be an integer, not text", (4, 30)),
    ("flows:\n  f:\n    steps:\n      a: {run: x(), timeout: 2 hours}\n",
     "`timeout` of step `a` must be a duration such as `30s`, `5m`, `2h` or `1d`, not `2 hours`", (4, 30)),
    ("sources:\n  s:\n    kind: tabel\n    connector: hive()\n",
     "`kind` of source `s` must be `stream` or `table` or `push` or `request`, not `tabel`", (3, 11)),
    ("flows:\n  f: x\n", "flow `f` must be a mapping, not text", (2, 6)),
    ("models:\n  m: {output: {a: float, b: int}}\n", "`output` of model `m` takes exactly one `name: type`", (2, 15)),
    ("flows:\n  b-c: {steps: {a: x()}}\n", "`b-c` is not a valid name here", (2, 3)),
    ("models:\n  m:\n    serve: {replicas: [1, 2]}\n",
     "`serve.replicas` of model `m` must be a .flow expression: text in .flow syntax, a number or true/false, "
     "not a list", (3, 23)),
    ("features:\n  g: {on: e, features: {a: {over: 1d}}}\n",
     "feature `a`: a feature needs `expr` (a derived feature) or `type` (a plain column)", (2, 28)),
    ("flows:\n  f:\n    schedule:\n",
     '`schedule` of flow `f` must be a schedule in .flow syntax (e.g. `daily, every 6h or cron("0 1 * * *")`), '
     "not empty", (3, 5)),
])
def test_schema_violations(text: str, message: str, position: tuple[int, int]) -> None:
    d = one(yaml_diags(text), "E0112")
    assert d.message == message
    assert at(d) == position


def test_schema_errors_skip_only_the_broken_declaration() -> None:
    text = "signals:\n  ok: {fields: {v: string}}\n  bad: {fieldz: {v: string}}\n"
    module, diags = parse_yaml(text, "t.flow.yaml")
    assert [d.code for d in diags] == ["E0112"]
    assert [d.name.value for d in module.decls] == ["ok"]


@pytest.mark.parametrize("text, message, position", [
    ("flows:\n  f:\n    steps:\n      a: {run: x(), gate: auc >= }\n",
     "incomplete expression: `auc >=` ends too early", (4, 33)),
    ("flows:\n  f:\n    trigger: on_finish(a) and and signal(b)\n    steps: {a: x()}\n",
     "invalid trigger: unexpected `and`", (3, 31)),
    ("flows:\n  f:\n    steps:\n      a: {run: x(), gate: \"auc >= ) \"}\n",
     "invalid expression: unexpected `)`", (4, 35)),
    ("flows:\n  f:\n    steps:\n      a:\n        run: x()\n        gate: |\n          auc >=\n          0.8 )\n",
     "invalid expression: unexpected `)`", (8, 15)),
    ("flows:\n  f:\n    steps:\n      a: 'python(\"m:f\"'\n", 'incomplete call: `python("m:f"` ends too early', (4, 23)),
    ("sources:\n  s:\n    kind: table\n    connector: hive()\n    schema: {a: 'enum(x,'}\n",
     "incomplete type: `enum(x,` ends too early", (5, 25)),
    ("models:\n  m:\n    confidence: 0.0..\n", "incomplete range: `0.0..` ends too early", (3, 22)),
])
def test_bad_flow_syntax_inside_a_scalar(text: str, message: str, position: tuple[int, int]) -> None:
    d = one(yaml_diags(text), "E0113")
    assert d.message == message
    assert at(d) == position


def test_text_where_a_flow_string_is_meant_gets_a_hint() -> None:
    text = "flows:\n  f:\n    params: {x: 'string = hello world'}\n    steps: {a: x()}\n"
    d = one(yaml_diags(text), "E0113")
    assert at(d) == (3, 33)
    assert "double quotes" in (d.help or "")


def test_bad_string_escape_inside_a_scalar() -> None:
    text = "flows:\n  f:\n    steps:\n      a: 'bash(\"a\\qb\")'\n"
    d = one(yaml_diags(text), "E0103")
    assert at(d) == (4, 16)  # the string literal, inside the YAML quotes


# ---------------------------------------------------------------- JSON Schema and the CLI
def _yaml_data(path: Path):
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(path.read_text())


def test_schema_command_prints_the_document_schema() -> None:
    result = CliRunner().invoke(main, ["schema", "--yaml"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema == json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in PROGRAMS:
        jsonschema.validate(_yaml_data(path), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"flows": {"f": {"steps": {"a": {"run": "x()", "retires": 1}}}}}, schema)
    plain = json.loads(CliRunner().invoke(main, ["schema"]).output)
    assert plain != schema and plain["title"].startswith("mlc IR")


@pytest.mark.parametrize("project", EXAMPLE_PROJECTS, ids=lambda p: p.name)
def test_converted_examples_validate_against_the_schema(project: Path) -> None:
    from ruamel.yaml import YAML

    schema = json_schema()
    for f in sorted(project.glob("*.flow")):
        module, _ = parse_text(f.read_text(), str(f))
        jsonschema.validate(YAML(typ="safe", pure=True).load(module_to_yaml(module)), schema)


def test_check_reads_yaml_programs() -> None:
    result = CliRunner().invoke(main, ["check", "--no-cache", str(YAML_FIXTURES / "shop.flow.yaml")])
    assert result.exit_code == 0, result.output
    bad = CliRunner().invoke(main, ["check", "--no-cache", "--format", "json",
                                    str(YAML_FIXTURES / "shop.flow.yaml"), str(YAML_FIXTURES / "flow" / "shop.flow")])
    assert bad.exit_code == 1  # the twins declare every name twice
    assert '"E0201"' in bad.output


def test_fmt_converts_a_project_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _copy_project(EXAMPLES / "recommendations", tmp_path / "recs")
    before, _ = ir_of(project)
    flow_files = sorted(p.name for p in project.glob("*.flow"))
    monkeypatch.chdir(project)
    runner = CliRunner()
    check_only = runner.invoke(main, ["fmt", "--to", "yaml", "--check"])
    assert check_only.exit_code == 1 and "would convert envs.flow -> envs.flow.yaml" in check_only.output
    assert sorted(p.name for p in project.glob("*.flow")) == flow_files  # nothing written
    to_yaml = runner.invoke(main, ["fmt", "--to", "yaml"])
    assert to_yaml.exit_code == 0, to_yaml.output
    assert list(project.glob("*.flow")) == []
    assert sorted(p.name for p in project.glob("*.flow.yaml")) == [f + ".yaml" for f in flow_files]
    assert ir_of(project)[0] == before
    assert runner.invoke(main, ["fmt"]).exit_code == 0  # plain fmt leaves YAML alone
    to_flow = runner.invoke(main, ["fmt", "--to", "flow"])
    assert to_flow.exit_code == 0, to_flow.output
    assert sorted(p.name for p in project.glob("*.flow")) == flow_files
    assert list(project.glob("*.flow.yaml")) == []
    assert ir_of(project)[0] == before
    assert runner.invoke(main, ["fmt", "--check"]).exit_code == 0  # already in mlc fmt's layout


def test_fmt_to_converts_single_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    flow = tmp_path / "p.flow"
    flow.write_text("package p\nsignal s { v: string }\n")
    (tmp_path / "p.flow.yaml").write_text("package: p\n")
    result = CliRunner().invoke(main, ["fmt", "--to", "yaml", str(flow)])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert flow.exists() and (tmp_path / "p.flow.yaml").read_text() == "package: p\n"
    (tmp_path / "p.flow.yaml").unlink()
    result = CliRunner().invoke(main, ["fmt", "--to", "yaml", str(flow)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.flow.yaml").read_text() == "package: p\n\nsignals:\n  s: {fields: {v: string}}\n"


def test_fmt_to_flow_refuses_a_file_with_errors(tmp_path: Path) -> None:
    bad = tmp_path / "b.flow.yaml"
    bad.write_text("flows:\n  f: {stepz: {}}\n")
    result = CliRunner().invoke(main, ["fmt", "--to", "flow", str(bad)])
    assert result.exit_code == 1
    assert "E0112" in result.output and bad.exists() and not (tmp_path / "b.flow").exists()


def test_yaml_to_flow_keeps_comments_and_docs() -> None:
    module, _ = parse_yaml(
        "# head\npackage: p\nsignals:\n  s:\n    doc: The doc.\n    fields: {v: string}  # trailing\n"
        "  # before t\n  t: {fields: {w: int}}\n", "c.flow.yaml")
    text = module_to_flow(module)
    assert text == ("# head\npackage p\n\n## The doc.\nsignal s { v: string }  # trailing\n\n"
                    "# before t\nsignal t { w: int }\n")


# ---------------------------------------------------------------- the docs say what mlc does
def test_docs_complete_example_is_the_fixture() -> None:
    import re

    doc = (ROOT / "docs" / "yaml.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    assert max(blocks, key=len) == (YAML_FIXTURES / "shop.flow.yaml").read_text()


def test_docs_error_samples_are_what_mlc_prints() -> None:
    from mlc.diagnostics import SourceMap, render_text

    doc = (ROOT / "docs" / "yaml.md").read_text()
    samples = {
        "flows:\n  train:\n    steps:\n      train:\n        run: python(\"m:f\")\n        retires: 1\n": "E0112",
        "flows:\n  f:\n    trigger: on_finish(a) and and signal(b)\n    steps: {a: x()}\n": "E0113",
    }
    for text, code in samples.items():
        diags = yaml_diags(text, "flows.flow.yaml")
        sources = SourceMap()
        sources.add("flows.flow.yaml", text)
        rendered = render_text([one(diags, code)], sources)
        for line in rendered.splitlines()[:5]:
            assert "  " + line in doc, line


# ---------------------------------------------------------------- never raises
def test_mangled_documents_give_diagnostics_not_exceptions() -> None:
    import random

    rng = random.Random(7)
    texts = [(YAML_FIXTURES / "nightly.flow.yml").read_text()]
    alphabet = list(":{}[],-#'\"|>&*!<=() \n\tab0.%@`?")
    for _ in range(80):
        chars = list(rng.choice(texts))
        for _ in range(rng.randint(1, 5)):
            pos = rng.randrange(len(chars))
            if rng.random() < 0.5:
                del chars[pos]
            else:
                chars.insert(pos, rng.choice(alphabet))
        module, diags = parse_yaml("".join(chars), "m.flow.yaml")
        assert all(d.span is None or d.span.line >= 1 for d in diags)


def test_odd_but_valid_values_reach_the_checks_without_a_crash(tmp_path: Path) -> None:
    """Every leaf of a valid document replaced by values of other kinds: the whole pipeline runs."""
    import copy
    import random

    from ruamel.yaml import YAML

    rng = random.Random(11)
    doc = YAML(typ="safe", pure=True).load((YAML_FIXTURES / "shop.flow.yaml").read_text())
    values = [True, 0, 2.5, [], {}, "", "x()", "a >> b", "1d", "<= 1d", "a.*", "0.0..1.0", "string", ["t"]]

    def leaves(o, p=()):
        if isinstance(o, dict):
            for k, v in o.items():
                yield from leaves(v, p + (k,))
        elif isinstance(o, list):
            for i, v in enumerate(o):
                yield from leaves(v, p + (i,))
        else:
            yield p

    paths = list(leaves(doc))
    target = tmp_path / "odd.flow.yaml"
    for _ in range(15):
        d = copy.deepcopy(doc)
        p = rng.choice(paths)
        o = d
        for k in p[:-1]:
            o = o[k]
        o[p[-1]] = rng.choice(values)
        target.write_text(json.dumps(d))
        result = check(load_project([str(target)]), use_cache=False)
        assert result.program is not None
