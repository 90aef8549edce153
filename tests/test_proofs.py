"""Issue 12, proofs: nothing `mlc check` reports proven is false.

- an emission that may not happen in a run (a `when`, a `gate`, a `foreach` that may be empty,
  a step after one of those) never proves the freshness of the flow it triggers;
- `freshness(flow.step)` is a target, bounded as its flow's run up to that step;
- every hop of a derivation cites the clause it read, in both front ends;
- `mlc explain latency` and `mlc explain completion` show how those verdicts were reached.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlc.cli import main
from mlc.compiler.driver import check
from mlc.compiler.freshness import Calculus
from mlc.compiler.project import load_project

H, D, M = 3_600_000, 86_400_000, 60_000


def run(tmp_path: Path, text: str, name: str = "p.flow"):
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / name).write_text(text)
    return check(load_project([str(tmp_path)]), use_cache=False)


def explain(tmp_path: Path, *args: str) -> list[str]:
    here = os.getcwd()
    os.chdir(tmp_path)  # files are cited relative to the working folder
    try:
        out = CliRunner().invoke(main, ["explain", *args, str(tmp_path)])
    finally:
        os.chdir(here)
    assert out.exit_code == 0, out.output
    return out.output.splitlines()


def line_of(text: str, needle: str, nth: int | None = None) -> int:
    """The 1-based line of the only line of `text` that holds `needle` (or of the `nth` one)."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    if nth is None:
        (n,) = found
        return n
    return found[nth]


# ---------------------------------------------------------------------- 1. conditional emissions

CHAIN = """\
package p
signal ready {{ day: string }}
flow producer {{
  schedule daily
  param regions: [string] = ["us"]
  step a python("x:a") {{ timeout 1h{a} }}
  step b python("x:b") {{ timeout 10m, emits signal ready(day = "x"){b} }}
  a >> b
}}
flow consumer {{
  trigger signal(ready{match})
  step c python("x:c") {{ timeout 1h }}
}}
slo fresh {{ freshness(consumer) <= 3d }}
{more}"""


def chain(tmp_path: Path, a: str = "", b: str = "", match: str = "", more: str = ""):
    text = CHAIN.format(a=a, b=b, match=match, more=more)
    return text, run(tmp_path, text)


def test_an_unconditional_emission_proves_the_consumer_fresh(tmp_path: Path) -> None:
    _, result = chain(tmp_path)
    assert result.diagnostics == []
    assert Calculus(result.program).of("p.consumer").ms == D + H + 10 * M + H


def test_when_true_is_unconditional(tmp_path: Path) -> None:
    _, result = chain(tmp_path, b=", when true")
    assert result.diagnostics == []


def test_when_false_never_emits_so_the_objective_is_not_proven(tmp_path: Path) -> None:
    # before: reported proven (1d2h10m <= 3d) although `consumer` never runs
    text, result = chain(tmp_path, b=", when false")
    (d,) = result.diagnostics
    assert d.code == "W0702"
    assert d.message == ("the freshness of `consumer` cannot be proved: it needs signal `ready` to be emitted at "
                         "all (step `b` of flow `producer` never runs: its `when` is false)")
    (label,) = d.labels
    assert (label.span.line, label.span.col) == (7, text.splitlines()[6].index("false") + 1)
    assert label.message == "never holds, so the step never runs"
    assert not Calculus(result.program).of("p.consumer").known


def test_a_when_that_may_not_hold_makes_the_bound_unknown(tmp_path: Path) -> None:
    _, result = chain(tmp_path, b=", when regions == []")
    (d,) = result.diagnostics
    assert d.code == "W0702"
    assert ("it needs signal `ready` from every run of flow `producer` (step `b` runs only when its `when` holds)"
            in d.message)
    assert d.labels[0].span.line == 7 and d.labels[0].message == "the step runs only when this holds"


def test_an_emission_after_a_gate_is_conditional(tmp_path: Path) -> None:
    text, result = chain(tmp_path, a=", gate auc >= 0.8")
    (d,) = result.diagnostics
    assert d.code == "W0702"
    assert ("(step `b` runs after step `a`, which has a `gate` that stops the flow unless it holds)"
            in d.message)
    (label,) = d.labels
    assert (label.span.line, label.span.col) == (6, text.splitlines()[5].index("auc") + 1)
    assert label.message == "the flow stops here unless this holds"


