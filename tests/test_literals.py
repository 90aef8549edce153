"""The one literal writer of the backends (mlc.targets.literals): every value reads back as
itself, on one line (`py`) or across lines (`pretty`), and nothing but plain data is taken."""

from __future__ import annotations

import ast
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlc.targets.literals import pretty, py

leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=6)
                      | st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=40)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(values, st.integers(20, 120))
def test_both_forms_read_back_as_the_value(value, width: int) -> None:
    assert ast.literal_eval(py(value)) == value
    text = pretty(value, width=width)
    assert ast.literal_eval(text) == value
    assert "\n" not in py(value)


def test_pretty_breaks_only_what_does_not_fit() -> None:
    spec = {"group": "g", "columns": [["a", "string"], ["b", "int"]], "conf": {"k" * 30: "v" * 60}}
    assert pretty({"a": 1}) == '{"a": 1}'
    text = pretty(spec, width=60)
    assert text.splitlines() == [
        "{",
        '    "group": "g",',
        '    "columns": [["a", "string"], ["b", "int"]],',
        '    "conf": {',
        '        "' + "k" * 30 + '": "' + "v" * 60 + '",',
        "    },",
        "}",
    ]


@pytest.mark.parametrize("bad", [math.nan, math.inf, {1, 2}, object(), b"bytes"])
def test_only_plain_finite_data_is_written(bad) -> None:
    with pytest.raises((ValueError, TypeError)):
        py(bad)
    with pytest.raises((ValueError, TypeError)):
        pretty([bad] * 40)


def test_strings_cannot_break_out() -> None:
    hostile = '"""\n\\x00\'); import os; (\'{{ 7 * 7 }}'
    assert ast.literal_eval(py(hostile)) == hostile
    assert '"""' not in py(hostile)


def _one_by_one(s: str, jinja: bool) -> str:
    """py_str as it was written before its ASCII fast path, character by character: the text must not change."""
    simple = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    out = []
    for c in s:
        o = ord(c)
        if c in simple:
            out.append(simple[c])
        elif (jinja and c in "{}") or o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x80 or not (0xD800 <= o <= 0xDFFF or not c.isprintable()):
            out.append(c)
        else:
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text() | st.text(st.characters(max_codepoint=0x7F)), st.booleans())
def test_strings_are_written_as_character_by_character(s: str, jinja: bool) -> None:
    from mlc.targets.literals import py_str

    assert py_str(s, jinja) == _one_by_one(s, jinja)
    for o in range(0x80):
        assert py_str(chr(o) + s, jinja) == _one_by_one(chr(o) + s, jinja)
