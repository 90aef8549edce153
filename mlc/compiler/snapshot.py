"""What the last check of a project saw, kept so that the next one can skip what did not change.

The findings (of name resolution, lowering and every check) are a function of
what each file declares (its summary) and of its declarations' syntax trees.
When an edit leaves both as they were (a comment, a trailing blank line, a file
saved again), the next run parses the edited file, finds the same trees, and
takes the findings from here: it neither loads the IR nor builds the graph nor
runs a check. This is the early cut-off of incremental build systems such as
Salsa or Shake. The snapshot also carries every file's summary, so a warm run
reads one cache file instead of one per source file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlc.compiler.resolve import Summary
from mlc.diagnostics import Diagnostic
from mlc.dsl.files import ParseCache

_KIND, _NAME = "snapshot", "project"


@dataclass(frozen=True, slots=True)
class Entry:
    """One source file as a run saw it."""

    key: str  # the hash of its text (see ParseCache.key)
    summary: Summary
    diagnostics: tuple[Diagnostic, ...]  # from reading and parsing it


@dataclass(frozen=True, slots=True)
class Snapshot:
    salt: str  # the cache's salt: another mlc version, grammar or compiler never matches
    files: dict[str, Entry]  # by display path: every file a run saw that still exists
    program: tuple[str, ...]  # the files the last run checked, in order
    findings: tuple[Diagnostic, ...]  # what resolution, lowering and the checks reported on them
    validated: bool  # whether the findings include the backends' validation


def load(cache: ParseCache) -> Snapshot | None:
    snap = cache.get(_KIND, _NAME)
    return snap if isinstance(snap, Snapshot) and snap.salt == cache.salt else None


def save(cache: ParseCache, previous: Snapshot | None, current: dict[str, Entry],
         findings: tuple[Diagnostic, ...], validated: bool) -> None:
    """Stores what this run saw (`current`, in check order) over `previous`. Files this run
    did not read (a check of a few files) keep their entries while they exist; the cache
    entries of a file's earlier texts are dropped: it keeps what the project is, not every
    version each file ever had."""
    files = {}
    if previous is not None:
        for display, old in previous.files.items():
            new = current.get(display)
            if new is None and (display.startswith("<") or os.path.exists(display)):
                files[display] = old
            elif new is None or new.key != old.key:
                for kind in ("parse", "ast", "ir"):
                    cache.drop(kind, old.key)
    files.update(current)
    cache.put(_KIND, _NAME, Snapshot(cache.salt, files, tuple(current), findings, validated))
