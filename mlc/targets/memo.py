"""What backends compute once per program, whatever the env or the backend that asks.

A check validates every env with every backend, and a compile validates then lowers:
a group's plan and SQL, or a validation that does not depend on the env, would otherwise
be computed again each time. Values are kept while the same program object is being
checked or compiled (one at a time in a process), and dropped when another comes.
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")
_MEMO: tuple[object, dict] = (None, {})


def once(program: object, key: tuple, compute: Callable[[], T], keep: tuple[type[Exception], ...] = ()) -> T:
    """`compute()` for `program`, computed once; an exception of a type in `keep` is kept and
    raised again on every later ask."""
    global _MEMO
    if _MEMO[0] is not program:
        _MEMO = (program, {})
    store = _MEMO[1]
    if key not in store:
        try:
            store[key] = compute()
        except keep as e:
            store[key] = e
    value = store[key]
    if isinstance(value, Exception):
        raise value
    return value
