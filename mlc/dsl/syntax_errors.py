"""Syntax errors in words, and the repair that lets the parser go on.

`describe_unexpected` turns a Lark error into a Diagnostic that names what was
expected ("expected `}` to close flow `train` opened at 12:1") and returns a
repaired copy of the declaration text: the failed item blanked out (positions
kept), or the missing closers appended. The parser then tries again.
"""

from __future__ import annotations

import re

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from mlc.diagnostics import Diagnostic, Label, Span, did_you_mean, error

_WORDS = {
    "NAME": "a name",
    "STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "DURATION": "a duration (like `5m`)",
    "SIZE": "a size (like `16Gi`)",
    "PERCENT": "a percentage (like `99.9%`)",
    "$END": "the end of the file",
}
_CLOSERS = {"{": "}", "(": ")", "[": "]"}
_OPENER_WORDS = re.compile(r"\s*(?:##?[^\n]*)?([A-Za-z_][A-Za-z0-9_]*)?\s*([A-Za-z_][A-Za-z0-9_]*)?")

# The clauses that take a bracketed list, for "`inputs` takes a bracketed list".
_LIST_CLAUSES = {"inputs", "tags", "kinds"}


def terminal_words(lark: Lark, name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if isinstance(pattern, PatternStr):
        return f"`{pattern.value}`"
    return name.lower().replace("_", " ")


def _keyword(lark: Lark, name: str) -> str | None:
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return None
    if isinstance(pattern, PatternStr) and pattern.value.isidentifier():
        return pattern.value
    return None


def _significant(text: str, start: int = 0):
    """(offset, char) of every bracket and newline outside strings and comments."""
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in "{}()[]\n":
            yield i, c
        i += 1


def _brackets(text: str, upto: int) -> list[tuple[str, int]]:
    """The brackets still open at offset `upto`: (char, offset)."""
    stack: list[tuple[str, int]] = []
    for i, c in _significant(text):
        if i >= upto:
            break
        if c in _CLOSERS:
            stack.append((c, i))
        elif c != "\n" and stack and _CLOSERS[stack[-1][0]] == c:
            stack.pop()
    return stack


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _blank(text: str, start: int, end: int) -> str:
    middle = "".join("\n" if ch == "\n" else " " for ch in text[start:end])
    return text[:start] + middle + text[end:]


def _opener_phrase(text: str, pos: int) -> str:
    """'flow `train`' for the brace that `flow train {` opens at `pos`."""
    line_start = text.rfind("\n", 0, pos) + 1
    m = _OPENER_WORDS.match(text, line_start, pos)
    kw, name = (m.group(1), m.group(2)) if m else (None, None)
    if kw and name:
        return f"{kw} `{name}`"
    if kw:
        return f"`{kw}`"
    return "the block"


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _item_end(text: str, line_end: int, line_start: int) -> int:
    """The end of the item starting on this line: its line, or through the block it opens.

    Stops before a bracket that closes the enclosing block, so that block stays whole.
    """
    depth = 0
    for i, c in _significant(text, line_start):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return i
        elif c == "\n" and i >= line_end and depth <= 0:
            return i
    return len(text)


def describe_unexpected(e: UnexpectedInput, text: str, path: str, offset: int,
                        lark: Lark) -> tuple[Diagnostic, str | None]:
    pos = getattr(e, "pos_in_stream", None)
    if pos is None:
        pos = len(text)
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(e, text, path, offset, pos)
    token: Token | None = getattr(e, "token", None)
    if token is None or token.type == "$END":
        return _unclosed(text, path, offset, lark, e)
    return _unexpected_token(e, token, text, path, offset, lark)


def _span(path: str, offset: int, text: str, start: int, end: int) -> Span:
    l1, c1 = _line_col(text, start)
    l2, c2 = _line_col(text, end)
    return Span(path, l1 + offset, c1, l2 + offset, c2)


def _bad_character(e: UnexpectedCharacters, text: str, path: str, offset: int, pos: int):
    ch = text[pos]
    ls, le = _line_bounds(text, pos)
    if ch == '"':
        d = error("E0004", "unterminated string", _span(path, offset, text, pos, le),
                  help='close the string with `"` on the same line')
        return d, _blank(text, ls, le)
    shown = ch if ch.isprintable() else repr(ch)
    d = error("E0003", f"unexpected character `{shown}`", _span(path, offset, text, pos, pos + 1),
              help="remove it, or put it inside a string")
    return d, _blank(text, ls, _item_end(text, le, ls))


def _unclosed(text: str, path: str, offset: int, lark: Lark, e: UnexpectedInput):
    stack = _brackets(text, len(text))
    end = len(text.rstrip())
    if not stack:
        expected = sorted(getattr(e, "expected", ()) or ())
        words = ", ".join(terminal_words(lark, x) for x in expected[:6])
        d = error("E0001", "unexpected end of the declaration",
                  _span(path, offset, text, max(end - 1, 0), end),
                  notes=(f"expected {words}",) if words else ())
        return d, None
    ch, at = stack[-1]
    close = _CLOSERS[ch]
    line, col = _line_col(text, at)
    what = _opener_phrase(text, at) if ch == "{" else f"`{ch}`"
    d = error("E0002", f"expected `{close}` to close {what} opened at {line + offset}:{col}",
              _span(path, offset, text, max(end - 1, 0), end),
              labels=(Label(_span(path, offset, text, at, at + 1), "opened here"),),
              help=f"add `{close}`")
    closers = "".join(_CLOSERS[c] for c, _ in reversed(stack))
    return d, text.rstrip() + "\n" + closers + "\n"


def _unexpected_token(e: UnexpectedInput, token: Token, text: str, path: str, offset: int, lark: Lark):
    pos = token.start_pos
    expected = set(getattr(e, "expected", ()) or ())
    span = _span(path, offset, text, pos, token.end_pos)
    prev = _previous_token(e)
    shown = str(token).replace("\n", "\\n")
    stack = _brackets(text, pos)
    ls, le = _line_bounds(text, pos)

    # An unfinished `(` or `[`: the item is incomplete where a block or the next line begins.
    if stack and stack[-1][0] in "([" and (stack[-1][1] < ls or token.type in ("LBRACE", "RBRACE")):
        ch, at = stack[-1]
        line, col = _line_col(text, at)
        d = error("E0002", f"expected `{_CLOSERS[ch]}` to close `{ch}` opened at {line + offset}:{col}",
                  span, labels=(Label(_span(path, offset, text, at, at + 1), "opened here"),),
                  help=f"add `{_CLOSERS[ch]}`" + (" at the end of the line before" if at < ls else ""))
        start = text.rfind("\n", 0, at) + 1
        end = ls if stack[-1][1] < ls else _item_end(text, le, start)
        return d, _blank(text, start, end)

    fix = _blank(text, ls, _item_end(text, le, ls))
    if prev in _LIST_CLAUSES and "LSQB" in expected:
        d = error("E0005", f"`{prev}` takes a bracketed list", span,
                  help=f"write `{prev} [{text[pos:le].strip()}]`")
        return d, fix

    keywords = sorted(k for k in (_keyword(lark, x) for x in expected) if k)
    context = _opener_phrase(text, stack[-1][1]) if stack else "the file"
    if token.type == "NAME" or (shown.isidentifier() and keywords):
        hint = did_you_mean(shown, keywords)
        if hint and (prev in ("{", ",", None) or text[ls:pos].strip() == ""):
            d = error("E0006", f"unknown clause `{shown}` in {context}", span, help=hint,
                      notes=(_expected_note(lark, expected),))
            return d, fix
    after = f" after `{prev}`" if prev else ""
    d = error("E0001", f"unexpected {_describe_token(token)}{after} in {context}", span,
              notes=(_expected_note(lark, expected),))
    return d, fix


def _describe_token(token: Token) -> str:
    if token.type == "NAME":
        return f"name `{token}`"
    return f"`{token}`"


def _expected_note(lark: Lark, expected: set[str]) -> str:
    words = sorted({terminal_words(lark, x) for x in expected})
    if len(words) > 8:
        return "expected one of " + ", ".join(words[:8]) + f", or {len(words) - 8} more"
    return "expected " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]) if words else "expected something else"


def _previous_token(e: UnexpectedInput) -> str | None:
    ip = getattr(e, "interactive_parser", None)
    if not isinstance(e, UnexpectedToken) or ip is None:
        return None
    for value in reversed(ip.parser_state.value_stack):
        if isinstance(value, Token):
            return str(value)
        return None
    return None
