"""Reading source files safely, and the on-disk parse cache keyed by content hash.

A file that is binary, not UTF-8 or too large is reported as a diagnostic,
never as a traceback. Parsed modules are cached by the hash of (mlc version,
grammar, path, text), so a check after editing one file of a large project
re-parses only that file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from mlc import __version__
from mlc.diagnostics import Diagnostic, Span, error

MAX_FILE_BYTES = 16 * 1024 * 1024


def read_source(path: Path, display: str) -> tuple[str | None, list[Diagnostic]]:
    """The text of a source file, or None and a diagnostic saying why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, [error("E0012", f"file is too large to be a program ({size / 2**20:.1f} MiB; "
                                         f"the limit is {MAX_FILE_BYTES // 2**20} MiB)", Span(display, 1, 1, 1, 1))]
        data = path.read_bytes()
    except OSError as e:
        return None, [error("E0013", f"cannot read the file: {e.strerror or e}", None,
                            notes=(f"file: {display}",))]
    if b"\x00" in data[:8192]:
        return None, [error("E0011", "this is a binary file, not a .flow program", Span(display, 1, 1, 1, 1),
                            help="remove it from the project's sources or exclude it in mlc.toml")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        # in characters, as every other column: the line up to the bad byte is valid UTF-8
        col = len(before[before.rfind(b"\n") + 1:].decode("utf-8")) + 1
        return None, [error("E0010", f"the file is not valid UTF-8 (byte 0x{data[e.start]:02x})",
                            Span(display, line, col, line, col + 1),
                            help="save the file as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, []


def _code_fingerprint() -> str:
    """The code that makes what is cached (front ends, resolution, lowering, checks, the
    backends' validation, and the diagnostics they report): a change to it, even without a
    version bump, is another cache."""
    import mlc

    package = Path(mlc.__file__).parent
    h = hashlib.sha256((package / "diagnostics.py").read_bytes())
    for folder in ("dsl", "compiler", "stdlib", "targets"):
        for f in sorted((package / folder).rglob("*")):
            if f.suffix in (".py", ".lark", ".flow") and "__pycache__" not in f.parts:
                h.update(f.name.encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def default_mode(base: int = 0o666) -> int:
    """The mode the umask gives a new file (`base` 0o666) or folder (0o777). Temporary files
    and folders are made 0600/0700; what is renamed into place must not keep that."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def write_atomically(path: Path, text: str) -> None:
    """Writes a file atomically (a temporary file in the same folder, then rename), keeping
    the mode of the file it replaces, or giving a new file the umask's: a reader never sees
    half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except OSError:
        mode = default_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_CACHE_MARKERS = {
    ".gitignore": "# Created by mlc automatically.\n*\n",
    "CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n"
                    "# This file is a cache directory tag created by mlc.\n"
                    "# For information about cache directory tags, see https://bford.info/cachedir/\n",
}


def unpickle(data: bytes):
    """A cached value, or None for an entry that is damaged or was written by other code."""
    try:
        return pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError, IndexError):
        return None


class ParseCache:
    """Pickled values per (kind, key) under `root`; writes are atomic, reads never fail loudly.

    Keys hash (mlc version, the compiler's code and grammar, path, text), so an entry can never be stale:
    a change to any of them is a different key.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        # the code fingerprint covers the grammar too: it is a file of the package
        self.salt = hashlib.sha256(f"{__version__}\0{_code_fingerprint()}".encode()).hexdigest()
        self._folders: set[Path] = set()  # made (or found) in this run: a first run writes thousands

    def key(self, display: str, text: str) -> str:
        h = hashlib.sha256(self.salt.encode())
        h.update(display.encode())
        h.update(b"\0")
        h.update(text.encode())
        return h.hexdigest()

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def get(self, kind: str, key: str):
        data = self.get_bytes(kind, key)
        return unpickle(data) if data is not None else None

    def get_bytes(self, kind: str, key: str) -> bytes | None:
        try:
            with open(self._path(kind, key), "rb") as f:
                return f.read()
        except OSError:
            return None

    def put(self, kind: str, key: str, value) -> None:
        self.put_bytes(kind, key, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def put_bytes(self, kind: str, key: str, data: bytes) -> None:
        target = self._path(kind, key)
        tmp = None
        try:
            if target.parent not in self._folders:
                if not self.root.is_dir():
                    self._create_root()
                target.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(target.parent)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except OSError:
            if tmp is not None:  # a read-only or full disk still checks; it only loses the speed-up
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def _create_root(self) -> None:
        """The cache folder, marked as one (as pytest and ruff mark theirs): git ignores it
        without an entry in the project's .gitignore, and backup tools skip it."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name, text in _CACHE_MARKERS.items():
            with open(self.root / name, "w", encoding="utf-8") as f:
                f.write(text)

    def drop(self, kind: str, key: str) -> None:
        try:
            os.unlink(self._path(kind, key))
        except OSError:
            pass
