"""Applies the changed objects of a Feast repository into its registry. Run by the Feast
applier (`mlc/deploy/apply/feast.py`) with the serving engine's Python, either once per
deploy as a script:

    .engines/serving/bin/python -P feast_apply.py < request.json

or as a warm worker that serves the requests of many deploys (`mlc/deploy/feast_worker.py`
starts it; `import feast` costs more than the rest of a one-view redeploy):

    .engines/serving/bin/python -P feast_apply.py --serve FOLDER --key KEY --idle SECONDS

Request: {"repo": new repo folder, "previous": the current release's repo folder or null,
"online": folder for the online store's files, "full": apply every object}. The new repo
starts from a copy of the previous registry; the objects whose definition differs from the
previous release's (compared as their protobuf specs) are applied, those gone are deleted,
the rest are not touched. Prints one JSON line: what was applied and deleted, or the error.

Incremental load: a definitions file is cut into chunks (top-level statements separated by
two blank lines, as generated files are written); `mlc_specs.json` keeps, per file and
chunk, its text digest, the names it binds and uses, and the digests of the objects it
defines. A chunk whose text is unchanged and whose names' definitions are unchanged defines
the same objects, so only the new chunks, those using what they bind, and what those need
to run are executed and digested: a one-view change of 2,000 views runs a handful.

Feast is imported inside the functions only (mlc never imports an engine).
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import types
from pathlib import Path

MODULE = "mlc_feast_definitions"  # one name for every load, so equal code pickles equally
SPECS = "mlc_specs.json"  # beside the registry: each object's spec digest and each file's chunks
VERSION = 2  # of SPECS; version 1 was the flat {"Kind name": digest}
# a chunk ends before two blank lines followed by a statement at column 0
BOUNDARY = re.compile(r"\n\n\n(?=\S)")
# statements whose only effect is binding their names: chunks of these alone can run apart
SIMPLE = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


def _sha(data: str | bytes) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _kinds() -> tuple:
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource
    from feast.on_demand_feature_view import OnDemandFeatureView

    return Entity, DataSource, FeatureView, OnDemandFeatureView, FeatureService


# ------------------------------------------------------------------ chunks of a file
class Chunk:
    """Top-level statements of one file, run together: what they bind and use, and (once
    known) the digests of the Feast objects they define."""

    def __init__(self, text: str, line: int, record: dict | None = None) -> None:
        self.text, self.line, self.digest = text, line, _sha(text)
        self.tree: ast.Module | None = None
        self.objects: dict[str, str] | None = None
        if record is None:
            self.tree = ast.parse(text)
            self.binds, self.uses, self.imports, self.simple = _names(self.tree)
        else:
            self.binds, self.uses, self.imports = set(record["binds"]), set(record["uses"]), record["imports"]
            self.simple, self.objects = record["simple"], record["objects"]

    def code(self) -> ast.Module:
        """The chunk's statements, numbered as in its file (tracebacks, on-demand sources)."""
        tree = self.tree or ast.parse(self.text)
        return ast.increment_lineno(tree, self.line - 1)

    def record(self) -> dict:
        return {"digest": self.digest, "binds": sorted(self.binds), "uses": sorted(self.uses),
                "imports": self.imports, "simple": self.simple, "objects": self.objects}


def _names(tree: ast.Module) -> tuple[set[str], set[str], list[str], bool]:
    """What a chunk binds at module level, every name it reads (function bodies too: a
    superset is safe), the top-level modules it imports, and whether it only binds."""
    binds: set[str] = set()
    imports: set[str] = set()
    simple = True
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if not isinstance(stmt, SIMPLE):
            simple = False  # could change what another chunk bound
        elif isinstance(stmt, ast.ImportFrom):
            if stmt.level or any(a.name == "*" for a in stmt.names):
                simple = False  # binds names this file does not spell
            imports.add((stmt.module or "").split(".")[0])
            binds.update(a.asname or a.name for a in stmt.names)
        elif isinstance(stmt, ast.Import):
            imports.update(a.name.split(".")[0] for a in stmt.names)
            binds.update(a.asname or a.name.split(".")[0] for a in stmt.names)
        elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(stmt.name)
        else:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                simple = False  # an attribute or item assignment changes another chunk's object
            binds.update(t.id for t in targets if isinstance(t, ast.Name))
    uses = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return binds, uses, sorted(imports), simple