def test_a_gate_on_the_emitting_step_itself_is_conditional(tmp_path: Path) -> None:
    _, result = chain(tmp_path, b=", gate auc >= 0.8")
    (d,) = result.diagnostics
    assert (d.code, d.labels[0].span.line) == ("W0702", 7)
    assert "(step `b` emits only when its `gate` holds)" in d.message


def test_a_foreach_that_may_be_empty_is_conditional_and_a_literal_one_is_not(tmp_path: Path) -> None:
    _, result = chain(tmp_path, b=", foreach r in regions")
    (d,) = result.diagnostics
    assert d.code == "W0702" and "its `foreach`, which may be empty" in d.message
    _, result = chain(tmp_path, b=', foreach r in ["us", "eu"]')
    assert result.diagnostics == []


def test_a_signal_whose_payload_never_matches_the_trigger(tmp_path: Path) -> None:
    assert chain(tmp_path, match=', day = "x"')[1].diagnostics == []
    _, result = chain(tmp_path, match=', day = "y"')
    (d,) = result.diagnostics
    assert d.code == "W0702"
    assert 'step `b` of flow `producer` emits `day = "x"`, and the trigger waits for `day = "y"`' in d.message


def test_an_unconditional_emitter_still_bounds_the_consumer(tmp_path: Path) -> None:
    # a second flow emits `ready` in every run: the consumer runs at least that often
    more = ('flow backup {\n  schedule every 2d\n  step e python("x:e") { timeout 1h, emits signal ready(day = "z") }\n'
            '}\n')
    _, result = chain(tmp_path, b=", when false", more=more)
    assert result.diagnostics == []
    assert Calculus(result.program).of("p.consumer").ms == 2 * D + H + H


def test_on_finish_of_a_flow_a_gate_may_stop(tmp_path: Path) -> None:
    text = CHAIN.format(a=", gate auc >= 0.8", b="", match="", more="").replace(
        "trigger signal(ready)", "trigger on_finish(producer)")
    (d,) = [d for d in run(tmp_path, text).diagnostics if d.code != "W0410"]
    assert d.code == "W0702"
    assert ("it needs every run of flow `producer` to finish (step `a` has a `gate` that stops the flow "
            "unless it holds)") in d.message


def test_completion_through_a_conditional_emission_is_not_proven(tmp_path: Path) -> None:
    _, result = chain(tmp_path, b=", when false", more='slo on_time { completion(consumer) by "06:00" }\n')
    assert sorted(d.code for d in result.diagnostics) == ["W0702", "W0704"]
    w0704 = next(d for d in result.diagnostics if d.code == "W0704")
    assert w0704.labels[0].span.line == 7


# ---------------------------------------------------------------------- 2. freshness(flow.step)

STEPS = """\
package p
flow nightly {{
  schedule cron("0 1 * * *")
  param go: bool = true
  step a python("x:a") {{ timeout 1h, retries 2, retry_delay 10m }}
  step b python("x:b") {{ timeout 30m }}
  step c python("x:c") {{ timeout 2h{c} }}
  a >> b
  a >> c
}}
{slos}
"""


def test_a_step_is_as_fresh_as_its_flow_run_up_to_it(tmp_path: Path) -> None:
    result = run(tmp_path, STEPS.format(c="", slos="slo s { freshness(nightly.b) <= 1d4h }"))
    assert result.diagnostics == []
    calc = Calculus(result.program)
    assert calc.of_step("p.nightly", "b").ms == D + 3 * H + 20 * M + 30 * M
    assert calc.of_step("p.nightly", "c").ms == calc.of("p.nightly").ms == D + 3 * H + 20 * M + 2 * H


def test_a_step_objective_it_cannot_meet_walks_the_path(tmp_path: Path) -> None:
    result = run(tmp_path, STEPS.format(c="", slos="slo s { freshness(nightly.b) <= 1d }"))
    (d,) = result.diagnostics
    assert (d.code, d.message) == ("E0701", "`nightly.b` can be 1d3h50m stale, over its <= 1d objective")
    assert d.notes[:3] == (
        'flow nightly: cron("0 1 * * *"), longest gap 1d  +1d = 1d',
        "flow nightly: step a: timeout 1h x 3 attempts + 2 x 10m retry delay  +3h20m = 1d3h20m",
        "flow nightly: step b: timeout 30m  +30m = 1d3h50m")


def test_a_step_that_may_not_run_is_not_proven_fresh(tmp_path: Path) -> None:
    result = run(tmp_path, STEPS.format(c=", when go", slos="slo s { freshness(nightly.c) <= 3d }"))
    (d,) = result.diagnostics
    assert d.code == "W0702"
    assert "step `c` of flow `nightly` to run in every run (step `c` runs only when its `when` holds)" in d.message


