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


def runtime_call(path: str, runtime: str, entry: str) -> str:
    """The last lines of a generated job at bundle path `path`: put the folder of the bundle's
    runtime module (bundle path `runtime`) on `sys.path`, found from `__file__` so that
    spark-submit, `flink run`, runpy and `python job.py` all find it (a copy of the module
    shipped with the job, `--py-files`/`-pyfs`, is found as well), import it as `runtime`,
    and, run as a script, exit with `runtime.ENTRY(SPEC)`. Needs `os` and `sys` imported."""
    from mlc.targets.layout import folder_from
    from mlc.targets.sql import literal

    module = runtime.rsplit("/", 1)[-1].removesuffix(".py")
    if not module.isidentifier() or not entry.isidentifier():
        raise ValueError(f"not a module and function: {runtime}, {entry}")
    parts = ", ".join(literal(p) for p in folder_from(path, runtime))
    return (f"# the bundle's runtime, {runtime}\n"
            f"sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), {parts}))\n"
            f"import {module} as runtime  # noqa: E402\n"
            "\n"
            'if __name__ == "__main__":\n'
            f"    sys.exit(runtime.{entry}(SPEC))\n")
