"""Jinja2 rendering of the plans `target.py` builds. Templates only lay out code that is
already written; the filters here are the only ways text enters a template."""

from __future__ import annotations

from functools import lru_cache

from mlc.targets.airflow.expr import py


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


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlc.targets.airflow", "templates"),
        undefined=jinja2.StrictUndefined, autoescape=False,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["py"] = py
    env.filters["docstring"] = docstring
    env.filters["comment"] = comment
    return env


def render(template: str, **values) -> str:
    return _env().get_template(template).render(**values).rstrip("\n") + "\n"
