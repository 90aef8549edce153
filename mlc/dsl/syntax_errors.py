"""Syntax errors in words, and the repair that lets the parser go on.

`describe_unexpected` turns a Lark error into a Diagnostic that names what was
expected ("expected `}` to close flow `train` opened at 12:1") and returns a
repaired copy of the declaration text: the failed item blanked out, a forgotten
bracket put in, or the missing closers appended — always keeping the line and
column of everything after the repair, so later errors point at the right
place. The parser then tries again.

Since newlines mean nothing to the grammar, a mistake often shows a token or a
line later than where it was made; the repairs look back (an item cut short at
the end of a line, a block whose `}` is missing where the indentation returns)
so that one mistake gives one error.
"""

from __future__ import annotations

import re
from copy import copy

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from mlc.diagnostics import Diagnostic, Label, Span, did_you_mean, error
from mlc.dsl.build import DURATION_UNITS_MS, SIZE_UNITS, first_span

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
    """(offset, char) of every bracket, comma and newline outside strings and comments."""
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
        if c in "{}()[],\n":
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
    return _opener(text, pos)[0]


def _opener(text: str, pos: int) -> tuple[str, int]:
    """The phrase for the brace at `pos` and where that phrase starts (the brace itself for 'the block')."""
    line_start = text.rfind("\n", 0, pos) + 1
    m = _OPENER_WORDS.match(text, line_start, pos)
    kw, name = (m.group(1), m.group(2)) if m else (None, None)
    if m and kw and name:
        return f"{kw} `{name}`", m.start(1)
    if m and kw:
        return f"`{kw}`", m.start(1)
    return "the block", pos


def _context(text: str, stack: list[tuple[str, int]]) -> str:
    """The block an error is in, named by its innermost `{` ('flow `train`'), or 'the file'."""
    braces = [at for ch, at in stack if ch == "{"]
    return _opener_phrase(text, braces[-1]) if braces else "the file"


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _item_start(text: str, pos: int, stack: list[tuple[str, int]]) -> int:
    """Where the item holding `pos` starts: just after the `{`, `,` or block-closing `}` before it
    on its line, at its level of nesting; else the start of the line. Blanking from there keeps a
    declaration's header, so `model m { oops }` still declares `m`."""
    line_start = text.rfind("\n", 0, pos) + 1
    if stack and stack[-1][0] in "([" and stack[-1][1] < line_start:
        return line_start  # inside a call or list that began on an earlier line
    starts = [line_start]  # the candidate start at each level of nesting opened on this line
    opens: list[str] = []
    for i, c in _significant(text, line_start):
        if i >= pos:
            break
        if c in "([{":
            opens.append(c)
            starts.append(i + 1)
        elif c in ")]}":
            if opens:
                opens.pop()
                starts.pop()
            else:
                starts[0] = i + 1  # it closes a block opened on an earlier line
        elif c == ",":
            starts[-1] = i + 1
    for level in range(len(opens), 0, -1):
        if opens[level - 1] == "{":
            return starts[level]
    return starts[0]


def _item_end(text: str, line_end: int, line_start: int) -> int:
    """The end of the item starting at `line_start`: the comma after it, its line, or through
    the block or the bracketed list it opens (`inputs [` over several lines).

    Stops before a bracket that closes the enclosing block, so that block stays whole.
    """
    opened: list[str] = []
    for i, c in _significant(text, line_start):
        if c in "{([":
            opened.append(c)
        elif c == "}":
            if "{" not in opened:
                return i
            while opened.pop() != "{":
                pass
        elif c in ")]":
            if opened and opened[-1] == {")": "(", "]": "["}[c]:
                opened.pop()
        elif c == "," and not opened:
            return i + 1  # the items after it on the line are whole: `{ a: decimal(1, 2), ts: date }`
        elif c == "\n" and i >= line_end and not opened:
            return i
    return len(text)


def describe_unexpected(e: UnexpectedInput, text: str, path: str, offset: int,
                        lark: Lark) -> tuple[Diagnostic, str | None]:
    pos = getattr(e, "pos_in_stream", None)
    if pos is None:
        pos = len(text)
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(e, text, path, offset, pos, lark)
    token: Token | None = getattr(e, "token", None)
    if token is None or token.type == "$END":
        return _unclosed(text, path, offset, lark, e)
    return _unexpected_token(e, token, text, path, offset, lark)


def _span(path: str, offset: int, text: str, start: int, end: int) -> Span:
    l1, c1 = _line_col(text, start)
    l2, c2 = _line_col(text, end)
    return Span(path, l1 + offset, c1, l2 + offset, c2)


