"""Issue 20, found in the audit of its items: what a new user meets writing a feature store in
.flow beyond the cases of tests/test_feature_store_language.py."""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.project import load_project
from mlc.deploy.bundle import check

LIST_READ = """\
package demo
import std.connectors.{files, s3}

env local { files = files("data"), s3 = files("build/s3") }

entity driver { key driver_id: int64 }
source stats: table files(path = "stats") {
  schema { driver_id: int64, ts: timestamp, conv_rate: float32, zones: [string] }
  event_time ts
  arrives every 1h delay 10m
}
features hourly on driver {
  from stats
  conv_rate: float32
  zones: [string]
  schedule daily
  timeout 30m
  online ttl 1d
  offline s3("features/hourly")
}
"""


def test_a_computed_group_reading_a_list_is_told_what_may_hold_it(tmp_path: Path) -> None:
    """The jobs cannot write a list column; the help that a `registered` group may hold one was
    lost on the way from the column's type to the source's column."""
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    (tmp_path / "main.flow").write_text(LIST_READ)
    found = [d for d in check(load_project([str(tmp_path)]), use_cache=False).diagnostics if d.code == "E1011"]
    assert [(d.span.line, d.span.col) for d in found] == [(8, 65)]
    assert found[0].message.startswith("source `stats`, column `zones`: a list cannot be a column")
    assert found[0].help == "a group that only registers an existing table (`registered`) may hold it"
