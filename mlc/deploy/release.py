"""What `mlc plan` and `mlc deploy` run: compile the bundle in memory, read the deploy
settings of the env, and hand both to the local or the S3 release."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, replace

from mlc.compiler.namespaces import check_branch
from mlc.compiler.project import Project
from mlc.deploy import config as C
from mlc.deploy import declarations
from mlc.deploy.bundle import Compiled
from mlc.deploy.bundle import compile as compile_bundle
from mlc.deploy.local import DeployError, Outcome
from mlc.deploy.plan import Plan
from mlc.targets import TARGETS
from mlc.targets.layout import MANIFEST, Layout


@dataclass
class Prepared:
    compiled: Compiled
    config: C.DeployConfig | None = None
    manifest: dict | None = None
    texts: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.manifest is not None


def prepare(project: Project, env: str, to: str | None, use_cache: bool = True,
            branch: str | None = None, warm_feast: bool = False) -> Prepared:
    """Compiles for `env` with every backend (in the test namespace `branch`, if given); with
    errors, `manifest` is None (the diagnostics are in `compiled.result`). Raises ConfigError
    for bad deploy settings. `warm_feast` (a deploy): a deployed local root's Feast worker is
    started first, if none runs, so that its `import feast` overlaps the compile."""
    if warm_feast:
        _prestart_feast(project, env, to, branch)
    compiled = compile_bundle(project, env, sorted(TARGETS), use_cache=use_cache, branch=branch)
    out = Prepared(compiled)
    if not compiled.ok:
        return out
    out.config = on_branch(C.load(project.root, project.config, env, to), branch)
    texts = {a.path: a.text for a in compiled.artifacts}
    out.manifest = json.loads(texts.pop(MANIFEST))
    # what `mlc signal`/`mlc trigger` type payloads against later: the release's, not the source's
    declarations.add(out.manifest, texts, compiled.result.program)
    out.texts = texts
    return out


def _prestart_feast(project: Project, env: str, to: str | None, branch: str | None) -> None:
    from mlc.deploy import engines, feast_worker
    from mlc.deploy.apply import CURRENT

    try:
        config = on_branch(C.load(project.root, project.config, env, to), branch)
    except C.ConfigError:
        return  # said after the compile, as without a worker
    # not before a first deploy: the root does not exist, and the compile may yet fail
    if config.kind == "local" and (config.root / CURRENT).is_symlink():
        feast_worker.prestart(config.root, engines.program(config.engines, "serving"))


def on_branch(config: C.DeployConfig, branch: str | None) -> C.DeployConfig:
    """Where test branch `branch` deploys: below the env's root or S3 prefix
    (`Layout.branch_folder`), so a branch's releases, its `current` and its rollbacks are its own and
    deploying it never replaces production's current release."""
    if branch is None:
        return config
    bad = check_branch(branch)  # `mlc deploy --rollback --branch` compiles nothing that would judge it
    if bad is not None:
        raise C.ConfigError(bad.message)
    folder = Layout.branch_folder(branch)
    if config.kind == "local":
        return replace(config, root=config.root / folder)
    return replace(config, prefix=posixpath.join(config.prefix, folder))


def _backend(config: C.DeployConfig):
    if config.kind == "local":
        from mlc.deploy import local

        return local
    from mlc.deploy import s3

    return s3


def plan(p: Prepared) -> Plan:
    return _backend(p.config).plan(p.manifest, p.config)


def deploy(p: Prepared) -> Outcome:
    return _backend(p.config).deploy(p.manifest, p.texts, p.config)


def rollback(config: C.DeployConfig) -> tuple[str, str]:
    return _backend(config).rollback(config)


def engine_notes(plan: Plan, config: C.DeployConfig) -> dict[str, list[str]]:
    """Each changed target's applier's words for what it will do (a local deploy: an S3
    release only stores the files)."""
    from mlc.deploy import apply

    out: dict[str, list[str]] = {}
    if config.kind != "local":
        return out
    for target, changes in plan.by_target().items():
        try:
            out[target] = apply.get(target).plan(changes)
        except apply.ApplyError as e:
            out[target] = [e.message]
    return out


def describe(e: DeployError, what: str = "deploy") -> str:
    where = ""
    if e.target:
        where = f" (target `{e.target}`" + (f", artifact `{e.artifact}`" if e.artifact else "") + ")"
    text = f"error: {what} failed{where}: {e.message}"
    return text + (f"\n  help: {e.help}" if e.help else "")

