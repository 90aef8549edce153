"""A long-lived Feast process for the tests (`import feast` costs ~10 s: once per session).

Run with the serving environment's python: `python feast_worker.py`. Reads one JSON request
per line on stdin and answers each with one line `@@mlc-worker@@ {json}` on stdout (the
protocol of tests/spark_flink/worker.py, so its client serves both).

Requests (each with `repo`, a generated feature repository, and `env`, variables set
while it runs, e.g. MLC_PROJECT_ROOT):
- init {name, template, path}: `feast init -t TEMPLATE` into path (Feast's own repo).
- apply: `feast apply` of the repo (apply_total, as the CLI does); answers the seconds.
- objects: what the registry holds after apply, as plain data, for comparisons.
- materialize {start, end, views}: store.materialize; answers the seconds.
- online {features | service, rows}: get_online_features(...).to_dict() (full names).
- training_set {service, rows}: the bundle runtime's training_set (runtime path given).
- odfv {view, inputs}: the on-demand view's transformation applied to an input frame.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

MARK = "@@mlc-worker@@ "
_out = sys.stdout


def reply(obj: dict) -> None:
    _out.write(MARK + json.dumps(obj, default=_plain) + "\n")
    _out.flush()


def _plain(v):
    if isinstance(v, dt.datetime):
        return v.astimezone(dt.UTC).isoformat() if v.tzinfo else v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def clean(v):
    """NaN and pandas' missing values as None, numpy scalars as Python values."""
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is not None and type(v).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(v, "to_pydatetime"):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return _plain(v)
    return v


@contextlib.contextmanager
def environ(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def store(repo: str):
    from feast import FeatureStore

    return FeatureStore(repo_path=repo)


def apply(repo: str) -> float:
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    path = Path(repo)
    started = time.monotonic()
    sys.path.insert(0, str(path))
    try:
        apply_total(load_repo_config(path, path / "feature_store.yaml"), path, skip_source_validation=False)
    finally:
        sys.path.remove(str(path))
        # the next repo's definitions.py must be imported afresh
        for name in [m for m in sys.modules if m == "definitions" or m.startswith("definitions.")]:
            del sys.modules[name]
    return time.monotonic() - started


def _dtype(t) -> str:
    return str(t)


def objects(repo: str) -> dict:
    """Entities, feature views, on-demand views and feature services of the registry."""
    fs = store(repo)
    project = fs.project
    reg = fs.registry
    out = {"entities": {}, "feature_views": {}, "on_demand_feature_views": {}, "feature_services": {},
           "project": {"description": reg.get_project(project).description}}
    for e in reg.list_entities(project):
        out["entities"][e.name] = {"join_key": e.join_key, "value_type": str(e.value_type)}
    for v in reg.list_feature_views(project):
        out["feature_views"][v.name] = {
            "entities": sorted(v.entities),
            "join_keys": sorted(c.name for c in v.entity_columns),
            "schema": [[f.name, _dtype(f.dtype)] for f in v.features],
            "ttl_s": v.ttl.total_seconds() if v.ttl is not None else None,
            "online": v.online,
            "tags": dict(v.tags), "owner": v.owner, "description": v.description,
            "descriptions": {f.name: f.description for f in v.features if f.description},
            "enable_validation": v.enable_validation, "version": v.version,
            "source": type(v.stream_source or v.batch_source).__name__,
            "materialized": [[a.isoformat(), b.isoformat()] for a, b in v.materialization_intervals],
        }
    out["label_views"] = {
        v.name: {"schema": [[f.name, _dtype(f.dtype)] for f in v.features], "entities": sorted(v.entities),
                 "labeler": v.labeler_field, "conflict": str(v.conflict_policy), "tags": dict(v.tags)}
        for v in reg.list_label_views(project)}
    for v in reg.list_on_demand_feature_views(project):
        out["on_demand_feature_views"][v.name] = {
            "schema": [[f.name, _dtype(f.dtype)] for f in v.features],
            "sources": sorted(list(v.source_feature_view_projections) + list(v.source_request_sources)),
            "mode": str(v.mode), "version": v.version,
        }
    out["service_logging"] = {}
    for s in reg.list_feature_services(project):
        out["feature_services"][s.name] = {
            p.name: sorted(f.name for f in p.features) for p in s.feature_view_projections}
        log = s.logging_config
        out["service_logging"][s.name] = None if log is None else {
            "destination": type(log.destination).__name__, "sample_rate": log.sample_rate}
    return out


def online(req: dict) -> dict:
    fs = store(req["repo"])
    features = fs.get_feature_service(req["service"]) if req.get("service") else req["features"]
    got = fs.get_online_features(features=features, entity_rows=req["rows"], full_feature_names=True).to_dict()
    return clean(got)


def materialize(req: dict) -> float:
    fs = store(req["repo"])
    start = dt.datetime.fromisoformat(req["start"])
    end = dt.datetime.fromisoformat(req["end"])
    started = time.monotonic()
    fs.materialize(start_date=start, end_date=end, feature_views=req.get("views"))
    return time.monotonic() - started


_runtimes: dict[str, object] = {}


def runtime(path: str):
    if path not in _runtimes:
        spec = importlib.util.spec_from_file_location(f"mlc_feast_runtime_{len(_runtimes)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _runtimes[path] = module
    return _runtimes[path]


def training_set(req: dict) -> list[dict]:
    rt = runtime(req["runtime"])
    with environ(req.get("step_env") or {}):
        frame = rt.training_set(req["rows"], repo=req.get("repo_arg"), service=req.get("service_arg"))
    return clean(frame.to_dict("records"))


def odfv(req: dict) -> dict:
    """The view's pandas transformation of a frame made of `inputs` (columns of values)."""
    import pandas as pd

    fs = store(req["repo"])
    view = fs.get_on_demand_feature_view(req["view"])
    frame = pd.DataFrame(req["inputs"])
    got = view.feature_transformation.udf(frame)
    return clean({c: list(got[c]) for c in got.columns})


def handle(req: dict) -> dict:
    cmd = req["cmd"]
    if cmd == "ping":
        return {"ok": True}
    with environ(req.get("env") or {}):
        if cmd == "init":
            # Feast's own template, as `feast init -t TEMPLATE` writes it (its data included)
            from feast.repo_operations import init_repo

            init_repo(req["name"], req["template"], req["path"])
            return {"ok": True}
        if cmd == "apply":
            return {"ok": True, "seconds": apply(req["repo"])}
        if cmd == "objects":
            return {"ok": True, "objects": objects(req["repo"])}
        if cmd == "materialize":
            return {"ok": True, "seconds": materialize(req)}
        if cmd == "online":
            return {"ok": True, "values": online(req)}
        if cmd == "training_set":
            return {"ok": True, "rows": training_set(req)}
        if cmd == "odfv":
            return {"ok": True, "values": odfv(req)}
    return {"ok": False, "error": f"unknown command {cmd}"}


def main() -> None:
    started = time.time()
    warnings.filterwarnings("ignore")
    try:
        import feast  # noqa: F401  (the import is most of the start-up)

        reply({"ok": True, "ready": True, "seconds": time.time() - started})
    except Exception as e:  # noqa: BLE001  (Feast cannot start: say so and stop)
        reply({"ok": False, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()})
        return
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = handle(json.loads(line))
        except Exception as e:  # noqa: BLE001  (report the failure to the test, keep serving)
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}", "type": type(e).__name__,
                      "trace": traceback.format_exc()}
        reply(answer)


if __name__ == "__main__":
    main()