def _bad_character(e: UnexpectedCharacters, text: str, path: str, offset: int, pos: int, lark: Lark):
    ch = text[pos]
    ls, le = _line_bounds(text, pos)
    if ch == '"':
        d = error("E0004", "unterminated string", _span(path, offset, text, pos, le),
                  help='a string opens and closes on one line: add the missing `"`')
        # A closing quote whose opening one is missing (`table = a.b")`): without it the line
        # parses on; otherwise drop the line.
        unquoted = _blank(text, pos, pos + 1)
        return d, unquoted if _parses_through(lark, unquoted, le) else _blank(text, ls, le)
    shown = ch if ch.isprintable() else repr(ch)
    help = ('strings are written in double quotes: "like this"' if ch == "'"
            else f"write the percentage with no space: `{text[ls:pos].split()[-1]}%`"
            if ch == "%" and re.search(r"[0-9][ \t]+$", text[ls:pos])
            else "remove it, or put it inside a string")
    d = error("E0003", f"unexpected character `{shown}`", _span(path, offset, text, pos, pos + 1),
              help=help)
    item = _item_start(text, pos, _brackets(text, pos))
    return d, _blank(text, item, max(_item_end(text, le, item), pos + 1))


def _unclosed(text: str, path: str, offset: int, lark: Lark, e: UnexpectedInput):
    stack = _brackets(text, len(text))
    end = len(text.rstrip())
    at_end = _span(path, offset, text, end, end)  # zero-width: where the missing text goes
    if not stack:
        words = _expected_note(lark, _expected(e))
        last = re.search(r"([A-Za-z_0-9]+|\S)\s*$", text[:end])
        after = f" after `{last.group(1)}`" if last else ""
        d = error("E0001", f"unexpected end of the declaration{after}", at_end, notes=(words,))
        return d, None
    ch, at = stack[-1]
    close = _CLOSERS[ch]
    d = _expected_closer(text, path, offset, ch, at, at_end,
                         help=f"add `{close}`" if len(stack) == 1 else
                         f"add `{''.join(_CLOSERS[c] for c, _ in reversed(stack))}`",
                         notes=tuple(f"{_what(text, c, a)} opened at {_where(text, c, a, offset)} "
                                     f"is not closed either" for c, a in reversed(stack[:-1])))
    closers = "".join(_CLOSERS[c] for c, _ in reversed(stack))
    return d, text.rstrip() + "\n" + closers + "\n"


def _what(text: str, ch: str, at: int) -> str:
    return _opener(text, at)[0] if ch == "{" else f"`{ch}`"


def _where(text: str, ch: str, at: int, offset: int) -> str:
    line, col = _line_col(text, _opener(text, at)[1] if ch == "{" else at)
    return f"{line + offset}:{col}"


def _expected_closer(text: str, path: str, offset: int, ch: str, at: int, span: Span, help: str,
                     notes: tuple[str, ...] = ()) -> Diagnostic:
    """'expected `}` to close flow `train` opened at 12:1', with the opening bracket labelled."""
    close = _CLOSERS[ch]
    return error("E0002", f"expected `{close}` to close {_what(text, ch, at)} opened at "
                          f"{_where(text, ch, at, offset)}",
                 span, labels=(Label(_span(path, offset, text, at, at + 1), "opened here"),),
                 help=help, notes=notes)


def _expected(e: UnexpectedInput) -> set[str]:
    """The terminals that would have been accepted where the error is.

    Lark's `expected` is the lookahead set of an LALR state, which merged states widen
    (`model m nondeterministic` would "expect" step clauses); the interactive parser
    replays each candidate and keeps only those that really go on.
    """
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        return set(_cursor(ip).accepts())
    return set(getattr(e, "expected", ()) or ())


def _cursor(ip):
    """A copy of the interactive parser that runs no AST callbacks (no side effects)."""
    cursor = ip.copy(deepcopy_values=False)
    conf = copy(cursor.parser_state.parse_conf)
    conf.callbacks = {}
    cursor.parser_state.parse_conf = conf
    return cursor


def _terminal_for(lark: Lark, literal: str) -> str | None:
    for t in lark.terminals:
        if isinstance(t.pattern, PatternStr) and t.pattern.value == literal:
            return t.name
    return None


