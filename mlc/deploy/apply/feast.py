"""The Feast feature repository: its files into the release, then only the changed objects
applied to the release's own copy of the registry.

`feast apply` of a whole repository re-applies every object and grows faster than linearly
with their number (500 views take ~17 s here), so this applier does not run it: a worker in
the serving engine (`mlc/deploy/templates/feast_apply.py`, Feast's Python API, never imported
by mlc) loads the new definitions incrementally (only the chunks that changed, and those
reading them), compares each object's spec with the digests the previous release kept, and
calls `FeatureStore.apply` with the changed ones and deletes the removed ones. The worker is
warm (`mlc.deploy.feast_worker`: `import feast` once for many deploys), else run once for
this request. The new release's registry starts as a copy of the current release's, so the
current registry is never written: a failed deploy, or a rollback, leaves it whole. The online
store's data is not versioned: one store kept beside the releases (`ROOT/feast-online`).
A change of `feature_store.yaml` applies every object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from mlc.deploy import engines, feast_worker
from mlc.deploy.apply import FEAST_ONLINE, ApplyError, FileApplier, Release
from mlc.deploy.plan import Change
from mlc.targets.layout import Layout


def _one_shot(python: Path, request: dict, cwd: Path, env: dict[str, str]) -> tuple[dict, str]:
    """The worker script run once for this request: its result and its log."""
    # -P: nothing is imported from the worker's own folder
    done = subprocess.run([str(python), "-P", str(feast_worker.SCRIPT)], input=json.dumps(request), capture_output=True,
                          text=True, cwd=cwd, env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    if done.returncode != 0 and "error" not in result:
        result = {"error": f"the worker exited with {done.returncode}"}
    return result, done.stderr


class FeastApplier(FileApplier):
    target = "feast"
    what = "repository file"

    def plan(self, changes: list[Change]) -> list[str]:
        defs = [c for c in changes if c.kind == "feast-definitions" or c.path == Layout.feast_store_yaml()]
        out = super().plan(changes)
        if defs:
            out.append("feast apply of the objects whose definition changed (partial, into a copy of the registry)")
        return out

    def apply(self, changes: list[Change], release: Release) -> dict:
        super().apply(changes, release)
        if not any(c.kind == "feast-definitions" or c.path == Layout.feast_store_yaml() for c in changes):
            return dict(release.state)  # the runtime or .feastignore only: nothing to apply
        repo = Layout.feast_repo()
        serving = engines.require(release.config.engines, "serving", self.target)
        previous = release.previous / repo if release.previous else None
        request = {"repo": str(release.folder / repo), "previous": str(previous) if previous else None,
                   "online": str(release.config.root / FEAST_ONLINE),
                   "full": any(c.path == Layout.feast_store_yaml() for c in changes)}
        env = {**os.environ, "FEAST_USAGE": "False", "MLC_PROJECT_ROOT": str(release.config.project_root)}
        cwd = release.folder / repo
        warm = feast_worker.request(release.config.root, serving.python, request, cwd, env) \
            if feast_worker.enabled() else None
        result, log = warm if warm is not None else _one_shot(serving.python, request, cwd, env)
        if "error" in result:
            definitions = next((c.path for c in changes if c.kind == "feast-definitions"), changes[0].path)
            raise ApplyError(self.target, definitions, f"feast apply failed: {result['error']}",
                             help="the worker's log: " + (log.strip()[-2000:] or "(empty)"))
        # the warm worker's CPU is not this process's child's: kept, so a benchmark can count it
        return {"applied": len(result["applied"]), "deleted": len(result["deleted"]), "objects": result["objects"],
                "apply_seconds": result["apply_seconds"], "load_seconds": result["load_seconds"],
                "chunks_run": result["chunks_run"], "worker": "warm" if warm is not None else "one-shot",
                **({"worker_cpu_seconds": result["worker_cpu_seconds"]} if warm is not None else {})}

    def carry(self, release: Release) -> None:
        """An unchanged repository keeps its registry: the files of the previous release's repo
        folder that are not artifacts (the registry, the spec digests) are copied, never
        linked (the next deploy writes them), and links (the online store) recreated."""
        if release.previous is None:
            return
        old = release.previous / Layout.feast_repo()
        for src in sorted(old.rglob("*")) if old.is_dir() else ():
            rel = src.relative_to(release.previous).as_posix()
            dst = release.folder / rel
            if "__pycache__" in src.parts or rel in release.texts or dst.exists() or dst.is_symlink():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            elif src.is_file():
                shutil.copy2(src, dst)


APPLIER = FeastApplier()
