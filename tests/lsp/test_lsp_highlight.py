"""The Pygments lexer: registered by entry point, and it reads every example and the standard
library without an Error token; its keywords are the grammar's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Error, Keyword, Name, Operator

from mlc.highlight import grammar_keywords
from mlc.highlight.lexer import FlowLexer

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = sorted([*ROOT.glob("examples/**/*.flow"), *ROOT.glob("mlc/stdlib/**/*.flow")])


def test_registered_by_entry_point() -> None:
    assert type(get_lexer_by_name("flow")) is FlowLexer
    assert type(get_lexer_for_filename("features.flow")) is FlowLexer


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_lex_without_errors(path: Path) -> None:
    tokens = list(FlowLexer().get_tokens(path.read_text()))
    assert [v for t, v in tokens if t in Error] == []
    assert any(t in Keyword for t, _ in tokens)


def test_every_grammar_keyword_is_a_keyword() -> None:
    for word in grammar_keywords():
        [(kind, value), *_] = FlowLexer().get_tokens(word)
        assert value == word and (kind in Keyword or kind in Operator.Word), word
    assert next(t for t, _ in FlowLexer().get_tokens("flowy")) in Name
