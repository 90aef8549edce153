"""The language server's model of a workspace: the compiler's pipeline (parse, resolve, lower,
check, validate), kept warm between edits.

Each file is held as its top-level declarations ("pieces", cut where `mlc.dsl.parser` cuts a
file to recover from errors). An edit re-parses only the pieces whose text changed; a piece that
only moved (lines were added above it) keeps its tree, its spans shifted. Each declaration is
lowered on its own and its IR fragment is kept while every name it looked up means the same
(`Fragment.still_valid`, as the driver's cache does per file). The checks and the backends'
validation then run on the assembled program, as `mlc check` runs them, so the server and the
command line report the same findings.

The references lowering resolved are recorded (which name at which span means which
declaration): definition, references, rename, hover and semantic tokens read them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from mlc.compiler import driver
from mlc.compiler.lower import Fragment, Lowering, assemble
from mlc.compiler.resolve import Resolver, Summary, Symbol, namespace, summarize
from mlc.diagnostics import Diagnostic, Span
from mlc.dsl import ast as A
from mlc.dsl import parser as P

STDLIB_PREFIX = "<stdlib>/"


@dataclass(frozen=True)
class Use:
    """A name at `span` that lowering resolved to the declaration `key` (of kind `kind`)."""

    span: Span
    key: str
    kind: str


class RecordingResolver(Resolver):
    """The compiler's resolver, noting each reference it resolves."""

    def __init__(self, summaries: list[Summary]) -> None:
        self.uses: list[Use] = []
        super().__init__(summaries)

    def lookup(self, file, name, span, kinds, what=None):  # type: ignore[override]
        symbol = super().lookup(file, name, span, kinds, what)
        if symbol is not None:
            self.uses.append(Use(span, symbol.key, symbol.kind))
        return symbol


@dataclass
class Piece:
    """One top-level declaration of a file (with its `##` doc comment): its text, where it
    starts, what parsing it gave, and its lowered IR once lowered."""

    start: int  # 0-based line of its first line
    text: str
    decls: list[A.Declaration]
    diagnostics: list[Diagnostic]
    unread: tuple[str, str] | None
    lowered: tuple[Fragment, list[Diagnostic], list[Use], str | None] | None = None  # + package
    tokens: list | None = None  # its lexical tokens (mlc.lsp.features), lines relative to `start`


@dataclass
class Document:
    path: str  # the display path: absolute, or `<stdlib>/std/x.flow`
    text: str
    pieces: list[Piece] = field(default_factory=list)
    module: A.Module | None = None
    yaml: bool = False


def _shift(d: Diagnostic, delta: int) -> Diagnostic:
    move = _mover(delta)
    return dataclasses.replace(d, span=move(d.span) if d.span else None,
                               labels=tuple(dataclasses.replace(lb, span=move(lb.span)) for lb in d.labels),
                               premises=tuple(move(p) for p in d.premises))


def _mover(delta: int):
    def move(s: Span) -> Span:
        return Span(s.file, s.line + delta, s.col, s.end_line + delta, s.end_col)
    return move


