"""The Pygments lexer of `.flow`, registered as the `flow` lexer (entry point `pygments.lexers`),
so that Sphinx/MkDocs pages and terminal tools (`pygmentize -l flow`) highlight programs.

Its keyword lists are the grammar's own words (`mlc.highlight.keyword_groups`), read when the
lexer class is built."""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

from mlc.highlight import keyword_groups

_GROUPS = keyword_groups()
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# the numeric terminals of flow.lark, longest spelling first (a duration before an int)
_UNIT = r"(?![A-Za-z0-9_])"


class FlowLexer(RegexLexer):
    name = "mlc flow"
    aliases: ClassVar[list[str]] = ["flow", "mlc"]
    filenames: ClassVar[list[str]] = ["*.flow"]
    mimetypes: ClassVar[list[str]] = ["text/x-mlc-flow"]

    tokens: ClassVar[dict] = {
        "root": [
            (r"\s+", Whitespace),
            (r"##[^\n]*", Comment.Special),  # a doc comment: the declaration below it documents itself
            (r"#[^\n]*", Comment.Single),
            (r'"(?:[^"\\\n]|\\.)*"', String.Double),
            (r"[0-9]+(?:ms|s|m|h|d|w)(?:[0-9]+(?:ms|s|m|h|d|w))*" + _UNIT, Number.Integer),
            (r"[0-9]+(?:Ki|Mi|Gi|Ti|K|M|G|T)" + _UNIT, Number.Integer),
            (r"[0-9]+(?:\.[0-9]+)?%", Number.Float),
            (r"[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?", Number.Float),
            (r"[0-9]+", Number.Integer),
            (rf"({'|'.join(_GROUPS['declaration'])})(\s+)({_IDENT})",
             bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (words(_GROUPS["declaration"], suffix=r"\b"), Keyword.Declaration),
            (words(_GROUPS["operator"], suffix=r"\b"), Operator.Word),
            (words(_GROUPS["constant"], suffix=r"\b"), Keyword.Constant),
            (words(_GROUPS["other"], suffix=r"\b"), Keyword),
            (_IDENT, Name),
            (r">>|==|!=|<=|>=|\.\.|\.\{|[<>+\-*/=?]", Operator),
            (r"[{}()\[\],:.]", Punctuation),
        ],
    }
