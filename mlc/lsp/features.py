"""What the language server answers, computed from a checked `Workspace` (no LSP types here:
`mlc.lsp.server` converts). Lines and columns are 1-based, as in the compiler's spans."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from lark.exceptions import UnexpectedInput
from lark.lexer import BasicLexer, LexerThread

from mlc.compiler.resolve import KIND_WORDS, Symbol
from mlc.diagnostics import Diagnostic, Span
from mlc.dsl import ast as A
from mlc.dsl import parser as P
from mlc.lsp.engine import STDLIB_PREFIX, Document, Piece, Workspace

# ---------------------------------------------------------------- semantic tokens

TOKEN_TYPES = ("namespace", "type", "class", "struct", "interface", "function", "event", "method",
               "macro", "variable", "property", "keyword", "comment", "string", "number", "operator")
TOKEN_MODIFIERS = ("declaration", "probabilistic", "streaming", "deterministic", "defaultLibrary",
                   "documentation")
# the token type of a declaration's name, by its kind
KIND_TOKEN = {"package": "namespace", "connector": "type", "env": "variable", "source": "class",
              "entity": "struct", "features": "interface", "model": "function", "service": "class",
              "signal": "event", "flow": "method", "slo": "macro"}
_NUMBERS = {"INT", "FLOAT", "DURATION", "SIZE", "PERCENT"}


class Token(NamedTuple):
    """A named tuple: a 10,000-line file has ~50,000 of them, built on every request."""

    line: int
    col: int
    length: int
    type: str
    modifiers: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _keyword_terminals() -> dict[str, str]:
    """Lark terminal name -> the word, for every keyword of the grammar."""
    out = {}
    for t in P.get_parser().lark.terminals:
        value = getattr(t.pattern, "value", "")
        if t.pattern.type == "str" and value.isidentifier():
            out[t.name] = value
    return out


@lru_cache(maxsize=1)
def _lexer():
    """The grammar's lexer over all its terminals, built once (`Lark.lex` builds one a call:
    2.7 ms, a second on a 10,000-line file), from Lark's public lexer configuration."""
    return BasicLexer(P.get_parser().lark.lexer_conf)


def _lexed(piece: Piece) -> list[Token]:
    """The lexical tokens of one declaration, lines relative to its start: keywords, strings,
    numbers, operators, comments, as the compiler's own lexer reads them. Kept on the piece."""
    if piece.tokens is not None:
        return piece.tokens
    parser = P.get_parser()
    keywords = _keyword_terminals()
    out: list[Token] = []
    lines = piece.text.split("\n")
    covered: dict[int, int] = {}  # line -> column after the last token on it
    try:
        tokens = list(LexerThread.from_text(_lexer(), piece.text).lex(None))
    except UnexpectedInput:
        tokens = []  # a character the language has no token for: the parse reports it
    finally:
        parser.comments.clear()
    for t in tokens:
        kind = ("keyword" if t.type in keywords else "string" if t.type == "STRING"
                else "number" if t.type in _NUMBERS else None if t.type == "NAME" else "operator")
        if kind is not None and t.line == t.end_line:
            out.append(Token(t.line - 1, t.column, len(t), kind))
        covered[t.end_line] = max(covered.get(t.end_line, 0), t.end_column)
    for i, line in enumerate(lines, 1):  # a comment is what follows the last token, from a `#`
        at = line.find("#", covered.get(i, 1) - 1)
        if at >= 0:
            doc = line.startswith("##", at)
            out.append(Token(i - 1, at + 1, len(line) - at, "comment", ("documentation",) if doc else ()))
    piece.tokens = out
    return out


