"""Parsing and lowering a project's files on every core.

A cold check of a large program is mostly parsing (three quarters of it) and
lowering, and both are per file: a file's parse needs only its text, its
lowering only its tree and what every file declares (the summaries). So the
files are spread over forked worker processes, each keeping the trees it
parsed until it lowers them: the trees never cross a process boundary, only
the summaries (small) and the lowered IR (pickled once, the bytes that the
cache stores anyway). Everything else (name resolution, assembly, the checks)
runs in the parent, on results put back in the files' order: the diagnostics
and the program are the same, in the same order, as a one-process run.

Workers are forked, not spawned: they start with the parent's modules and
grammar already loaded (a spawned interpreter would pay the imports again).
"""

from __future__ import annotations

import os
import pickle
import traceback
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from mlc.compiler.resolve import Summary
    from mlc.dsl.files import ParseCache

T = TypeVar("T")

# Below this much text to parse, forking the workers and shipping summaries
# costs more than parsing on one core saves (one example: ~20 kB).
MIN_BYTES = 512 * 1024


def default_jobs() -> int:
    return os.cpu_count() or 1


# one file to parse: (index in the run's file list, display path, text, cache key)
ParseItem = tuple[int, str, str, "str | None"]
# one file to lower: (index, display path, text, cache key or None, package it is read in or None)
LowerItem = tuple[int, str, str, "str | None", "str | None"]


