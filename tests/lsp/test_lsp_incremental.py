"""The language server's incremental check reports exactly what a check from scratch reports.

A seeded random walk of edits (a number changed, a name broken and mended, lines added and
removed, a feature renamed, a bound tightened) over the recommendations example and a generated
program of several independent shards; after each edit the warm `Workspace` (declarations
re-parsed, re-lowered and re-checked only where the edit reaches) is compared with a fresh one.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import pytest

from mlc.lsp.engine import Workspace

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from gen_project import ENVS_FLOW, gen_file

RECOMMENDATIONS = ROOT / "examples" / "recommendations"


def _findings(ws: Workspace) -> dict[str, list[tuple]]:
    return {path: [(d.code, d.message, tuple(d.span), d.help, tuple((tuple(lb.span), lb.message) for lb in d.labels))
                   for d in diags] for path, diags in sorted(ws.diagnostics.items())}


def _replace(pattern: str, make):
    """An edit: the n-th match of `pattern` (n drawn) replaced by `make(match, rng)`."""
    def edit(text: str, rng: random.Random) -> str | None:
        found = list(re.finditer(pattern, text, re.MULTILINE))
        if not found:
            return None
        m = rng.choice(found)
        return text[: m.start()] + make(m, rng) + text[m.end():]
    return edit


EDITS = [
    _replace(r"\b(\d+)(m|h|s)\b", lambda m, r: f"{int(m[1]) + r.randint(1, 9)}{m[2]}"),     # a duration
    _replace(r"^  \w+.*\n", lambda m, r: ""),                                                # a clause removed
    _replace(r"^\n", lambda m, r: "\n" * r.randint(2, 3)),                                   # lines added
    _replace(r"^\n(?=\n)", lambda m, r: ""),                                                 # a line removed
    _replace(r"(?<=from )\w+", lambda m, r: m[0] + "x"),                                     # a broken name
    _replace(r"(?<=from )(\w+)x\b", lambda m, r: m[1]),                                      # mended
    _replace(r"^(  )(\w+)(\s*=)", lambda m, r: f"{m[1]}{m[2]}_v2{m[3]}"),                     # a feature renamed
    _replace(r"freshness <= \w+", lambda m, r: "freshness <= 1m"),                           # a bound tightened
    _replace(r"^## .*$", lambda m, r: m[0] + " (edited)"),                                   # a doc comment
    _replace(r"(?<=: stream )kafka\b|(?<=: table )hive\b", lambda m, r: r.choice(["s3", "files", "kafka"])),
    _replace(r"^(?:model|source|flow|features) ", lambda m, r: " " + m[0]),                # a declaration merged
    _replace(r"^ (?=(?:model|source|flow|features) )", lambda m, r: ""),                    # and split again
    _replace(r"^(?=(?:model|flow|signal) )", lambda m, r: "## a new doc comment\n"),
]


def _program(tmp_path: Path, which: str) -> Path:
    root = tmp_path / which
    root.mkdir()
    if which == "recommendations":
        for f in RECOMMENDATIONS.glob("*.flow"):
            (root / f.name).write_text(f.read_text())
    else:
        shards = [gen_file(i, 0).split("\n", 2)[2] for i in range(1, 9)]  # less `package`, `import`
        (root / "envs.flow").write_text(ENVS_FLOW)
        (root / "shards.flow").write_text("package bench\nimport std.connectors.{kafka, hive, s3}\n\n"
                                          + "\n".join(shards))
    (root / "mlc.toml").write_text("[project]\nname = \"t\"\n")
    return root


@pytest.mark.parametrize("which,seed", [("recommendations", 1), ("recommendations", 4), ("shards", 2),
                                        ("shards", 3)])
def test_incremental_check_equals_a_check_from_scratch(tmp_path: Path, which: str, seed: int) -> None:
    root = _program(tmp_path, which)
    warm = Workspace()
    warm.load_folder(root)
    warm.check()
    rng = random.Random(seed)
    files = sorted(p for p in warm.docs if not p.startswith("<"))
    scoped = 0
    for _step in range(20):
        path = rng.choice(files)
        edited = rng.choice(EDITS)(warm.docs[path].text, rng)
        if edited is None:
            continue
        warm.set_text(path, edited)
        warm.check()
        scoped += warm.stats["scoped"] > 0
        cold = Workspace()
        for p in files:
            cold.set_text(p, warm.docs[p].text)
        cold.check()
        assert _findings(warm) == _findings(cold), f"after edit {_step} of {path}"
        assert [(p.start, p.text) for p in warm.docs[path].pieces] == \
            [(p.start, p.text) for p in cold.docs[path].pieces], "cut into declarations as from scratch"
        assert warm.docs[path].module.decls == cold.docs[path].module.decls
    assert warm.stats["fallbacks"] == 0, "a part checked alone was not closed"
    if which == "shards":
        assert scoped, "no edit was checked in part: the test does not test the scoped check"
