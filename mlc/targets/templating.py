"""What every backend's templates share: one Jinja environment with its filters, the end of a
generated job (`runtime_call`), and the error of a program a backend cannot lower."""

from __future__ import annotations

from functools import lru_cache

from mlc.diagnostics import Diagnostic
from mlc.targets.literals import pretty, py


class TargetError(ValueError):
    """The program cannot be lowered for a backend; `diagnostics` says where and why
    (`mlc compile` reports them through the backend's `validate` before this can happen)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def docstring(text: str, indent: str = "") -> str:
    """A docstring for `text`: triple-quoted when that is safe, else an escaped literal."""
    safe = '"""' not in text and "\\" not in text and not text.endswith('"') and all(
        c == "\n" or (c.isprintable() and ord(c) < 0x80) for c in text)
    if not safe:
        return py(text)
    lines = text.split("\n")
    if len(lines) == 1:
        return f'"""{text}"""'
    body = "\n".join((indent + line) if line else "" for line in lines[1:])
    return f'"""{lines[0]}\n{body}\n{indent}"""'


def comment(text: str) -> str:
    """A `#` comment: one line, printable ASCII only."""
    return "".join(c if (c.isprintable() and ord(c) < 0x80) else "?" for c in text.replace("\n", " "))


def doctext(text: str) -> str:
    """Text inside a docstring written by a template: one line of printable ASCII, without
    quotes or backslashes (a file name may hold any of them)."""
    return "".join("?" if c in "\"\\" else c for c in comment(text))


@lru_cache(maxsize=None)
def jinja_environment(package: str):
    """The one Jinja environment of every backend, for the templates of `package`
    (its `templates/` folder): strict (an undefined name is an error), no autoescaping (we
    write Python, not HTML), blocks trimmed, and the only ways text enters a template:
    `py`/`pretty` (a value as a Python literal, `mlc.targets.literals`), `docstring`,
    `comment` and `doctext`."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader(package, "templates"), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters.update(py=py, pretty=pretty, docstring=docstring, comment=comment, doctext=doctext)
    return env


def runtime_call(path: str, runtime: str, entry: str) -> str:
    """The last lines of a generated job at bundle path `path`: put the folder of the bundle's
    runtime module (bundle path `runtime`) on `sys.path`, found from `__file__` so that
    spark-submit, `flink run`, runpy and `python job.py` all find it (a copy of the module
    shipped with the job, `--py-files`/`-pyfs`, is found as well), import it as `runtime`,
    and, run as a script, exit with `runtime.ENTRY(SPEC)`. Needs `os` and `sys` imported."""
    from mlc.targets.layout import folder_from

    module = runtime.rsplit("/", 1)[-1].removesuffix(".py")
    if not module.isidentifier() or not entry.isidentifier():
        raise ValueError(f"not a module and function: {runtime}, {entry}")
    parts = ", ".join(py(p) for p in folder_from(path, runtime))
    return (f"# the bundle's runtime, {runtime}\n"
            f"sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), {parts}))\n"
            f"import {module} as runtime  # noqa: E402\n"
            "\n"
            'if __name__ == "__main__":\n'
            f"    sys.exit(runtime.{entry}(SPEC))\n")
