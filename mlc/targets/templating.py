"""What the template-based backends share: their Jinja environment and their refusal error."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from mlc.diagnostics import Diagnostic


class TargetError(ValueError):
    """The program cannot be lowered for a backend; `diagnostics` says where and why
    (`mlc compile` reports them through the backend's `validate` before this can happen)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


@lru_cache(maxsize=None)
def jinja_environment(templates: Path):
    """Strict (an undefined name is an error), no autoescaping (we write Python, not HTML),
    and the `py` filter that writes any value as a Python literal."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from mlc.targets.sql import literal

    env = Environment(loader=FileSystemLoader(str(templates)), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    env.filters["py"] = literal
    return env
