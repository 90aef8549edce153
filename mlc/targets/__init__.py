"""Backends, and the contract every backend keeps.

A backend is one package exposing `TARGET`, an object of the `Target` protocol:
- `validate(program, env, layout)` judges only what is specific to its engine (an id
  length, a connector its engine cannot read in that env); the language's own rules
  are the checks' (`mlc/compiler/checks/`). It runs inside `mlc check`, for every env.
- `lower(program, env, layout)` returns the backend's `Artifact`s. Every path, and every
  path one artifact names of another, comes from the `Layout` (`layout.py`); a backend
  never builds a path itself. Each artifact says which declaration it came from and
  which other artifacts it references, so `manifest.json` can prove the bundle closed.

Adding a backend touches only its own package and one line of `TARGETS`
(docs/targets/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from mlc.compiler import ir
    from mlc.diagnostics import Diagnostic
    from mlc.targets.layout import Layout

# name -> module path of the backend package (imported only when used).
TARGETS: dict[str, str] = {
    "airflow": "mlc.targets.airflow",
    "feast": "mlc.targets.feast",
    "bentoml": "mlc.targets.bentoml",
    "flink": "mlc.targets.flink",
    "spark": "mlc.targets.spark",
    "prometheus": "mlc.targets.prometheus",
}


@dataclass(frozen=True)
class Artifact:
    """One generated file: a path relative to the bundle's root and its exact text; what kind
    of file it is, the declaration it came from (a qualified name, None for files shared by
    the bundle), and the bundle paths it references (a DAG -> the job it submits)."""

    path: str
    text: str
    kind: str = "file"
    source: str | None = None
    references: tuple[str, ...] = ()


class Target(Protocol):
    name: str

    def validate(self, program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]: ...

    def lower(self, program: ir.Program, env: str, layout: Layout) -> list[Artifact]: ...


@dataclass(frozen=True)
class Backend:
    """A `Target` made of a backend module's two functions."""

    name: str
    validate: Callable[[ir.Program, str, Layout], list[Diagnostic]]
    lower: Callable[[ir.Program, str, Layout], list[Artifact]]


def get(name: str) -> Target:
    return import_module(TARGETS[name]).TARGET
