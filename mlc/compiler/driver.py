"""The pipeline every command shares: read -> parse -> resolve -> lower -> check.

It never raises on bad input: problems come back as diagnostics, with the
source text kept for rendering.

Incremental by content, in three layers (the cache is `.mlc_cache/`):
- each file's parse (a summary of what it declares and imports, and the text
  itself, to compare it with the next version) is cached by the hash of its
  text; its syntax tree, once it had to be lowered again;
- its lowered IR is cached with the names it looked up and what they meant, so
  it is reused while its text is the same and those names mean the same;
- the findings of the last run are kept with the files it saw (`snapshot`): an
  edit that leaves every declaration as it was (a comment, say) reuses them,
  and then the whole program is assembled only if a command asks for it.
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlc.diagnostics import Diagnostic, Severity, SourceMap
from mlc.dsl import ast as A
from mlc.compiler.project import Project
from mlc.compiler.resolve import Resolver, Summary

if TYPE_CHECKING:
    from mlc.compiler import incremental, ir, snapshot
    from mlc.compiler.lower import Lowering
    from mlc.compiler.parallel import Pool, Workers

CACHE_DIR = ".mlc_cache"


@dataclass
class Result:
    project: Project
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: SourceMap = field(default_factory=lambda: SourceMap(_Texts()))
    summaries: list[Summary] = field(default_factory=list)
    _program: ir.Program | None = field(default=None, repr=False)
    _build: Callable[[], ir.Program] | None = field(default=None, repr=False)

    @property
    def program(self) -> ir.Program | None:
        """The whole program's IR, assembled on first use: `mlc check` on an unchanged
        program never needs it."""
        if self._program is None and self._build is not None:
            with gc_paused():
                self._program = self._build()
            self._build = None
        return self._program

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def declarations(self) -> int:
        return sum(len(s.symbols) for s in self.summaries if not s.path.startswith("<stdlib>"))


@dataclass
class Unit:
    """One source file on its way through the pipeline."""

    display: str
    source: str | None  # its text; None: not read yet, as the snapshot knows it (see `text`)
    key: str | None
    summary: Summary
    diagnostics: list[Diagnostic]  # from parsing it
    module: A.Module | None  # its syntax tree, when this run parsed it
    package: str | None = None  # no `package` line: the package it is read in (guessed, E0210)
    path: Path | None = None
    stat: snapshot.Signature | None = None  # as this run found it, when not racy (see snapshot)
    digest: bytes | None = None  # of its summary, once computed (see _digest)

    @property
    def text(self) -> str:
        """The file's text, read when first asked for: an unchanged file of a warm run is known by
        its stat signature, and most runs never need its text."""
        if self.source is None:
            from mlc.dsl.files import read_source

            # it was readable a moment ago: if it no longer is, the next run reports why
            text = read_source(self.path, self.display)[0] if self.path is not None else None
            self.source = text if text is not None else ""
        return self.source


class _Texts(MutableMapping):
    """`SourceMap.texts` whose files that were not read are read when a renderer quotes them."""

    def __init__(self) -> None:
        self._texts: dict[str, str | Unit] = {}

    def later(self, unit: Unit) -> None:
        self._texts[unit.display] = unit

    def __getitem__(self, name: str) -> str:
        text = self._texts[name]
        return text.text if isinstance(text, Unit) else text

    def __setitem__(self, name: str, text: str) -> None:
        self._texts[name] = text

    def __delitem__(self, name: str) -> None:
        del self._texts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


@contextmanager
def gc_paused():
    """The compiler allocates millions of small acyclic objects: the cyclic collector would
    re-scan them all on every generation-2 pass (measured: 3x the run time) and find nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


Validate = Callable[[Result], list[Diagnostic]]


def check(project: Project, use_cache: bool = True, validate: Validate | None = None) -> Result:
    """Parses, resolves and lowers the whole project, then runs every check on the IR, and
    then `validate` (the backends' own rules, from a layer above) on a program without errors.
    Its findings are kept in the snapshot with the others."""
    with gc_paused():
        return _check(project, use_cache, validate)


def _check(project: Project, use_cache: bool, validate: Validate | None) -> Result:
    from mlc.compiler import snapshot
    from mlc.compiler.parallel import Pool
    from mlc.dsl.files import ParseCache

    result = Result(project)
    cache = ParseCache(project.root / CACHE_DIR) if use_cache else None
    previous = snapshot.load(cache) if cache else None
    known = previous.files if previous else {}
    pool = Pool(project.jobs, cache)
    try:
        return _checked(project, result, cache, previous, known, pool, validate)
    finally:
        pool.close()


