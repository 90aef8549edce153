"""The freshness calculus, completion and latency objectives: numeric bounds, worst paths,
unknown facts, and the properties a bound must have."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

from mlc.compiler.driver import check
from mlc.compiler.freshness import Calculus, fmt_ms
from mlc.compiler.schedules import cron_longest_gap_ms
from mlc.compiler.project import load_project

ROOT = Path(__file__).resolve().parent.parent
H, D, M, S = 3_600_000, 86_400_000, 60_000, 1_000

PROGRAM = """\
package p
import std.connectors.{{kafka, hive, s3, files}}
env local {{ kafka = files("d"), hive = files("w"), s3 = files("s") }}
source clicks: stream kafka(topic = "c") {{
  schema {{ user_id: string, n: int, ts: timestamp }}
  event_time ts
  watermark {watermark}
}}
source daily: table hive(table = "t") {{
  schema {{ user_id: string, spend: float, ds: date }}
  event_time ds
  {arrives}
}}
entity user {{ key user_id: string }}
features live on user {{
  from clicks
  n_5m = sum(n) over 5m every {slide}
  checkpoint every {checkpoint}
  online ttl 1d
}}
features batch on user {{
  from daily
  spend_7d = sum(spend) over 7d
  schedule {schedule}
  timeout {timeout}
  online ttl 3d
}}
model m deterministic {{
  inputs [live.n_5m, batch.spend_7d]
  output score: float
  serve {{ timeout {serve_timeout} }}
}}
flow nightly {{
  schedule cron("{cron}")
  step a python("x:a") {{ timeout 1h, retries 2, retry_delay 10m }}
  step b python("x:b") {{ timeout 30m }}
  step c python("x:c") {{ timeout 2h }}
  a >> b
  a >> c
}}
{slos}
"""
DEFAULTS = dict(watermark="30s", arrives="arrives every 1d delay 2h", slide="1m", checkpoint="1m",
                schedule="daily", timeout="1h", serve_timeout="40ms", cron="0 1 * * *", slos="")


def run(tmp_path: Path, **overrides):
    values = {**DEFAULTS, **overrides}
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "p.flow").write_text(PROGRAM.format(**values))
    result = check(load_project([str(tmp_path)]), use_cache=False)
    return result


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_bounds_are_computed_hop_by_hop(tmp_path: Path) -> None:
    result = run(tmp_path)
    assert codes(result) == []
    calc = Calculus(result.program)
    assert calc.of("p.clicks").ms == 30 * S
    assert calc.of("p.daily").ms == D + 2 * H
    assert calc.of("p.live").ms == 30 * S + 1 * M + 1 * M          # watermark + slide + checkpoint
    assert calc.of("p.batch").ms == D + 2 * H + D + H              # arrival + daily gap + timeout
    assert calc.of("p.m").ms == 2 * D + 3 * H                      # the worse of its two inputs
    # flow: daily gap + the longest step path a -> c: 1h x 3 attempts + 2 x 10m, then 2h
    assert calc.of("p.nightly").ms == D + 3 * H + 20 * M + 2 * H
    path = [h.node for h in calc.of("p.m").path]
    assert path == ["source daily", "features batch", "features batch"]


def test_slide_defaults_to_the_window_for_streams(tmp_path: Path) -> None:
    program = PROGRAM.replace("n_5m = sum(n) over 5m every {slide}", "n_5m = sum(n) over 5m")
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "p.flow").write_text(program.format(**DEFAULTS))
    result = check(load_project([str(tmp_path)]), use_cache=False)
    assert Calculus(result.program).of("p.live").ms == 30 * S + 5 * M + 1 * M


def test_a_proven_objective_passes_and_a_tight_one_fails_naming_the_path(tmp_path: Path) -> None:
    assert codes(run(tmp_path, slos="slo ok { freshness(m) <= 2d3h }")) == []
    result = run(tmp_path, slos="slo tight { freshness(m) <= 1h }")
    (d,) = result.diagnostics
    assert d.code == "E0701"
    assert d.message == "`m` can be 2d3h stale, over its <= 1h objective"
    assert d.notes[:3] == (
        "source daily: arrives every 1d delay 2h  +1d2h = 1d2h",
        "features batch: schedule daily  +1d = 2d2h",
        "features batch: timeout 1h  +1h = 2d3h",
    )
    assert d.notes[3] == "worst case 2d3h > 1h"


def test_group_freshness_clause(tmp_path: Path) -> None:
    program = PROGRAM.replace("  online ttl 1d\n", "  online ttl 1d\n  freshness <= 2m\n", 1)
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "p.flow").write_text(program.format(**DEFAULTS))
    result = check(load_project([str(tmp_path)]), use_cache=False)
    (d,) = result.diagnostics
    assert (d.code, d.message) == ("E0701", "feature group `live` can be 2m30s stale, over its <= 2m objective")
    assert (d.span.line, d.span.col) == (20, 3)


def test_missing_facts_are_named_not_passed(tmp_path: Path) -> None:
    result = run(tmp_path, arrives="", slos="slo s { freshness(m) <= 3d }")
    (d,) = result.diagnostics
    assert d.code == "W0702"
    assert "`arrives every ... delay ...` on table `daily`" in d.message
    result = run(tmp_path, checkpoint="1m", slos="slo s { freshness(nightly) <= 3d }",
                 cron="0 1 * * *")
    assert codes(result) == []


def test_explain_table(tmp_path: Path) -> None:
    run(tmp_path, slos="slo s { freshness(m) <= 3d }")
    out = subprocess.run([sys.executable, "-m", "mlc", "explain", "freshness", "m", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "freshness of model m: at worst 2d3h stale",
        "  hop             fact                                     adds  total",
        "  source daily    arrives every 1d delay 2h  (p.flow:12)  +1d2h   1d2h",
        "  features batch  schedule daily  (p.flow:24)               +1d   2d2h",
        "  features batch  timeout 1h  (p.flow:25)                   +1h   2d3h",
        "  via features live: 2m30s",
        "slo s: freshness <= 3d: proven (2d3h <= 3d)",
    ]


def test_recommendations_every_slo_proven_and_1h_variant_rejected(tmp_path: Path) -> None:
    rec = ROOT / "examples" / "recommendations"
    result = check(load_project([str(rec)]), use_cache=False)
    assert result.diagnostics == []
    copy = tmp_path / "rec"
    shutil.copytree(rec, copy, ignore=shutil.ignore_patterns(".mlc_cache"))
    slos = copy / "slos.flow"
    slos.write_text(slos.read_text().replace("freshness(ranker) <= 3d", "freshness(ranker) <= 1h"))
    result = check(load_project([str(copy)]), use_cache=False)
    (d,) = result.diagnostics
    assert d.code == "E0701"
    text = " ".join((d.message,) + d.notes)
    assert "title_popularity" in text and "source plays" in text


def test_completion(tmp_path: Path) -> None:
    # starts 01:00; a (3h20m) then c (2h): done by 06:20
    assert codes(run(tmp_path, slos='slo c { completion(nightly) by "06:30" }')) == []
    result = run(tmp_path, slos='slo c { completion(nightly) by "06:00" }')
    (d,) = result.diagnostics
    assert (d.code, d.message) == ("E0703", "`nightly` can finish at 06:20, after 06:00")


def test_latency(tmp_path: Path) -> None:
    assert codes(run(tmp_path, slos="slo l { latency(m) p99 <= 50ms }")) == []
    result = run(tmp_path, serve_timeout="80ms", slos="slo l { latency(m) p99 <= 50ms }")
    (d,) = result.diagnostics
    assert d.code == "E0705"
    assert d.message == "the serve timeout of `m` (80ms) is longer than its p99 latency objective (50ms)"


def test_cron_longest_gap() -> None:
    assert cron_longest_gap_ms("0 1 * * *") == D
    assert cron_longest_gap_ms("0 1,13 * * *") == 12 * H
    assert cron_longest_gap_ms("0 9 * * 1-5") == 3 * D           # Friday 09:00 -> Monday 09:00
    assert cron_longest_gap_ms("*/15 * * * *") == 15 * M


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 48), st.integers(0, 48), st.integers(1, 10))
def test_adding_a_hop_never_lowers_the_bound(tmp_path_factory, every_h: int, delay_h: int, timeout_h: int) -> None:
    tmp = tmp_path_factory.mktemp("hop")
    base = run(tmp, arrives=f"arrives every {every_h}h delay {delay_h}h", timeout=f"{timeout_h}h")
    before = Calculus(base.program).of("p.batch").ms
    longer = run(tmp, arrives=f"arrives every {every_h}h delay {delay_h + 1}h", timeout=f"{timeout_h}h")
    slower = run(tmp, arrives=f"arrives every {every_h}h delay {delay_h}h", timeout=f"{timeout_h + 1}h")
    assert Calculus(longer.program).of("p.batch").ms > before
    assert Calculus(slower.program).of("p.batch").ms > before


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 96))
def test_tightening_a_target_never_turns_a_rejection_into_a_proof(tmp_path_factory, hours: int) -> None:
    tmp = tmp_path_factory.mktemp("tight")
    verdicts = []
    for target in (hours, max(hours // 2, 1)):
        result = run(tmp, slos=f"slo s {{ freshness(m) <= {target}h }}")
        verdicts.append("E0701" in codes(result))
    assert not (verdicts[0] and not verdicts[1])
    assert verdicts[0] == (hours * H < 2 * D + 3 * H)


def test_fmt_ms() -> None:
    assert [fmt_ms(x) for x in (0, 250, 95_000, 2 * D + 3 * H)] == ["0s", "250ms", "1m35s", "2d3h"]
