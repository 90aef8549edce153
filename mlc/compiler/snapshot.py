"""What the last check of a project saw, kept so that the next one can skip what did not change.

The findings (of name resolution, lowering and every check) are a function of
what each file declares (its summary) and of its declarations' syntax trees.
When an edit leaves both as they were (a comment, a trailing blank line, a file
saved again), the next run parses the edited file, finds the same trees, and
takes the findings from here: it neither loads the IR nor builds the graph nor
runs a check. This is the early cut-off of incremental build systems such as
Salsa or Shake. The snapshot also carries every file's summary, so a warm run
reads one cache file instead of one per source file; and what the last run knew
of each declaration (`incremental.State`), so that an edit that does change
declarations is checked on what it reaches only.

A file whose stat signature (`Entry.stat`) is what the last run saw is taken as it was,
without reading or hashing it: git's index does the same. The signature is kept only for a
file last modified before the run started reading (less a margin, `RACY_NS`): a file written
in the same timestamp tick as it was read could be written again in that tick and keep its
signature (git's "racy timestamp" rule); such a file is read and hashed again next time.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from functools import cached_property

from mlc.compiler.incremental import State
from mlc.compiler.resolve import Summary
from mlc.diagnostics import Diagnostic
from mlc.dsl.files import ParseCache, unpickle

_KIND, _NAME = "snapshot", "project"
# a file modified less than this before the run started reading it is racy (see the module
# doc): more than the coarsest timestamp tick of common filesystems (FAT's 2 s)
RACY_NS = 2_000_000_000

Signature = tuple[int, int, int, int]  # (mtime_ns, size, inode, device)


def signature(path: str) -> Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev


def trusted(sig: Signature | None, read_ns: int) -> Signature | None:
    """The signature to keep for a file stat'ed (then read) by a run that started reading at
    `read_ns`: None when the file is racy (modified in the last `RACY_NS` before it)."""
    return sig if sig is not None and sig[0] < read_ns - RACY_NS else None


@dataclass(frozen=True, slots=True)
class Entry:
    """One source file as a run saw it."""

    key: str  # the hash of its text (see ParseCache.key)
    summary: Summary
    diagnostics: tuple[Diagnostic, ...]  # from reading and parsing it
    stat: Signature | None = None  # as it was read; None: racy, or not a file (see the module doc)
    digest: bytes | None = None  # of its summary (driver._digest)


@dataclass(frozen=True)
class Snapshot:
    salt: str  # the cache's salt: another mlc version, grammar or compiler never matches
    files: dict[str, Entry]  # by display path: every file a run saw that still exists
    program: tuple[str, ...]  # the files the last run checked, in order
    findings: tuple[Diagnostic, ...]  # what resolution, lowering and the checks reported on them
    validated: bool  # whether the findings include the backends' validation
    # the pickle of the State (see `state`): a run whose edit changed no declaration keeps it as it is
    state_data: bytes | None = None
    # by folder: the pickle of its files' entries as loaded, and those entries
    folders: dict[str, tuple[bytes, dict[str, Entry]]] = field(default_factory=dict)

    @cached_property
    def state(self) -> State | None:
        """Per declaration, for a check of what an edit reaches (incremental.py); unpickled when
        asked for (a tenth of a second on a platform of 30,000 declarations)."""
        state = unpickle(self.state_data) if self.state_data is not None else None
        return state if isinstance(state, State) else None


@dataclass(frozen=True, slots=True)
class _Stored:
    """The snapshot as stored: the entries pickled by folder, so that a run that changed a
    few files pickles only their folders' entries again (all of them cost a third of a
    second on a platform of 2,000 files, more than the rest of a warm check's own work)."""

    salt: str
    folders: dict[str, bytes]
    program: tuple[str, ...]
    findings: tuple[Diagnostic, ...]
    validated: bool
    state: bytes | None  # pickled


def _folder(display: str) -> str:
    return display.rpartition("/")[0]


def load(cache: ParseCache) -> Snapshot | None:
    stored = cache.get(_KIND, _NAME)
    if not isinstance(stored, _Stored) or stored.salt != cache.salt:
        return None
    files: dict[str, Entry] = {}
    folders = {}
    for folder, data in stored.folders.items():
        entries = unpickle(data)
        if not isinstance(entries, dict):
            return None
        files.update(entries)
        folders[folder] = (data, entries)
    return Snapshot(stored.salt, files, stored.program, stored.findings, stored.validated, stored.state, folders)


def save(cache: ParseCache, previous: Snapshot | None, current: dict[str, Entry],
         findings: tuple[Diagnostic, ...], validated: bool, state: State | bytes | None) -> None:
    """Stores what this run saw (`current`, in check order) over `previous`, and `state` (or its
    pickle, `Snapshot.state_data`, unchanged). Files this run
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
    by_folder: dict[str, dict[str, Entry]] = {}
    for display, entry in files.items():
        by_folder.setdefault(_folder(display), {})[display] = entry
    known = previous.folders if previous is not None else {}
    folders = {}
    for folder, entries in sorted(by_folder.items()):
        data, was = known.get(folder, (None, {}))
        if data is None or was.keys() != entries.keys() or any(
                (old := was[d]).key != e.key or old.summary is not e.summary or old.diagnostics != e.diagnostics
                or old.stat != e.stat
                for d, e in entries.items()):
            data = pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL)
        folders[folder] = data
    if isinstance(state, State):
        state = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    cache.put(_KIND, _NAME, _Stored(cache.salt, folders, tuple(current), findings, validated, state))