def _checked(project: Project, result: Result, cache, previous, known: dict, pool: Pool,
             validate: Validate | None) -> Result:
    from mlc.compiler import snapshot

    units, workers = _read_units(project, result, cache, known, pool)
    units += _stdlib_units(units, result, cache, known)
    missing_package = guess_packages(units)
    result.summaries = [in_package(u) for u in units]
    reused = previous is not None and previous.validated == (validate is not None) \
        and _unchanged(units, previous, cache)
    state = None
    if reused:
        findings = list(previous.findings)
        state = previous.state_data
        result._build = _whole(result, units, cache)
    else:
        rechecked = _rechecked(project, result, units, cache, previous, validate) if missing_package == [] else None
        if rechecked is not None:
            pool.close()
            findings, state = rechecked.findings, rechecked.state
            result._build = _whole(result, units, cache)
        else:
            findings, state = _full(result, units, cache, workers, pool, validate, missing_package)
    result.diagnostics.extend(past_errors(findings, units))
    # the whole finding breaks ties: the order must not depend on which run found what
    result.diagnostics.sort(key=lambda d: (d.sort_key(), d.message, repr(d)))
    if cache and not (reused and _same_texts(units, known)):
        current = {u.display: snapshot.Entry(u.key, u.summary, tuple(u.diagnostics), u.stat, _digest(u))
                   for u in units}
        snapshot.save(cache, previous, current, tuple(findings), validate is not None, state)
    return result


def _fingerprint(units: list[Unit]) -> bytes:
    """Of every file's summary: a cached IR lowered under it is good as it is."""
    return hashlib.sha256(b"".join(_digest(u) for u in units)).digest()


def _digest(u: Unit) -> bytes:
    """Of the file's summary; the snapshot keeps it (`Entry.digest`): 2,000 summaries' would be
    a twentieth of a warm check."""
    if u.digest is None:
        u.digest = hashlib.sha256(repr(u.summary.fingerprint()).encode()).digest()
    return u.digest


def _whole(result: Result, units: list[Unit], cache) -> Callable[[], ir.Program]:
    """The whole program, built when a command asks for it."""
    def build() -> ir.Program:
        resolver = Resolver(result.summaries)
        return resolve_program(_assemble(units, resolver, cache)[0], resolver)[0]
    return build


def _full(result: Result, units: list[Unit], cache, workers, pool: Pool, validate: Validate | None,
          missing_package: list[Diagnostic]) -> tuple[list[Diagnostic], incremental.State | None]:
    """Every check on the whole program; and, with a cache, what the next run needs to check
    only what an edit reaches."""
    from mlc.compiler import incremental
    from mlc.compiler.checks import run_checks

    resolver = Resolver(result.summaries)
    resolved = missing_package + resolver.diagnostics
    resolver.diagnostics.clear()
    result._program, lowered = _assemble(units, resolver, cache, workers)
    pool.close()  # their work is done: the checks run here, on the assembled program
    program = result._program
    if workers is not None:
        # a large program: the checks (they read it, and give diagnostics) run in a forked
        # process while this one resolves its names, which the backends' validation then reads
        from mlc.compiler.parallel import apart

        checking = apart(lambda: run_checks(program, resolver))
    else:
        checked = run_checks(program, resolver)
    result._program, unbound = resolve_program(program, resolver)
    if workers is not None:
        checked = checking()
    checked += unbound
    findings = [*resolved, *lowered, *checked]
    validated = None
    if validate is not None and not any(d.is_error for d in [*findings, *result.diagnostics]):
        validated = validate(result)
        findings += validated
    state = None
    if cache is not None and not missing_package:
        state = incremental.state_of(result._program, result.summaries, [u.display for u in units], resolved,
                                     lowered, checked, validated)
    return findings, state


def _rechecked(project: Project, result: Result, units: list[Unit], cache, previous,
               validate: Validate | None) -> incremental.Rechecked | None:
    """The findings from the last run's and a check of what the edit reaches, or None."""
    from mlc.compiler import incremental
    from mlc.compiler.lower import Lowering

    if cache is None or previous is None or previous.state is None:
        return None
    fingerprint = _fingerprint(units)

    def lower(u: Unit, resolver: Resolver) -> tuple:
        fragment, _, diags = lower_file(Lowering(resolver), _module(u, cache), u.package, cache, u.key, fingerprint)
        u.module = None
        return fragment, diags

    def validating(program: ir.Program) -> list[Diagnostic]:
        return validate(Result(project, _program=program))

    return incremental.recheck(units, result.summaries, previous, cache, lower,
                               validating if validate is not None else None)


