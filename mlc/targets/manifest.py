"""`manifest.json`: what a bundle holds, and the proof that it is closed.

Each artifact is listed with its kind, the backend that wrote it, the SHA-256 of its
text, the declaration it came from (with the file and line, relative to the project
root) and the bundle paths it references. A reference into a backend that was
compiled must name an artifact of the bundle (or a folder holding some); one into a
backend that was not compiled (`--target airflow` alone, or a backend still to come)
is listed under `external`, for deploy to resolve against what is already deployed.
The manifest itself is deterministic: sorted, no timestamps, no absolute paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from mlc import __version__
from mlc.compiler import ir
from mlc.targets import TARGETS, Artifact
from mlc.targets.layout import MANIFEST, owner

FORMAT = "mlc-bundle/1"


@dataclass(frozen=True)
class Dangling:
    """A reference that names nothing in the bundle: `referrer` names `path`."""

    referrer: str
    path: str


def _decl(program: ir.Program, key: str | None) -> dict | None:
    if key is None:
        return None
    for section in (program.flows, program.feature_groups, program.models, program.sources,
                    program.entities, program.signals, program.slos, program.envs):
        d = section.get(key)
        if d is not None:
            out: dict = {"name": key}
            if d.loc is not None:
                out["file"], out["line"] = d.loc.file.replace("\\", "/"), d.loc.line
            return out
    return {"name": key}


def build(program: ir.Program, project: str, env: str, targets: list[str], artifacts: list[Artifact]) -> dict:
    entries = []
    external = []
    for a in sorted(artifacts, key=lambda a: a.path):
        entry = {"path": a.path, "kind": a.kind, "target": owner(a.path),
                 "sha256": hashlib.sha256(a.text.encode("utf-8")).hexdigest()}
        decl = _decl(program, a.source)
        if decl is not None:
            entry["source"] = decl
        refs = sorted(set(a.references))
        if refs:
            entry["references"] = refs
        entries.append(entry)
        external += [{"from": a.path, "path": r, "target": owner(r)} for r in refs if owner(r) not in targets]
    out = {"format": FORMAT, "mlc_version": __version__, "project": project, "env": env,
           "targets": sorted(targets), "artifacts": entries, "external": external}
    if program.branch is not None:  # a test namespace (`mlc compile --branch`)
        out["branch"] = program.branch
    return out


def dangling(manifest: dict) -> list[Dangling]:
    """References that name no artifact of the bundle (nor a folder of them): into a compiled
    backend, or into no backend at all (`feast.moved`, `airlfow/x`: deploy could not resolve
    them either; only a backend that was not compiled is left to deploy)."""
    paths = {a["path"] for a in manifest["artifacts"]}
    folders = {p.rsplit("/", i)[0] for p in paths for i in range(1, p.count("/") + 1)}
    checked = set(manifest["targets"])
    return [Dangling(a["path"], r) for a in manifest["artifacts"] for r in a.get("references", ())
            if (owner(r) in checked or (owner(r) is not None and owner(r) not in TARGETS))
            and r not in paths and r not in folders]


def artifact(manifest: dict) -> Artifact:
    return Artifact(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                    kind="manifest")
