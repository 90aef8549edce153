"""The pipeline every command shares: read -> parse -> resolve -> lower -> check.

It never raises on bad input: problems come back as diagnostics, with the
source text kept for rendering.

Incremental by content: each file's parse (its AST, and a small summary of
what it declares and imports) is cached by the hash of its text, and its
lowered IR by that hash plus the fingerprint of every file's summary. After
an edit that does not change what any file declares, only the edited file is
parsed and lowered again; the checks then run on the whole program.
"""

from __future__ import annotations

import gc
import hashlib
import pickle
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlc.diagnostics import Diagnostic, Severity, SourceMap
from mlc.dsl import ast as A
from mlc.compiler import ir
from mlc.compiler.project import Project
from mlc.compiler.resolve import Summary

CACHE_DIR = ".mlc_cache"


@dataclass
class Result:
    project: Project
    program: ir.Program | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: SourceMap = field(default_factory=SourceMap)
    summaries: list[Summary] = field(default_factory=list)

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
class _Unit:
    """One source file on its way through the pipeline."""

    display: str
    text: str
    key: str | None
    summary: Summary
    module: A.Module | None


@contextmanager
def _gc_paused():
    """The compiler allocates millions of small acyclic objects: the cyclic collector would
    re-scan them all on every generation-2 pass (measured: 3x the run time) and find nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check(project: Project, use_cache: bool = True) -> Result:
    """Parses, resolves and lowers the whole project, then runs every check on the IR."""
    with _gc_paused():
        return _check(project, use_cache)


def _check(project: Project, use_cache: bool) -> Result:
    from mlc.compiler.checks import run_checks
    from mlc.compiler.lower import Lowering, assemble
    from mlc.compiler.resolve import Resolver
    from mlc.dsl.files import ParseCache
    from mlc.dsl.parser import grammar_text

    result = Result(project)
    cache = ParseCache(project.root / CACHE_DIR, grammar_text()) if use_cache else None
    units = _read_units(project, result, cache)
    units += _stdlib_units(units, result)
    result.summaries = [u.summary for u in units]
    resolver = Resolver(result.summaries)
    result.diagnostics.extend(resolver.diagnostics)
    resolver.diagnostics.clear()
    fingerprint = hashlib.sha256(pickle.dumps([s.fingerprint() for s in result.summaries])).hexdigest()
    lowering = Lowering(resolver)
    fragments = []
    for u in units:
        ir_key = f"{u.key}-{fingerprint}" if u.key else None
        fragment = cache.get("ir", ir_key) if cache and ir_key else None
        if fragment is None:
            module = u.module or (cache.get("ast", u.key) if cache and u.key else None) or _parse(u)[0]
            before = len(lowering.diagnostics)
            fragment = lowering.module(module)
            if cache and ir_key and len(lowering.diagnostics) == before:
                cache.put("ir", ir_key, fragment)
        fragments.append(fragment)
    result.diagnostics.extend(lowering.diagnostics)
    program = assemble(fragments, [u.display for u in units],
                       {u.summary.package for u in units if u.summary.package})
    result.program = program
    result.diagnostics.extend(run_checks(program, resolver))
    result.diagnostics.sort(key=Diagnostic.sort_key)
    return result


def _parse(u: _Unit) -> tuple[A.Module, list[Diagnostic]]:
    from mlc.dsl.parser import get_parser

    if u.display.endswith((".flow.yaml", ".flow.yml")):
        from mlc.dsl.yaml_front import parse_yaml

        return parse_yaml(u.text, u.display)
    return get_parser().parse(u.text, u.display)


def _read_units(project: Project, result: Result, cache) -> list[_Unit]:
    from mlc.compiler.resolve import summarize
    from mlc.dsl.files import read_source

    units = []
    for path in project.files:
        display = project.display(path)
        text, diags = read_source(path, display)
        result.diagnostics.extend(diags)
        if text is None:
            continue
        result.sources.add(display, text)
        key = cache.key(display, text) if cache else None
        cached = cache.get("summary", key) if cache and key else None
        module = None
        if cached is None:
            unit = _Unit(display, text, key, None, None)  # type: ignore[arg-type]
            module, diags = _parse(unit)
            cached = (summarize(module), diags)
            if cache and key:
                cache.put("ast", key, module)
                cache.put("summary", key, cached)
        summary, diags = cached
        result.diagnostics.extend(diags)
        units.append(_Unit(display, text, key, summary, module))
    return units


def _stdlib_units(units: list[_Unit], result: Result) -> list[_Unit]:
    """The standard-library modules the project imports (they are .flow files too)."""
    from mlc.compiler.resolve import summarize
    from mlc.stdlib import stdlib_file

    wanted = sorted({d.module.dotted for u in units for d in u.summary.imports
                     if d.module.dotted.startswith("std.")})
    out = []
    for name in wanted:
        found = stdlib_file(name)
        if found is None:
            continue  # reported as an unknown module by the resolver
        display, text = found
        result.sources.add(display, text)
        unit = _Unit(display, text, None, None, None)  # type: ignore[arg-type]
        module, diags = _parse(unit)
        result.diagnostics.extend(diags)
        out.append(_Unit(display, text, None, summarize(module), module))
    return out
