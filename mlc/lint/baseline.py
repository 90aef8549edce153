"""Baselines: the findings a team accepts for now, so that lint can gate only new ones.

A finding is fingerprinted by its code, its file (relative to the project root), its message
and the text of its source line (stripped of indentation) — not by line numbers, so edits
elsewhere in the file keep the baseline valid. Identical findings are counted: a baseline that
holds one `W0403` for a line text accepts one, and a copy of that line is a new finding.

The file is JSON, sorted, one entry per fingerprint, readable in a review:

    {
      "format_version": "1.0",
      "tool": "mlc lint",
      "findings": [
        {"code": "W0403", "file": "flows.flow", "message": "...", "source": "step extra bash(\\"echo\\")",
         "fingerprint": "3f0c...", "count": 1}
      ]
    }

Errors are never written to a baseline: they are not a policy (the program does not compile).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mlc.diagnostics import Diagnostic, SourceMap

FORMAT_VERSION = "1.0"


class BaselineError(Exception):
    """An unreadable or malformed baseline file: a usage error (exit code 2)."""


def fingerprint(code: str, file: str, message: str, source_line: str) -> str:
    data = "\x1f".join((code, file, message, source_line.strip()))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


@dataclass
class Entry:
    code: str
    file: str
    message: str
    source: str
    count: int = 1

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.code, self.file, self.message, self.source)


@dataclass
class Baseline:
    entries: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> "Baseline":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise BaselineError(f"no baseline at {path}; create it with `mlc lint --baseline {path} "
                                "--update-baseline`") from e
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BaselineError(f"{path}: not a baseline file: {e}") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
            raise BaselineError(f"{path}: not a baseline file (no `findings` list)")
        major = str(doc.get("format_version", "")).split(".")[0]
        if major != FORMAT_VERSION.split(".")[0]:
            raise BaselineError(f"{path}: baseline format {doc.get('format_version')!r} is not supported "
                                f"(this mlc writes {FORMAT_VERSION}); write it again with --update-baseline")
        out = cls()
        for item in doc["findings"]:
            try:
                e = Entry(str(item["code"]), str(item["file"]), str(item["message"]), str(item["source"]),
                          int(item.get("count", 1)))
            except (KeyError, TypeError, ValueError) as err:
                raise BaselineError(f"{path}: malformed entry {item!r}") from err
            # The fingerprint is recomputed from the fields: hand edits stay consistent.
            if e.fingerprint in out.entries:
                out.entries[e.fingerprint].count += e.count
            else:
                out.entries[e.fingerprint] = e
        return out

    def to_json(self) -> str:
        findings = [
            {"code": e.code, "file": e.file, "message": e.message, "source": e.source,
             "fingerprint": fp, "count": e.count}
            for fp, e in sorted(self.entries.items(), key=lambda kv: (kv[1].file, kv[1].code, kv[1].message,
                                                                      kv[1].source))]
        doc = {"format_version": FORMAT_VERSION, "tool": "mlc lint", "findings": findings}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self.to_json())
        os.replace(tmp, path)

    @property
    def total(self) -> int:
        return sum(e.count for e in self.entries.values())


class Fingerprinter:
    """Entries for diagnostics: files made root-relative, lines quoted from the sources."""

    def __init__(self, sources: SourceMap, rel: Callable[[str], str]) -> None:
        self.sources = sources
        self.rel = rel

    def entry(self, d: Diagnostic) -> Entry:
        if d.span is None:
            return Entry(d.code, "", d.message, "")
        line = self.sources.line(d.span.file, d.span.line) or ""
        return Entry(d.code, self.rel(d.span.file), d.message, line.strip())


def build(diagnostics: list[Diagnostic], fp: Fingerprinter) -> Baseline:
    out = Baseline()
    for d in diagnostics:
        if d.code.startswith("E"):
            continue
        e = fp.entry(d)
        key = e.fingerprint
        if key in out.entries:
            out.entries[key].count += 1
        else:
            out.entries[key] = e
    return out


def filter_new(diagnostics: list[Diagnostic], baseline: Baseline,
               fp: Fingerprinter) -> tuple[list[Diagnostic], int, int]:
    """The diagnostics the baseline does not accept, how many it accepted, and how many of its
    entries matched nothing (fixed since: `--update-baseline` drops them)."""
    budget = Counter({k: e.count for k, e in baseline.entries.items()})
    kept: list[Diagnostic] = []
    accepted = 0
    for d in diagnostics:
        if not d.code.startswith("E"):
            key = fp.entry(d).fingerprint
            if budget[key] > 0:
                budget[key] -= 1
                accepted += 1
                continue
        kept.append(d)
    return kept, accepted, sum(budget.values())
