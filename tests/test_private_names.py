"""Issue 11: no module of `mlc` reaches into another's private names (`from mlc.x import _y`,
or `x._y` through an imported module). What two modules share is public in the one that owns it;
a private name may change without its module's readers knowing."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "mlc"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_reads(text: str, where: str, module: str) -> list[str]:
    """`where:line what` for each private name of another mlc module that the code of `module`
    (`text`) imports or reads."""
    tree = ast.parse(text)
    found: list[str] = []
    imported: dict[str, str] = {}  # local name -> the mlc module or member it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mlc") and node.module != module:
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{where}:{node.lineno} {node.module}.{alias.name}")
                elif f"{node.module}.{alias.name}" != module:
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mlc.") and alias.name != module:
                    imported[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in imported:
            found.append(f"{where}:{node.lineno} {imported[node.value.id]}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if "templates" in path.parts:  # runtimes and generated code: shipped alone, import no mlc module
            continue
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        found += private_reads(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT.parent)), module)
    assert found == []


def test_the_rule_sees_both_spellings() -> None:
    text = ("from mlc.targets.sql import _fmt\nfrom mlc.targets import sql as S\nS._plain(1)\nS.plan_group\n"
            "from mlc.targets.sql import _own\n")
    assert private_reads(text, "x.py", "mlc.x") == ["x.py:1 mlc.targets.sql._fmt", "x.py:5 mlc.targets.sql._own",
                                                   "x.py:3 mlc.targets.sql._plain"]
    assert private_reads(text, "sql.py", "mlc.targets.sql") == []