def semantic_tokens(ws: Workspace, path: str) -> list[Token]:
    """Every token of a file: the lexer's, then each declaration's name and each resolved
    reference typed by what it names, probabilistic models and streaming groups marked."""
    doc = ws.docs.get(path)
    if doc is None:
        return []
    named: dict[tuple[int, int], Token] = {}
    for span, sym in _names_in(ws, path):
        if span.line != span.end_line:
            continue
        mods = list(_modifiers(ws, sym))
        start = span.col
        if sym.span == span:
            mods.append("declaration")
        else:  # `alias.name`: the part that names the declaration
            start = span.end_col - len(sym.name)
        named[(span.line, start)] = Token(span.line, start, span.end_col - start, KIND_TOKEN.get(sym.kind, "variable"),
                                          tuple(mods))
    out: dict[tuple[int, int], Token] = {}
    if not doc.yaml:
        for piece in doc.pieces:
            for t in _lexed(piece):
                line = t.line + piece.start + 1
                out[(line, t.col)] = Token(line, t.col, t.length, t.type, t.modifiers)
    out.update(named)
    return sorted(out.values())


def _names_in(ws: Workspace, path: str) -> list[tuple[Span, Symbol]]:
    found = [(s.span, s) for s in ws.symbols() if s.span.file == path]
    for use in ws.uses:
        if use.span.file == path:
            sym = ws.symbol(use.key)
            if sym is not None:
                found.append((use.span, sym))
    return found + ws.import_uses(path)


def _modifiers(ws: Workspace, sym: Symbol) -> tuple[str, ...]:
    mods = []
    program = ws.program
    if sym.span.file.startswith(STDLIB_PREFIX):
        mods.append("defaultLibrary")
    if program is not None:
        model = program.models.get(sym.key) if sym.kind == "model" else None
        if model is not None:
            mods.append("deterministic" if model.deterministic else "probabilistic")
        group = program.feature_groups.get(sym.key) if sym.kind == "features" else None
        if group is not None and group.mode == "stream":
            mods.append("streaming")
    if sym.kind == "source" and sym.source_kind == "stream":
        mods.append("streaming")
    return tuple(mods)


# ---------------------------------------------------------------- hover


def hover(ws: Workspace, path: str, line: int, col: int) -> tuple[str, Span] | None:
    """Markdown about the declaration named at the cursor: its kind, doc, type, whether it is
    deterministic, and its freshness bound with the worst path (as `mlc explain freshness`)."""
    found = ws.at(path, line, col)
    if found is None:
        return None
    span, sym = found
    decl = ws.declaration(sym.key)
    word = KIND_WORDS.get(sym.kind, sym.kind)
    head = f"**{word}** `{sym.key}`"
    mods = _modifiers(ws, sym)
    if "probabilistic" in mods:
        head += " — probabilistic (nondeterministic: confidence and fallback apply)"
    elif "deterministic" in mods:
        head += " — deterministic"
    if "streaming" in mods:
        head += " — streaming"
    parts = [head]
    if decl is not None and decl.meta.doc:
        parts.append(decl.meta.doc)
    typed = _type_line(ws, sym, decl)
    if typed:
        parts.append(typed)
    explained = _freshness(ws, sym)
    if explained:
        parts.append("```text\n" + explained.rstrip("\n") + "\n```")
    return "\n\n".join(parts), span


def _type_line(ws: Workspace, sym: Symbol, decl) -> str | None:
    from mlc.dsl.fmt import type_text

    if isinstance(decl, A.SourceDecl):
        fields = ", ".join(f"{f.name.value}: {type_text(f.type)}" for f in decl.schema)
        return f"{decl.source_kind} source `{{ {fields} }}`"
    if isinstance(decl, A.ModelDecl) and decl.output is not None:
        return f"output `{decl.output.name.value}: {type_text(decl.output.type)}`"
    if isinstance(decl, A.FeaturesDecl) and ws.program is not None:
        group = ws.program.feature_groups.get(sym.key)
        if group is not None:
            feats = ", ".join(f.name for f in group.features)
            on = f" on `{decl.entity.value}`" if decl.entity is not None else ""
            return f"{group.mode} features{on}: {feats}"
    if isinstance(decl, A.SignalDecl) and decl.fields:
        return "payload `{ " + ", ".join(f"{f.name.value}: {type_text(f.type)}" for f in decl.fields) + " }`"
    if isinstance(decl, A.EntityDecl):
        return "key `" + ", ".join(f"{f.name.value}: {type_text(f.type)}" for f in decl.keys) + "`"
    return None


