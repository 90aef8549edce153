"""A warm re-check whose cost follows the edit, not the program (issue 18 item 3).

After every full check the snapshot keeps a `State`: which file holds each declaration, the
declarations each one reads (`up`) and makes (`down`, a flow's emitted signals, produced models,
written artifacts: the program graph's edges that point away from the declaration holding
them), and every finding filed under the declaration whose extent holds its span.

An edit then costs what it reaches:
1. the edited files are lowered again (and, when what files declare changed, the files that
   looked up a name whose meaning changed); their declarations are compared with the last
   run's IR: those that differ are the changed set C;
2. R, the declarations whose findings may change, is C, everything downstream of it (an
   objective's freshness reads every flow and group before it) and the direct neighbours of C,
   before and after the edit (an artifact no longer read, a signal no longer awaited);
3. the checks, name resolution of expressions and the backends' validation run on a
   sub-program: R, the declarations next to R (a check of R looks at who reads it), and all
   they read, transitively; every env and connector. What they report inside R replaces the
   last run's findings of R; findings outside R are the last run's.

The relation is read generically from the IR: a declaration reads every declaration whose key
one of its strings names (references, resolved expression targets such as
`feature:<group key>.<name>`) and the declarations of its kind and short name (the layout
qualifies the names two packages share); the program graph (`mlc.compiler.graph`) says which
of those point downstream. A new check therefore needs no code here, as long as what it reads is
reachable that way from the declaration it reports on.

The backends judge only a program without errors: while an edit leaves errors, their
findings are not reported (as a full check does), the last clean run's are kept, and what the
edits reached is remembered (`State.stale`) and validated again once the errors are gone.

`recheck` returns None (the caller runs the full check) where this cannot bound the effect of
an edit: an env or connector changed (every declaration reads them: the bindings place every
source and store per env, and each backend's validation of an env reads every declaration's
resolved location in it, so an env's one value is a whole-program validation of that env;
the full check then runs from the IR cache), a finding with no
declaration to file it under (no span, or outside every declaration), a name declared twice or
a file read in a guessed package (which declaration wins depends on the whole program), a
program without errors after runs that all had errors (no validation to start from), most files
new, or a sub-program that would hold most of the program anyway.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlc.compiler.resolve import Resolver, Summary, qualify
from mlc.diagnostics import Diagnostic

if TYPE_CHECKING:
    from mlc.compiler import ir
    from mlc.compiler.lower import Fragment

# declarations that everything reads: a change to one is checked in full
_SHARED = ("envs", "connectors")
# a sub-program larger than this share of the program is checked in full (it costs as much)
_LARGEST = 0.5
_FINGERPRINT = 32  # bytes before a cached fragment's pickle (see driver._assemble)


@dataclass(frozen=True, slots=True)
class State:
    """What the last check knew of each declaration. A declaration is `section:key`
    (`models:platform.p001.ranker`)."""

    owner: dict[str, str]  # declaration -> the file that holds it
    up: dict[str, frozenset[str]]  # declaration -> the declarations it reads
    down: dict[str, frozenset[str]]  # declaration -> the declarations it makes (see the module doc)
    index: Index  # the declarations by key and by short name (see _index)
    resolver: tuple[Diagnostic, ...]  # what the resolver reported from the files' summaries
    lowered: dict[str, tuple[Diagnostic, ...]]  # by file: what lowering it reported
    checked: dict[str, tuple[Diagnostic, ...]]  # by declaration: the checks' and references' findings
    # the backends' findings of the last run that had no error; None: no run had one
    validated: dict[str, tuple[Diagnostic, ...]] | None
    # the declarations the runs with errors since then reached: their `validated` may be out of date
    stale: frozenset[str] = frozenset()


def decl_id(section: str, key: str) -> str:
    return f"{section}:{key}"


def _sections() -> tuple[str, ...]:
    from mlc.compiler.lower import SECTION

    return tuple(SECTION.values())


def declarations(program: ir.Program) -> Iterable[tuple[str, ir.Decl]]:
    for section in _sections():
        for key, decl in getattr(program, section).items():
            yield decl_id(section, key), decl


# ---------------------------------------------------------------------------------- relations
def _strings(node, out: set[str], model: type) -> None:
    """Every string in an IR node; `model`: pydantic's BaseModel (imported by the caller: a warm
    run that rechecks nothing never imports pydantic)."""
    if isinstance(node, str):
        out.add(node)
    elif isinstance(node, model):
        for value in node.__dict__.values():
            if value is not None and not isinstance(value, (int, float, bool)):
                _strings(value, out, model)
    elif isinstance(node, (tuple, list, frozenset, set)):
        for value in node:
            if value is not None and not isinstance(value, (int, float, bool)):
                _strings(value, out, model)
    elif isinstance(node, dict):
        for k, value in node.items():
            _strings(k, out, model)
            _strings(value, out, model)


Index = dict[str, list[str]]


def _index(idents: Iterable[str], index: Index | None = None, gone: Iterable[str] = ()) -> Index:
    """Qualified key, and short name, -> the declarations of that key or name (a connector and a
    group may share one; a template's arguments are names the check resolves; the layout
    qualifies the names two packages share); `index` with `idents` added and `gone` removed,
    when given."""
    # the lists are replaced, never changed in place: `index` stays as it was
    keys = dict(index) if index is not None else {}
    for ident in gone:
        for at in _entries(ident):
            if at in keys:
                keys[at] = [i for i in keys[at] if i != ident]
    for ident in idents:
        for at in _entries(ident):
            keys[at] = [*keys.get(at, ()), ident]
    return keys


def _entries(ident: str) -> tuple[str, ...]:
    key = ident.partition(":")[2]
    short = key.rpartition(".")[2]
    return (key, short) if short != key else (key,)


def _mentions(decl, own: str, keys: Index, model: type) -> set[str]:
    """The declarations one declaration's strings name: a key or a name itself, or a target
    such as `feature:<group key>.<feature>` / `column:<source key>.<column>`; and its
    namesakes (its kind, its short name). `model`: see _strings."""
    strings: set[str] = set()
    _strings(decl, strings, model)
    found: set[str] = set()
    for s in strings:
        tail = s.partition(":")[2] or s
        for candidate in (s, tail, tail.rpartition(".")[0]):
            hit = keys.get(candidate)
            if hit:
                found.update(hit)
    section, _, key = own.partition(":")
    found.update(i for i in keys.get(key.rpartition(".")[2], ()) if i.partition(":")[0] == section)
    found.discard(own)
    return found


def _graph_down(program: ir.Program) -> dict[str, set[str]]:
    """Per declaration, the declarations the program graph's edges lead to from it (a step's
    edges are its flow's)."""
    from mlc.compiler.graph import build_graph

    g = build_graph(program)
    section = {"source": "sources", "entity": "entities", "features": "feature_groups", "model": "models",
               "signal": "signals", "artifact": "artifacts", "flow": "flows"}

    def declaration(node: str) -> str | None:
        kind, _, key = node.partition(":")
        if kind == "step":
            return decl_id("flows", g.nodes[node]["flow"]) if node in g.nodes and "flow" in g.nodes[node] else None
        return decl_id(section[kind], key) if kind in section else None

    out: dict[str, set[str]] = {}
    for u, v in g.edges():
        a, b = declaration(u), declaration(v)
        if a is not None and b is not None and a != b:
            out.setdefault(a, set()).add(b)
    return out


