"""The language server's model of a workspace: the compiler's pipeline (parse, resolve, lower,
check, validate), kept warm between edits.

Each file is held as its top-level declarations ("pieces", cut where `mlc.dsl.parser` cuts a
file to recover from errors). An edit re-parses only the pieces whose text changed; a piece that
only moved (lines were added above it) keeps its tree, its spans shifted. Each declaration is
lowered on its own and its IR fragment is kept while every name it looked up means the same
(`Fragment.still_valid`, as the driver's cache does per file). The checks and the backends'
validation then run as `mlc check` runs them, so the server and the command line report the
same findings: on the whole program, or, after an edit that adds, removes or renames nothing,
on the part of it the edit can reach (`Workspace.check`); tests/lsp/test_lsp_incremental.py holds
the two to the same findings.

The references lowering resolved are recorded (which name at which span means which
declaration): definition, references, rename, hover and semantic tokens read them.
"""

from __future__ import annotations

import bisect
import dataclasses
import gc
import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from mlc.compiler import driver
from mlc.compiler.lower import Fragment, Lowering, assemble
from mlc.compiler.resolve import Resolver, Summary, Symbol, qualify, summarize
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
    names: frozenset[str] = frozenset()  # the declarations its lowering looked up (keys)
    words: frozenset[str] = frozenset()  # every name written in it (see `_dependencies`)
    mentions: tuple[bytes, frozenset[str]] = (b"", frozenset())  # (fingerprint, keys `words` name then)
    key: str | None = None  # the declaration's key, when it is one named declaration
    several: bool = False  # it holds more than one named declaration
    # only moved below an edit since it was lowered: lowered again for its spans, but what the
    # checks said of it stands, moved with it (`_move_findings`)
    moved: bool = False


@dataclass
class Document:
    path: str  # the display path: absolute, or `<stdlib>/std/x.flow`
    text: str
    pieces: list[Piece] = field(default_factory=list)
    module: A.Module | None = None
    yaml: bool = False
    summary: Summary | None = None  # of `module`, made by the first check that needs it
    fingerprint: tuple = ()  # the summary's
    owners: list | None = None  # its declarations' extents, for `_Owners`, made with the summary
    parse_diagnostics: list[Diagnostic] = field(default_factory=list)  # its pieces', in order
    std: frozenset[str] = frozenset()  # the standard-library modules it imports


def _shift(d: Diagnostic, delta: int) -> Diagnostic:
    move = _mover(delta)
    return dataclasses.replace(d, span=move(d.span) if d.span else None,
                               labels=tuple(dataclasses.replace(lb, span=move(lb.span)) for lb in d.labels),
                               premises=tuple(move(p) for p in d.premises))


def _mover(delta: int):
    def move(s: Span) -> Span:
        return Span(s.file, s.line + delta, s.col, s.end_line + delta, s.end_col)
    return move


def _move_piece(piece: Piece, delta: int) -> None:
    """Moves a declaration that did not change by `delta` lines: its tree and its findings are
    moved; it is lowered again (measured: moving its IR's spans in place costs more than that)."""
    move = _mover(delta)
    P.clamp_spans(piece.decls, move)
    piece.diagnostics = [_shift(d, delta) for d in piece.diagnostics]
    piece.lowered = None


def _words(x, out: set[str] | None = None) -> set[str]:
    """Every name and dotted part written in a syntax tree."""
    out = set() if out is None else out
    if isinstance(x, A.Name):
        out.add(x.value)
    elif isinstance(x, A.Ref):
        out.update(x.parts)
    elif isinstance(x, (list, tuple)) and not isinstance(x, Span):
        for y in x:
            _words(y, out)
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            _words(getattr(x, f.name), out)
    return out


def _merge_environments(before: dict, part: dict, context: set[str]) -> dict:
    """The envs of the whole program, after resolving them on a part of it (`context`): the
    part's locations replace theirs, the others' stay."""
    out = {}
    for name, env in part.items():
        old = before.get(name, env)
        out[name] = env.model_copy(update={
            f: dict(sorted({**{k: v for k, v in getattr(old, f).items() if k not in context},
                            **getattr(env, f)}.items()))
            for f in ("sources", "offline", "service_logs")})
    return out


