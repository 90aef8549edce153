"""Noticing that a project's sources changed: a poll of their names, sizes and modification
times (no inotify dependency; a project is at most thousands of small files)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

Snapshot = tuple[tuple[str, int, int], ...]


def snapshot(files: list[Path]) -> Snapshot:
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue  # removed: its absence changes the snapshot
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


class Watcher:
    """`changed()` is True once for each change to the files `list_files()` names (re-listed at
    every poll, so a new `.flow` file counts too)."""

    def __init__(self, list_files: Callable[[], list[Path]]) -> None:
        self.list_files = list_files
        self.last = snapshot(list_files())

    def changed(self) -> bool:
        now = snapshot(self.list_files())
        if now == self.last:
            return False
        self.last = now
        return True