def _split(text: str, record: dict | None) -> list[Chunk]:
    """The file's chunks, those of the previous release's record reused by digest; one chunk
    of the whole file when its pieces cannot run apart (then nothing of it is reused)."""
    known = {c["digest"]: c for c in (record or {}).get("chunks", ())}
    pieces, start, line = [], 0, 1
    for m in BOUNDARY.finditer(text):
        pieces.append((text[start:m.start() + 1], line))
        line += text.count("\n", start, m.end())
        start = m.end()
    pieces.append((text[start:], line))
    try:
        chunks = [Chunk(piece, at, known.get(_sha(piece))) for piece, at in pieces]
    except SyntaxError:  # a boundary inside a string or a block
        return [Chunk(text, 1)]
    bound = [n for c in chunks for n in c.binds]
    if len(chunks) > 1 and (not all(c.simple for c in chunks) or len(bound) != len(set(bound))):
        return [Chunk(text, 1)]  # a name bound twice, or a statement with effects: the file runs whole
    return chunks


class Loaded:
    """A repository's definitions: every object's spec digest, computed only for the chunks
    that may have changed since the previous release (`records`: its files' records)."""

    def __init__(self, repo: Path, records: dict) -> None:
        from feast.repo_operations import get_repo_files

        self.repo = repo
        self.files: dict[str, dict] = {}  # path in the repo -> its record
        self.digests: dict[str, str] = {}
        self.found: dict[str, object] = {}  # the objects the chunks that ran define
        self.ran = 0
        local = {p.stem for p in repo.glob("*.py")} | {p.name for p in repo.iterdir() if p.is_dir()}
        for path in get_repo_files(repo):
            rel = path.relative_to(repo).as_posix()
            text = path.read_text(encoding="utf-8")
            old = records.get(rel)
            if old is not None and old["digest"] == _sha(text):
                self.files[rel] = old  # the same text under the same context: the same objects
            else:
                chunks = _split(text, old)
                found, ran = _run(path, chunks, _dirty(chunks, old))
                self.ran += ran
                for i, objs in found.items():
                    chunks[i].objects = {f"{k} {n}": _sha(_spec(o)) for (k, n), o in sorted(objs.items())}
                    self.found.update({f"{k} {n}": o for (k, n), o in objs.items()})
                self.files[rel] = {"digest": _sha(text), "chunks": [c.record() for c in chunks],
                                   "objects": {k: d for c in chunks for k, d in (c.objects or {}).items()}}
            self.digests.update(self.files[rel]["objects"])
        # a file importing another of the repository reads its objects: none can be reused then
        self.crossed = any(set(c["imports"]) & local for r in self.files.values() for c in r["chunks"])


def _dirty(chunks: list[Chunk], old: dict | None) -> set[int]:
    """The chunks whose objects may differ from the previous release's: the new ones, and
    those reading a name a new or removed chunk binds (to a fixed point)."""
    dirty = {i for i, c in enumerate(chunks) if c.objects is None}
    names = {n for i in dirty for n in chunks[i].binds}
    present = {c.digest for c in chunks}
    names |= {n for c in (old or {}).get("chunks", ()) if c["digest"] not in present for n in c["binds"]}
    grew = True
    while grew:
        grew = False
        for i, c in enumerate(chunks):
            if i not in dirty and c.uses & names:
                dirty.add(i)
                names |= c.binds
                grew = True
    return dirty


def _run(path: Path, chunks: list[Chunk], wanted: set[int]) -> tuple[dict[int, dict[tuple[str, str], object]], int]:
    """Runs the wanted chunks and the chunks they need (what binds the names they read), in
    file order, as one module; returns each wanted chunk's Feast objects, and how many ran."""
    if not wanted:
        return {}, 0
    binder = {n: i for i, c in enumerate(chunks) for n in c.binds}
    need, todo = set(wanted), list(wanted)
    while todo:
        for n in chunks[todo.pop()].uses:
            j = binder.get(n)
            if j is not None and j not in need:
                need.add(j)
                todo.append(j)
    body = [stmt for i in sorted(need) for stmt in chunks[i].code().body]
    code = compile(ast.Module(body=body, type_ignores=[]), str(path), "exec")
    module = types.ModuleType(MODULE)
    module.__file__ = str(path)
    kinds = _kinds()
    sys.modules[MODULE] = module
    sys.path.insert(0, str(path.parent))
    try:
        exec(code, vars(module))  # noqa: S102  (the repository's own definitions, as feast apply runs them)
    finally:
        sys.path.remove(str(path.parent))
        sys.modules.pop(MODULE, None)
    found: dict[int, dict[tuple[str, str], object]] = {}
    for i in sorted(wanted):
        mine: dict[tuple[str, str], object] = {}
        for name in sorted(chunks[i].binds):
            obj = vars(module).get(name)
            if isinstance(obj, kinds):
                mine[(type(obj).__name__, obj.name)] = obj
                source = getattr(obj, "batch_source", None)
                if isinstance(source, kinds[1]):  # applied with its view, compared apart
                    mine.setdefault((type(source).__name__, source.name), source)
        found[i] = mine
    return found, len(need)


