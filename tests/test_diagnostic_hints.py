"""Issue 19 leftovers in diagnostics: reading `step.field` of a step that declares no `returns`
says so and how to declare it; a misspelled `reads NAME` is one diagnostic (E0202 with its
did-you-mean), not also "written and never read" (W0424) about the artifact it meant."""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.driver import check
from mlc.compiler.project import load_project

HEAD = """package t
import std.connectors.{files, s3}
env local { s3 = files("build/s3") }
artifact report: file s3("out/report")
"""

FAN = HEAD + """flow child {
  param region: string = "us"
  step fit python("m.fit:main") { returns { n: int } }
}
flow parent {
  param regions: [string] = ["us", "eu"]
  step fan subflow(child, region = r) { foreach r in regions, parallel 2 }
  step sum bash("echo $N") { env { N = fan.n } }
  fan >> sum
}
"""

READS = HEAD + """flow w {
  step a bash("x") { writes report }
  step b bash("y") { reads reprot }
  a >> b
}
"""


def _check(tmp_path: Path, text: str):
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\nsources = ["."]\n')
    (tmp_path / "main.flow").write_text(text)
    return check(load_project([str(tmp_path)]), use_cache=False)


def test_a_subflow_without_returns_says_how_to_declare_the_field(tmp_path):
    result = _check(tmp_path, FAN)
    [d] = result.diagnostics
    assert d.code == "E0202" and d.span.line == 12
    assert d.message == "unknown name `fan.n` in flow `parent`: subflow step `fan` declares no `returns`"
    assert d.help == "add `returns { n: int }` to step `fan`"
    assert "flow `child` returns `n: int` from its step `fit`" in d.notes[0]
    assert [label.span.line for label in d.labels] == [11]   # the step to change
    # and the fix it names is accepted
    fixed = FAN.replace("parallel 2 }", "parallel 2, returns { n: int } }")
    assert _check(tmp_path, fixed).diagnostics == []


def test_a_plain_step_without_returns_gets_the_hint_without_a_type(tmp_path):
    text = HEAD + """flow f {
  step a python("m.a:main")
  step b bash("echo $N") { env { N = a.rows } }
  a >> b
}
"""
    [d] = _check(tmp_path, text).diagnostics
    assert d.code == "E0202" and "step `a` declares no `returns`" in d.message
    assert d.help == "add `returns { rows: TYPE }` to step `a`"


def test_a_misspelled_read_is_one_diagnostic(tmp_path):
    result = _check(tmp_path, READS)
    assert [(d.code, d.help) for d in result.diagnostics] == [("E0202", "did you mean `report`?")]
    # a write nobody reads, with no misspelled read around, is still W0424
    unread = READS.replace("  step b bash(\"y\") { reads reprot }\n  a >> b\n", "")
    assert [d.code for d in _check(tmp_path, unread).diagnostics] == ["W0424"]


UNITLESS = """package t
import std.connectors.{files, hive}
env local { hive = files("data") }
source plays: table hive(table = "plays") {
  schema { member_id: string, ds: date }
  event_time ds
  arrives every 1d delay 1h
}
entity member { key member_id: string }
features activity on member {
  from plays
  n = count() over 1d
  schedule daily
  timeout 1h
}
model ranker deterministic {
  framework rule
  inputs [activity.n]
  output score: float
  serve { timeout 40ms }
}
slo fresh { freshness(activity) <= 4 }
slo fast { latency(ranker) p99 <= "50" }
"""


def test_an_objective_without_a_duration_is_an_error_not_no_objective(tmp_path):
    # it was accepted and then proved, explained and monitored nothing
    errors = [d for d in _check(tmp_path, UNITLESS).diagnostics if d.is_error]
    assert [(d.code, d.message, d.span.line) for d in errors] == [
        ("E0007", "`4` is not a duration: it has no unit", 22),
        ("E0007", '`"50"` is not a duration: it is a string', 23)]
    fixed = UNITLESS.replace("<= 4 }", "<= 4d }").replace('<= "50" }', "<= 50ms }")
    assert not [d for d in _check(tmp_path, fixed).diagnostics if d.is_error]
