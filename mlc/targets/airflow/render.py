"""Jinja2 rendering of the plans `target.py` builds. Templates only lay out code that is
already written; the environment's filters (mlc.targets.templating) are the only ways text
enters a template."""

from __future__ import annotations

from mlc.targets.templating import jinja_environment


def render(template: str, **values) -> str:
    return jinja_environment("mlc.targets.airflow").get_template(template).render(**values).rstrip("\n") + "\n"
