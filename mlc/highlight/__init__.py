"""Highlighting `.flow` outside the compiler: the words of the language, read from its Lark
grammar (so that the Pygments lexer, the TextMate grammar and the language server's tokens
cannot drift from the parser), and the Pygments lexer (`mlc.highlight.lexer`)."""

from __future__ import annotations

import re
from functools import lru_cache

from mlc.dsl.parser import DECL_KEYWORDS, grammar_text

# Words with a role of their own; every other keyword of the grammar is a plain keyword.
DECLARATION_WORDS = (*DECL_KEYWORDS, "step", "param")
OPERATOR_WORDS = ("and", "or", "not", "in")
CONSTANT_WORDS = ("true", "false")


@lru_cache(maxsize=1)
def grammar_keywords() -> tuple[str, ...]:
    """Every word the grammar spells out (`"flow"`, `STREAM: "stream"`), sorted."""
    text = re.sub(r"//[^\n]*", "", grammar_text())
    return tuple(sorted(set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', text))))


def keyword_groups() -> dict[str, tuple[str, ...]]:
    """The grammar's words by role: declaration, operator, constant, other."""
    words = grammar_keywords()
    special = set(DECLARATION_WORDS) | set(OPERATOR_WORDS) | set(CONSTANT_WORDS)
    return {
        "declaration": tuple(w for w in words if w in DECLARATION_WORDS),
        "operator": tuple(w for w in words if w in OPERATOR_WORDS),
        "constant": tuple(w for w in words if w in CONSTANT_WORDS),
        "other": tuple(w for w in words if w not in special),
    }
