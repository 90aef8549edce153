"""The language server's program means what `mlc check` means: a `group.feature` written in a
group resolves by the file's imports (the check's resolver), not by a guess from package names."""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.infer import walk
from mlc.lsp.engine import Workspace

B = """package b
import std.connectors.{files}
env local { files = files("data") }
entity driver { key driver_id: int64 }
source trips: table files(path = "t") {
  schema { driver_id: int64, n: int64, ts: timestamp }
  event_time ts
}
features stats on driver {
  from trips
  n: int64
  offline files(path = "o")
}
"""
C = """package c
import b.{driver, trips}
import std.connectors.{files}
features stats on driver {
  from trips
  n: int64
  offline files(path = "o2")
}
"""
A = """package a
import b.{driver, stats}
features scored on driver {
  request { bonus: int64 }
  total = stats.n + bonus
}
"""


def test_a_feature_read_through_an_import_resolves_as_the_check_resolves_it(tmp_path: Path) -> None:
    # two packages declare `stats`; `a` imports b's: only the imports say which one it reads
    for name, text in (("b.flow", B), ("c.flow", C), ("a.flow", A)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    ws = Workspace()
    ws.load_folder(tmp_path)
    assert not any(d.is_error for diags in ws.check().values() for d in diags)
    total = ws.program.feature_groups["a.scored"].features[0]
    refs = {r.name: r.target for r in walk(total.expr) if r.op == "ref"}
    assert refs == {"stats.n": "feature:b.stats.n", "bonus": "request:a.scored.bonus"}
    # after a check of only the edited part, the whole program is rebuilt the same way
    ws.set_text(str(tmp_path / "a.flow"), A.replace("bonus\n}", "bonus * 2\n}"))
    ws.check()
    total = ws.program.feature_groups["a.scored"].features[0]
    assert {r.target for r in walk(total.expr) if r.op == "ref" and r.name == "stats.n"} == {"feature:b.stats.n"}
