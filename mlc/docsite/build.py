"""The whole site of a project for one env, in memory: the project is compiled as
`mlc compile --env ENV` would (every backend, nothing written), so each page can list the
artifacts its declaration became; then the site's document is built and rendered.
`mlc docs` writes the files with `mlc.deploy.outdir`, as `mlc compile` writes a bundle."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mlc.compiler.project import Project
from mlc.deploy.bundle import Compiled, compile as compile_bundle
from mlc.targets import TARGETS, Artifact


@dataclass
class Docs:
    compiled: Compiled
    files: list[Artifact] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.files)


def build(project: Project, env: str, use_cache: bool = True) -> Docs:
    """The site's files, or none when the program has errors or no env `env` (`compiled` says which)."""
    from mlc.compiler.graph import build_graph
    from mlc.docsite.model import SourceText, build_site
    from mlc.docsite.render import render
    from mlc.targets.layout import MANIFEST

    project = project.rooted()  # locations relative to the root: the site must not depend on the cwd
    compiled = compile_bundle(project, env, sorted(TARGETS), use_cache=use_cache)
    docs = Docs(compiled)
    if not compiled.ok:
        return docs
    program = compiled.result.program
    manifest = json.loads(next(a.text for a in compiled.artifacts if a.path == MANIFEST))
    g = build_graph(program)
    text = SourceText(project.root)
    docs.files = render(build_site(program, g, text, project.name, env, manifest), program, g, text)
    return docs
