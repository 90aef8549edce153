"""Issue 11, found missing in the audit of its items: a backend's validation runs inside
`mlc check` for EVERY env of the program, so an engine problem that only one env has is
reported by `check` (naming that env), and `compile` for another env refuses the program too."""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.project import load_project
from mlc.deploy.bundle import check, compile as compile_bundle

ONLY_PROD = """\
package demo
import std.connectors.{files, s3, kafka}

env local { kafka = kafka(bootstrap = "localhost:9092"), s3 = files("build/s3") }
env prod { kafka = files("data/events"), s3 = s3(bucket = "ml") }

entity account { key account_id: string }
source events: stream kafka(topic = "events", format = avro) {
  schema { account_id: string, kind: enum(view, click), ts: timestamp }
  event_time ts
  watermark 10s
}
features activity on account {
  from events
  views_1h = count(kind == view) over 1h every 5m
  checkpoint every 1m
  online ttl 1d
  offline s3("features/activity")
}
"""


def test_an_engine_problem_of_one_env_is_found_by_check_and_stops_every_compile(tmp_path: Path) -> None:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    (tmp_path / "main.flow").write_text(ONLY_PROD)
    project = load_project([str(tmp_path)])
    # Flink reads an Avro stream from Kafka (env local) but not from files (env prod)
    found = [(d.code, d.span.line, d.notes) for d in check(project, use_cache=False).diagnostics if d.is_error]
    assert found == [("E1013", 8, ("in env prod",))]   # the source reads well in env local: says which env
    compiled = compile_bundle(project, "local", ["flink"], use_cache=False)
    assert not compiled.ok and [d.code for d in compiled.result.diagnostics if d.is_error] == ["E1013"]
    # the same program with prod's stream on Kafka too checks clean
    (tmp_path / "main.flow").write_text(ONLY_PROD.replace('kafka = files("data/events")',
                                                          'kafka = kafka(bootstrap = "broker:9092")'))
    assert [d for d in check(load_project([str(tmp_path)]), use_cache=False).diagnostics if d.is_error] == []
