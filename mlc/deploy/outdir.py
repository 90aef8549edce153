"""Writing a compiled bundle into its output folder: whole or not at all, and never over
anything mlc did not write.

`mlc compile --out DIR` replaces DIR. That is safe only for a folder mlc itself wrote
(it holds the marker file `MARKER`), an empty folder, or one that does not exist yet.
Anything else — the project itself, a folder that holds the project, a shared DAG
folder with other people's files in it — is refused with `OutputRefused` before a byte
is written, as terraform refuses to overwrite state it does not own.

The new bundle is written beside DIR, then swapped in with one rename, so a reader sees
the old bundle or the new one, never half of either. A local env's data folder inside DIR
(`files("build/s3")` with `--out build`, as the examples bind it) is moved into the new folder
first: a recompile must not delete the offline tables and artifacts the last runs wrote. Folders and files get ordinary
permissions (the umask's); a replaced folder keeps its mode.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from mlc.dsl.files import default_mode

MARKER = ".mlc-output"
MARKER_TEXT = ("This folder was written by `mlc compile` and is replaced whole by the next one.\n"
               "Do not keep other files here: mlc refuses to replace a folder without this file.\n")


class OutputRefused(Exception):
    """The output folder cannot be replaced; the message says why and what to do."""


class _File(Protocol):
    path: str
    text: str


def check_output(out: Path, protected: Iterable[Path]) -> None:
    """Raises OutputRefused unless `out` may be replaced by a new bundle.

    `protected` are the folders and files that must survive (the project root and its
    source files): `out` may not be one of them nor hold one."""
    out = out.resolve()
    for p in protected:
        p = p.resolve()
        if p == out or out in p.parents:
            what = "the project" if p.is_dir() else f"the source file {p}"
            raise OutputRefused(f"--out {out} would replace {what}: compiled output needs a folder of its "
                                "own (for example --out build)")
    if out.exists() and not out.is_dir():
        raise OutputRefused(f"--out {out} is a file, not a folder")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise OutputRefused(f"--out {out} is not empty and was not written by mlc (it has no {MARKER} file); "
                            "mlc replaces its output folder whole, so it would delete what is there. Choose "
                            "a new or empty folder, or remove this one's contents first")


def write_output(out: Path, files: Iterable[_File], protected: Iterable[Path] = (),
                 keep: Iterable[Path] = ()) -> None:
    """Writes every file into a fresh folder beside `out`, then swaps it in (see the module doc).
    `keep`: folders of data inside `out` that the new bundle takes over as they are (a local
    env's `files("build/s3")` under `--out build`): moved, not copied, into the new folder."""
    protected = list(protected)
    check_output(out, protected)
    out = out.resolve()
    kept = sorted({k.resolve().relative_to(out) for k in keep if out in k.resolve().parents})
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        os.chmod(staging, out.stat().st_mode & 0o7777 if out.is_dir() else default_mode(0o777))
        for f in files:
            target = (staging / f.path).resolve()
            if staging not in target.parents:
                raise ValueError(f"artifact path escapes the output folder: {f.path}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.text, encoding="utf-8")
        (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        # checked again just before the swap: the folder may have changed while we wrote
        check_output(out, protected)
        for rel in kept:
            if (staging / rel).exists() or any((staging / p).is_file() for p in rel.parents):
                raise OutputRefused(f"the bundle writes {out / rel}, where an env keeps its data: bind "
                                    "that connector's root elsewhere, or choose another --out")
        moved = _carry(out, staging, kept)
        old = None
        try:
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.replace(out, old / "previous")
            os.replace(staging, out)
        except OSError:
            _carry(staging, out, moved)  # the data goes back where it was
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _carry(src: Path, dst: Path, rels: Iterable[Path]) -> list[Path]:
    """Moves each folder `rels` that exists under `src` to the same place under `dst` (one
    rename each: the same filesystem); returns those moved."""
    moved = []
    for rel in rels:
        if (src / rel).exists() and not (dst / rel).exists():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src / rel, dst / rel)
            moved.append(rel)
    return moved