def resolve_program(program: ir.Program, resolver: Resolver | None = None) -> tuple[ir.Program, list[Diagnostic]]:
    """The program with its expressions' names resolved (`mlc.compiler.references`; a
    `group.feature` by the files' imports when given the `resolver`, else by package) and its
    envs (where each source and store is, per env), and what could not be resolved."""
    from mlc.compiler import references
    from mlc.compiler.bindings import environments

    find = references.group_finder(resolver) if resolver is not None else references.by_package(program)
    program = references.annotate(program, find)
    envs, diags = environments(program)
    return program.model_copy(update={"environments": envs}), diags


def past_errors(findings: list[Diagnostic], units: list[Unit]) -> list[Diagnostic]:
    """The findings, less those that follow from an error already reported: one mistake, one
    diagnostic.

    - Inside a declaration that has a syntax error: recovery dropped the item that failed to
      parse, so what the checks then say of that declaration (no fallback, a column the schema
      lacks) is about a part the user did write.
    - A derived finding (an objective that cannot be proved, say) whose premises sit in a
      declaration that has an error of its own (a name that does not resolve, a value out of
      range, a cycle): that declaration is poisoned for what is derived from it, since what the
      finding misses is what the error is about. Errors that are themselves derived (they have
      premises) poison nothing.
    Findings elsewhere stand."""
    summaries = {u.display: u.summary for u in units}
    extents: dict[str, list] = {}  # of the files asked about: most runs have no error to place

    def declaration(span):
        found = extents.get(span.file)
        if found is None:
            s = summaries.get(span.file)
            found = extents[span.file] = [sym.extent for sym in s.symbols if sym.extent is not None] if s else []
        return next((e for e in found if span.within(e)), None)

    broken = {declaration(d.span) for u in units for d in u.diagnostics if d.is_error and d.span is not None}
    broken.discard(None)
    poisoned = broken | {declaration(f.span) for f in findings
                         if f.is_error and f.span is not None and not f.premises}
    poisoned.discard(None)
    if not poisoned:
        return findings
    return [f for f in findings
            if (f.span is None or declaration(f.span) not in broken)
            and not any(p is not None and declaration(p) in poisoned for p in f.premises)]


def _assemble(units: list[Unit], resolver, cache, workers: Workers | None = None) -> tuple[ir.Program, list[Diagnostic]]:
    """The whole program, each file's IR from the cache or lowered now; and what lowering reported.

    A file's IR is cached under its text's key, behind the fingerprint of every file's
    summary when it was lowered. Under another fingerprint (a declaration was added or
    renamed somewhere) it is still good if every name it looked up means what it meant.
    A file whose tree a worker holds (it parsed it) is lowered there."""
    from mlc.compiler.lower import Lowering, assemble
    from mlc.dsl.files import unpickle

    fingerprint = _fingerprint(units)
    lowering = Lowering(resolver)
    fragments: list = [None] * len(units)
    reported: list[list[Diagnostic]] = [[] for _ in units]
    remote = []
    for i, u in enumerate(units):
        key = u.key if u.package is None else None  # read in a guessed package: never cached
        entry = cache.get_bytes("ir", key) if cache and key else None
        if entry is not None:
            fragment = unpickle(entry[len(fingerprint):])
            if fragment is not None and (entry.startswith(fingerprint) or fragment.still_valid(resolver, u.display)):
                fragments[i] = fragment
                continue
        if workers is not None and workers.owns(i):
            remote.append((i, u.display, u.text, u.key, u.package))
            continue
        fragments[i], _, reported[i] = lower_file(lowering, _module(u, cache), u.package, cache, u.key, fingerprint)
        u.module = None  # lowered: its tree is garbage now, and a million lines of trees weigh gigabytes
    if remote:
        summaries = [in_package(u) for u in units]
        for i, (fragment, diags) in workers.lower(summaries, resolver, fingerprint, remote).items():
            fragments[i], reported[i] = fragment, diags
    program = assemble(fragments, [u.display for u in units],
                       {u.summary.package for u in units if u.summary.package})
    return program, [d for diags in reported for d in diags]


def lower_file(lowering: Lowering, module: A.Module, package: str | None, cache, key: str | None, fingerprint: bytes,
               pickled: bool = False) -> tuple:
    """(IR fragment, its pickle when cached or `pickled`, what lowering it reported) of one
    file, read in `package` when it lacks its line (then never cached); a fragment lowered
    without findings is cached under the file's key."""
    if package is not None:
        module = A.Module(module.path, [_package_line(package, module.path), *module.decls], module.comments)
    before = len(lowering.diagnostics)
    fragment = lowering.module(module)
    diags = lowering.diagnostics[before:]
    store = cache is not None and key is not None and package is None and not diags
    data = pickle.dumps(fragment, protocol=pickle.HIGHEST_PROTOCOL) if store or pickled else None
    if store:
        cache.put_bytes("ir", key, fingerprint + data)
    return fragment, data, diags