def _bracket_list(text: str, ls: int, pos: int, le: int) -> str | None:
    """`text` with the list that starts at `pos` put in brackets: `[` before it, and `]` at the
    end of its line unless a `]` with no `[` follows in the block (a list over several lines)."""
    fixed = _insert_closer(text, ls, pos, "[")
    if fixed is None:
        return None
    opened: list[str] = []
    for _i, c in _significant(text, pos):
        if c in "([{":
            opened.append(c)
        elif c in ")]}":
            if not opened:
                if c == "]":
                    return fixed
                break  # the block ends with no `]` for this list
            opened.pop()
    end = _code_end(text, le + 1)[0] + len(fixed) - len(text)
    return fixed[:end] + "]" + fixed[end + (fixed[end:end + 1] in (" ", "\t")):]


def _unmatched_closer_after(text: str, start: int) -> bool:
    """Whether a `}` after `start` closes nothing (as the `}` of a block whose `{` is missing does)."""
    depth = 0
    for i, c in _significant(text):
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0 and i >= start:
                return True
            depth = max(depth - 1, 0)
    return False


def _parses_through(lark: Lark, text: str, end: int) -> bool:
    """Whether `text` up to `end` is a valid beginning of a declaration (not tried past
    `_REPARSE_LIMIT`)."""
    if end > _REPARSE_LIMIT:
        return False
    try:
        lark.parse_interactive(text[:end]).exhaust_lexer()
    except UnexpectedInput:
        return False
    return True


def _word_span(path: str, offset: int, text: str, pos: int) -> Span:
    """The span of the word (or the single character) at `pos`."""
    m = re.compile(r"[A-Za-z_0-9]+|\S").match(text, pos)
    return _span(path, offset, text, pos, m.end() if m else pos + 1)


def _insert_closer(text: str, ls: int, pos: int, close: str) -> str | None:
    """`text` with `close` put just before the token at `pos` (first on its line), positions kept."""
    if pos > ls:  # the indentation before the token: replace one blank with the closer
        return text[:pos - 1] + close + text[pos:]
    if ls == 0:
        return None
    prev_start = text.rfind("\n", 0, ls - 1) + 1
    if "#" in text[prev_start:ls - 1]:  # the end of the line before is inside a comment
        return None
    return text[:ls - 1] + close + text[ls - 1:]


_NUMBER_WORD = re.compile(r"(?<![A-Za-z0-9_.])(?>[0-9]+(?:\.[0-9]+)?)([A-Za-z_][A-Za-z0-9_]*)")
_VALID_NUMBER_WORD = re.compile(r"[0-9]+(?:(?:ms|s|m|h|d|w)(?:[0-9]+(?:ms|s|m|h|d|w))*|Ki|Mi|Gi|Ti|K|M|G|T)")
_UNIT_ALIASES: dict[str, str] = {
    **dict.fromkeys(("msec", "msecs", "millis"), "ms"),
    **dict.fromkeys(("sec", "secs", "second", "seconds"), "s"),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), "m"),
    **dict.fromkeys(("hr", "hrs", "hour", "hours"), "h"),
    **dict.fromkeys(("day", "days"), "d"),
    **dict.fromkeys(("wk", "wks", "week", "weeks"), "w"),
    **dict.fromkeys(("k", "KB", "kb"), "K"), **dict.fromkeys(("MB", "mb"), "M"),
    **dict.fromkeys(("GB", "gb"), "G"), **dict.fromkeys(("TB", "tb"), "T"),
    "KiB": "Ki", "MiB": "Mi", "GiB": "Gi", "TiB": "Ti",
}
# Repairs that re-parse the declaration up to the error are skipped past this many characters
# of it (a declaration thousands of lines long): its errors are still reported, with less care.
_REPARSE_LIMIT = 200_000
_DURATION_HELP = "a duration is a whole number and a unit: ms, s, m (minutes), h, d or w (`30s`, `1h30m`)"
_SIZE_HELP = "a size is a whole number and a unit: K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (of 1024)"


def _in_units(amount: float, units: dict[str, int]) -> str | None:
    """`amount` (ms or bytes) written with the largest unit that divides it: 5400000 ms -> `90m`."""
    for unit, size in sorted(units.items(), key=lambda u: -u[1]):
        n = amount / size
        if n >= 1 and n == int(n):
            return f"{int(n)}{unit}"
    return None


