"""What the tests compare a bundle's runtime module with: its template, but for the Spark runtime's
`ENVIRONMENT` line, which the Spark backend fills with the env's variables once per bundle."""

from __future__ import annotations

import ast


def without_environment(text: str) -> str:
    """A runtime's text with its module-level `ENVIRONMENT` assignment (any number of lines) put
    back to the template's empty one."""
    lines = text.splitlines(keepends=True)
    for node in ast.parse(text).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "ENVIRONMENT":
            return "".join([*lines[:node.lineno - 1], "ENVIRONMENT: dict[str, str] = {}\n", *lines[node.end_lineno:]])
    return text