def test_an_unknown_step_and_a_template_use(tmp_path: Path) -> None:
    slos = ("slo s { freshness(nightly.d) <= 3d }\n"
            "slo within(target, bound) { freshness(target) <= bound }\n"
            "slo t = within(nightly.b, 1h)\n")
    result = run(tmp_path, STEPS.format(c="", slos=slos))
    assert sorted((d.code, d.message) for d in result.diagnostics) == [
        ("E0202", "unknown step `d` of flow `nightly`"),
        ("E0701", "`nightly.b` can be 1d3h50m stale, over its <= 1h objective")]


def test_explain_a_step(tmp_path: Path) -> None:
    run(tmp_path, STEPS.format(c="", slos="slo s { freshness(nightly.b) <= 1d4h }"))
    assert explain(tmp_path, "freshness", "nightly.b") == [
        "freshness of step nightly.b: at worst 1d3h50m stale",
        "  hop           fact                                                                 adds    total",
        '  flow nightly  cron("0 1 * * *"), longest gap 1d  (p.flow:3)                         +1d       1d',
        "  flow nightly  step a: timeout 1h x 3 attempts + 2 x 10m retry delay  (p.flow:5)  +3h20m  1d3h20m",
        "  flow nightly  step b: timeout 30m  (p.flow:6)                                      +30m  1d3h50m",
        "slo s: freshness <= 1d4h: proven (1d3h50m <= 1d4h)",
    ]


# ---------------------------------------------------------------------- 3. every hop cites its clause

FLOW = """\
package p
import std.connectors.{kafka, hive, files}
env local { kafka = files("d"), hive = files("w") }
source clicks: stream kafka(topic = "c") {
  schema { user_id: string, n: int, ts: timestamp }
  event_time ts
  watermark 30s
}
source daily: table hive(table = "t") {
  schema { user_id: string, spend: float, ds: date }
  event_time ds
  arrives every 1d delay 2h
}
entity user { key user_id: string }
features live on user {
  from clicks
  n_5m = sum(n) over 5m every 1m
  n_1h = sum(n) over 1h every 2m
  checkpoint every 1m
  online ttl 1d
}
features batch on user {
  from daily
  spend_7d = sum(spend) over 7d
  schedule daily
  timeout 1h
  online ttl 3d
}
flow nightly {
  schedule cron("0 1 * * *")
  step a python("x:a") {
    retries 1
    timeout 1h
  }
}
slo s { freshness(batch) <= 1d, freshness(live) <= 10m }
"""

YAML = """\
package: p
imports: ["std.connectors.{kafka, hive, files}"]
envs:
  local: {kafka: files("d"), hive: files("w")}
sources:
  clicks:
    kind: stream
    connector: kafka(topic = "c")
    schema: {user_id: string, n: int, ts: timestamp}
    event_time: ts
    watermark: 30s
  daily:
    kind: table
    connector: hive(table = "t")
    schema: {user_id: string, spend: float, ds: date}
    event_time: ds
    arrives:
      every: 1d
      delay: 2h
entities:
  user: {key: {user_id: string}}
features:
  live:
    on: user
    from: clicks
    features:
      n_5m: {expr: sum(n), over: 5m, every: 1m}
      n_1h: {expr: sum(n), over: 1h, every: 2m}
    checkpoint: 1m
    online: {ttl: 1d}
  batch:
    on: user
    from: daily
    features:
      spend_7d: {expr: sum(spend), over: 7d}
    schedule: daily
    timeout: 1h
    online: {ttl: 3d}
flows:
  nightly:
    schedule: cron("0 1 * * *")
    steps:
      a:
        run: python("x:a")
        retries: 1
        timeout: 1h
slos:
  s: {objectives: [freshness(batch) <= 1d, freshness(live) <= 10m]}
"""


def hops(lines: list[str]) -> list[tuple[str, ...]]:
    """The rows of an explain table as (node, fact, file:line, adds, total)."""
    out = []
    for line in lines[2:]:
        m = re.fullmatch(r"  (.+?)  +(.+?)  \((\S+)\)  +(\+\S+)  +(\S+( \(\+\d+d\))?)", line)
        if m is None:
            break
        out.append(m.groups()[:5])
    return out