def _objects(repo: Path, records: dict, keys: set[str]) -> dict[str, object]:
    """The objects named `keys` of a repository whose files' `records` are known (Feast
    deletes by object): only the chunks defining them, and what those need, are run."""
    from feast.repo_operations import get_repo_files

    out: dict[str, object] = {}
    for path in get_repo_files(repo):
        record = records.get(path.relative_to(repo).as_posix())
        chunks = _split(path.read_text(encoding="utf-8"), record)
        wanted = {i for i, c in enumerate(chunks) if c.objects is None or keys & set(c.objects)}
        found, _ = _run(path, chunks, wanted)
        for objs in found.values():
            out.update({f"{k} {n}": o for (k, n), o in objs.items() if f"{k} {n}" in keys})
    return out


# ------------------------------------------------------------------ specs
STAMPS = ("created_timestamp", "last_updated_timestamp")


def _scrub(message) -> None:
    """Clears what differs between two loads of the same definition: the times Feast stamps
    on an object when it is constructed (a data source's meta, nested in its views' specs
    too), and an on-demand function's pickle, which holds the file it was loaded from (each
    release has its own folder); its source text (`body_text`) is compared instead."""
    from google.protobuf.message import Message

    if "body" in message.DESCRIPTOR.fields_by_name and "body_text" in message.DESCRIPTOR.fields_by_name:
        message.ClearField("body")
    for field, value in message.ListFields():
        if field.name in STAMPS:
            message.ClearField(field.name)
        elif isinstance(value, Message):
            _scrub(value)
        elif field.type == field.TYPE_MESSAGE:  # a repeated field or a map of messages
            for item in (value.values() if hasattr(value, "values") else value):
                if isinstance(item, Message):
                    _scrub(item)


def _spec(obj) -> bytes:
    proto = obj.to_proto()
    _scrub(proto)
    return proto.SerializeToString(deterministic=True)


def _store(repo: Path):
    from feast import FeatureStore

    return FeatureStore(repo_path=str(repo))


def _config(repo: Path):
    """The repository's configuration, read without starting a FeatureStore."""
    from feast.repo_config import load_repo_config

    return load_repo_config(repo, repo / "feature_store.yaml")


def _keep_online_store(config, repo: Path, online: Path) -> None:
    """A sqlite online store written inside the release would start empty at every release:
    its file is a link to one kept beside the releases (online data is not versioned)."""
    cfg = config.online_store
    if getattr(cfg, "type", None) != "sqlite" or not getattr(cfg, "path", None):
        return
    path = Path(cfg.path) if os.path.isabs(cfg.path) else repo / cfg.path
    if repo.resolve() not in path.resolve().parents or path.is_symlink():
        return
    online.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(online / path.name, path)


def _registry(config, repo: Path) -> Path:
    path = Path(config.registry.path)
    return path if path.is_absolute() else repo / path


def _context(repo: Path) -> str:
    """What every chunk's objects also depend on: a chunk's record is reused only under the
    same one (the generated files read MLC_PROJECT_ROOT, else the working folder)."""
    import feast

    return _sha(json.dumps([os.environ.get("MLC_PROJECT_ROOT") or os.getcwd(), feast.__version__,
                            (repo / "feature_store.yaml").read_text(encoding="utf-8"),
                            _sha(Path(__file__).read_bytes())]))


def _read_specs(path: Path) -> dict:
    if not path.is_file():
        return {}
    kept = json.loads(path.read_text(encoding="utf-8"))
    return kept if kept.get("version") == VERSION else {"objects": kept}  # version 1: the digests only


def main(request: dict) -> dict:
    started = time.perf_counter()
    repo = Path(request["repo"]).resolve()
    previous = Path(request["previous"]).resolve() if request.get("previous") else None
    config = _config(repo)
    new_registry = _registry(config, repo)
    kept: dict = {}
    if previous is not None and (previous / "feature_store.yaml").is_file():
        old_registry = _registry(_config(previous), previous)
        if old_registry.is_file():  # the new release starts from the current registry, copied
            new_registry.parent.mkdir(parents=True, exist_ok=True)
            new_registry.unlink(missing_ok=True)  # never write through a link into the current release
            shutil.copy2(old_registry, new_registry)
            kept = _read_specs(old_registry.with_name(SPECS))
            if not kept:  # no digests kept: the previous definitions are loaded whole
                was = Loaded(previous, {})
                kept = {"objects": was.digests, "files": was.files}
    _keep_online_store(config, repo, Path(request["online"]))
    context = _context(repo)
    records = kept.get("files", {}) if kept.get("context") == context else {}
    loaded = Loaded(repo, records)
    if loaded.crossed and records:
        loaded = Loaded(repo, {})
    old = kept.get("objects", {})
    full = request.get("full") or not old
    changed_keys = {k for k, d in loaded.digests.items() if full or old.get(k) != d}
    unloaded = changed_keys - set(loaded.found)  # reused under `full`: run now
    changed_objects = {**{k: loaded.found[k] for k in changed_keys & set(loaded.found)},
                       **(_objects(repo, loaded.files, unloaded) if unloaded else {})}
    changed = [changed_objects[k] for k in sorted(changed_keys)]
    gone_keys = set(old) - set(loaded.digests)
    gone_objects = _objects(previous, kept.get("files", {}), gone_keys) if gone_keys else {}
    gone = [gone_objects[k] for k in sorted(gone_keys)]
    load_seconds = time.perf_counter() - started
    if changed or gone:  # the store is started only now, on the registry copied above
        _store(repo).apply(changed, objects_to_delete=gone, partial=not gone)
    new_registry.parent.mkdir(parents=True, exist_ok=True)
    new_registry.with_name(SPECS).write_text(json.dumps(
        {"version": VERSION, "context": context, "objects": loaded.digests, "files": loaded.files},
        sort_keys=True) + "\n")
    return {"applied": [f"{type(o).__name__} {o.name}" for o in changed],
            "deleted": [f"{type(o).__name__} {o.name}" for o in gone],
            "objects": len(loaded.digests), "chunks_run": loaded.ran, "load_seconds": round(load_seconds, 3),
            "apply_seconds": round(time.perf_counter() - started - load_seconds, 3)}


