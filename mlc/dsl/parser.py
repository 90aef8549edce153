"""Text -> AST, with every syntax error of a file reported in one run.

The happy path parses a whole file in one Lark call with an inline transformer
(no parse tree is built). When that fails, the file is cut into top-level
declarations (a line starting in column 1 with a declaration keyword opens
one), each declaration is parsed alone, and inside a declaration the parser
recovers by blanking the item that failed and trying again — so three
mistakes give three errors, and one declaration can be re-parsed on its own
(the language server does this on every edit).
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache
from importlib import resources

import lark_cython
from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput
from lark.grammar import Rule

from mlc.diagnostics import Diagnostic, Span
from mlc.dsl import ast as A
from mlc.dsl.build import AstBuilder
from mlc.dsl.syntax_errors import describe_unexpected

DECL_KEYWORDS = ("package", "import", "env", "connector", "source", "entity", "features", "service",
                 "model", "signal", "artifact", "flow", "slo", "runtime")
_DECL_LINE = re.compile(r"(?:%s)\b" % "|".join(DECL_KEYWORDS))
MAX_ERRORS_PER_FILE = 50
NAMED_DECL = re.compile(r"(%s)\s+([A-Za-z_][A-Za-z0-9_]*)"
                        % "|".join(w for w in DECL_KEYWORDS if w not in ("package", "import")))


def grammar_text() -> str:
    return resources.files("mlc.dsl").joinpath("flow.lark").read_text(encoding="utf-8")


class FlowParser:
    """Two Lark LALR parsers of one grammar (its analysis cached on disk) bound to one AST builder.

    `fast` (Lark with the lark-cython plugin: lexer and parser loop compiled) parses a whole
    file in the happy path, which is most of a cold check's time; `lark` (pure Python) does
    everything else: error recovery and its diagnostics (they drive its interactive parser),
    the language server's lexing. A file `fast` refuses is parsed again by `lark` from the
    start, so what a file with an error gives does not depend on the compiled parser."""

    def __init__(self) -> None:
        grammar = grammar_text()
        self.builder = AstBuilder(named_terminals(grammar))
        self.comments: list[Token] = []
        options = dict(parser="lalr", lexer="contextual", keep_all_tokens=True, maybe_placeholders=False,
                       transformer=self.builder, cache=True, lexer_callbacks={"COMMENT": self.comments.append})
        self.lark = Lark(grammar, **options)
        self.fast = _identity_rules(Lark(grammar, _plugins=lark_cython.plugins, **options))

    # ------------------------------------------------------------------ entry points
    def parse(self, text: str, path: str) -> tuple[A.Module, list[Diagnostic]]:
        """Parses one file. Never raises on bad input: problems come back as diagnostics."""
        module = A.Module(path)
        self.comments.clear()
        try:
            decls, diags = self._parse_text(text, path, 0, self.fast)
            comments = self._take_comments(path, 0)
        except UnexpectedInput:
            decls, diags, comments = self._parse_recovering(text, path, module.unread)
        module.decls = decls
        module.comments = comments
        attach_docs(module)
        diags.sort(key=Diagnostic.sort_key)  # the builder reports inner blocks first
        return module, diags

    def parse_declaration(self, text: str, path: str, line_offset: int) -> tuple[list[A.Declaration], list[Diagnostic]]:
        """Parses the text of one declaration that starts at line `line_offset + 1` of `path`.

        Spans come out at their lines in the whole file; a `##` doc comment at the top of
        `text` attaches as it does in a whole-file parse.
        """
        self.comments.clear()
        decls, diags = self._parse_chunk(text, path, line_offset)
        module = A.Module(path, decls, self._take_comments(path, line_offset, text))
        attach_docs(module)
        diags.sort(key=Diagnostic.sort_key)
        return decls, diags

    # ------------------------------------------------------------------ internals
    def _parse_text(self, text: str, path: str, line_offset: int, parser: Lark | None = None) -> tuple[list, list[Diagnostic]]:
        b = self.builder
        b.file, b.line_offset, b.diagnostics = path, line_offset, []
        decls = (parser or self.lark).parse(text)
        return decls, b.diagnostics

    def _take_comments(self, path: str, line_offset: int, source: str | None = None) -> list[A.Comment]:
        """The comments lexed since the last call. With `source` (the text as written), each is
        put back where it is there: a repair that put a bracket before a comment moved it."""
        lines = source.split("\n") if source is not None else None
        out = []
        for t in self.comments:
            # a comment is one line (COMMENT stops at a line break), and lark-cython leaves the
            # end of an ignored token unset
            text = t.value
            col, end_col = t.column, t.column + len(text)
            if lines is not None:
                line = lines[t.line - 1].rstrip("\r") if t.line <= len(lines) else ""
                if not line.endswith(text):  # a comment runs to the end of its line
                    continue
                col = len(line) - len(text) + 1
                end_col = len(line) + 1
            out.append(A.Comment(text, Span(path, t.line + line_offset, col, t.line + line_offset, end_col)))
        self.comments.clear()
        out.sort(key=lambda c: (c.span.line, c.span.col))
        seen: set[tuple[int, int]] = set()
        unique = []
        for c in out:  # a re-parse after recovery lexes the same comment again
            key = (c.span.line, c.span.col)
            if key not in seen:
                seen.add(key)
                unique.append(c)
        return unique

    def _parse_recovering(self, text: str, path: str,
                          unread: list[tuple[str, str]]) -> tuple[list, list[Diagnostic], list[A.Comment]]:
        """Each declaration parsed alone; the (kind, name) of one that gives nothing goes to
        `unread`, so that its uses elsewhere are not reported as unknown names."""
        decls: list = []
        diags: list[Diagnostic] = []
        comments: list[A.Comment] = []
        lines = text.split("\n")
        for start, end in declaration_chunks(lines):
            chunk = "\n".join(lines[start:end])
            self.comments.clear()
            d, ds = self._parse_chunk(chunk, path, start)
            comments.extend(self._take_comments(path, start, chunk))  # the chunk's lines are offset by `start`
            decls.extend(d)
            diags.extend(ds)
            named = None if d else NAMED_DECL.match(without_docs(chunk))
            if named:
                unread.append((named[1], named[2]))
            if sum(1 for x in diags if x.is_error) >= MAX_ERRORS_PER_FILE:
                break
        return decls, diags, comments

    def _parse_chunk(self, chunk: str, path: str, offset: int) -> tuple[list, list[Diagnostic]]:
        diags: list[Diagnostic] = []
        last_pos = -1
        original = chunk
        for _attempt in range(MAX_ERRORS_PER_FILE):
            try:
                decls, ds = self._parse_text(chunk, path, offset)
                if chunk != original:  # a repair may have put a closer past the end of a line
                    fit = _fitter(original, offset)
                    clamp_spans(decls, fit)
                    ds = [_clamp_diagnostic(d, fit) for d in ds]
                return decls, diags + ds
            except UnexpectedInput as e:
                token = getattr(e, "token", None)
                pos = getattr(token, "start_pos", None)
                if not isinstance(pos, int) or (token is not None and token.type == "$END"):
                    pos = len(chunk) + _attempt
                if isinstance(e, UnexpectedCharacters):
                    pos = e.pos_in_stream
                seen = len(self.comments)
                diag, fix = describe_unexpected(e, chunk, path, offset, self.lark)
                del self.comments[seen:]  # trial parses of repaired text lex comments again
                if pos <= last_pos and diags:
                    return [], diags  # no progress: give up on this declaration
                if chunk != original:
                    diag = _clamp_diagnostic(diag, _fitter(original, offset))
                diags.append(diag)
                last_pos = pos
                if fix is None or fix == chunk:
                    return [], diags
                chunk = fix
        return [], diags


class _IdentityRule(Rule):
    """A grammar rule compared and hashed by identity, in C. The compiled parser looks up each
    reduction's callback by its rule and asserts it is not the end state (`rule != int`): with
    Lark's Python-level `__hash__` and `__eq__` those two were a seventh of its time."""

    __slots__ = ()
    __eq__ = object.__eq__
    __hash__ = object.__hash__