@pytest.mark.parametrize("name, text", [("p.flow", FLOW), ("p.flow.yaml", YAML)], ids=["flow", "yaml"])
def test_every_hop_cites_the_clause_it_read(tmp_path: Path, name: str, text: str) -> None:
    result = run(tmp_path, text, name)
    (d,) = result.diagnostics
    assert d.code == "E0701"
    yaml = name.endswith(".yaml")

    def at(needle: str, nth: int | None = None) -> str:
        return f"{name}:{line_of(text, needle, nth)}"

    # E0701 points at the clause the worst path starts from
    assert d.labels[0].span.line == line_of(text, "arrives")
    batch = explain(tmp_path, "freshness", "batch")
    assert batch[0] == "freshness of feature group batch: at worst 2d3h stale"
    assert hops(batch) == [
        ("source daily", "arrives every 1d delay 2h", at("arrives"), "+1d2h", "1d2h"),
        ("features batch", "schedule daily", at("schedule: daily" if yaml else "schedule daily"), "+1d", "2d2h"),
        ("features batch", "timeout 1h", at("timeout", 0), "+1h", "2d3h")]
    assert batch[5:] == ["slo s: freshness <= 1d: REJECTED (2d3h is over 1d)"]
    live = explain(tmp_path, "freshness", "live")
    assert hops(live) == [
        ("source clicks", "watermark 30s", at("watermark"), "+30s", "30s"),
        ("features live", "window slide 2m", at("n_1h"), "+2m", "2m30s"),
        ("features live", "checkpoint every 1m", at("checkpoint"), "+1m", "3m30s")]
    nightly = explain(tmp_path, "freshness", "nightly")
    assert hops(nightly) == [
        ("flow nightly", 'cron("0 1 * * *"), longest gap 1d', at("cron("), "+1d", "1d"),
        ("flow nightly", "step a: timeout 1h x 2 attempts + 1 x 5m retry delay",
         at("timeout", 1), "+2h5m", "1d2h5m")]


# ---------------------------------------------------------------------- 4. explain latency and completion

SERVED = """\
package p
model rules deterministic {{
  framework rule
  output score: float
  serve {{ timeout 20ms }}
}}
model ranker nondeterministic {{
  framework sklearn
  output score: float
  confidence in 0.0..1.0
  fallback rules when confidence < 0.5 or unavailable
  serve {{
    replicas 2
    timeout {timeout}
  }}
}}
flow nightly {{
  schedule cron("0 1 * * *")
  step a python("x:a") {{ timeout 1h, retries 2, retry_delay 10m }}
  step b python("x:b") {{ timeout 30m }}
  a >> b
}}
slo fast {{ latency(ranker) p99 <= 50ms }}
slo on_time {{ completion(nightly) by "{by}" }}
"""


def test_explain_latency_proven_and_rejected(tmp_path: Path) -> None:
    assert run(tmp_path, SERVED.format(timeout="30ms", by="06:00")).diagnostics == []
    assert explain(tmp_path, "latency", "ranker") == [
        "latency of model ranker: at worst 50ms",
        "  hop           fact                                       adds  total",
        "  model ranker  serve timeout 30ms  (p.flow:14)           +30ms   30ms",
        "  model rules   fallback, serve timeout 20ms  (p.flow:5)  +20ms   50ms",
        "slo fast: latency p99 <= 50ms: proven (50ms <= 50ms)",
    ]
    assert [d.code for d in run(tmp_path, SERVED.format(timeout="40ms", by="06:00")).diagnostics] == ["E0706"]
    lines = explain(tmp_path, "latency", "ranker")
    assert lines[0] == "latency of model ranker: at worst 60ms"
    assert lines[-1] == ("slo fast: latency p99 <= 50ms: REJECTED (E0706: a request that falls back from `ranker` "
                         "to `rules` can take 40ms + 20ms = 60ms, over the 50ms objective)")


def test_explain_completion_proven_and_rejected(tmp_path: Path) -> None:
    assert run(tmp_path, SERVED.format(timeout="30ms", by="06:00")).diagnostics == []
    assert explain(tmp_path, "completion", "nightly") == [
        "completion of flow nightly: done by 04:50 at worst",
        "  hop           fact                                                                  adds  total",
        "  flow nightly  cron(\"0 1 * * *\") starts 01:00  (p.flow:18)                            +1h  01:00",
        "  flow nightly  step a: timeout 1h x 3 attempts + 2 x 10m retry delay  (p.flow:19)  +3h20m  04:20",
        "  flow nightly  step b: timeout 30m  (p.flow:20)                                      +30m  04:50",
        "slo on_time: completion by 06:00: proven (04:50 <= 06:00)",
    ]
    run(tmp_path, SERVED.format(timeout="30ms", by="04:00"))
    assert explain(tmp_path, "completion", "nightly")[-1] == (
        "slo on_time: completion by 04:00: REJECTED (E0703: `nightly` can finish at 04:50, after 04:00)")