def _malformed_number(token: Token, prev: Token | None, text: str, path: str, offset: int,
                      expected: set[str]) -> Diagnostic | None:
    """`1.5h`, `16GB`, `30sec`, `1 h`: a number with a unit that is not a literal of the language."""
    ls, le = _line_bounds(text, token.start_pos)
    lo = prev.start_pos if prev is not None and prev.start_pos >= ls else token.start_pos
    for m in _NUMBER_WORD.finditer(text, ls, le):
        if m.end() <= lo or m.start() >= token.end_pos or _VALID_NUMBER_WORD.fullmatch(m.group(0)):
            continue
        word, number, unit = m.group(0), m.group(0)[: m.start(1) - m.start()], m.group(1)
        unit = _UNIT_ALIASES.get(unit, unit)
        span = _span(path, offset, text, m.start(), m.end())
        if unit in DURATION_UNITS_MS:
            fixed = _in_units(float(number) * DURATION_UNITS_MS[unit], DURATION_UNITS_MS)
            return error("E0007", f"`{word}` is not a duration", span,
                         help=f"write `{fixed}`" if fixed else None, notes=(_DURATION_HELP,))
        if unit in SIZE_UNITS:
            fixed = _in_units(float(number) * SIZE_UNITS[unit], SIZE_UNITS)
            return error("E0007", f"`{word}` is not a size", span,
                         help=f"write `{fixed}`" if fixed else None, notes=(_SIZE_HELP,))
        return error("E0007", f"`{word}` is not a number, a duration or a size", span,
                     notes=(_DURATION_HELP, _SIZE_HELP))
    if token.type in ("INT", "FLOAT") and "DURATION" in expected:
        m = re.compile(r"[ \t]+(ms|s|m|h|d|w)\b").match(text, token.end_pos)
        if m:
            return error("E0007", f"`{text[token.start_pos:m.end()]}` is not a duration",
                         _span(path, offset, text, token.start_pos, m.end()),
                         help=f"write the unit right after the number: `{token}{m.group(1)}`")
        if token.type == "INT":
            return error("E0007", f"`{token}` is not a duration: it has no unit",
                         _span(path, offset, text, token.start_pos, token.end_pos),
                         help=f"add its unit: `{token}s`, `{token}m`, `{token}h`, ...", notes=(_DURATION_HELP,))
    return None


def _keywords_before(e: UnexpectedInput, lark: Lark) -> list[str]:
    """The keywords that were acceptable just before the last token shifted (an item's first word)."""
    ip = getattr(e, "interactive_parser", None)
    if ip is None or len(ip.parser_state.state_stack) < 2:
        return []
    cursor = _cursor(ip)
    cursor.parser_state.state_stack.pop()
    cursor.parser_state.value_stack.pop()
    return sorted(k for k in (_keyword(lark, t) for t in cursor.accepts()) if k)


def _line_before(text: str, pos: int) -> str:
    return text[text.rfind("\n", 0, pos) + 1:pos]


def _close_paren(text: str, pos: int) -> int:
    """The `)` after `pos` on its line, or -1."""
    return text.find(")", pos, _line_bounds(text, pos)[1])


def _hint(token: Token, prev: Token | None, context: str, text: str, pos: int) -> str | None:
    """Help for a few mistakes that have one obvious repair."""
    word = str(token)
    if word in ("deterministic", "nondeterministic") and context.startswith("model `"):
        return f"write the marker in the model's header: `model {context[7:-1]} {word} {{ ... }}`"
    line = _line_before(text, pos)
    if word == "{" and prev is not None and str(prev) == "." and re.match(r"\s*import\b", line):
        return "write `.{` with no space in between: `import std.connectors.{kafka, s3}`"
    return None


# SQL types with a size or a precision, and what the language calls them
_SIZED_TYPES = {**dict.fromkeys(("decimal", "numeric", "number", "double", "real"), "float"),
                **dict.fromkeys(("varchar", "char", "nvarchar", "character", "text"), "string")}


_Mistake = tuple[str, str, int, int]  # message, help, and the start and end to underline


def _rest_of_item(text: str, at: int) -> str:
    m = re.match(r"[^,}\n]*", text[at:])
    return m.group(0).strip() if m else ""


