"""Checking and compiling a project with its backends: what `mlc check` and `mlc compile` run.
(The IR's modules are imported only when a program is built: a warm `mlc check` never needs them.)

`check` is the compiler's check plus every backend's `validate` for every env of the
program, so what `check` accepts, `compile` accepts for any env. `compile` lowers
with the chosen backends, writes `manifest.json`, and proves the bundle closed: a
reference into a compiled backend that names no artifact is an internal error (E1090)
naming both ends, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mlc.compiler.driver import Result
from mlc.compiler.driver import check as check_program
from mlc.compiler.project import Project
from mlc.diagnostics import Diagnostic, error
from mlc.targets import TARGETS, Artifact, get

if TYPE_CHECKING:
    from mlc.compiler import ir


def env_names(result: Result) -> list[str]:
    program = result.program
    return sorted({e.name for e in program.envs.values()}) if program is not None else []


def validate_backends(program: ir.Program, names: list[str], envs: list[str]) -> list[Diagnostic]:
    """What backends `names` find in the resolved `program`, for every env of `envs`."""
    from mlc.targets.layout import Layout

    layout = Layout(program)
    found: dict[Diagnostic, dict[str, None]] = {}  # backends and envs share rules: each finding once
    for env in envs:
        for name in names:
            for d in get(name).validate(program, env, layout):
                found.setdefault(d, {})[env] = None
    # a finding of some envs only says which: the text it points at may be right for the others
    return [d if len(where) == len(envs) else replace(d, notes=(*d.notes, f"in env {', '.join(where)}"))
            for d, where in found.items()]


def check(project: Project, use_cache: bool = True) -> Result:
    """The compiler's check, then every backend's validation for every env (when the
    program has no error: a backend judges only a program the language accepts)."""
    return check_program(project, use_cache=use_cache,
                         validate=lambda r: validate_backends(r.program, sorted(TARGETS), env_names(r)))


@dataclass
class Compiled:
    result: Result
    artifacts: list[Artifact] = field(default_factory=list)
    envs: list[str] | None = None  # the envs the program declares; None when it has errors

    @property
    def ok(self) -> bool:
        return not self.result.errors and self.result.program is not None and bool(self.artifacts)


def compile(project: Project, env: str, targets: list[str], use_cache: bool = True,
            emit_ir: bool = False, branch: str | None = None) -> Compiled:
    """Check, then lower for `env` with `targets` (names of `TARGETS`). With errors, or when
    `env` is not one of the program's `envs`, `artifacts` is empty. `branch`: a test namespace
    (`mlc compile --branch`, `mlc.compiler.namespaces`); a bad name is E0426."""
    from mlc.compiler.namespaces import check_branch, on_branch

    from mlc.targets import manifest as M
    from mlc.targets.layout import IR, Layout

    result = check(project, use_cache=use_cache)
    out = Compiled(result)
    program = result.program
    if result.errors or program is None:
        return out
    out.envs = env_names(result)
    if env not in out.envs:
        return out
    bad = check_branch(branch) if branch is not None else None
    if bad is not None:
        result.diagnostics.append(bad)
        return out
    program = on_branch(program, branch)
    if branch is not None:
        # what the backends said of the program holds of it on a branch, but for the names the
        # branch lengthens (a DAG id over Airflow's 250 characters): judged again, as compiled
        longer = [d for d in validate_backends(program, targets, [env]) if d.is_error]
        if longer:
            result.diagnostics.extend(longer)
            return out
    layout = Layout(program)
    artifacts: list[Artifact] = []
    for name in targets:
        artifacts.extend(get(name).lower(program, env, layout))
    if emit_ir or not targets:
        artifacts.append(Artifact(IR, program.model_dump_json(by_alias=True, indent=2) + "\n", kind="ir"))
    manifest = M.build(program, project.name, env, list(targets), artifacts)
    broken = M.dangling(manifest)
    if broken:
        result.diagnostics.extend(
            error("E1090", f"internal error: the bundle is not closed: `{d.referrer}` references `{d.path}`, "
                           "which no backend wrote", None,
                  notes=("this is a bug in mlc; please report it with the program that caused it",))
            for d in broken)
        return out
    artifacts.append(M.artifact(manifest))
    out.artifacts = artifacts
    return out
