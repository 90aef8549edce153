"""Appliers: one per target kind, each putting that target's changed artifacts into a release.

A deploy computes the plan (`mlc.deploy.plan`), builds the new release beside the current
one (unchanged artifacts carried over without being written again), hands each target's
changes to its applier, and only when every applier has succeeded makes the release
current. So an applier works only inside the release it is given and must leave the
current one alone; whatever it raises aborts the deploy with the previous release current.

An applier module exposes `APPLIER`, an object with:
- `target`: the backend it deploys (`TARGETS` of `mlc.targets`);
- `plan(changes) -> list[str]`: what applying these changes does in the engine, in words
  (shown by `mlc plan` under the target);
- `apply(changes, release) -> dict`: does it; what it returns is kept in the release's
  `release.json` under the target (a built service's tag, say);
- `rollback(release) -> None`: called with the release being made current again by
  `mlc deploy --rollback`, before the switch;
- `carry(release) -> None`: the target has no change in this deploy; its artifacts are
  already carried, and this brings along what else it keeps in a release (Feast's registry).

Adding a target's applier touches its module and one line of `APPLIERS`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Protocol

from mlc.deploy.config import DeployConfig
from mlc.deploy.plan import REMOVE, Change

# The deploy root's own folders (`mlc.deploy.local` draws the root), named once for the
# deploy and its appliers; what is inside a release is the bundle (`mlc.targets.layout`).
RELEASES, CURRENT = "releases", "current"
AIRFLOW_HOME, BENTO_STORE, FEAST_ONLINE = "airflow", "bentoml", "feast-online"
RUNTIMES = "runtimes"   # the environments of the step runtimes ($MLC_RUNTIMES, mlc.deploy.runtimes)

# target -> applier module, in the order a deploy applies them: the jobs and the feature
# store before the DAGs that run them.
APPLIERS: dict[str, str] = {
    "spark": "mlc.deploy.apply.spark",
    "flink": "mlc.deploy.apply.flink",
    "feast": "mlc.deploy.apply.feast",
    "bentoml": "mlc.deploy.apply.bentoml",
    "airflow": "mlc.deploy.apply.airflow",
    "prometheus": "mlc.deploy.apply.prometheus",  # the rules watch what the others deploy
}


class ApplyError(Exception):
    """An applier failed: `target` and `artifact` (a bundle path, or None) say where."""

    def __init__(self, target: str, artifact: str | None, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.target, self.artifact, self.message, self.help = target, artifact, message, help


@dataclass
class Release:
    """The release an applier works in: `folder` is being built and not yet current;
    `previous` is the current release's folder (None on a first deploy)."""

    id: str
    folder: Path
    previous: Path | None
    config: DeployConfig
    texts: dict[str, str]  # bundle path -> text, for every compiled artifact
    state: dict = field(default_factory=dict)  # the previous release's release.json "applied"


class Applier(Protocol):
    target: str

    def plan(self, changes: list[Change]) -> list[str]: ...

    def apply(self, changes: list[Change], release: Release) -> dict: ...

    def rollback(self, release: Release) -> None: ...

    def carry(self, release: Release) -> None: ...


def get(target: str) -> Applier:
    name = APPLIERS.get(target)
    if name is None:
        raise ApplyError(target, None, f"no applier deploys target `{target}` yet",
                         help=f"deploy without it (mlc compile --target ...), or add mlc/deploy/apply/{target}.py")
    return import_module(name).APPLIER


def order(targets) -> list[str]:
    known = list(APPLIERS)
    return sorted(targets, key=lambda t: (known.index(t) if t in known else len(known), t))


def write_file(folder: Path, path: str, text: str) -> None:
    """Writes one artifact into a release folder (never outside it)."""
    target = (folder / path).resolve()
    if folder.resolve() not in target.parents:
        raise ApplyError(path.partition("/")[0], path, "artifact path escapes the release folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def carry(src: Path, dst: Path) -> None:
    """Puts an unchanged file of the previous release into the new one without writing it
    again: a hard link (the same bytes, no copy), or a copy where links are not possible."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class FileApplier:
    """A target whose artifacts are files an engine reads from the release (DAGs, jobs and
    their runtime): applying writes the added and changed ones; a removed one is simply
    not carried into the new release."""

    target = ""
    what = "file"  # how the plan names one artifact
    whats = ""  # and several, when not `what` + s

    def plan(self, changes: list[Change]) -> list[str]:
        write = sum(c.action != REMOVE for c in changes)
        drop = len(changes) - write
        out = []
        if write:
            out.append(f"write {write} {self._named(write)}")
        if drop:
            out.append(f"remove {drop} {self._named(drop)}")
        return out

    def _named(self, n: int) -> str:
        return self.what if n == 1 else (self.whats or self.what + "s")

    def apply(self, changes: list[Change], release: Release) -> dict:
        for c in changes:
            if c.action != REMOVE:
                write_file(release.folder, c.path, release.texts[c.path])
        return {}

    def rollback(self, release: Release) -> None:
        """Nothing to undo: the engine reads these files through the `current` pointer."""

    def carry(self, release: Release) -> None:
        """Nothing but the artifacts, which the deploy carries."""
