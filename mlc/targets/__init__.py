"""Backends. Each is one package with `lower(program, env) -> list[Artifact]` and, if its
engine rejects names or values the language allows, `validate(program, env) -> list[Diagnostic]`
(run by `mlc compile` before anything is written).

Adding a backend touches only its own package and one line of `TARGETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

# name -> module path of the backend package (imported only when used).
TARGETS: dict[str, str] = {
    "airflow": "mlc.targets.airflow",
    "flink": "mlc.targets.flink",
    "spark": "mlc.targets.spark",
}


@dataclass(frozen=True)
class Artifact:
    """One generated file: a path relative to the output folder, and its exact text."""

    path: str
    text: str


def load(name: str) -> Callable:
    return import_module(TARGETS[name]).lower


def validator(name: str) -> Callable | None:
    """A backend's `validate(program, env) -> list[Diagnostic]`, for what only it cannot take
    (names its engine rejects); None when it has none."""
    return getattr(import_module(TARGETS[name]), "validate", None)