def _freshness(ws: Workspace, sym: Symbol) -> str | None:
    from mlc.compiler.explain import explain_freshness, find

    program = ws.program
    if program is None or sym.kind not in ("source", "features", "model", "flow"):
        return None
    if any(d.is_error for diags in ws.diagnostics.values() for d in diags):
        return None  # the calculus assumes a program the checks accepted
    for word, key, step in find(program, sym.key, "freshness"):
        if key == sym.key:
            return explain_freshness(program, word, key, step)
    return None


# ---------------------------------------------------------------- completion


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # keyword | declaration KIND | field
    detail: str | None = None


_WORD_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z_0-9]*)$")


def completions(ws: Workspace, path: str, line: int, col: int) -> list[Completion]:
    """Keywords the parser accepts at the cursor, the declarations in scope, or after `name.`
    the fields of that group, source or module."""
    doc = ws.docs.get(path)
    if doc is None:
        return []
    lines = doc.text.split("\n")
    current = lines[line - 1][: col - 1] if line <= len(lines) else ""
    dotted = _WORD_BEFORE.search(current)
    if dotted:
        return _members(ws, path, dotted.group(1))
    partial = re.search(r"[A-Za-z_0-9]*$", current).group(0)
    piece = _piece_at(doc, line - 1)
    start = piece.start if piece else 0
    prefix = "\n".join(lines[start: line - 1] + [current[: len(current) - len(partial)]])
    accepts = _accepts(prefix)
    keywords = _keyword_terminals()
    out = [Completion(keywords[t], "keyword") for t in sorted(accepts) if t in keywords]
    if "NAME" in accepts or not accepts:
        out += [Completion(s.name, s.kind, KIND_WORDS.get(s.kind)) for s in ws.scope_names(path)]
    return out


def _piece_at(doc: Document, line0: int) -> Piece | None:
    found = None
    for p in doc.pieces:
        if p.start <= line0:
            found = p
    return found


def _accepts(prefix: str) -> set[str]:
    """The terminals the grammar accepts after `prefix` (the declaration's text up to the cursor);
    empty when the prefix does not parse."""
    parser = P.get_parser()
    b = parser.builder
    b.file, b.line_offset, b.diagnostics = "<completion>", 0, []
    try:
        ip = parser.lark.parse_interactive(prefix)
        ip.exhaust_lexer()
        return set(ip.accepts())
    except Exception:  # noqa: BLE001  # a half-written block may trip the AST builder too: no keywords then
        return set()
    finally:
        parser.comments.clear()


def _members(ws: Workspace, path: str, name: str) -> list[Completion]:
    program = ws.program
    scope = ws.resolver.scopes.get(path) if ws.resolver else None
    if scope is None:
        return []
    sym = scope.get(("decl", name))
    if sym is not None and program is not None:
        group = program.feature_groups.get(sym.key)
        if group is not None:
            return [Completion(f.name, "field", "feature") for f in group.features]
        source = program.sources.get(sym.key)
        if source is not None:
            return [Completion(f.name, "field", "column") for f in source.schema]
        signal = program.signals.get(sym.key)
        if signal is not None:
            return [Completion(f.name, "field", "payload field") for f in signal.fields]
    package = scope.modules.get(name) or (name if ws.resolver and name in ws.resolver.packages else None)
    if package is not None:
        return [Completion(s.name, s.kind, KIND_WORDS.get(s.kind))
                for s in ws.resolver.packages[package].values()]
    return []


# ---------------------------------------------------------------- symbols


@dataclass(frozen=True)
class DocSymbol:
    name: str
    kind: str
    span: Span
    selection: Span
    children: tuple[DocSymbol, ...] = ()


