"""Inline suppressions: `# mlc: ignore[W0403]` or `# mlc: ignore[W0403, W0410]`.

A suppression comment on a line suppresses the named codes for the diagnostics whose primary
span starts on that line. On the first line of a declaration it suppresses them within the
whole declaration (its extent, from the file's summary). Only warnings can be suppressed.

`W0901` reports a suppression (one code of it) that suppressed nothing; `W0902` a suppression
that names no code, an unknown code or an error code. Neither can itself be suppressed inline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from mlc.diagnostics import Diagnostic, Span, did_you_mean, warning
from mlc.lint.registry import CODE_RE, REGISTRY

_DIRECTIVE = re.compile(r"mlc\s*:\s*ignore\b(\s*\[(?P<codes>[^\]]*)\]?)?", re.IGNORECASE)
_ITEM = re.compile(r"[^,\s]+")
UNUSED, INVALID = "W0901", "W0902"


@dataclass
class Suppression:
    file: str
    line: int
    codes: dict[str, Span]  # each suppressed code and where it is written in the comment
    extent: Span | None = None  # set when the comment is on the first line of a declaration
    used: set[str] = field(default_factory=set)
    comment: Span | None = None

    def covers(self, d: Diagnostic) -> bool:
        s = d.span
        if s is None or s.file != self.file or d.code not in self.codes:
            return False
        if s.line == self.line:
            return True
        e = self.extent
        return e is not None and (e.line, e.col) <= (s.line, s.col) < (e.end_line, e.end_col)


def comments(text: str, yaml: bool = False) -> Iterable[tuple[int, int, str]]:
    """(line, column of `#`, comment text) for every comment: `#` outside a string to the end of
    its line. Strings are double-quoted and end on their line; YAML also has single quotes, and
    its `#` starts a comment only at the start of a line or after whitespace."""
    for number, line in enumerate(text.splitlines(), start=1):
        if "#" not in line:
            continue
        quote = None
        i = 0
        while i < len(line):
            ch = line[i]
            if quote:
                if ch == "\\" and quote == '"':
                    i += 2
                    continue
                if ch == quote:
                    if yaml and quote == "'" and line[i + 1:i + 2] == "'":  # '' inside '...'
                        i += 2
                        continue
                    quote = None
            elif ch == '"' or (yaml and ch == "'" and (i == 0 or not line[i - 1].isalnum())):
                quote = ch
            elif ch == "#" and (not yaml or i == 0 or line[i - 1] in " \t"):
                yield number, i + 1, line[i:]
                break
            i += 1


def scan(file: str, text: str) -> tuple[list[Suppression], list[Diagnostic]]:
    """Every suppression comment of one file, and a W0902 for each malformed one."""
    yaml = file.endswith((".yaml", ".yml"))
    found: list[Suppression] = []
    problems: list[Diagnostic] = []
    for line, col, comment in comments(text, yaml):
        for m in _DIRECTIVE.finditer(comment):
            start = col + m.start()
            whole = Span(file, line, start, line, col + m.end())
            if m.group("codes") is None or not m.group(1).rstrip().endswith("]"):
                problems.append(warning(INVALID, "a suppression names the codes it suppresses", whole,
                                        help="write `# mlc: ignore[CODE]`, e.g. `# mlc: ignore[W0403]`"))
                continue
            inner = col + m.start("codes")
            codes: dict[str, Span] = {}
            items = list(_ITEM.finditer(m.group("codes")))
            if not items:
                problems.append(warning(INVALID, "a suppression names the codes it suppresses", whole,
                                        help="write `# mlc: ignore[CODE]`, e.g. `# mlc: ignore[W0403]`"))
                continue
            for item in items:
                code = item.group().upper()
                span = Span(file, line, inner + item.start(), line, inner + item.end())
                if not CODE_RE.match(code) or code not in REGISTRY:
                    problems.append(warning(INVALID, f"`{item.group()}` is not a diagnostic code", span,
                                            help=did_you_mean(code, REGISTRY)
                                            or "`mlc rule` lists every code"))
                elif code.startswith("E"):
                    problems.append(warning(INVALID, f"`{code}` is an error; errors cannot be suppressed",
                                            span, notes=("a program with errors does not compile; fix it",)))
                elif not REGISTRY[code].inline:
                    problems.append(warning(INVALID, f"`{code}` cannot be suppressed inline", span,
                                            help="remove the suppression it reports, or ignore the code "
                                                 "in the [lint] settings"))
                else:
                    codes.setdefault(code, span)
            if codes:
                found.append(Suppression(file, line, codes, comment=whole))
    return found, problems


def attach_extents(suppressions: list[Suppression], extents: Iterable[Span]) -> None:
    """A suppression on the first line of a declaration covers the declaration."""
    first_lines: dict[tuple[str, int], Span] = {}
    for e in extents:
        key = (e.file, e.line)
        old = first_lines.get(key)
        if old is None or (e.end_line, e.end_col) > (old.end_line, old.end_col):
            first_lines[key] = e
    for s in suppressions:
        s.extent = first_lines.get((s.file, s.line))


def apply(diagnostics: list[Diagnostic], suppressions: list[Suppression]) -> tuple[list[Diagnostic], int]:
    """The diagnostics no suppression covers, and how many were suppressed. Marks what each
    suppression used."""
    by_file: dict[str, list[Suppression]] = {}
    for s in suppressions:
        by_file.setdefault(s.file, []).append(s)
    kept: list[Diagnostic] = []
    hidden = 0
    for d in diagnostics:
        covering = [s for s in by_file.get(d.span.file, ()) if s.covers(d)] if d.span else []
        if covering:
            hidden += 1
            for s in covering:
                s.used.add(d.code)
        else:
            kept.append(d)
    return kept, hidden


def unused(suppressions: list[Suppression]) -> list[Diagnostic]:
    out = []
    for s in suppressions:
        left = [c for c in s.codes if c not in s.used]
        for code in left:
            where = "this line" if s.extent is None else "this line or its declaration"
            fix = "remove the comment" if len(left) == len(s.codes) else f"remove `{code}` from the comment"
            out.append(warning(UNUSED, f"unused suppression: no `{code}` finding on {where}", s.codes[code],
                               help=fix))
    return out