def guess_packages(units: list[Unit]) -> list[Diagnostic]:
    """E0210 for each file with no `package` line in a project whose other files have one; the
    file is then read in the package guessed for it (`u.package`), so that the names it declares
    and uses resolve as they would with the line written: one error, not one per name."""
    from collections import Counter
    from pathlib import PurePosixPath

    from mlc.diagnostics import Span, error

    own = [u for u in units if not u.display.startswith("<stdlib>")]
    if all(u.summary.package for u in own):
        return []
    folder = {u.display: str(PurePosixPath(u.display.replace("\\", "/")).parent) for u in own}
    everywhere = Counter(u.summary.package for u in own if u.summary.package)
    out = []
    for u in own:
        if u.summary.package or not everywhere:
            continue
        near = Counter(v.summary.package for v in own if v.summary.package and folder[v.display] == folder[u.display])
        guess = min((near or everywhere).items(), key=lambda kv: (-kv[1], kv[0]))[0]
        u.package = guess
        first = min((sym.span.line for sym in u.summary.symbols), default=None)
        if any(d.is_error and (first is None or d.span is None or d.span.line <= first) for d in u.diagnostics):
            continue  # a syntax error where the package line would be: that is the mistake to report
        line = f"package: {guess}" if u.display.endswith((".flow.yaml", ".flow.yml")) else f"package {guess}"
        others = "the other files of its folder" if near else "the other files of the project"
        out.append(error(
            "E0210", "this file has no `package` line", Span(u.display, 1, 1, 1, 1),
            notes=(f"{others} are in package `{guess}`; without the line, none of their names is "
                   "visible here, nor are this file's names to them",),
            help=f"add `{line}` at the top, before its imports and declarations"))
    return out


def in_package(u: Unit) -> Summary:
    """The file's summary, in the package it is read in."""
    if u.package is None:
        return u.summary
    import dataclasses

    return dataclasses.replace(u.summary, package=u.package,
                               symbols=tuple(dataclasses.replace(s, package=u.package) for s in u.summary.symbols))


def _package_line(package: str, path: str) -> A.PackageDecl:
    from mlc.diagnostics import Span

    at = Span(path, 1, 1, 1, 1)
    return A.PackageDecl(A.Name(package, at), at, A.Meta())


def _module(u: Unit, cache) -> A.Module:
    """The file's syntax tree: from this run's parse, the cache, or a parse now."""
    if u.module is None:
        u.module = tree(u.text, u.display, cache, u.key)
    return u.module


def tree(text: str, display: str, cache, key: str | None) -> A.Module:
    """A file's syntax tree from the cache, or parsed now and cached: the file is being
    lowered again, and may well be on the next run too."""
    module = cache.get("ast", key) if cache and key else None
    if module is None:
        module = _parse(text, display)[0]
        if cache and key:
            cache.put("ast", key, module)
    return module


def _unchanged(units: list[Unit], previous, cache) -> bool:
    """Whether these files make the program the last run checked: the same files in the same
    order and, where a text changed, the same declarations, spans included (a comment or
    trailing blank lines changed, say). Summaries, lowering and the checks read nothing else."""
    if previous.program != tuple(u.display for u in units):
        return False
    for u in units:
        old = previous.files.get(u.display)
        if old is None:
            return False
        if old.key == u.key:
            continue
        was = cache.get("ast", old.key)
        if not isinstance(was, A.Module):
            before = cache.get("parse", old.key)
            if before is None:
                return False
            was = _parse(before[2], u.display)[0]
        if u.module is None:
            u.module = _parse(u.text, u.display)[0]
        # kept: the next edit of this file (edits come in series) compares with this tree,
        # unpickled in a millisecond, not with a parse of this text (15 ms for 60 lines)
        cache.put("ast", u.key, u.module)
        if was.decls != u.module.decls:
            return False
    return True


def _same_texts(units: list[Unit], known: dict) -> bool:
    """Whether the snapshot knows every file as it is, its stat signature included (else it is
    saved again, lest a touched or racy file be read and hashed on every run)."""
    return all((e := known.get(u.display)) is not None and e.key == u.key and e.stat == u.stat for u in units)


def _parse(text: str, display: str) -> tuple[A.Module, list[Diagnostic]]:
    from mlc.dsl.parser import get_parser

    if display.endswith((".flow.yaml", ".flow.yml")):
        from mlc.dsl.yaml_front import parse_yaml

        return parse_yaml(text, display)
    return get_parser().parse(text, display)