def _latency_without_percentile(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    latency = re.search(r"\blatency\s*\(([^()]*)\)\s*$", _line_before(text, pos))
    if token.type not in ("EQ", "NE", "LE", "GE", "LT", "GT") or not latency:
        return None
    value = _rest_of_item(text, token.end_pos) or "..."
    return ("a latency objective needs a percentile",
            f"write `latency({latency.group(1).strip()}) p99 {token} {value}` (or p50, p95)",
            token.start_pos, token.end_pos)


def _unquoted_time(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    if str(token) != ":" or prev is None or prev.type != "INT" or not re.search(r"\bby\s+[0-9]+$",
                                                                               _line_before(text, pos)):
        return None
    m = re.match(r"[0-9:]*", text[prev.start_pos:])
    spelt = m.group(0) if m else str(prev)
    return ("a time of day is written as a string", f'write `by "{spelt}"`', prev.start_pos, prev.start_pos + len(spelt))


def _sized_type(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    line = _line_before(text, pos)
    typed = re.search(r":\s*\??\s*([A-Za-z_][A-Za-z0-9_]*)\s*\([^()]*$", line)
    if token.type not in ("INT", "FLOAT") or not typed:
        return None
    name = typed.group(1)
    start = pos - len(line) + typed.start(1)
    close = _close_paren(text, pos)
    end = close + 1 if close >= 0 else token.end_pos
    plain = _SIZED_TYPES.get(name.lower())
    if plain is not None:
        return f"`{name}` takes no size here: the type is `{plain}`", f"write `{plain}`", start, end
    return "a type's arguments are names, not numbers", "name them, as in `enum(low, high)`", start, end


def _arrow(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    if not text.startswith("->", pos):
        return None
    ls, le = _line_bounds(text, pos)
    return ("steps are chained with `>>`, not `->`", f"write `{text[ls:le].strip().replace('->', '>>')}`",
            pos, pos + 2)


def _clause_colon(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    """`owner: "team"`: a keyword, then a colon where its value was expected; or a setting
    of `serve { }` or `resources { }` written `replicas: 2`."""
    if str(token) != ":" or prev is None or not re.fullmatch(r"[a-z_][a-z0-9_]*", str(prev)):
        return None
    if prev.type == "NAME":
        braces = [at for ch, at in _brackets(text, pos) if ch == "{"]
        if not braces or _opener(text, braces[-1])[0] not in ("`serve`", "`resources`"):
            return None
    value = _rest_of_item(text, token.end_pos) or "..."
    return f"`{prev}` takes no colon", f"write `{prev} {value}`", token.start_pos, token.end_pos


def _call_without_parens(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    """`trigger on_finish train`, `trigger signal ready`: the name belongs in parentheses."""
    if token.type != "NAME" or prev is None:
        return None
    if str(prev) != "on_finish" and not (str(prev) == "signal" and
                                         re.search(r"\btrigger\b", _line_before(text, prev.start_pos))):
        return None
    return (f"`{prev}` takes its {'flow' if str(prev) == 'on_finish' else 'signal'} in parentheses",
            f"write `{prev}({token})`", token.start_pos, token.end_pos)


def _unquoted_entry_point(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    """`step fit python(train:main)`: a step's target is a string."""
    line = _line_before(text, pos)
    m = re.search(r"\b(python|spark|flink|bash)\s*\(\s*([^()\"]*)$", line)
    if m is None or not re.match(r"\s*step\b", line):
        return None
    start = pos - len(line) + m.start(2)
    close = _close_paren(text, pos)
    if close < 0:
        return None
    written = text[start:close].strip()
    what = {"python": "an entry point", "bash": "a command"}.get(m.group(1), "a job's path")
    return (f"`{m.group(1)}` takes {what} as a string", f'write `{m.group(1)}("{written}")`', start, close)


def _unquoted_cron(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    line = _line_before(text, pos)
    m = re.search(r"\bcron\s*\(\s*$", line)
    close = _close_paren(text, pos)
    if m is None or close < 0 or str(token).startswith('"'):
        return None
    return ("a cron expression is written as a string", f'write `cron("{text[pos:close].strip()}")`', pos, close)


def _assignment_in_condition(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    """`when confidence = 0.5`, `gate auc = 0.8`: `=` where a comparison goes."""
    if str(token) != "=" or prev is None or not re.search(r"\b(when|gate)\b", _line_before(text, pos)):
        return None
    value = _rest_of_item(text, token.end_pos) or "..."
    return "`=` does not compare", f"write `{prev} == {value}` (or `<`, `>=`, ...)", pos, token.end_pos


_MISTAKES = (_latency_without_percentile, _unquoted_time, _sized_type, _arrow, _clause_colon,
             _call_without_parens, _unquoted_entry_point, _unquoted_cron, _assignment_in_condition)


def _mistake(token: Token, prev: Token | None, text: str, pos: int) -> _Mistake | None:
    """A few mistakes that read as something other than a stray token, said as such."""
    for recognise in _MISTAKES:
        found = recognise(token, prev, text, pos)
        if found is not None:
            return found
    return None


def _unexpected_token(e: UnexpectedInput, token: Token, text: str, path: str, offset: int, lark: Lark):
    pos = token.start_pos
    expected = _expected(e)
    span = _span(path, offset, text, pos, token.end_pos)
    prev_tok = _previous_token(e)
    prev = str(prev_tok) if prev_tok is not None else None
    shown = str(token).replace("\n", "\\n")
    stack = _brackets(text, pos)
    ls, le = _line_bounds(text, pos)
    first_on_line = text[ls:pos].strip() == ""

    # An unfinished `(` or `[`: the item is incomplete where a block or the next line begins.
    if stack and stack[-1][0] in "([" and (stack[-1][1] < ls or token.type in ("LBRACE", "RBRACE")):
        ch, at = stack[-1]
        d = _expected_closer(text, path, offset, ch, at, span,
                             help=f"add `{_CLOSERS[ch]}`" + (" at the end of the line before" if at < ls else ""))
        start = text.rfind("\n", 0, at) + 1
        end = ls if stack[-1][1] < ls else _item_end(text, le, start)
        return d, _blank(text, start, end)

    # A closing bracket that matches nothing open: drop a `}`, and the item around a `)` or `]`
    # (its `(` or `[` is more likely missing than the closer extra).
    if shown in ("}", ")", "]") and (not stack or _CLOSERS[stack[-1][0]] != shown):
        opener = {v: k for k, v in _CLOSERS.items()}[shown]
        d = error("E0001", f"unmatched `{shown}`: no `{opener}` is open here", span,
                  help="remove it" if shown == "}" else f"remove it, or add the `{opener}` it closes")
        if shown == "}":
            return d, _blank(text, pos, token.end_pos)
        item = _item_start(text, pos, stack)
        return d, _blank(text, item, max(_item_end(text, le, item), token.end_pos))

    # A forgotten `}`: the error's line starts no further right than the line that opened the
    # innermost block, and the text parses on through that line once the block is closed there.
    line_first = ls + len(text[ls:le]) - len(text[ls:le].lstrip(" \t"))
    if stack and stack[-1][0] == "{":
        at = stack[-1][1]
        opener_line = text[text.rfind("\n", 0, at) + 1:at]
        indent = len(opener_line) - len(opener_line.lstrip())
        fixed = _insert_closer(text, ls, line_first, "}") if line_first - ls <= indent else None
        if fixed is not None and _parses_through(lark, fixed, le):
            d = _expected_closer(text, path, offset, "{", at, _word_span(path, offset, text, line_first),
                                 help=f"add `}}` at the end of line {_last_code_line(text, ls) + offset}")
            return d, fixed

    # A forgotten `{`: a header is complete, and the text parses on through the error's line
    # once a block is opened before the token (or at the end of the line before).
    # (When the line's first word was taken as something else, such as the start of an edge
    # after a step with no block, the error shows later on the line: try the line before too.)
    lbrace = _terminal_for(lark, "{")
    candidates = []  # (where the `{` goes, whether it replaces a blank there)
    if lbrace in expected and not first_on_line and text[pos - 1] in " \t":
        candidates.append((pos - 1, True))
    if (prev_tok is not None and ls < prev_tok.start_pos < pos and text[ls:prev_tok.start_pos].strip()
            and text[prev_tok.start_pos - 1] in " \t"):
        candidates.append((prev_tok.start_pos - 1, True))
    line_end = _code_end(text, ls)[0]
    candidates.append((line_end, line_end >= 0 and text[line_end] in " \t"))
    for at, replaces in candidates:
        if at < 0 or not _unmatched_closer_after(text, at):
            continue  # the block's own `}` would be missing too: not this mistake
        fixed = text[:at] + "{" + text[at + 1:] if replaces else text[:at] + "{" + text[at:]
        if _parses_through(lark, fixed, le + 1):
            phrase = _opener(text, at)[0]
            last = re.search(r"([A-Za-z_0-9]+|\S)\s*$", text[text.rfind("\n", 0, at) + 1:at])
            if last is None:
                continue
            start = at - len(last.group(0))
            following = text[at + 1:].split(None, 1)[0] if text[at + 1:].strip() else shown
            d = error("E0002", f"expected `{{` to open {phrase}" if phrase != "the block" else
                      f"expected `{{` after `{last.group(1)}`",
                      _span(path, offset, text, start, start + len(last.group(1))),
                      help=f"add `{{` at the end of line {_line_col(text, at)[0] + offset}" if at < ls
                      else f"add `{{` before `{following}`")
            return d, fixed

    # The item on an earlier line stopped short (`timeout` with no value, a stray word at the end
    # of a line): report it where it is and drop it, rather than every line after it.
    truncated = _truncated_item(e, token, prev_tok, text, path, offset, lark, stack)
    if truncated is not None:
        return truncated

    item = _item_start(text, pos, stack)
    end = _item_end(text, le, item)
    if not stack and text[end:end + 1] == "}":  # between declarations a `}` closes nothing
        end = _item_end(text, le, end + 1)
    fix = _blank(text, item, end)
    if prev in _LIST_CLAUSES and "LSQB" in expected:
        listed = text[pos:_code_end(text, le + 1)[0]]
        d = error("E0005", f"`{prev}` takes a bracketed list", _span(path, offset, text, pos, pos + len(listed)),
                  help=f"write `{prev} [{listed}]`")
        bracketed = _bracket_list(text, ls, pos, le)
        return d, bracketed if bracketed is not None and _parses_through(lark, bracketed, le + 2) else fix

    bad_number = _malformed_number(token, prev_tok, text, path, offset, expected)
    if bad_number is not None:
        return bad_number, fix

    keywords = sorted(k for k in (_keyword(lark, x) for x in expected) if k)
    context = _context(text, stack)
    note = _expected_note(lark, expected)
    if not stack and first_on_line and "flow" in keywords:  # between declarations
        hint = did_you_mean(shown, keywords)
        if token.type == "NAME":
            d = error("E0006", f"unknown declaration `{shown}`", span, help=hint,
                      notes=("a declaration starts with " + _or_list(keywords),))
        else:
            d = error("E0001", f"`{shown}` cannot start a declaration", span, help=hint,
                      notes=("a declaration starts with " + _or_list(keywords),))
        return d, fix
    if token.type == "NAME" or (shown.isidentifier() and keywords):
        hint = did_you_mean(shown, keywords)
        if hint and (prev in ("{", ",", None) or first_on_line):
            d = error("E0006", f"unknown clause `{shown}` in {context}", span, help=hint, notes=(note,))
            return d, fix
    # A misspelt keyword taken as a name (`oneline ttl 2d`, `shedule daily`): the error comes on
    # the word after it.
    word = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(text, item + len(text[item:pos]) - len(text[item:pos].lstrip()))
    if word is not None and word.end() < pos and not text[word.end():pos].strip():
        keywords = _keywords_before(e, lark)
        hint = did_you_mean(word.group(0), keywords) if word.group(0) not in keywords else None
        if hint:
            d = error("E0006", f"unknown clause `{word.group(0)}` in {context}",
                      _span(path, offset, text, word.start(), word.end()), help=hint)
            return d, fix
    mistake = _mistake(token, prev_tok, text, pos)
    if mistake is not None:
        message, help, start, end = mistake
        return error("E0001", message, _span(path, offset, text, start, end), help=help), fix
    after = f" after `{prev}`" if prev else ""
    d = error("E0001", f"unexpected {_describe_token(token)}{after} in {context}", span,
              notes=(note,), help=_hint(token, prev_tok, context, text, pos))
    return d, fix


def _truncated_item(e: UnexpectedInput, token: Token, prev_tok: Token | None, text: str, path: str,
                    offset: int, lark: Lark, stack: list[tuple[str, int]]):
    """The error shows on a line after the one where an unfinished item stopped.

    Newlines mean nothing to the grammar, so a `schedule` left without its value at the end
    of one line takes the first word of the next as its value, and the error appears further
    on. Going back line by line from the error while the input could not end an item there,
    the earliest line break after which the next line is indented no deeper than the item
    open at that break (a new item, not a continuation) is where that item was cut off.
    """
    rbrace = _terminal_for(lark, "}")
    if not stack or stack[-1][0] != "{" or rbrace is None:
        return None
    block = stack[-1][1]
    breaks = []  # (cut: the end of the code before a line break, the start of the line after it)
    following = text.rfind("\n", 0, token.start_pos) + 1
    while len(breaks) < 8:
        cut, cut_line = _code_end(text, following)
        if cut <= block:
            break
        breaks.append((cut, following))
        following = cut_line
    if not breaks or breaks[0][0] > _REPARSE_LIMIT:
        return None
    states = _states_at(lark, text, sorted(cut for cut, _ in breaks))
    found = None
    for cut, following in breaks:  # from the error backwards
        if cut not in states:
            break
        ip, last = states[cut]
        expected = set(ip.accepts())
        if rbrace in expected or not expected or last is None:
            break  # every item was complete at this break
        start = _incomplete_item_start(ip, text, offset, last.start_pos)
        depth = start - (text.rfind("\n", 0, start) + 1)  # its indentation, or its column after `{`/`,`
        line = text[following:]
        if start < following and len(line) - len(line.lstrip(" \t")) <= depth:
            found = (expected, last, start, cut)
    if found is None:
        return None
    expected, last, start, cut = found
    context = _context(text, _brackets(text, last.start_pos))
    d = error("E0001", f"{_expected_note(lark, expected)} after `{last}` in {context}",
              _span(path, offset, text, last.start_pos, last.end_pos))
    return d, _blank(text, start, cut)


def _states_at(lark: Lark, text: str, cuts: list[int]) -> dict[int, tuple[object, Token | None]]:
    """The parser (without callbacks) and the last token read, at each offset of `cuts`
    (ascending; each the end of a token), from one parse of the text up to the last of them."""
    states: dict[int, tuple[object, Token | None]] = {}
    ip = lark.parse_interactive(text[:cuts[-1]])  # with the AST callbacks: item starts need spans
    last = None
    pending = list(cuts)
    try:
        for tok in ip.iter_parse():  # each token is yielded before it is fed
            while pending and tok.start_pos >= pending[0]:
                states[pending.pop(0)] = (_cursor(ip), last)
            last = tok
    except UnexpectedInput:
        return states
    for cut in pending:
        states[cut] = (_cursor(ip), last)
    return states


def _code_end(text: str, line_start: int) -> tuple[int, int]:
    """The end of the code on the last line before `line_start` that has any (comments and
    blank lines skipped), and the start of that line. (-1, 0) when there is none."""
    end = line_start - 1
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        code = text[start:end]
        comment = next((i for i, _ in _significant_hashes(text, start, end)), None)
        if comment is not None:
            code = text[start:comment]
        if code.strip():
            return start + len(code.rstrip()), start
        end = start - 1
    return -1, 0


def _significant_hashes(text: str, start: int, end: int):
    """(offset, '#') of a comment start between `start` and `end`, outside strings."""
    i = start
    while i < end:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < end and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == "#":
            yield i, c
            return
        i += 1


def _incomplete_item_start(ip, text: str, offset: int, last: int) -> int:
    """Where the unfinished item that ends at offset `last` begins: the earliest value the
    parser holds after the last `{`, `,` or complete item."""
    start = last
    for value in reversed(ip.parser_state.value_stack):
        if isinstance(value, Token):
            if str(value) in ("{", ","):
                break
            start = min(start, value.start_pos)
            continue
        if isinstance(value, tuple) and len(value) == 3 and isinstance(value[2], Span):
            break  # a complete block item
        span = first_span(value)
        if span is None or isinstance(value, list):
            break
        start = min(start, _offset_of(text, span.line - offset, span.col))
    return start


def _offset_of(text: str, line: int, col: int) -> int:
    pos = 0
    for _ in range(line - 1):
        pos = text.index("\n", pos) + 1
    return pos + col - 1


def _last_code_line(text: str, line_start: int) -> int:
    """The number of the last line before the one at `line_start` that is not blank or a comment."""
    lines = text[:line_start].split("\n")[:-1]
    for n in range(len(lines), 0, -1):
        stripped = lines[n - 1].strip()
        if stripped and not stripped.startswith("#"):
            return n
    return 1


def _or_words(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def _or_list(words: list[str]) -> str:
    quoted = [f"`{w}`" for w in words]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else "".join(quoted)


def _describe_token(token: Token) -> str:
    if token.type == "NAME":
        return f"name `{token}`"
    return f"`{token}`"


_VALUE_STARTS = frozenset({"NAME", "STRING", "INT", "FLOAT", "DURATION", "SIZE", "PERCENT", "TRUE",
                           "FALSE", "LSQB", "MINUS"})
_EXPRESSION_STARTS = _VALUE_STARTS | {"NOT", "LPAR"}


def _expected_note(lark: Lark, expected: set[str]) -> str:
    """'expected `{`', 'expected a duration (like `5m`)', 'expected an expression', ..."""
    if _EXPRESSION_STARTS <= expected:
        rest = sorted({terminal_words(lark, x) for x in expected - _EXPRESSION_STARTS})
        return "expected " + _or_words(["an expression"] + rest)
    if _VALUE_STARTS <= expected:
        rest = sorted({terminal_words(lark, x) for x in expected - _VALUE_STARTS})
        return "expected " + _or_words(["a value"] + rest)
    words = sorted({terminal_words(lark, x) for x in expected})
    if len(words) > 8:
        return "expected one of " + ", ".join(words[:8]) + f", or {len(words) - 8} more"
    return "expected " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]) if words else "expected something else"


def _previous_token(e: UnexpectedInput) -> Token | None:
    """The token just before the error, when the parser has not folded it into a rule yet."""
    ip = getattr(e, "interactive_parser", None)
    if not isinstance(e, UnexpectedToken) or ip is None:
        return None
    stack = ip.parser_state.value_stack
    if stack and isinstance(stack[-1], Token):
        return stack[-1]
    return None
