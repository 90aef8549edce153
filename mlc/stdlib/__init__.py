"""The standard library: .flow modules shipped with mlc (`std.connectors`, `std.slo`)."""

from __future__ import annotations

from importlib import resources


def stdlib_file(module: str) -> tuple[str, str] | None:
    """(display path, text) of a standard-library module such as `std.connectors`."""
    parts = module.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return None
    node = resources.files("mlc.stdlib")
    for part in parts[:-1]:
        node = node.joinpath(part)
    node = node.joinpath(parts[-1] + ".flow")
    if not node.is_file():
        return None
    return f"<stdlib>/{'/'.join(parts)}.flow", node.read_text(encoding="utf-8")