def relations(program: ir.Program, only: set[str] | None = None, index: Index | None = None
              ) -> tuple[dict[str, str], dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(owner, up, down) of the program's declarations (of `only`, when given); `index`: of every
    declaration of the whole, when the program is a part of it."""
    from pydantic import BaseModel

    keys = index if index is not None else _index(ident for ident, _ in declarations(program))
    graph = _graph_down(program)
    owner, up, down = {}, {}, {}
    for ident, decl in declarations(program):
        if only is not None and ident not in only:
            continue
        if decl.loc is not None:
            owner[ident] = decl.loc.file
        mentioned = _mentions(decl, ident, keys, BaseModel)
        made = mentioned & graph.get(ident, set())
        up[ident] = frozenset(mentioned - made)
        if made:  # most declarations make nothing: not stored
            down[ident] = frozenset(made)
    return owner, up, down


# ---------------------------------------------------------------------------------- anchors
class Anchors:
    """The declaration whose extent holds a span, from the files' summaries (a file's
    extents are listed when one of its spans is asked about)."""

    def __init__(self, summaries: Iterable[Summary]) -> None:
        self.summaries = {s.path: s for s in summaries}
        self.by_file: dict[str, list] = {}

    def _extents(self, file: str) -> list:
        from mlc.compiler.lower import SECTION

        found = self.by_file.get(file)
        if found is None:
            s = self.summaries.get(file)
            found = self.by_file[file] = [] if s is None else [
                (sym.extent, decl_id(SECTION[sym.kind], qualify(sym.package, sym.name)))
                for sym in s.symbols if sym.extent is not None and sym.kind in SECTION]
        return found

    def of(self, d: Diagnostic) -> str | None:
        span = d.span
        if span is None:
            return None
        for extent, ident in self._extents(span.file):
            if span.within(extent):
                return ident
        return None

    def file(self, findings: Iterable[Diagnostic]) -> dict[str, tuple[Diagnostic, ...]] | None:
        """The findings by declaration; None if one has none."""
        out: dict[str, list[Diagnostic]] = {}
        for d in findings:
            ident = self.of(d)
            if ident is None:
                return None
            out.setdefault(ident, []).append(d)
        return {k: tuple(v) for k, v in out.items()}


def _by_file(findings: Iterable[Diagnostic], files: Iterable[str]) -> dict[str, tuple[Diagnostic, ...]] | None:
    out: dict[str, list[Diagnostic]] = {f: [] for f in files}
    for d in findings:
        if d.span is None or d.span.file not in out:
            return None
        out[d.span.file].append(d)
    return {k: tuple(v) for k, v in out.items() if v}


def state_of(program: ir.Program, summaries: list[Summary], files: list[str], resolver: list[Diagnostic],
             lowered: list[Diagnostic], checked: list[Diagnostic], validated: list[Diagnostic] | None
             ) -> State | None:
    """The state a full check leaves, or None when a finding cannot be filed (the next
    check is then a full one too)."""
    anchors = Anchors(summaries)
    by_decl = anchors.file(checked)
    by_file = _by_file(lowered, files)
    valid = anchors.file(validated) if validated is not None else {}
    if by_decl is None or by_file is None or valid is None or any(d.code == "E0201" for d in resolver):
        return None
    index = _index(ident for ident, _ in declarations(program))
    owner, up, down = relations(program, index=index)
    return State(owner, up, down, index, tuple(resolver), by_file, by_decl, valid if validated is not None else None)


# ---------------------------------------------------------------------------------- recheck
@dataclass
class Rechecked:
    findings: list[Diagnostic]
    state: State


def _closure(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> set[str]:
    seen = set(start)
    todo = list(seen)
    while todo:
        for n in step(todo.pop()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def _changed_names(old: Summary | None, new: Summary | None) -> set[str]:
    def names(s: Summary | None) -> set[tuple]:
        if s is None:
            return set()
        return {(sym.kind, sym.name, sym.package, sym.source_kind) for sym in s.symbols} | \
            {("unread", k, n, None) for k, n in s.unread}
    return {t[1] for t in names(old) ^ names(new)}


class Fallback(Exception):
    """The edit's effect cannot be bounded here: check the whole program."""