class _Graph:
    """Declaration key -> what it may depend on, and the reverse, updated one key at a time."""

    def __init__(self) -> None:
        self.deps: dict[str, frozenset[str]] = {}
        self.users: dict[str, set[str]] = {}

    def set(self, key: str, named: frozenset[str]) -> frozenset[str]:
        """Sets what `key` depends on; returns what it depended on."""
        old = self.deps.get(key, frozenset())
        if old != named:
            for n in old - named:
                self.users.get(n, set()).discard(key)
            for n in named - old:
                self.users.setdefault(n, set()).add(key)
            self.deps[key] = named
        return old


def _declaration_line(piece: Piece) -> int:
    """The line of a piece's declaration keyword (below its `##` doc comment)."""
    lines = piece.text.split("\n")
    docs = next((i for i, line in enumerate(lines) if not line.startswith("##")), len(lines))
    return piece.start + docs


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for n in edges.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


class _Owners:
    """Which declaration a span sits in (by the extents of the files' declarations)."""

    def __init__(self, by_file: dict[str, tuple[list, list]]) -> None:
        self.by_file = by_file

    @staticmethod
    def rows(summary: Summary) -> tuple[list, list]:
        """(starts, rows) of one file: rows (start, end, key) sorted, and their starts."""
        rows = sorted(((e.line, e.col), (e.end_line, e.end_col), sym.key)
                      for sym in summary.symbols if (e := sym.extent) is not None)
        return [r[0] for r in rows], rows

    def of(self, span: Span | None) -> str | None:
        if span is None or span.file not in self.by_file:
            return None
        starts, rows = self.by_file[span.file]
        i = bisect.bisect_right(starts, (span.line, span.col)) - 1
        if i >= 0 and (span.end_line, span.end_col) <= rows[i][1]:
            return rows[i][2]
        return None


