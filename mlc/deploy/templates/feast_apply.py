"""Applies the changed objects of a Feast repository into its registry. Run by the Feast
applier (`mlc/deploy/apply/feast.py`) with the serving engine's Python, as a script:

    .engines/serving/bin/python -P feast_apply.py < request.json

Request: {"repo": new repo folder, "previous": the current release's repo folder or null,
"online": folder for the online store's files, "full": apply every object}. The new repo
starts from a copy of the previous registry; the objects whose definition differs from the
previous release's (compared as their protobuf specs) are applied, those gone are deleted,
the rest are not touched. Prints one JSON line: what was applied and deleted, or the error.

Feast is imported inside the functions only (mlc never imports an engine).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

MODULE = "mlc_feast_definitions"  # one name for both loads, so equal code pickles equally
SPECS = "mlc_specs.json"  # beside the registry: each object's spec digest, read by the next deploy


def _load(repo: Path) -> dict[tuple[str, str], object]:
    """Every Feast object defined by the repo's python files (not those .feastignore lists)."""
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource
    from feast.on_demand_feature_view import OnDemandFeatureView
    from feast.repo_operations import get_repo_files

    kinds = (Entity, DataSource, FeatureView, OnDemandFeatureView, FeatureService)
    found: dict[tuple[str, str], object] = {}
    sys.path.insert(0, str(repo))
    try:
        for path in get_repo_files(repo):
            sys.modules.pop(MODULE, None)
            spec = importlib.util.spec_from_file_location(MODULE, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[MODULE] = module
            spec.loader.exec_module(module)
            for obj in vars(module).values():
                if isinstance(obj, kinds):
                    found[(type(obj).__name__, obj.name)] = obj
                    source = getattr(obj, "batch_source", None)
                    if isinstance(source, DataSource):  # applied with its view, compared apart
                        found.setdefault((type(source).__name__, source.name), source)
    finally:
        sys.path.remove(str(repo))
        sys.modules.pop(MODULE, None)
    return found


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


def _digests(objects: dict) -> dict[str, str]:
    return {f"{kind} {name}": hashlib.sha256(_spec(obj)).hexdigest() for (kind, name), obj in sorted(objects.items())}


def main(request: dict) -> dict:
    started = time.perf_counter()
    repo = Path(request["repo"]).resolve()
    previous = Path(request["previous"]).resolve() if request.get("previous") else None
    config = _config(repo)
    new_registry = _registry(config, repo)
    old: dict[str, str] = {}
    old_objects: dict = {}
    if previous is not None and (previous / "feature_store.yaml").is_file():
        old_registry = _registry(_config(previous), previous)
        if old_registry.is_file():  # the new release starts from the current registry, copied
            new_registry.parent.mkdir(parents=True, exist_ok=True)
            new_registry.unlink(missing_ok=True)  # never write through a link into the current release
            shutil.copy2(old_registry, new_registry)
            kept = old_registry.with_name(SPECS)
            if kept.is_file():  # the digests the previous deploy kept: no need to load its definitions
                old = json.loads(kept.read_text())
            else:
                old_objects = _load(previous)
                old = _digests(old_objects)
    _keep_online_store(config, repo, Path(request["online"]))
    new = _load(repo)
    digests = _digests(new)
    full = request.get("full") or not old
    changed = [obj for (kind, name), obj in sorted(new.items())
               if full or old.get(f"{kind} {name}") != digests[f"{kind} {name}"]]
    gone_keys = sorted(set(old) - set(digests))
    loaded = time.perf_counter() - started
    if gone_keys:  # Feast deletes by object: the previous definitions are loaded for them
        old_objects = old_objects or _load(previous)
        gone = [old_objects[tuple(k.split(" ", 1))] for k in gone_keys]
    else:
        gone = []
    if changed or gone:  # the store is started only now, on the registry copied above
        _store(repo).apply(changed, objects_to_delete=gone, partial=not gone)
    new_registry.with_name(SPECS).write_text(json.dumps(digests, indent=0, sort_keys=True) + "\n")
    return {"applied": [f"{type(o).__name__} {o.name}" for o in changed],
            "deleted": [f"{type(o).__name__} {o.name}" for o in gone],
            "objects": len(new), "load_seconds": round(loaded, 3),
            "apply_seconds": round(time.perf_counter() - started - loaded, 3)}


if __name__ == "__main__":
    try:
        result = main(json.load(sys.stdin))
    except Exception as e:  # noqa: BLE001  (reported to the applier, which names the target and artifact)
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
    print(json.dumps(result))
