"""BentoML services: each changed service folder (`bentoml/MODEL/`) built into the local
store (`ROOT/bentoml`, `BENTOML_HOME`) with `bentoml build` of the serving engine.

A Bento's version is the digest of its folder's artifacts, so the same service is built
once, and a build never replaces one: the store only grows. Which Bento serves each model
is the release's record (`release.json`: applied.bentoml.services), so the current release
names the current Bentos, a failed deploy leaves them as they were and a rollback goes
back to the previous release's. Unchanged services keep the tag of the release before.
A service whose models are not in the store yet (no training run so far) cannot be built:
it is recorded as `pending: ...` and the deploy goes on; the flow that trains the model
builds it (the Airflow helper `_mlc_deploy`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import PurePosixPath

from mlc.deploy import engines
from mlc.deploy.apply import BENTO_STORE, ApplyError, FileApplier, Release
from mlc.deploy.plan import REMOVE, Change
from mlc.targets.layout import Layout


def _service(path: str) -> str:
    """The served model whose folder (`layout.bento_folder`) holds `path`."""
    return PurePosixPath(path).relative_to(Layout.bento_root()).parts[0]


def store(release: Release):
    return release.config.root / BENTO_STORE


class BentoApplier(FileApplier):
    target = "bentoml"
    what = "service file"

    def plan(self, changes: list[Change]) -> list[str]:
        built = sorted({_service(c.path) for c in changes if c.action != REMOVE})
        return super().plan(changes) + ([f"bentoml build {', '.join(built)}"] if built else [])

    def apply(self, changes: list[Change], release: Release) -> dict:
        super().apply(changes, release)
        services = dict(release.state.get("services", {}))
        touched = sorted({_service(c.path) for c in changes})
        serving = None
        for name in touched:
            folder = release.folder / Layout.bento_folder(name)
            files = sorted(p for p in release.texts if p.startswith(f"{Layout.bento_folder(name)}/"))
            if not files:  # the service is gone
                services.pop(name, None)
                continue
            digest = hashlib.sha256("".join(f"{p}\0{release.texts[p]}\0" for p in files).encode()).hexdigest()[:16]
            tag = f"{name}:{digest}"
            services[name] = tag
            if (store(release) / "bentos" / name / digest).is_dir():
                continue  # built before (a rollback and back): the store keeps it
            serving = serving or engines.require(release.config.engines, "serving", self.target)
            env = {**os.environ, "BENTOML_HOME": str(store(release)), "BENTOML_DO_NOT_TRACK": "True",
                   "MLC_FEAST_REPO": str(release.folder / Layout.feast_repo()), "MLC_PROJECT_ROOT": str(release.config.project_root)}
            done = subprocess.run([str(engines.program(release.config.engines, "serving", "bentoml")), "build", "--version", digest, "-o", "tag", "."],
                                  cwd=folder, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0 and "could not be found locally" in done.stderr + done.stdout:
                # the models are trained by a flow that has not run yet; its deploy step builds then
                services[name] = "pending: " + next(line for line in (done.stderr + done.stdout).splitlines()
                                                    if "could not be found locally" in line).split(": ", 2)[-1]
                continue
            if done.returncode != 0:
                lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
                raise ApplyError(self.target, Layout.bentofile(name),
                                 f"bentoml build of `{name}` failed: {lines[-1]}",
                                 help="its output ends with:\n    " + "\n    ".join(lines[-12:]))
        return {"services": dict(sorted(services.items()))}


APPLIER = BentoApplier()