class Workers:
    """The parent and `jobs - 1` forked processes; file i is lowered where it was parsed.

    The parent takes a share of the files itself: its own trees are lowered where they
    are, and its fragments need no pickling (measured on the 10% platform: lowering is
    0.8 s, pickling its IR 0.7 s and loading it back 0.6 s, so IR that crosses a process
    boundary costs more than lowering it)."""

    def __init__(self, jobs: int, cache: ParseCache | None) -> None:
        import multiprocessing  # here: a small project never starts a worker, nor pays the import

        context = multiprocessing.get_context("fork")
        self.cache = cache
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(jobs - 1):
            mine, theirs = context.Pipe()
            proc = context.Process(target=_serve, args=(theirs, cache), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)
        self.owner: dict[int, int] = {}  # file index -> slot (0: the parent, i: worker i - 1)
        self.trees: dict[int, object] = {}  # the parent's own

    def _spread(self, items: list) -> list[list]:
        """The items over the slots, largest first to the least loaded (file sizes vary from
        ten lines to thousands); an item whose tree a slot holds goes to it. Equal shares,
        the parent's too: parsing is most of the work, and the IR the workers send back is
        loaded while they are still lowering."""
        loads = [0.0] * (len(self.conns) + 1)
        batches: list[list] = [[] for _ in loads]
        for item in sorted(items, key=lambda it: (-len(it[2]), it[0])):
            w = self.owner.get(item[0])
            if w is None:
                w = loads.index(min(loads))
                self.owner[item[0]] = w
            batches[w].append(item)
            loads[w] += len(item[2])
        return batches

    def _ask(self, kind: str, batches: list[list], local, extra: tuple = (), load=None) -> dict:
        """Each slot's batch done: the parent's by `local(batch, out)`, which may take in what
        the workers have sent so far between its own files (`self._receive(out)`)."""
        for conn, batch in zip(self.conns, batches[1:]):
            conn.send((kind, (*extra, batch)))
        self.working, self.failure, self.load = list(self.conns), None, load
        out: dict = {}
        out.update(local(batches[0], out))
        self._receive(out, block=True)
        if self.failure is not None:
            raise RuntimeError(f"a check worker failed:\n{self.failure}")
        return out

    def _receive(self, out: dict, block: bool = False) -> None:
        """The parts of their results the workers still at work have sent, into `out`; with
        `block`, until each has sent its last."""
        for conn in list(self.working):
            while block or conn.poll():
                status, payload = conn.recv()
                if status == "error":
                    self.failure = payload
                else:
                    out.update(payload if self.load is None else
                               {i: (self.load(data), diags) for i, (data, diags) in payload.items()})
                if status != "part":
                    self.working.remove(conn)
                    break

    def parse(self, items: list[ParseItem]) -> dict[int, tuple]:
        """{index: (summary, diagnostics)} of each file."""
        return self._ask("parse", self._spread(items), lambda batch, _out: _parse(batch, self.cache, self.trees))

    def lower(self, summaries: list[Summary], resolver, fingerprint: bytes, items: list[LowerItem]) -> dict[int, tuple]:
        """{index: (fragment, diagnostics of lowering it)} of each file; the parent lowers its
        share with its own `resolver`. A worker sends its fragments pickled, a few at a time,
        and the parent loads them between its own files: loading them overlaps the workers'
        lowering instead of following it."""
        blob = pickle.dumps(summaries, protocol=pickle.HIGHEST_PROTOCOL)
        out = self._ask("lower", self._spread(items),
                        lambda batch, out: _lower_with(resolver, fingerprint, batch, self.cache, self.trees,
                                                       between=lambda: self._receive(out)),
                        (blob, fingerprint), load=pickle.loads)
        self._stop()  # lowering is their last work: the memory they hold is freed while the parent loads their IR
        return out

    def owns(self, index: int) -> bool:
        return index in self.owner

    def _stop(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop", None))
                conn.close()
            except OSError:
                pass
        self.conns = []

    def close(self) -> None:
        self._stop()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


class Pool:
    """Workers started on first need, and only for enough work to pay for them."""

    def __init__(self, jobs: int | None, cache: ParseCache | None) -> None:
        self.jobs = default_jobs() if jobs is None else max(1, jobs)
        self.forced = jobs is not None  # `--jobs N` asked: no minimum size (the tests use it)
        self.cache = cache
        self.workers: Workers | None = None

    def for_parsing(self, nbytes: int, nfiles: int) -> Workers | None:
        if nbytes >= MIN_BYTES:
            # importing croniter runs `file` in a subprocess (platform.architecture): a fork,
            # which shows this process's whole memory once more; here it is still small
            import croniter  # noqa: F401
        if self.workers is None and self.jobs > 1 and nfiles > 1 and (self.forced or nbytes >= MIN_BYTES):
            from mlc.dsl.parser import get_parser

            get_parser()  # built once here, inherited by every worker
            self.workers = Workers(min(self.jobs, nfiles), self.cache)
        return self.workers

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
            self.workers = None


def apart(compute: Callable[[], T]) -> Callable[[], T]:
    """`compute()` run in a forked process while this one goes on; the function returned waits
    for its result. For work that reads what this process holds (the assembled program: forked,
    the child reads it without a copy) and gives back little (diagnostics)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    proc = context.Process(target=_apart, args=(writer, compute), daemon=True)
    proc.start()
    writer.close()

    def result() -> T:
        try:
            status, payload = reader.recv()
        except EOFError:
            status, payload = "error", f"it ended with exit code {proc.exitcode} and no result"
        finally:
            reader.close()
            proc.join()
        if status == "error":
            raise RuntimeError(f"a check worker failed:\n{payload}")
        return payload
    return result


def _apart(conn: Connection, compute: Callable[[], object]) -> None:
    try:
        out = ("ok", compute())
    except Exception:  # an internal error: the parent reports it
        out = ("error", traceback.format_exc())
    conn.send(out)


def _serve(conn: Connection, cache: ParseCache | None) -> None:
    from mlc.compiler.driver import gc_paused

    trees: dict[int, object] = {}
    with gc_paused():
        while True:
            kind, payload = conn.recv()
            if kind == "stop":
                return
            try:
                if kind == "parse":
                    out = _parse(*payload, cache, trees)
                else:
                    out = _lower(*payload, cache, trees, lambda part: conn.send(("part", part)))
                conn.send(("ok", out))
            except Exception:  # an internal error: the parent reports it, not a silent hang
                conn.send(("error", traceback.format_exc()))


def _parse(items: list[ParseItem], cache: ParseCache | None, trees: dict) -> dict[int, tuple]:
    from mlc.compiler.driver import parse_file

    out = {}
    for index, display, text, key in items:
        module, summary, diags = parse_file(text, display, cache, key)
        trees[index] = module
        out[index] = (summary, diags)
    return out


# a worker sends its lowered IR in parts of about this many bytes of pickle
PART_BYTES = 1 << 20


def _lower(blob: bytes, fingerprint: bytes, items: list[LowerItem], cache: ParseCache | None,
           trees: dict, send) -> dict[int, tuple]:
    """Lowers `items`, sending `{index: (pickled fragment, diagnostics)}` parts through `send`;
    returns the last part."""
    from mlc.compiler.resolve import Resolver

    resolver = Resolver(pickle.loads(blob))
    resolver.diagnostics.clear()  # the parent reports those of the whole program, once
    return _lower_with(resolver, fingerprint, items, cache, trees, send=send)


def _lower_with(resolver, fingerprint: bytes, items: list[LowerItem], cache: ParseCache | None, trees: dict,
                send=None, between=None) -> dict[int, tuple]:
    """{index: (fragment, diagnostics)} of `items`; with `send`, the fragments pickled, and sent
    in parts as they add up (what is left is returned); `between` is called after each file."""
    from mlc.compiler.driver import lower_file, tree
    from mlc.compiler.lower import Lowering

    lowering = Lowering(resolver)
    out = {}
    size = 0
    for index, display, text, key, package in items:
        module = trees.pop(index, None) or tree(text, display, cache, key)
        fragment, data, diags = lower_file(lowering, module, package, cache, key, fingerprint, send is not None)
        out[index] = (data if send is not None else fragment, diags)
        if send is not None:
            size += len(data)
            if size >= PART_BYTES:
                send(out)
                out, size = {}, 0
        if between is not None:
            between()
    return out