def document_symbols(ws: Workspace, path: str) -> list[DocSymbol]:
    doc = ws.docs.get(path)
    if doc is None or doc.module is None:
        return []
    out = []
    for d in doc.module.decls:
        if isinstance(d, A.ImportDecl):
            continue
        if isinstance(d, A.PackageDecl):
            out.append(DocSymbol(d.name.value, "package", d.span, d.name.span))
            continue
        children: list[DocSymbol] = []
        if isinstance(d, A.FlowDecl):
            children = [DocSymbol(s.name.value, "step", s.span, s.name.span) for s in d.steps]
        elif isinstance(d, A.FeaturesDecl):
            children = [DocSymbol(c.name.value, "feature", c.span, c.name.span) for c in (*d.columns, *d.derived)]
        elif isinstance(d, A.SourceDecl):
            children = [DocSymbol(f.name.value, "field", f.span, f.name.span) for f in d.schema]
        out.append(DocSymbol(d.name.value, d.kind, d.span, d.name.span, tuple(children)))
    return out


def workspace_symbols(ws: Workspace, query: str) -> list[Symbol]:
    q = query.lower()
    return sorted((s for s in ws.symbols() if q in s.name.lower()), key=lambda s: (s.name, s.key))


# ---------------------------------------------------------------- rename


def rename(ws: Workspace, path: str, line: int, col: int, new: str) -> dict[str, list[tuple[Span, str]]] | str:
    """The edits, by file, that rename the declaration at the cursor everywhere it is named;
    or why not (a text)."""
    if not new.isidentifier() or new in _keyword_terminals().values():
        return f"`{new}` is not a name the language accepts"
    found = ws.at(path, line, col)
    if found is None:
        return "no declaration here"
    _span, sym = found
    if sym.span.file.startswith(STDLIB_PREFIX):
        return "the standard library's names cannot be renamed"
    edits: dict[str, list[tuple[Span, str]]] = {}
    for span in ws.references(sym.key):
        start = span.end_col - len(sym.name)  # `alias.name`: only the name changes
        edits.setdefault(span.file, []).append((Span(span.file, span.end_line, start, span.end_line, span.end_col), new))
    return edits


# ---------------------------------------------------------------- quick fixes

_TICKED = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Fix:
    title: str
    span: Span  # what is replaced (an empty span: an insertion)
    text: str


def quick_fixes(ws: Workspace, d: Diagnostic) -> list[Fix]:
    """The edits a diagnostic's help suggests: a did-you-mean name, a missing import, a number's
    missing unit, a line to add at the top."""
    if d.help is None or d.span is None:
        return []
    help_text = d.help
    options = _TICKED.findall(help_text)
    if not options:
        return []
    if help_text.startswith("did you mean"):
        return [Fix(f"Replace with `{options[0]}`", d.span, options[0])]
    if "import it" in help_text or "add it to the import" in help_text:
        return [_import_fix(ws, d.span.file, options[-1])]
    if help_text.startswith(("add its unit", "write")):
        return [Fix(f"Write `{o}`", d.span, o) for o in options if o != "..."]
    if help_text.startswith("add ") and "at the top" in help_text:
        at = Span(d.span.file, 1, 1, 1, 1)
        return [Fix(f"Add `{options[0]}`", at, options[0] + "\n")]
    return []


def _import_fix(ws: Workspace, path: str, line_text: str) -> Fix:
    """`import m.{a, b}`: replaces the file's import of `m`, or goes after its last header line."""
    module = line_text.split()[1].split(".{")[0]
    doc = ws.docs[path]
    header_end = 0
    for d in doc.module.decls if doc.module else ():
        if isinstance(d, A.ImportDecl) and d.module.dotted == module and d.members:
            return Fix(f"Change to `{line_text}`", d.span, line_text)
        if isinstance(d, (A.PackageDecl, A.ImportDecl)):
            header_end = max(header_end, d.span.end_line)
    at = Span(path, header_end + 1, 1, header_end + 1, 1)
    return Fix(f"Add `{line_text}`", at, line_text + "\n")
