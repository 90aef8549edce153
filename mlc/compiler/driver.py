"""The pipeline every command shares: read -> parse (cached) -> lower -> check.

It never raises on bad input: problems come back as diagnostics, with the
source text kept for rendering.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlc.diagnostics import Diagnostic, Severity, SourceMap
from mlc.dsl import ast as A
from mlc.compiler import ir
from mlc.compiler.project import Project

CACHE_DIR = ".mlc_cache"


@dataclass
class Result:
    project: Project
    modules: list[A.Module] = field(default_factory=list)
    program: ir.Program | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: SourceMap = field(default_factory=SourceMap)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity is Severity.WARNING)


def parse_project(project: Project, use_cache: bool = True) -> Result:
    from mlc.dsl.files import ParseCache, read_source
    from mlc.dsl.parser import get_parser, grammar_text

    result = Result(project)
    cache = ParseCache(project.root / CACHE_DIR, grammar_text()) if use_cache else None
    parser = None
    for path in project.files:
        display = project.display(path)
        text, diags = read_source(path, display)
        result.diagnostics.extend(diags)
        if text is None:
            continue
        result.sources.add(display, text)
        key = cache.key(display, text) if cache else None
        cached = cache.get(key) if cache and key else None
        if cached is None:
            parser = parser or get_parser()
            cached = parser.parse(text, display)
            if cache and key:
                cache.put(key, cached)
        module, diags = cached
        result.modules.append(module)
        result.diagnostics.extend(diags)
    return result


def _stdlib_modules(result: Result) -> list[A.Module]:
    """The standard-library modules the project imports, parsed (they are .flow files too)."""
    from mlc.dsl.parser import get_parser
    from mlc.stdlib import stdlib_file

    wanted = sorted({d.module.dotted for m in result.modules for d in m.decls
                     if isinstance(d, A.ImportDecl) and d.module.dotted.startswith("std.")})
    modules = []
    for name in wanted:
        found = stdlib_file(name)
        if found is None:
            continue  # reported as an unknown module by the resolver
        display, text = found
        result.sources.add(display, text)
        module, diags = get_parser().parse(text, display)
        result.diagnostics.extend(diags)
        modules.append(module)
    return modules


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
    from mlc.compiler.lower import Lowering

    result = parse_project(project, use_cache)
    lowering = Lowering(result.modules + _stdlib_modules(result))
    program = lowering.program()
    result.program = program
    result.diagnostics.extend(lowering.diagnostics)
    result.diagnostics.extend(run_checks(program, lowering.resolver))
    result.diagnostics.sort(key=Diagnostic.sort_key)
    return result


def write_ir(program: ir.Program, out: Path) -> Path:
    target = out / "ir.json"
    target.write_text(program.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    return target
