"""Spans, source files and diagnostics: the ground floor every layer uses.

Diagnostics are data. Every stage collects them; the CLI renders them last,
as rustc-style text or as versioned JSON (in the manner of
`terraform validate -json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, NamedTuple

JSON_FORMAT_VERSION = "1.0"


class Span(NamedTuple):
    """A region of one file. Lines and columns count from 1; `end_col` is exclusive.

    A named tuple: there is one per AST node, and tuples build and unpickle fastest.
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __reduce__(self):
        # Rebuilt by tuple.__new__ (C) rather than the named tuple's Python-level __new__: there
        # is one span per node, and this halves the time to load a large project's cache.
        return (tuple.__new__, (Span, tuple(self)))

    def within(self, extent) -> bool:
        """Whether this span lies inside `extent` (a region of the same file: a declaration's)."""
        return (extent.line, extent.col) <= (self.line, self.col) and \
            (self.end_line, self.end_col) <= (extent.end_line, extent.end_col)

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "start": {"line": self.line, "column": self.col},
            "end": {"line": self.end_line, "column": self.end_col},
        }

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Label:
    """A secondary span with a short message (rustc's `-` underlines)."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    message: str
    span: Span | None = None
    labels: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()
    help: str | None = None
    # Where the facts a derived finding (a proof that failed, say) rests on are written. Not
    # shown: a finding whose premise sits in a declaration that has an error of its own is
    # dropped, since it follows from that error (one mistake, one diagnostic).
    premises: tuple[Span, ...] = field(default=(), compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "range": self.span.to_json() if self.span else None,
            "labels": [{"message": lb.message, "range": lb.span.to_json()} for lb in self.labels],
            "notes": list(self.notes),
            "help": self.help,
        }

    def sort_key(self) -> tuple:
        if self.span is None:
            return ("", 0, 0, self.code)
        return (self.span.file, self.span.line, self.span.col, self.code)


def error(code: str, message: str, span: Span | None, **kw) -> Diagnostic:
    return Diagnostic(code, Severity.ERROR, message, span, **kw)


def warning(code: str, message: str, span: Span | None, **kw) -> Diagnostic:
    return Diagnostic(code, Severity.WARNING, message, span, **kw)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word`, or None when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A `help` text naming the closest candidate, or None when nothing is close."""
    near = closest(word, candidates)
    return f"did you mean `{near}`?" if near else None


@dataclass
class SourceMap:
    """The text of every file read, so that renderers can quote source lines."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def line(self, name: str, line: int) -> str | None:
        text = self.texts.get(name)
        if text is None:
            return None
        lines = text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None


def render_text(diags: Iterable[Diagnostic], sources: SourceMap, color: bool = False) -> str:
    """rustc-style: header, `-->` location, the source line with carets, labels, notes, help."""
    out: list[str] = []
    for d in diags:
        out.append(_render_one(d, sources, color))
    return "\n".join(out)


_COLORS = {"error": "\x1b[1;31m", "warning": "\x1b[1;33m", "note": "\x1b[1;36m"}
_BOLD, _BLUE, _RESET = "\x1b[1m", "\x1b[1;34m", "\x1b[0m"


def _render_one(d: Diagnostic, sources: SourceMap, color: bool) -> str:
    def c(style: str, s: str) -> str:
        return f"{style}{s}{_RESET}" if color else s

    sev = d.severity.value
    lines = [c(_COLORS[sev], f"{sev}[{d.code}]") + c(_BOLD, f": {d.message}")]
    spans = ([d.span] if d.span else []) + [lb.span for lb in d.labels]
    width = max((len(str(s.line)) for s in spans), default=1)
    pad = " " * width
    if d.span:
        lines.append(f"{pad}{c(_BLUE, '-->')} {d.span}")
        lines.append(f"{pad} {c(_BLUE, '|')}")
        # The primary span and the labels in its file, in the order of the file; a line that
        # carries several marks is quoted once, with one caret line per mark.
        marks = [(d.span, "", "^", _COLORS[sev])] + [
            (lb.span, lb.message, "-", _BLUE) for lb in d.labels if lb.span.file == d.span.file]
        quoted = -1
        for span, message, mark, style in sorted(marks, key=lambda m: (m[0].line, m[0].col)):
            snippet = _snippet(span, message, sources, width, c, mark, style)
            if quoted > 0 and span.line > quoted + 1 and snippet:
                lines.append(c(_BLUE, "..."))  # lines left out
            lines.extend(snippet[1:] if span.line == quoted else snippet)
            quoted = span.line
    for lb in d.labels:
        if d.span and lb.span.file == d.span.file:
            continue
        if d.span:
            lines.append(f"{pad}{c(_BLUE, ':::')} {lb.span}")
        lines.extend(_snippet(lb.span, lb.message, sources, width, c, "-", _BLUE))
    if d.span:
        lines.append(f"{pad} {c(_BLUE, '|')}")
    for note in d.notes:
        lines.append(f"{pad} {c(_BLUE, '=')} {c(_BOLD, 'note')}: {note}")
    if d.help:
        lines.append(f"{pad} {c(_BLUE, '=')} {c(_BOLD, 'help')}: {d.help}")
    return "\n".join(lines) + "\n"


def _snippet(span: Span, message: str, sources: SourceMap, width: int, c, mark: str, style: str) -> list[str]:
    text = sources.line(span.file, span.line)
    if text is None:
        return []
    text = text.expandtabs(1)
    start = max(span.col - 1, 0)
    if span.end_line == span.line:
        stop = max(span.end_col - 1, start + 1)
    else:
        stop = max(len(text), start + 1)
    carets = " " * start + mark * (stop - start)
    tail = f" {message}" if message else ""
    return [
        f"{str(span.line).rjust(width)} {c(_BLUE, '|')} {text}",
        f"{' ' * width} {c(_BLUE, '|')} {c(style, carets + tail)}",
    ]


def render_json(diags: list[Diagnostic]) -> str:
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    warnings = sum(1 for d in diags if d.severity is Severity.WARNING)
    doc = {
        "format_version": JSON_FORMAT_VERSION,
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": warnings,
        "diagnostics": [d.to_json() for d in diags],
    }
    return json.dumps(doc, indent=2, sort_keys=False)