class Workspace:
    """Every file of the project (open ones as the editor holds them), the standard library's
    modules they import, and the findings of the last check."""

    def __init__(self) -> None:
        self.docs: dict[str, Document] = {}
        self.diagnostics: dict[str, list[Diagnostic]] = {}
        self.resolver: Resolver | None = None
        self._program = None
        self._build: tuple | None = None  # (pieces, files, packages) of the last check
        self._environments: dict = {}  # the whole program's, resolved
        self._unbound: list[Diagnostic] = []  # what resolving them reported
        self._uses: list[Use] | None = None
        self._by_key: dict[str, Symbol] | None = None  # the resolver's symbols by key
        self._fingerprint: bytes = b""
        self._checked: list[Diagnostic] | None = None  # the checks' findings (no parse, no lowering)
        self._validated: list[Diagnostic] | None = None  # the backends' findings; None: not run
        self._graph = _Graph()  # what each declaration may depend on (see `_dependencies`)
        self._dirty: set[str] = set()  # declarations lowered or checked since `_graph` was updated
        self._infra: set[str] | None = None  # the keys of every env and connector
        self._check_uses: dict[str, list[Use]] = {}  # references the checks resolved, by declaration
        self._kinds: dict[str, str] = {}  # declaration key -> kind
        self.stats = {"parsed": 0, "lowered": 0, "scoped": 0, "fallbacks": 0}

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
        before = doc.text
        doc.text, doc.summary = text, None
        if doc.yaml:
            from mlc.dsl.yaml_front import parse_yaml

            module, diags = parse_yaml(text, path)
            doc.pieces = [Piece(0, text, list(module.decls), diags, None)]
            doc.module = module
            return self._derived(doc)
        doc.pieces = self._pieces(doc, before, text)
        doc.module = A.Module(path, [d for p in doc.pieces for d in p.decls], [],
                              [p.unread for p in doc.pieces if p.unread])
        return self._derived(doc)

    @staticmethod
    def _derived(doc: Document) -> Document:
        doc.parse_diagnostics = [x for p in doc.pieces for x in p.diagnostics]
        doc.std = frozenset(d.module.dotted for d in doc.module.decls
                            if isinstance(d, A.ImportDecl) and d.module.dotted.startswith("std."))
        return doc

    def remove(self, path: str) -> None:
        self.docs.pop(path, None)

    def _pieces(self, doc: Document, before: str, text: str) -> list[Piece]:
        """The file's declarations after an edit from `before` to `text`. Those wholly inside
        the lines the edit left alone at the top are kept; those wholly inside the lines it left
        alone at the bottom are kept and moved; the lines between are cut again, and a piece
        whose text is still there is kept (moved if need be) rather than parsed."""
        lines, old_lines = text.split("\n"), before.split("\n")
        top = 0  # lines the same at the top
        most = min(len(lines), len(old_lines))
        while top < most and lines[top] == old_lines[top]:
            top += 1
        bottom = 0  # lines the same at the bottom (not overlapping the top)
        while bottom < most - top and lines[-1 - bottom] == old_lines[-1 - bottom]:
            bottom += 1
        delta = len(lines) - len(old_lines)
        # a piece keeps its end if the declaration line that ends it (the next piece's, below its
        # doc comment) is above the edit; one keeps its start if the line above it is below the
        # edit (then its doc comment and declaration line are too)
        head = list(itertools.takewhile(lambda pair: _declaration_line(pair[1]) < top,
                                        zip(doc.pieces, doc.pieces[1:])))
        head = [p for p, _next in head]
        split = next((i for i in range(len(head), len(doc.pieces)) if doc.pieces[i].start > len(old_lines) - bottom),
                     len(doc.pieces))
        tail = doc.pieces[split:]
        middle = doc.pieces[len(head): split]
        first = head[-1].start + head[-1].text.count("\n") + 1 if head else 0
        last = tail[0].start + delta if tail else len(lines)
        if delta and tail:
            self._move_findings(doc.path, tail[0].start, delta)
        for piece in tail if delta else ():
            _move_piece(piece, delta)
            piece.start += delta
            piece.moved = True
        return head + (self._cut(doc, lines, first, last, middle) if first < last else []) + tail

    def _move_findings(self, path: str, below: int, delta: int) -> None:
        """Moves by `delta` lines every kept finding and reference in `path` from line `below` on
        (0-based, in the text before the edit): the declarations there only moved."""
        def move(span: Span) -> Span:
            if span.file != path or span.line <= below:
                return span
            return Span(span.file, span.line + delta, span.col, span.end_line + delta, span.end_col)

        def moved(d: Diagnostic) -> Diagnostic:
            if d.span is None:
                return d
            return dataclasses.replace(d, span=move(d.span),
                                       labels=tuple(dataclasses.replace(lb, span=move(lb.span)) for lb in d.labels),
                                       premises=tuple(move(p) for p in d.premises))

        self._checked = None if self._checked is None else [moved(d) for d in self._checked]
        self._validated = None if self._validated is None else [moved(d) for d in self._validated]
        self._unbound = [moved(d) for d in self._unbound]
        self._check_uses = {k: [Use(move(u.span), u.key, u.kind) for u in us] for k, us in self._check_uses.items()}

    def _cut(self, doc: Document, lines: list[str], first: int, last: int, old: list[Piece]) -> list[Piece]:
        """The pieces of lines [first, last), reusing those of `old` whose text is there."""
        by_text: dict[str, list[Piece]] = {}
        for p in old:
            by_text.setdefault(p.text, []).append(p)
        parser = P.get_parser()
        out = []
        for start, end in P.declaration_chunks(lines[first:last]):
            start, end = start + first, end + first
            chunk = "\n".join(lines[start:end])
            reuse = by_text.get(chunk)
            if reuse:
                piece = min(reuse, key=lambda p: abs(p.start - start))
                reuse.remove(piece)
                if piece.start != start:
                    _move_piece(piece, start - piece.start)
                    piece.start = start
                out.append(piece)
                continue
            decls, diags = parser.parse_declaration(chunk, doc.path, start)
            self.stats["parsed"] += 1
            named = None if decls else P.NAMED_DECL.match(P.without_docs(chunk))
            out.append(Piece(start, chunk, decls, diags, (named[1], named[2]) if named else None,
                             words=frozenset(_words(decls))))
        return out

    def _stdlib(self) -> None:
        """The standard-library modules some file imports, read once."""
        from mlc.stdlib import stdlib_file

        wanted = set().union(*(doc.std for doc in self.docs.values()))
        wanted |= {n.rpartition(".")[0] for n in wanted}
        for name in sorted(wanted):
            found = stdlib_file(name)
            if found is not None and found[0] not in self.docs:
                self.set_text(*found)

    # ------------------------------------------------------------------ checking
    def check(self) -> dict[str, list[Diagnostic]]:
        """Every file's findings, as `mlc check` gives them; kept in `self.diagnostics`.

        When no declaration was added, removed or renamed, the checks and the backends' rules
        run only on what the edit can change (`_scope`): the declarations lowered again, what
        they named before and now, everything downstream of those, and (as context, their
        findings discarded) everything upstream of that. The other declarations' findings are
        the last check's."""

        with driver.gc_paused():
            self._stdlib()
            docs = sorted(self.docs.values(), key=lambda d: (d.path.startswith(STDLIB_PREFIX), d.path))
            for d in docs:
                if d.summary is None:
                    d.summary = summarize(d.module)
                    d.fingerprint, d.owners = d.summary.fingerprint(), _Owners.rows(d.summary)
            units = [driver.Unit(d.path, d.text, None, d.summary, d.parse_diagnostics, d.module) for d in docs]
            # a file with no `package` line among files with one (E0210) is read in a guessed package
            findings = driver.guess_packages(units) if not all(d.summary.package for d in docs) else []
            summaries = [driver.in_package(u) for u in units]
            fingerprint = hashlib.sha256(repr([d.fingerprint if s is d.summary else s.fingerprint()
                                               for d, s in zip(docs, summaries, strict=True)]).encode()).digest()
            same_names, self._fingerprint = fingerprint == self._fingerprint, fingerprint
            resolver = RecordingResolver(summaries)
            findings += resolver.diagnostics
            resolver.diagnostics.clear()
            resolver.uses.clear()
            owners = _Owners({s.path: d.owners if s is d.summary else _Owners.rows(s)
                              for d, s in zip(docs, summaries, strict=True)})
            pieces, lowered, changed = self._lower(docs, units, resolver, same_names)
            findings += lowered
            files, packages = [d.path for d in docs], {s.package for s in summaries if s.package}
            before = self._dependencies(resolver, same_names)
            scope = self._scope(changed, before, pieces, owners) if same_names and self._checked is not None else None
            parse_diags = [x for u in units for x in u.diagnostics]
            try:
                judged = self._judge(scope, pieces, files, packages, resolver, owners, [*findings, *parse_diags])
            except Exception:
                # a part of the program that is not closed (a dependency the graph missed) is a
                # bug of the scoping, not of the program: the whole program is checked instead
                if scope is None:
                    raise
                scope = None
                self.stats["fallbacks"] += 1  # tests/lsp/test_lsp_incremental.py holds it at 0
                resolver.uses.clear()
                judged = self._judge(None, pieces, files, packages, resolver, owners, [*findings, *parse_diags])
            program, environments, self._unbound, self._checked, self._validated = judged
            self._program, self._environments, self._build = program, environments, (pieces, files, packages)
            self._remember_check_uses(resolver.uses, owners, None if scope is None else scope[1])
            self.resolver, self._uses, self._by_key = resolver, None, None
            findings += self._checked + self._unbound + (self._validated or [])
            self.stats["scoped"] = 0 if scope is None else len(scope[0])
            out: dict[str, list[Diagnostic]] = {d.path: [] for d in docs}
            for d in [*parse_diags, *driver.past_errors(findings, units)]:
                if d.span is not None and d.span.file in out:
                    out[d.span.file].append(d)
            for diags in out.values():
                diags.sort(key=Diagnostic.sort_key)
            self.diagnostics = out
        # what the workspace holds lives until an edit replaces it, and is acyclic: frozen, the
        # collector stops re-scanning it after every edit (measured: ~1 s per edit on 100k lines)
        gc.freeze()
        return out

    def _judge(self, scope, pieces, files, packages, resolver, owners, found_before) -> tuple:
        """(the program or None, its envs, envs' findings, checks' findings, backends' findings or
        None) of the whole program (`scope` None) or of the part `scope` names, merged with the
        last check's elsewhere. Changes nothing: it may be run again on the whole program."""
        from mlc.compiler.checks import run_checks

        if scope is None:
            program, unbound = self._resolved(assemble([f for _k, f in pieces], files, packages), resolver)
            checked, environments = program, program.environments
        else:
            # only the part: the envs are in it (every env and connector is context), so each
            # source and store of the part is located as in the whole program
            program = None
            checked, unbound = self._resolved(
                assemble([f for k, f in pieces if k is None or k in scope[1]], files, packages), resolver)
            unbound = self._merge(self._unbound, unbound, scope, owners)
            environments = _merge_environments(self._environments, checked.environments, scope[1])
        found = self._merge(self._checked, run_checks(checked, resolver), scope, owners)
        validated = None
        if not any(d.is_error for d in [*found_before, *found, *unbound]):
            if scope is None or self._validated is None:
                whole = program if program is not None else self._resolved(
                    assemble([f for _k, f in pieces], files, packages), resolver)[0]
                validated = self._validate(whole)
            else:
                validated = self._merge(self._validated, self._validate(checked), scope, owners)
        return program, environments, unbound, found, validated

    def _dependencies(self, resolver: Resolver, same_names: bool) -> dict[str, frozenset[str]]:
        """Updates `self._graph` (declaration key -> the keys it may depend on: what its lowering
        asked the resolver, answers included, as `freshness(flow.step)` names the flow; what the
        checks looked up in it; every declaration in scope whose name is written in it, since the
        checks read some names from the IR by key, as a template's arguments: more than needed,
        never less) for the declarations lowered or checked since; returns what those depended
        on before."""
        if not same_names:
            self._graph = _Graph()
        dirty, self._dirty = self._dirty, set()
        before: dict[str, frozenset[str]] = {}
        for doc in self.docs.values():
            scope = resolver.scopes.get(doc.path)
            for piece in doc.pieces:
                key = piece.key
                if key is None or (same_names and key not in dirty):
                    continue
                if piece.mentions[0] != self._fingerprint:  # names resolve as they did: kept
                    found = set()
                    if scope is not None:
                        for word in piece.words:
                            for space in ("decl", "connector", "env"):
                                sym = scope.get((space, word))
                                if sym is not None:
                                    found.add(sym.key)
                    piece.mentions = (self._fingerprint, frozenset(found))
                named = set(piece.names) | piece.mentions[1]
                named.update(u.key for u in self._check_uses.get(key, ()))
                named.discard(key)
                before[key] = self._graph.set(key, frozenset(named))
        return before

    def _scope(self, changed: set[str] | None, before: dict[str, frozenset[str]],
               pieces: list[tuple[str | None, Fragment]], owners: _Owners) -> tuple[set[str], set[str]] | None:
        """(affected, context) for a check of only what `changed` can change; None for a full
        check (a header changed, or most of the program would be checked anyway)."""
        if changed is None:
            return None
        kinds, deps = self._kinds, self._graph.deps
        seeds = set(changed)
        for key in changed:
            if kinds.get(key) in (None, "connector", "env"):
                return None
            now = deps.get(key, frozenset())
            then = before.get(key, now)
            # an env is judged by the connectors the program names, citing the first user of each
            # (E0501): the same connectors named, and no finding citing this declaration, or a
            # check of the whole program
            if {n for n in then if kinds.get(n) == "connector"} != {n for n in now if kinds.get(n) == "connector"}:
                return None
            for named in then | now:
                if kinds.get(named) not in ("connector", "env"):
                    # what an edited declaration names (before or after the edit) may be judged
                    # by who names it (a signal nobody emits any more)
                    seeds.add(named)
        if any(kinds.get(owners.of(d.span)) == "env" and any(owners.of(lb.span) in changed for lb in d.labels)
               for d in self._checked or ()):
            return None
        affected = _closure(seeds, self._graph.users)
        context = _closure(affected, deps)
        context.update(self._infrastructure())
        if len(context) * 2 > len(pieces):
            return None
        return affected, context

    def _infrastructure(self) -> set[str]:
        if self._infra is None:
            self._infra = {k for k, kind in self._kinds.items() if kind in ("connector", "env")}
        return self._infra

    def _remember_check_uses(self, uses: list[Use], owners: _Owners, context: set[str] | None) -> None:
        """The references the checks resolved, by the declaration they sit in: those of the
        declarations checked now replace theirs."""
        fresh: dict[str, list[Use]] = {}
        for u in uses:
            owner = owners.of(u.span)
            if owner is not None:
                fresh.setdefault(owner, []).append(u)
        if context is None:
            self._dirty.update(self._check_uses.keys() | fresh.keys())
            self._check_uses = fresh
            return
        self._dirty.update(context)
        for key in context:
            self._check_uses.pop(key, None)
        self._check_uses.update({k: v for k, v in fresh.items() if k in context})

    @staticmethod
    def _merge(before: list[Diagnostic] | None, now: list[Diagnostic], scope, owners: _Owners) -> list[Diagnostic]:
        """The findings of a scoped check over the affected declarations, the last check's elsewhere."""
        if scope is None or before is None:
            return list(now)
        affected = scope[0]
        # a finding of the last check that now sits in no declaration sat in one that shrank or
        # moved (so was checked again now): it is gone
        kept = [d for d in before if d.span is None or (o := owners.of(d.span)) is not None and o not in affected]
        return kept + [d for d in now if d.span is not None and (o := owners.of(d.span)) in affected | {None}]

    def _lower(self, docs: list[Document], units, resolver: RecordingResolver,
               same_names: bool) -> tuple[list[tuple[str | None, Fragment]], list[Diagnostic], set[str] | None]:
        """Each declaration's IR (with its key; None for a file's header): the one kept from the
        last check while it is still right, else lowered now; and the keys of the declarations
        lowered now (None when one has no key of its own). A header (package, imports) lowered
        again changed nothing the checks read: its text is in the names' fingerprint."""
        lowering = Lowering(resolver)
        pieces: list[tuple[str | None, Fragment]] = []
        diags: list[Diagnostic] = []
        changed: set[str] | None = set()
        several = False  # a piece holds several declarations (written on one line, or indented)
        if not same_names:
            self._kinds, self._infra = {}, None
        for doc, unit in zip(docs, units, strict=True):
            package = unit.package or (doc.module.package if doc.module else None)
            header = A.PackageDecl(A.Name(package, Span(doc.path, 1, 1, 1, 1)), Span(doc.path, 1, 1, 1, 1),
                                   A.Meta()) if package else None
            for piece in doc.pieces:
                kept = piece.lowered
                if same_names and kept is not None and kept[3] == package and not kept[1]:
                    pieces.append((piece.key, kept[0]))  # the common case, kept short: 10^4 a check
                    several = several or piece.several
                    continue
                decls = [d for d in piece.decls if not isinstance(d, A.PackageDecl)]
                named = [d for d in decls if not isinstance(d, A.ImportDecl)]
                key = piece.key = qualify(package, named[0].name.value) if len(named) == 1 and len(decls) == 1 else None
                piece.several = len(named) > 1
                several = several or piece.several
                for d in named:
                    self._kinds[qualify(package, d.name.value)] = d.kind
                # with the same names everywhere (spans aside), every lookup answers as before (the
                # case above); one that reported something is lowered again (its labels may cite a
                # line that moved)
                if kept is not None and kept[3] == package and not kept[1] and kept[0].still_valid(resolver, doc.path):
                    pieces.append((key, kept[0]))
                    diags += kept[1]
                    continue
                before, uses_before = len(lowering.diagnostics), len(resolver.uses)
                fragment = lowering.module(A.Module(doc.path, ([header] if header else []) + decls))
                self.stats["lowered"] += 1
                new = lowering.diagnostics[before:]
                piece.lowered = (fragment, list(new), resolver.uses[uses_before:], package)
                piece.names = frozenset(answer[0] for _q, answer in fragment.uses if isinstance(answer, tuple))
                del resolver.uses[uses_before:]
                pieces.append((key, fragment))
                diags += new
                if key is not None:
                    self._dirty.add(key)
                if changed is not None and named and not piece.moved:
                    # several declarations in one piece (on one line): no key to scope by
                    changed = None if key is None else changed | {key}
                piece.moved = False
        # such a piece has no key to scope by: only a check of the whole program is right
        return pieces, diags, None if several else changed

    @staticmethod
    def _resolved(program, resolver: RecordingResolver):
        """`driver.resolve_program` with the check's resolver, so that a `group.feature` means
        here what it means to `mlc check` (by the file's imports). Its lookups are the ones the
        checks make and record: they are not recorded twice."""
        recorded = len(resolver.uses)
        try:
            return driver.resolve_program(program, resolver)
        finally:
            del resolver.uses[recorded:]

    @staticmethod
    def _validate(program) -> list[Diagnostic]:
        from mlc.deploy.bundle import validate_backends
        from mlc.targets import TARGETS

        return validate_backends(program, sorted(TARGETS), sorted({e.name for e in program.envs.values()}))

    # ------------------------------------------------------------------ queries
    @property
    def program(self):
        """The whole program's IR (with its envs resolved), as the last check saw it; assembled
        on first use after a check of only a part of it."""
        if self._program is None and self._build is not None:
            pieces, files, packages = self._build
            self._program = self._resolved(assemble([f for _k, f in pieces], files, packages), self.resolver)[0]
        return self._program

    @property
    def uses(self) -> list[Use]:
        """Every reference the last check resolved: in lowering, then in the checks."""
        if self._uses is None:
            self._uses = [u for d in self.docs.values() for p in d.pieces if p.lowered for u in p.lowered[2]] + \
                [u for us in self._check_uses.values() for u in us]
        return self._uses

    def symbols(self) -> list[Symbol]:
        return list(self.resolver.symbols()) if self.resolver else []

    def symbol(self, key: str) -> Symbol | None:
        if self._by_key is None:
            self._by_key = {s.key: s for s in self.symbols()}
        return self._by_key.get(key)

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
