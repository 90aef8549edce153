"""`lint(result, config, baseline)`: the diagnostics of a check, with lint policy applied.

In order: findings the settings turn off (`select`, `ignore`, `per-file-ignores`) are dropped;
inline suppressions hide what they name, and W0901/W0902 report the suppressions themselves;
severities are re-graded (`[lint.severity]`); a baseline accepts the findings it holds.
Errors (`E` codes) pass through every stage untouched.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mlc.diagnostics import Diagnostic, Severity, SourceMap
from mlc.lint import suppress
from mlc.lint.baseline import Baseline, Fingerprinter, filter_new
from mlc.lint.config import LintConfig, relative_to_root


@dataclass
class LintReport:
    diagnostics: list[Diagnostic]
    sources: SourceMap
    files: list[str]  # every linted file, as displayed
    root: Path
    findings: list[Diagnostic] = field(default_factory=list)  # before the baseline
    disabled: int = 0  # turned off by the settings
    suppressed: int = 0  # hidden by inline suppressions
    baselined: int = 0  # accepted by the baseline
    stale: int = 0  # baseline entries that matched nothing

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.diagnostics if d.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    @property
    def notes(self) -> int:
        return self.count(Severity.NOTE)

    @property
    def failed(self) -> bool:
        """Exit code 1: an error or a warning remains (notes never fail)."""
        return self.errors > 0 or self.warnings > 0

    def rel(self, display: str) -> str:
        return _rel(display, self.root)

    def fingerprinter(self) -> Fingerprinter:
        return Fingerprinter(self.sources, self.rel)


_MAYBE = re.compile(r"(?i)mlc\s*:\s*ignore")


@lru_cache(maxsize=4096)
def _rel(display: str, root: Path) -> str:
    return relative_to_root(display, root)


def lint(result, cfg: LintConfig, baseline: Baseline | None = None) -> LintReport:
    """`result` is a `compiler.driver.Result`."""
    project = result.project
    report = LintReport([], result.sources, [project.display(p) for p in project.files], project.root)

    def on(d: Diagnostic) -> bool:
        return cfg.enabled(d.code, report.rel(d.span.file) if d.span else None)

    diags = [d for d in result.diagnostics if on(d)]
    report.disabled = len(result.diagnostics) - len(diags)

    suppressions: list[suppress.Suppression] = []
    problems: list[Diagnostic] = []
    for name, text in result.sources.texts.items():
        if name.startswith("<") or not _MAYBE.search(text):
            continue
        found, bad = suppress.scan(name, text)
        suppressions += found
        problems += bad
    if suppressions:
        suppress.attach_extents(suppressions, (s.extent for summary in result.summaries
                                               for s in summary.symbols if s.extent is not None))
    diags, report.suppressed = suppress.apply(diags, suppressions)
    diags += [d for d in problems + suppress.unused(suppressions) if on(d)]

    if cfg.severity:
        diags = [_regrade(d, cfg.severity_of(d.code, d.severity)) for d in diags]
    diags.sort(key=Diagnostic.sort_key)
    report.findings = diags
    if baseline is not None:
        diags, report.baselined, report.stale = filter_new(diags, baseline, report.fingerprinter())
    report.diagnostics = diags
    return report


def _regrade(d: Diagnostic, severity: Severity) -> Diagnostic:
    if d.severity is severity or d.code.startswith("E"):
        return d
    return dataclasses.replace(d, severity=severity)