OVERNIGHT = """\
package p
flow overnight {{
  schedule cron("30 23 * * *")
  step load bash("make load") {{ timeout {timeout} }}
}}
slo by_six {{ completion(overnight) by "06:00" }}
"""


def test_explain_completion_of_a_run_that_starts_the_evening_before(tmp_path: Path) -> None:
    """A 23:30 run is measured against the next morning's 06:00, in the check and in explain alike."""
    assert run(tmp_path, OVERNIGHT.format(timeout="2h")).diagnostics == []
    assert explain(tmp_path, "completion", "overnight")[-1] == \
        "slo by_six: completion by 06:00: proven (01:30 (+1d) <= 06:00 (+1d))"
    assert [d.code for d in run(tmp_path, OVERNIGHT.format(timeout="7h")).diagnostics] == ["E0703"]
    assert explain(tmp_path, "completion", "overnight")[-1].startswith("slo by_six: completion by 06:00: REJECTED (E0703")


def test_explain_names_what_each_kind_is_about(tmp_path: Path) -> None:
    run(tmp_path, SERVED.format(timeout="30ms", by="06:00"))
    out = CliRunner().invoke(main, ["explain", "latency", "nightly", str(tmp_path)])
    assert out.exit_code == 2 and "no model named `nightly`" in out.output
    out = CliRunner().invoke(main, ["explain", "completion", "rankr", str(tmp_path)])
    assert out.exit_code == 2 and "no flow named `rankr`" in out.output


FANOUT = """\
package p
flow nightly {{
  schedule cron("0 1 * * *")
  param regions: [string] = [{regions}]
  step prep python("x:prep") {{ timeout 10m }}
  step score python("x:score") {{ foreach region in {items}, timeout 30m }}
  prep >> score
}}
slo on_time {{ completion(nightly) by "06:00" }}
"""


def test_a_fanout_wider_than_the_slots_waits_its_work_over_the_slots(tmp_path: Path) -> None:
    """A run's task instances share the DAG's 16 slots: 3 regions all run at once (01:40), but
    40 of them cannot, and the bound adds the run's work over the slots (Graham's bound):
    10m + 40 x 30m = 20h10m of work, over 16 slots 1h15m38s, so 02:55:38, where the old
    calculus said 01:40 as if the 40 ran side by side."""
    few = ", ".join(f'"r{i}"' for i in range(3))
    (a := tmp_path / "a").mkdir()
    assert run(a, FANOUT.format(regions=few, items="regions")).diagnostics == []
    assert explain(a, "completion", "nightly")[0] == "completion of flow nightly: done by 01:40 at worst"
    many = ", ".join(f'"r{i}"' for i in range(40))
    (b := tmp_path / "b").mkdir()
    assert run(b, FANOUT.format(regions=few, items=f"[{many}]")).diagnostics == []
    lines = explain(b, "completion", "nightly")
    assert lines[0] == "completion of flow nightly: done by 02:55 at worst"
    assert any("41 task instances share 16 slots: waiting at most 20h10m of work / 16" in line for line in lines)
    (c := tmp_path / "c").mkdir()
    assert run(c, FANOUT.format(regions=few, items=f"[{many}]").replace('by "06:00"', 'by "02:30"')
               ).diagnostics[0].code == "E0703"


def test_a_fanout_of_unknown_width_is_not_proven(tmp_path: Path) -> None:
    """A `foreach` over a parameter with no default may have any number of items: the run's
    waiting, so its completion, is unknown, and the missing fact is named."""
    text = FANOUT.format(regions="", items="regions").replace(" = []", "")
    assert [(d.code, d.message) for d in run(tmp_path, text).diagnostics] == [
        ("W0704", "completion of `nightly` by 06:00 cannot be proved: it needs how many items the `foreach` of "
                  "step `score` of flow `nightly` has (a list written out, or a list parameter with a default)")]
    assert explain(tmp_path, "completion", "nightly")[:2] == [
        "completion of flow nightly: unknown",
        "  missing: how many items the `foreach` of step `score` of flow `nightly` has (a list written out, "
        "or a list parameter with a default)  (p.flow:6)"]
