"""The TextMate grammar (editors/vscode) through the engine VS Code uses (vscode-textmate on
vscode-oniguruma, installed from editors/vscode/package-lock.json by scripts/editors.sh): it is
what the Lark grammar's words generate, every keyword gets a keyword scope, a sample gets the
scopes it should, and every example is scoped to its last character."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlc.highlight import grammar_keywords, keyword_groups, textmate

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "editors" / "vscode"
EXAMPLES = sorted([*ROOT.glob("examples/**/*.flow"), *ROOT.glob("mlc/stdlib/**/*.flow")])


@pytest.fixture(scope="module")
def tokenize():
    subprocess.run(["bash", str(ROOT / "scripts" / "editors.sh")], check=True, timeout=300)

    def run(paths: list[Path]) -> dict[str, list[list[dict]]]:
        out = subprocess.run(["node", str(VSCODE / "test" / "tokenize.js"), *map(str, paths)],
                             check=True, capture_output=True, text=True, timeout=120).stdout
        return {d["file"]: d["lines"] for d in map(json.loads, out.splitlines())}
    return run


def test_the_grammar_file_is_generated_from_the_lark_grammar() -> None:
    assert textmate.OUTPUT.read_text() == textmate.text(), "run `python -m mlc.highlight.textmate`"
    assert json.loads((VSCODE / "package.json").read_text())["contributes"]["grammars"][0]["path"] == \
        "./syntaxes/flow.tmLanguage.json"


def test_every_keyword_of_the_lark_grammar_has_a_keyword_scope(tokenize, tmp_path: Path) -> None:
    sample = tmp_path / "words.flow"
    words = grammar_keywords()
    sample.write_text("\n".join(f"  {w} x" for w in words) + "\n")
    lines = tokenize([sample])[str(sample)]
    expected = {**{w: "storage.type.flow" for w in keyword_groups()["declaration"]},
                **{w: "keyword.operator.word.flow" for w in keyword_groups()["operator"]},
                **{w: "constant.language.boolean.flow" for w in keyword_groups()["constant"]}}
    for word, line in zip(words, lines, strict=False):
        token = next(t for t in line if t["text"].strip())
        assert token["text"] == word
        assert token["scopes"][-1] in (expected.get(word, "keyword.other.flow"), "storage.type.flow"), word


def test_scopes_of_a_sample(tokenize, tmp_path: Path) -> None:
    sample = tmp_path / "sample.flow"
    sample.write_text(
        '## The ranker.\n'
        'model ranker nondeterministic {\n'
        '  inputs [activity.views_1h]  # a comment\n'
        '  fallback baseline when confidence < 0.6\n'
        '  serve { timeout 40ms, memory 4Gi }\n'
        '}\n'
        'flow f {\n'
        '  step a python("m:f") { when run.id != "" }\n'
        '  a >> [b, c]\n'
        '}\n')
    lines = tokenize([sample])[str(sample)]

    def scope(line: int, text: str) -> str:
        return next(t["scopes"][-1] for t in lines[line] if t["text"] == text)

    assert scope(0, "## The ranker.") == "comment.line.double-number-sign.documentation.flow"
    assert scope(1, "model") == "storage.type.flow"
    assert scope(1, "ranker") == "entity.name.type.flow"
    assert scope(1, "nondeterministic") == "keyword.other.flow"
    assert scope(2, "# a comment") == "comment.line.number-sign.flow"
    assert scope(2, "views_1h") == "variable.other.flow"
    assert scope(3, "0.6") == "constant.numeric.float.flow"
    assert scope(3, "<") == "keyword.operator.comparison.flow"
    assert scope(4, "40ms") == "constant.numeric.duration.flow"
    assert scope(4, "4Gi") == "constant.numeric.size.flow"
    assert scope(7, "python") == "entity.name.function.flow"
    assert scope(7, "m:f") == "string.quoted.double.flow"
    assert scope(8, ">>") == "keyword.operator.then.flow"


def test_every_example_is_scoped_to_its_last_character(tokenize) -> None:
    found = tokenize(EXAMPLES)
    assert len(found) == len(EXAMPLES)
    for file, lines in found.items():
        for n, line in enumerate(lines, 1):
            bare = [t["text"] for t in line if t["text"].strip() and t["scopes"] == ["source.flow"]]
            assert bare == [], f"{file}:{n}: no scope for {bare}"
