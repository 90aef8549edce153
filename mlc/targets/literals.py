"""The one writer of literals for every backend: how a value of the program becomes text in a
generated file. Strict: only plain data (None, booleans, numbers, strings, lists, tuples,
dicts) is accepted, a float must be finite, and every string is written with escapes, so no
value can become code. Deterministic: the same value, the same text.

`py` writes one line; `pretty` writes the same literal across lines when it is long (a
job's SPEC), four spaces per level, a trailing comma after each item.
"""

from __future__ import annotations

import math
import re
from typing import Any

_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# strings that need no escape, written as they are (most of a large program's): printable
# ASCII but `"` and `\`; in a Jinja expression, no braces either
_PLAIN = re.compile(r'[ !#-\[\]-~]*')
_PLAIN_JINJA = re.compile(r'[ !#-\[\]-z|~]*')


def _ascii_escapes(jinja: bool) -> dict[int, str]:
    """How `py_str` writes each ASCII character that is not written as it is."""
    table = {}
    for o in range(0x80):
        c = chr(o)
        if c in _SIMPLE_ESCAPES:
            table[o] = _SIMPLE_ESCAPES[c]
        elif (jinja and c in "{}") or o < 0x20 or o == 0x7F:
            table[o] = f"\\x{o:02x}"
    return table


# one `str.translate` writes an ASCII string with escapes (a job's SQL, with its newlines and
# quotes) in C: character by character, the strings of a platform's job specs were half its compile
_ASCII_ESCAPES = {False: _ascii_escapes(False), True: _ascii_escapes(True)}


def py_str(s: str, jinja: bool = False) -> str:
    """A double-quoted string literal, valid in Python and in a Jinja expression, that reads back as `s`.

    Quotes, backslashes and control characters are escaped; a character that is not
    printable (or a lone surrogate) becomes a \\x, \\u or \\U escape. With `jinja=True`
    braces become \\x7b/\\x7d too, so the literal never looks like a Jinja delimiter.
    """
    if (_PLAIN_JINJA if jinja else _PLAIN).fullmatch(s):
        return f'"{s}"'
    escapes = _ASCII_ESCAPES[jinja]
    if s.isascii():
        return f'"{s.translate(escapes)}"'
    out = ['"']
    for c in s:
        o = ord(c)
        if o < 0x80:
            out.append(escapes.get(o, c))
        elif 0xD800 <= o <= 0xDFFF or not c.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def py(value: Any) -> str:
    """A Python literal for plain data (None, bool, int, float, str, list, tuple, dict)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, str):
        return py_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")




def pretty(value: Any, width: int = 100, indent: int = 0, lead: int = 0) -> str:
    """`py(value)`, broken one item a line where it would not fit in `width` columns (the
    first line starts at column `indent + lead`; the lines after it are indented by `indent`)."""
    one = py(value)
    if indent + lead + len(one) <= width or not isinstance(value, (list, tuple, dict)) or not value:
        return one
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            key = f"{py(k)}: "
            lines.append(f"{pad}{key}{pretty(v, width, indent + 4, len(key))},")
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    lines = [f"{pad}{pretty(v, width, indent + 4)}," for v in value]
    return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