class Workspace:
    """Every file of the project (open ones as the editor holds them), the standard library's
    modules they import, and the findings of the last check."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.diagnostics: dict[str, list[Diagnostic]] = {}
        self.resolver: Resolver | None = None
        self.program = None
        self.uses: list[Use] = []  # every resolved reference of the last check
        self._fingerprint: bytes = b""
        self.stats = {"parsed": 0, "lowered": 0}

    # ------------------------------------------------------------------ files
    def load_folder(self, root: Path) -> None:
        """The project at `root` (its mlc.toml's sources, or every .flow file under it)."""
        from mlc.compiler.project import ProjectError, load_project
        from mlc.dsl.files import read_source

        try:
            project = load_project([str(root)])
        except ProjectError:
            return
        for path in project.files:
            text, _ = read_source(path, str(path))
            if text is not None:
                self.set_text(str(path), text)

    def set_text(self, path: str, text: str) -> Document:
        """The file's new text; re-parses the declarations that changed."""
        doc = self.docs.get(path)
        if doc is None:
            doc = self.docs[path] = Document(path, "", yaml=path.endswith((".flow.yaml", ".flow.yml")))
        elif doc.text == text:
            return doc
        doc.text = text
        if doc.yaml:
            from mlc.dsl.yaml_front import parse_yaml

            module, diags = parse_yaml(text, path)
            doc.pieces = [Piece(0, text, list(module.decls), diags, None)]
            doc.module = module
            return doc
        doc.pieces = self._pieces(doc, text)
        doc.module = A.Module(path, [d for p in doc.pieces for d in p.decls], [],
                              [p.unread for p in doc.pieces if p.unread])
        return doc

    def remove(self, path: str) -> None:
        self.docs.pop(path, None)

    def _pieces(self, doc: Document, text: str) -> list[Piece]:
        old: dict[str, list[Piece]] = {}
        for p in doc.pieces:
            old.setdefault(p.text, []).append(p)
        lines = text.split("\n")
        parser = P.get_parser()
        out = []
        for start, end in P._chunks(lines):
            chunk = "\n".join(lines[start:end])
            reuse = old.get(chunk)
            if reuse:
                piece = min(reuse, key=lambda p: abs(p.start - start))
                reuse.remove(piece)
                if piece.start != start:
                    delta = start - piece.start
                    P._clamp_spans(piece.decls, _mover(delta))
                    piece.diagnostics = [_shift(d, delta) for d in piece.diagnostics]
                    piece.start, piece.lowered = start, None
                out.append(piece)
                continue
            decls, diags = parser.parse_declaration(chunk, doc.path, start)
            self.stats["parsed"] += 1
            named = None if decls else P._NAMED_DECL.match(P._without_docs(chunk))
            out.append(Piece(start, chunk, decls, diags, (named[1], named[2]) if named else None))
        return out

    def _stdlib(self) -> None:
        """The standard-library modules some file imports, read once."""
        from mlc.stdlib import stdlib_file

        wanted = {d.module.dotted for doc in self.docs.values() if doc.module
                  for d in doc.module.decls if isinstance(d, A.ImportDecl) and d.module.dotted.startswith("std.")}
        wanted |= {n.rpartition(".")[0] for n in wanted}
        for name in sorted(wanted):
            found = stdlib_file(name)
            if found is not None and found[0] not in self.docs:
                self.set_text(*found)

    # ------------------------------------------------------------------ checking
    def check(self) -> dict[str, list[Diagnostic]]:
        """Every file's findings, as `mlc check` gives them; kept in `self.diagnostics`."""
        from mlc.compiler.checks import run_checks

        with driver._gc_paused():
            self._stdlib()
            docs = sorted(self.docs.values(), key=lambda d: (d.path.startswith(STDLIB_PREFIX), d.path))
            units = [driver._Unit(d.path, d.text, None, summarize(d.module), [x for p in d.pieces for x in p.diagnostics],
                                  d.module) for d in docs]
            findings = driver._guess_packages(units)
            summaries = [driver._in_package(u) for u in units]
            fingerprint = hashlib.sha256(repr([s.fingerprint() for s in summaries]).encode()).digest()
            same_names, self._fingerprint = fingerprint == self._fingerprint, fingerprint
            resolver = RecordingResolver(summaries)
            findings += resolver.diagnostics
            resolver.diagnostics.clear()
            resolver.uses.clear()
            fragments, lowered = self._lower(docs, units, resolver, same_names)
            findings += lowered
            program = assemble(fragments, [d.path for d in docs],
                               {s.package for s in summaries if s.package})
            findings += run_checks(program, resolver)
            program, unbound = driver._resolved(program)
            findings += unbound
            self.resolver, self.program = resolver, program
            self.uses = [u for d in docs for p in d.pieces if p.lowered for u in p.lowered[2]] + resolver.uses
            parse_diags = [x for u in units for x in u.diagnostics]
            if not any(d.is_error for d in [*findings, *parse_diags]):
                findings += self._validate(program)
            out: dict[str, list[Diagnostic]] = {d.path: [] for d in docs}
            for d in [*parse_diags, *driver._past_errors(findings, units)]:
                if d.span is not None and d.span.file in out:
                    out[d.span.file].append(d)
            for diags in out.values():
                diags.sort(key=Diagnostic.sort_key)
            self.diagnostics = out
            return out

    def _lower(self, docs: list[Document], units, resolver: RecordingResolver,
               same_names: bool) -> tuple[list[Fragment], list[Diagnostic]]:
        """Each declaration's IR: the one kept from the last check while it is still right, else
        lowered now. A fragment that reported something is kept only while no declaration was
        added, removed or renamed anywhere (its did-you-mean may name the new one)."""
        lowering = Lowering(resolver)
        fragments, diags = [], []
        for doc, unit in zip(docs, units, strict=True):
            package = unit.package or (doc.module.package if doc.module else None)
            header = A.PackageDecl(A.Name(package, Span(doc.path, 1, 1, 1, 1)), Span(doc.path, 1, 1, 1, 1),
                                   A.Meta()) if package else None
            for piece in doc.pieces:
                kept = piece.lowered
                if kept is not None and kept[3] == package and (same_names or not kept[1]) \
                        and kept[0].still_valid(resolver, doc.path):
                    fragments.append(kept[0])
                    diags += kept[1]
                    continue
                decls = [d for d in piece.decls if not isinstance(d, A.PackageDecl)]
                before, uses_before = len(lowering.diagnostics), len(resolver.uses)
                fragment = lowering.module(A.Module(doc.path, ([header] if header else []) + decls))
                self.stats["lowered"] += 1
                new = lowering.diagnostics[before:]
                piece.lowered = (fragment, list(new), resolver.uses[uses_before:], package)
                del resolver.uses[uses_before:]
                fragments.append(fragment)
                diags += new
        return fragments, diags

    @staticmethod
    def _validate(program) -> list[Diagnostic]:
        from mlc.deploy.bundle import _validate
        from mlc.targets import TARGETS

        holder = driver.Result(project=None)  # type: ignore[arg-type]  # validation reads only the program
        holder._program = program
        return _validate(holder, sorted(TARGETS), sorted({e.name for e in program.envs.values()}))

    # ------------------------------------------------------------------ queries
    def symbols(self) -> list[Symbol]:
        return list(self.resolver.symbols()) if self.resolver else []

    def symbol(self, key: str) -> Symbol | None:
        return next((s for s in self.symbols() if s.key == key), None)

    def declaration(self, key: str) -> A.Declaration | None:
        sym = self.symbol(key)
        doc = self.docs.get(sym.span.file) if sym else None
        if doc is None or doc.module is None:
            return None
        return next((d for d in doc.module.decls if not isinstance(d, (A.PackageDecl, A.ImportDecl))
                     and d.name.span == sym.span), None)

    def at(self, path: str, line: int, col: int) -> tuple[Span, Symbol] | None:
        """The declaration named at (line, col) of `path` (1-based): a declaration's own name, a
        reference to one, or a member of an import."""
        def inside(s: Span) -> bool:
            return s.file == path and (s.line, s.col) <= (line, col) <= (s.end_line, s.end_col)

        for sym in self.symbols():
            if inside(sym.span):
                return sym.span, sym
        for use in self.uses:
            if inside(use.span):
                sym = self.symbol(use.key)
                if sym is not None:
                    return use.span, sym
        for span, sym in self.import_uses(path):
            if inside(span):
                return span, sym
        return None

    def import_uses(self, path: str | None = None) -> list[tuple[Span, Symbol]]:
        """The members of `import m.{a, b}` lines, each with the declaration it brings in."""
        out = []
        if self.resolver is None:
            return out
        for doc in self.docs.values():
            if (path is not None and doc.path != path) or doc.module is None:
                continue
            for d in doc.module.decls:
                if isinstance(d, A.ImportDecl):
                    table = self.resolver.packages.get(d.module.dotted, {})
                    for m in d.members:
                        for (ns, name), sym in table.items():
                            if name == m.value:
                                out.append((m.span, sym))
        return out

    def references(self, key: str, include_declaration: bool = True) -> list[Span]:
        """Every place the declaration `key` is named: its own name, each reference, each import."""
        out = []
        sym = self.symbol(key)
        if sym is not None and include_declaration:
            out.append(sym.span)
        out += [u.span for u in self.uses if u.key == key]
        out += [span for span, s in self.import_uses() if s.key == key]
        return sorted(set(out))

    def scope_names(self, path: str) -> list[Symbol]:
        """The declarations a file may name: its package's and what it imports."""
        scope = self.resolver.scopes.get(path) if self.resolver else None
        return [s for _key, s in scope.items()] if scope else []

    def ns_of(self, sym: Symbol) -> str:
        return namespace(sym.kind)