def _identity_rules(lark: Lark) -> Lark:
    """`lark` with the rules of its parse table (its own, loaded for it) made `_IdentityRule`s."""
    callbacks = lark._callbacks  # the dict the compiled parser holds
    table = lark.parser.parser._parse_table
    swapped: dict[int, _IdentityRule] = {}
    for actions in table.states.values():
        for token, (action, arg) in actions.items():
            if isinstance(arg, Rule):
                rule = swapped.get(id(arg))
                if rule is None:
                    rule = swapped[id(arg)] = _IdentityRule.__new__(_IdentityRule)
                    for slot in Rule.__slots__:
                        setattr(rule, slot, getattr(arg, slot))
                    callbacks[rule] = callbacks[arg]
                actions[token] = (action, rule)
    return lark


def _fitter(text: str, offset: int):
    """A function that moves a span into `text` (whose first line is line `offset + 1`)."""
    lengths = [len(line) for line in text.split("\n")]

    def fit(span: Span) -> Span:
        def point(line: int, col: int) -> tuple[int, int]:
            i = min(max(line - offset, 1), len(lengths))
            return i + offset, min(max(col, 1), lengths[i - 1] + 1)
        (l1, c1), (l2, c2) = point(span.line, span.col), point(span.end_line, span.end_col)
        if (l1, c1) > (l2, c2):
            l1, c1 = l2, c2
        return span if (l1, c1, l2, c2) == span[1:] else Span(span.file, l1, c1, l2, c2)
    return fit