def recheck(units: list, summaries: list[Summary], previous, cache, lower: Callable[[object, Resolver], tuple],
            validate: Callable[[ir.Program], list[Diagnostic]] | None) -> Rechecked | None:
    """The findings of a check of `units`, from `previous` (a snapshot with a State) and what
    the edit reaches; None when the whole program has to be checked (see the module doc).
    `lower(unit, resolver)` -> (fragment, what lowering reported), the fragment cached."""
    try:
        return _recheck(units, summaries, previous, cache, lower, validate)
    except Fallback:
        return None


def _cached(cache, key: str | None):
    """A file's IR fragment from the cache (behind whatever fingerprint), or None."""
    from mlc.dsl.files import unpickle

    data = cache.get_bytes("ir", key) if key else None
    return unpickle(data[_FINGERPRINT:]) if data is not None else None


def _recheck(units, summaries, previous, cache, lower, validate) -> Rechecked:
    from mlc.compiler.checks import run_checks
    from mlc.compiler.driver import resolve_program
    from mlc.compiler.lower import assemble

    state: State | None = getattr(previous, "state", None)
    if state is None or previous.validated != (validate is not None) or any(u.package for u in units):
        raise Fallback
    displays = [u.display for u in units]
    now = {u.display: u for u in units}
    summary = dict(zip(displays, summaries))
    # the last run's files (a check of a few files leaves the others' entries in the snapshot)
    last = {f: previous.files[f] for f in previous.program if f in previous.files}
    removed = [f for f in last if f not in now]
    edited = [u for u in units if (e := last.get(u.display)) is None or e.key != u.key]
    if len(edited) + len(removed) > _LARGEST * len(units):
        raise Fallback  # most of the program is new: nothing to save
    same_names = not removed and all(u.display in last and
                                     last[u.display].summary.fingerprint() == summary[u.display].fingerprint()
                                     for u in edited)
    resolver = Resolver(summaries)
    resolved = list(resolver.diagnostics)
    resolver.diagnostics.clear()
    if any(d.code == "E0201" for d in resolved):
        raise Fallback

    # 1. the files to lower again: the edited ones, and those whose lookups changed meaning.
    # A file looks up only names written in it: one whose text holds none of the names
    # declared, removed or renamed cannot be one of them.
    relower = {u.display for u in edited}
    fragments: dict[str, Fragment] = {}
    if not same_names:
        names: set[str] = set()
        for f in removed:
            names |= _changed_names(last[f].summary, None)
        for u in edited:
            old = last.get(u.display)
            names |= _changed_names(old.summary if old else None, summary[u.display])
        for u in units:
            if u.display in relower or not any(n in u.text for n in names):
                continue
            if u.display in state.lowered:  # what lowering it reported may go away
                relower.add(u.display)
                continue
            fragment = _cached(cache, u.key)
            if fragment is None or not fragment.still_valid(resolver, u.display):
                relower.add(u.display)
            else:
                fragments[u.display] = fragment

    lowered = {f: d for f, d in state.lowered.items() if f in now}
    changed: set[str] = set()
    new_owner = dict(state.owner)
    for f in removed:
        for ident, file in state.owner.items():
            if file == f:
                changed.add(ident)
                del new_owner[ident]
    for f in sorted(relower):
        entry = last.get(f)
        # read before lowering: a file lowered again for its lookups has the same key
        old_fragment = _cached(cache, entry.key) if entry is not None and f not in state.lowered else None
        fragment, diags = lower(now[f], resolver)
        fragments[f] = fragment
        lowered.pop(f, None)
        if diags:
            lowered[f] = tuple(diags)
        new = {decl_id(s, k): d for s, decls in fragment.sections.items() for k, d in decls.items()}
        if old_fragment is not None:
            old = {decl_id(s, k): d for s, decls in old_fragment.sections.items() for k, d in decls.items()}
        else:  # not cached (lowering it reported something, see _sub_program): all of it changed
            old = {ident: None for ident, file in state.owner.items() if file == f}
        for ident in old.keys() | new.keys():
            if old.get(ident) is None or new.get(ident) is None or old[ident] != new[ident]:
                changed.add(ident)
        for ident in [i for i, file in new_owner.items() if file == f]:
            del new_owner[ident]  # implicit feature services too: the sub-program makes them again
        for ident in new:
            new_owner[ident] = f
    if any(ident.partition(":")[0] in _SHARED for ident in changed):
        raise Fallback

    # 2. what the edit reaches, on the last run's relation, bettered by what the sub-program says
    up = dict(state.up)
    down = dict(state.down)
    total = len(new_owner)
    reads_me: dict[str, set[str]] = {}
    made_by: dict[str, set[str]] = {}

    def adjacency() -> None:
        reads_me.clear()
        made_by.clear()
        for ident, ups in up.items():
            for u in ups:
                reads_me.setdefault(u, set()).add(ident)
        for ident, downs in down.items():
            for d in downs:
                made_by.setdefault(d, set()).add(ident)

    def downstream(n: str) -> Iterable[str]:
        yield from reads_me.get(n, ())
        yield from down.get(n, ())

    def upstream(n: str) -> Iterable[str]:
        yield from up.get(n, ())
        yield from made_by.get(n, ())

    index = _index(new_owner.keys() - state.owner.keys(), state.index, state.owner.keys() - new_owner.keys())
    shared = {ident for ident in new_owner if ident.partition(":")[0] in _SHARED}
    packages = {s.package for s in summaries if s.package}

    def reached(seeds: set[str], extra: set[str]) -> tuple[set[str], set[str]]:
        """(R, the sub-program's declarations) of `seeds`."""
        near = seeds | extra
        for n in seeds:
            near.update(downstream(n))
            near.update(upstream(n))
        reach = _closure(near - shared, lambda n: (m for m in downstream(n) if m not in shared))
        reach = {n for n in reach if n in new_owner}
        around = set(reach)
        for n in reach:
            around.update(downstream(n))
        context = {n for n in _closure(around, upstream) | shared if n in new_owner}
        if len(context) > _LARGEST * total:
            raise Fallback
        return reach, context

    adjacency()
    extra: set[str] = set()  # declarations the changed ones read now, found on the sub-program
    for _ in range(4):
        reach, context = reached(changed, extra)
        sub = _sub_program(context, new_owner, fragments, now, lowered, cache, lower, resolver, displays,
                           packages, assemble)
        checked = run_checks(sub, resolver)
        sub, unbound = resolve_program(sub, resolver)
        owner_r, up_r, down_r = relations(sub, reach, index)
        missing = {m for n in reach for m in up_r.get(n, ())} - context
        missing |= {m for n in reach for m in down_r.get(n, ())} - context
        if not missing:
            break
        extra |= missing
    else:
        raise Fallback

    anchors = Anchors(summaries)
    fresh = anchors.file([*checked, *unbound])
    if fresh is None:
        raise Fallback
    by_decl = {k: v for k, v in state.checked.items() if k not in reach and k in new_owner}
    by_decl.update({k: v for k, v in fresh.items() if k in reach})
    made = owner_r.keys() - new_owner.keys()
    new_owner.update(owner_r)  # implicit feature services the sub-program made
    index = _index(made, index)
    for n in reach:
        up[n] = up_r.get(n, frozenset())
        if n in down_r:
            down[n] = down_r[n]
        else:
            down.pop(n, None)
    for n in set(up) - new_owner.keys():
        del up[n]
        down.pop(n, None)

    findings = [*resolved, *(d for f in displays for d in lowered.get(f, ())),
                *(d for k in sorted(by_decl) for d in by_decl[k])]
    validated, stale = None, frozenset()
    if validate is not None and (any(d.is_error for d in findings) or
                                 any(d.is_error for u in units for d in u.diagnostics)):
        validated, stale = state.validated, state.stale | reach  # not validated now, as a full check would not
    elif validate is not None:
        if state.validated is None:
            raise Fallback  # no run had a program without errors: nothing to start from
        skipped = (state.stale & new_owner.keys()) - reach
        if skipped:  # the runs with errors since the last clean one reached these: validated now
            adjacency()
            reach, context = reached(changed | skipped, set())
            sub = resolve_program(_sub_program(context, new_owner, fragments, now, lowered, cache, lower, resolver,
                                               displays, packages, assemble), resolver)[0]
        new = anchors.file(validate(sub))
        if new is None:
            raise Fallback
        validated = {k: v for k, v in state.validated.items() if k not in reach and k in new_owner}
        validated.update({k: v for k, v in new.items() if k in reach})
        findings += dict.fromkeys(d for k in sorted(validated) for d in validated[k])
    return Rechecked(findings, State(new_owner, up, down, index, tuple(resolved), lowered, by_decl, validated, stale))


def _sub_program(context: set[str], owner: dict[str, str], fragments: dict, now: dict, reported: dict, cache,
                 lower, resolver, displays: list[str], packages: set[str], assemble):
    """The program of the `context` declarations, from their files' IR (this run's, or the
    cache's), in the files' order."""
    files = {owner[n] for n in context}
    parts = []
    for f in displays:
        if f not in files:
            continue
        fragment = fragments.get(f)
        if fragment is None:
            # a file whose lowering reported something is not cached: what the cache holds
            # under its key is from a time its names meant something else
            fragment = _cached(cache, now[f].key) if f not in reported else None
            if fragment is None:
                fragment = lower(now[f], resolver)[0]
            fragments[f] = fragment
        sections = {s: {k: d for k, d in decls.items() if decl_id(s, k) in context}
                    for s, decls in fragment.sections.items()}
        parts.append(dataclasses.replace(fragment, sections=sections))
    return assemble(parts, displays, packages)
