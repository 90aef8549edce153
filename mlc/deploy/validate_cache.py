"""The backends' validation of a program, each backend's findings kept under what it read.

A backend's `validate` is a function of the parts of the program it reads. Run on a copy
of the program whose declaration tables record what is read of them (a key looked up, the
keys listed, a table read whole) and whose other fields record that they were read, it
leaves the set of what it read; its findings are stored under that set and the digest of
those parts. The next check recomputes the digest of the same parts of its program: when
it matches, the backend would read exactly what it read then, and so find what it found
then; it is not run. An edit to a model's serve timeout leaves the feature groups that
Feast, Spark and Flink read as they were: only the backends that read models run again.

Each backend runs on its own tracked copy (the per-program memo of `mlc.targets.memo` is
then per backend too): a value another backend computed is never taken without its reads.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from mlc.diagnostics import Diagnostic

if TYPE_CHECKING:
    from mlc.compiler import ir
    from mlc.dsl.files import ParseCache

_KIND = "validate"
_ALL, _KEYS = "*", "#"  # a table read whole; a table's keys (or its size) read
_reads: set[tuple[str, str]] | None = None


def _read(field: str, key: str) -> None:
    if _reads is not None:
        _reads.add((field, key))


class _Table(dict):
    """A declaration table that records what is read of it. Whatever reads it by a path this
    class does not override (a C-level copy or comparison) reads it through `__iter__` or
    `items`, or is recorded as reading it whole by `_Tracked`."""

    field = ""

    def __getitem__(self, key):
        _read(self.field, key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        _read(self.field, key)
        return dict.get(self, key, default)

    def __contains__(self, key) -> bool:
        _read(self.field, key)
        return dict.__contains__(self, key)

    def __iter__(self):
        _read(self.field, _KEYS)
        return dict.__iter__(self)

    def __len__(self) -> int:
        _read(self.field, _KEYS)
        return dict.__len__(self)

    def keys(self):
        _read(self.field, _KEYS)
        return dict.keys(self)

    def values(self):
        _read(self.field, _ALL)
        return dict.values(self)

    def items(self):
        _read(self.field, _ALL)
        return dict.items(self)

    def copy(self):
        _read(self.field, _ALL)
        return dict(dict.items(self))

    def __eq__(self, other) -> bool:
        _read(self.field, _ALL)
        return dict.__eq__(self, other)

    __hash__ = None

    def __reduce__(self):
        _read(self.field, _ALL)
        return (dict, (dict(dict.items(self)),))


_TRACKED: dict[type, type] = {}


def _tracked_class(cls: type) -> type:
    """`cls` (ir.Program) whose fields record that they were read; its tables record the rest."""
    if cls not in _TRACKED:
        names = frozenset(cls.model_fields)

        def __getattribute__(self, name: str):
            value = object.__getattribute__(self, name)
            if name in names and not isinstance(value, _Table):
                _read(name, _ALL)
            return value
        def dumped(method: str):
            def dump(self, *args, **kwargs):  # pydantic's serializer reads the fields unseen
                for name in names:
                    _read(name, _ALL)
                return getattr(cls, method)(self, *args, **kwargs)
            return dump
        _TRACKED[cls] = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__,
                                                   "model_dump": dumped("model_dump"),
                                                   "model_dump_json": dumped("model_dump_json"),
                                                   "__module__": cls.__module__})
    return _TRACKED[cls]


def tracked(program: ir.Program) -> ir.Program:
    """A copy of `program` that records, in `_reads`, what is read of it."""
    tables = {}
    for name, value in program.__dict__.items():
        if type(value) is dict:
            table = _Table(value)
            table.field = name
            tables[name] = table
    copy = program.model_copy(update=tables)
    object.__setattr__(copy, "__class__", _tracked_class(type(program)))
    return copy


def _canonical(value) -> bytes:
    """`value` pickled without the memo: equal values give equal bytes whether their parts are
    shared objects (a program just lowered) or copies (one loaded from the cache). The IR is
    acyclic; a set's order may differ from one process to the next: then it is a miss."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    return out.getvalue()


def _digest(program: ir.Program, reads: frozenset[tuple[str, str]], parts: dict) -> bytes:
    """The digest of the parts of `program` named by `reads` (None for a key it lacks); a
    key of a table read whole is in the whole. `parts`: each part's digest, computed once
    for all the backends of a run."""
    whole = {field for field, key in reads if key == _ALL}
    h = hashlib.sha256()
    for field, key in sorted(reads):
        if key not in (_ALL, _KEYS) and field in whole:
            continue
        if (field, key) not in parts:
            value = program.__dict__.get(field)
            if key == _ALL:
                part = value
            elif key == _KEYS:
                part = sorted(value)
            else:
                part = value.get(key) if isinstance(value, dict) else None
            parts[field, key] = hashlib.sha256(_canonical(part)).digest()
        h.update(f"{field}\0{key}\0".encode())
        h.update(parts[field, key])
    return h.digest()


def _code() -> str:
    """This module and the bundle's: the cache's salt covers the backends, not mlc/deploy."""
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / f).read_bytes() for f in ("validate_cache.py", "bundle.py"))).hexdigest()


def validated(program: ir.Program, name: str, envs: list[str], cache: ParseCache, parts: dict,
              run: Callable[[ir.Program, list[str]], dict[str, list[Diagnostic]]]) -> dict[str, list[Diagnostic]]:
    """Backend `name`'s findings on `program` per env of `envs`: from `cache` when the parts it
    read last time are as they were, else `run(tracked program, envs)`, stored under its reads.
    `parts`: shared by the backends of one validation of `program` (see `_digest`)."""
    global _reads
    key = hashlib.sha256(f"{cache.salt}\0{_code()}\0{name}\0{envs!r}".encode()).hexdigest()
    entry = cache.get(_KIND, key)
    if isinstance(entry, tuple) and len(entry) == 3:
        reads, digest, found = entry
        if _digest(program, reads, parts) == digest:
            return found
    _reads = set()
    try:
        found = run(tracked(program), envs)
        reads = frozenset(_reads)
    finally:
        _reads = None
    cache.put(_KIND, key, (reads, _digest(program, reads, parts), found))
    return found