def _known(display: str, text: str, cache, seen: dict) -> Unit:
    """A file, with its summary and parse findings when the last run's snapshot or the cache
    has them (`summary` None: it has to be parsed)."""
    key = cache.key(display, text) if cache else None
    old = seen.get(display)
    if key and old is not None and old.key == key:
        return Unit(display, text, key, old.summary, list(old.diagnostics), None, digest=old.digest)
    parsed = cache.get("parse", key) if cache and key else None
    if parsed is not None:
        summary, diags, _text = parsed
        return Unit(display, text, key, summary, list(diags), None)
    return Unit(display, text, key, None, [], None)


def parse_file(text: str, display: str, cache, key: str | None) -> tuple[A.Module, Summary, list[Diagnostic]]:
    """A file parsed: its tree, summary and findings; the last two cached under its key."""
    from mlc.compiler.resolve import summarize

    module, diags = _parse(text, display)
    summary = summarize(module)
    if cache and key:
        # the text, not the tree: pickling every tree was a fifth of a first run, and a tree
        # is needed only to compare a file with its next version, or to lower it again
        cache.put("parse", key, (summary, diags, text))
    return module, summary, diags


def _unit(display: str, text: str, cache, seen: dict) -> Unit:
    """A file's summary and parse findings: from the last run's snapshot, the cache, or a
    parse (which also gives its syntax tree)."""
    unit = _known(display, text, cache, seen)
    if unit.summary is None:
        unit.module, unit.summary, unit.diagnostics = parse_file(text, display, cache, unit.key)
    return unit


def _read_units(project: Project, result: Result, cache, seen: dict, pool: Pool) -> tuple[list[Unit], Workers | None]:
    """The project's files, parsed where nothing knows them yet: by the pool's workers when
    there is enough to parse (they keep the trees, to lower them), else here."""
    units = _read(project, result, cache, seen)
    todo = [i for i, u in enumerate(units) if u.summary is None]
    workers = pool.for_parsing(sum(len(units[i].text) for i in todo), len(todo))
    if workers is not None:
        for i, (summary, diags) in workers.parse([(i, units[i].display, units[i].text, units[i].key)
                                                  for i in todo]).items():
            units[i].summary, units[i].diagnostics = summary, list(diags)
    else:
        for i in todo:
            u = units[i]
            u.module, u.summary, u.diagnostics = parse_file(u.text, u.display, cache, u.key)
    for u in units:
        result.diagnostics.extend(u.diagnostics)
    return units, workers


def _read(project: Project, result: Result, cache, seen: dict) -> list[Unit]:
    """The project's files, each with its summary and parse findings when the snapshot or the
    cache knows them (else `summary` is None). A file whose stat signature is the one the
    snapshot kept is not read, nor hashed: as the snapshot saw it (see `snapshot`)."""
    from mlc.compiler import snapshot
    from mlc.dsl.files import read_source

    read_ns = time.time_ns()  # before any stat: what is modified after it is racy
    units = []
    for path in project.files:
        display = project.display(path)
        sig = snapshot.signature(path) if cache else None
        old = seen.get(display)
        if sig is not None and old is not None and old.stat == sig:
            unit = Unit(display, None, old.key, old.summary, list(old.diagnostics), None, path=path, stat=sig,
                        digest=old.digest)
            result.sources.texts.later(unit)
            units.append(unit)
            continue
        text, diags = read_source(path, display)
        result.diagnostics.extend(diags)
        if text is None:
            continue
        result.sources.add(display, text)
        unit = _known(display, text, cache, seen)
        unit.path, unit.stat = path, snapshot.trusted(sig, read_ns)
        units.append(unit)
    return units


def _stdlib_units(units: list[Unit], result: Result, cache, seen: dict) -> list[Unit]:
    """The standard-library modules the project imports (they are .flow files too)."""
    from mlc.stdlib import stdlib_file

    named = {d.module.dotted for u in units for d in u.summary.imports if d.module.dotted.startswith("std.")}
    # `import std.connectors.kafka` names no module; its parent is read so that the resolver
    # can say to write `import std.connectors.{kafka}`
    wanted = sorted(named | {n.rpartition(".")[0] for n in named if stdlib_file(n) is None})
    out = []
    for name in wanted:
        found = stdlib_file(name)
        if found is None:
            continue  # reported as an unknown module by the resolver
        display, text = found
        result.sources.add(display, text)
        unit = _unit(display, text, cache, seen)
        result.diagnostics.extend(unit.diagnostics)
        out.append(unit)
    return out