def clamp_spans(x, fit) -> object:
    """Every span in the AST `x` moved inside the text by `fit`; nodes are changed in place."""
    if isinstance(x, Span):
        return fit(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            value = getattr(x, f.name)
            new = clamp_spans(value, fit)
            if new is not value:
                setattr(x, f.name, new)
        return x
    if isinstance(x, list):
        x[:] = [clamp_spans(y, fit) for y in x]
        return x
    if isinstance(x, tuple):
        if isinstance(getattr(x, "span", None), Span):  # an edge's bracketed group
            x.span = fit(x.span)  # type: ignore[attr-defined]
        items = [clamp_spans(y, fit) for y in x]
        if all(a is b for a, b in zip(items, x, strict=True)):
            return x
        return type(x)(items) if type(x) is tuple else x
    return x


def _clamp_diagnostic(d: Diagnostic, fit) -> Diagnostic:
    return dataclasses.replace(
        d, span=fit(d.span) if d.span else None,
        labels=tuple(dataclasses.replace(lb, span=fit(lb.span)) for lb in d.labels))


def declaration_chunks(lines: list[str]) -> list[tuple[int, int]]:
    """Line ranges [start, end) of the top-level declarations (doc comments go with the next one)."""
    starts = [0]
    for i, line in enumerate(lines):
        if i and _DECL_LINE.match(line):
            j = i
            while j > 0 and lines[j - 1].startswith("##"):
                j -= 1
            if j > starts[-1]:
                starts.append(j)
    return [(s, e) for s, e in zip(starts, starts[1:] + [len(lines)])]


def attach_docs(module: A.Module) -> None:
    """A run of `##` lines right above a declaration (or a step) is its doc comment."""
    docs = [c for c in module.comments if c.is_doc]
    if not docs:
        return
    by_line = {c.span.line: c for c in docs}
    targets: list[tuple[Span, A.Meta]] = []
    for d in module.decls:
        targets.append((d.span, d.meta))
        if isinstance(d, A.FlowDecl):
            targets.extend((s.span, s.meta) for s in d.steps)
    for span, meta in targets:
        lines = []
        line = span.line - 1
        while line in by_line:
            lines.append(by_line[line].text[2:].strip())
            line -= 1
        if lines:
            meta.doc = "\n".join(reversed(lines))


def named_terminals(grammar: str) -> frozenset[str]:
    """Terminals the grammar names (NAME, STRING, ...): they carry meaning; keywords and punctuation do not."""
    return frozenset(re.findall(r"^([A-Z][A-Z0-9_]*)(?:\.\d+)?\s*:", grammar, re.M))


@lru_cache(maxsize=1)
def get_parser() -> FlowParser:
    return FlowParser()


def parse_text(text: str, path: str = "<input>") -> tuple[A.Module, list[Diagnostic]]:
    return get_parser().parse(text, path)



def without_docs(chunk: str) -> str:
    """A declaration's text from its keyword on (its `##` doc comment lines left out)."""
    lines = chunk.split("\n")
    while lines and (lines[0].startswith("##") or not lines[0].strip()):
        lines.pop(0)
    return "\n".join(lines)
