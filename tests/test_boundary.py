"""The ML boundary: each rule triggered and not, and how far the probabilistic region reaches."""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.driver import check
from mlc.compiler.graph import build_graph
from mlc.compiler.project import load_project

PROGRAM = """\
package p
entity user {{ key user_id: string }}
features f on user {{ request {{ x: float }}
  y = x * 2.0 }}
model rules deterministic {{ inputs [f.y] output score: float }}
model scorer nondeterministic {{
  inputs [f.y]
  output score: float
  {confidence}
  {fallback}
  serve {{ replicas 1, timeout 20ms }}
}}
flow train {{
  schedule daily
  step fit python("m:fit") {{ produces scorer, timeout 1h }}
  step check python("m:check") {{ timeout 1h{gate} }}
  step report python("m:report") {{ timeout 1h{report} }}
  fit >> check >> report
}}
"""


def run(tmp_path: Path, confidence="confidence in 0.0..1.0",
        fallback="fallback rules when confidence < 0.6 or unavailable", gate=", gate auc >= 0.8", report=""):
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "p.flow").write_text(PROGRAM.format(confidence=confidence, fallback=fallback, gate=gate,
                                                    report=report))
    result = check(load_project([str(tmp_path)]), use_cache=False)
    return result, [(d.code, d.span.line, d.message) for d in result.diagnostics]


def test_clean(tmp_path: Path) -> None:
    assert run(tmp_path)[1] == []


def test_served_without_fallback(tmp_path: Path) -> None:
    assert run(tmp_path, fallback="")[1] == [("E0801", 11, "probabilistic model `scorer` is served with no fallback")]


def test_probabilistic_fallback(tmp_path: Path) -> None:
    text = PROGRAM.replace("model rules deterministic", "model rules nondeterministic")
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "p.flow").write_text(text.format(confidence="confidence in 0.0..1.0",
                                                 fallback="fallback rules when confidence < 0.6", gate="", report=""))
    diags = [(d.code, d.message) for d in check(load_project([str(tmp_path)]), use_cache=False).diagnostics]
    assert ("W0802", "the fallback of `scorer`, `rules`, is itself probabilistic") in diags


def test_threshold_outside_range(tmp_path: Path) -> None:
    assert run(tmp_path, fallback="fallback rules when confidence < 1.5")[1] == [
        ("E0803", 10, "confidence threshold 1.5 is outside the declared range 0..1 of `scorer`")]
    assert run(tmp_path, confidence="", fallback="fallback rules when confidence < 0.5")[1] == [
        ("E0803", 10, "the fallback of `scorer` tests `confidence`, but `scorer` declares no confidence range")]


def test_deterministic_step_after_probabilistic_output(tmp_path: Path) -> None:
    # the gate on `check` stops the region: `report` may be declared deterministic
    assert run(tmp_path, report=", deterministic")[1] == []
    # without the gate it consumes probabilistic output
    assert run(tmp_path, gate="", report=", deterministic")[1] == [
        ("W0804", 17, "step `report` is declared deterministic, but it runs after probabilistic step "
                      "`check` with no gate between")]


def test_region(tmp_path: Path) -> None:
    result, _ = run(tmp_path)
    g = build_graph(result.program)
    assert g.nodes["step:p.train/fit"]["deterministic"] is False
    assert g.nodes["step:p.train/check"]["deterministic"] is False
    assert g.nodes["step:p.train/report"]["deterministic"] is True
    result, _ = run(tmp_path, gate="")
    g = build_graph(result.program)
    assert g.nodes["step:p.train/report"]["deterministic"] is False