def one_shot() -> None:
    try:
        result = main(json.load(sys.stdin))
    except Exception as e:  # noqa: BLE001  (reported to the applier, which names the target and artifact)
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(result))


# ------------------------------------------------------------------ the warm worker
SOCKET, PIDFILE = "sock", "worker.json"  # in the worker's folder (mlc/deploy/feast_worker.py names them too)


def _answer(message: dict) -> dict:
    """Runs one request as the one-shot script would run it: in its folder, with its
    environment, its output captured (the applier shows it on failure); afterwards every
    module loaded from the repositories is forgotten, so the next release's files (its
    runtime, say) are imported afresh rather than an older release's reused."""
    request = message["request"]
    # as given and resolved: a module's __file__ is the sys.path entry it was found under
    folders = tuple(f"{f}{os.sep}" for p in (request.get("repo"), request.get("previous")) if p
                    for f in {p.rstrip(os.sep), str(Path(p).resolve())})
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    cpu = time.process_time()
    with tempfile.TemporaryFile() as log:
        sys.stdout.flush()
        sys.stderr.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)  # at the descriptors: Feast's log handlers hold the old sys.stderr
        os.dup2(log.fileno(), 2)
        try:
            os.environ.clear()
            os.environ.update(message["env"])
            os.chdir(message["cwd"])
            result = main(request)
        except (Exception, SystemExit) as e:  # noqa: BLE001  (reported to the applier, as the one-shot
            result = {"error": f"{type(e).__name__}: {e}"}  # script does; a definition's exit() ends no worker
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, saved in zip((1, 2), saved_fds):
                os.dup2(saved, fd)
                os.close(saved)
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
            for name, module in list(sys.modules.items()):
                if (getattr(module, "__file__", None) or "").startswith(folders):
                    del sys.modules[name]
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    result["worker_cpu_seconds"] = round(time.process_time() - cpu, 3)
    return {"result": result, "log": text[-20000:]}


def serve(folder: Path, key: str, idle: float) -> None:
    """Answers requests on the unix socket FOLDER/sock, one at a time, until one asks it to
    stop or none came for `idle` seconds."""
    _kinds()  # the point of a warm worker: Feast imported once, before the first request
    import feast.feature_store  # noqa: F401
    import feast.repo_config  # noqa: F401
    import feast.repo_operations  # noqa: F401

    os.chdir(folder)  # bound by its short relative name: a socket's path is limited to 107 bytes
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    Path(SOCKET).unlink(missing_ok=True)
    server.bind(SOCKET)
    server.listen(4)
    server.settimeout(idle)
    me = {"pid": os.getpid(), "key": key}
    Path(PIDFILE + ".tmp").write_text(json.dumps(me))
    os.replace(PIDFILE + ".tmp", PIDFILE)
    try:
        while True:
            try:
                conn, _ = server.accept()
            except socket.timeout:
                break  # idle: the next deploy starts another
            with conn:
                conn.settimeout(None)
                message = json.loads(conn.makefile("rb").readline() or b"{}")
                op = message.get("op")
                reply = _answer(message) if op == "apply" else me
                conn.sendall(json.dumps(reply).encode() + b"\n")
            if op == "stop":
                break
    finally:
        server.close()
        os.chdir(folder)
        if json.loads(Path(PIDFILE).read_text() or "{}").get("pid") == os.getpid():  # not a successor's
            Path(SOCKET).unlink(missing_ok=True)
            Path(PIDFILE).unlink(missing_ok=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
        serve(Path(args["--serve"]), args["--key"], float(args["--idle"]))
    else:
        one_shot()
