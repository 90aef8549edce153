"""Backends. Each is one package with `lower(program, env) -> list[Artifact]`.

Adding a backend touches only its own package and one line of `TARGETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

# name -> module path of the backend package (imported only when used).
TARGETS: dict[str, str] = {}


@dataclass(frozen=True)
class Artifact:
    """One generated file: a path relative to the output folder, and its exact text."""

    path: str
    text: str


def load(name: str) -> Callable:
    return import_module(TARGETS[name]).lower
