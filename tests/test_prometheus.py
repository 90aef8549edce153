"""The monitoring target without its engine: the burn-rate windows' derivation, what cannot be
monitored (W1301, E1302), deterministic and injection-proof output, and the push the pipelines
make (the Spark and Flink runtimes, the same exposition). promtool and a real Prometheus judge the
rules in tests/prometheus."""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from mlc.compiler import metrics as M
from mlc.compiler.project import load_project
from mlc.deploy.bundle import check
from mlc.deploy.bundle import compile as compile_bundle
from mlc.lint.registry import EXAMPLE_PRELUDE
from mlc.targets.prometheus.watch import duration, windows

ROOT = Path(__file__).resolve().parent.parent
SERVED = """
model ranker deterministic {
  framework rule
  inputs [activity.views_1h]
  output score: float
  owner "growth"
  serve { timeout 40ms }
}
"""


JUDGE = """
model judge nondeterministic {
  framework sklearn
  inputs [activity.*]
  output score: float
  confidence in 0.0..1.0
  fallback ranker when confidence < 0.6 or unavailable
  serve { timeout 30ms }
}
"""


def project(tmp_path: Path, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    (tmp_path / "main.flow").write_text(EXAMPLE_PRELUDE + text)
    return tmp_path


def compiled(tmp_path: Path, text: str) -> dict[str, str]:
    done = compile_bundle(load_project([str(project(tmp_path, text))]).rooted(), "local", ["prometheus"],
                          use_cache=False)
    assert done.ok, [str(d) for d in done.result.diagnostics]
    return {a.path: a.text for a in done.artifacts}


def codes(tmp_path: Path, text: str) -> list[str]:
    return [d.code for d in check(load_project([str(project(tmp_path, text))]), use_cache=False).diagnostics]


def test_the_workbook_windows_at_30_days_and_scaled_with_the_period() -> None:
    month = [(w.burn, duration(w.long_s), duration(w.short_s), w.severity) for w in windows(30 * 86_400_000)]
    assert month == [(Decimal("14.4"), "1h", "5m", "page"), (Decimal("6"), "6h", "30m", "page"),
                     (Decimal("1"), "3d", "6h", "ticket")]
    week = [(duration(w.long_s), duration(w.short_s)) for w in windows(7 * 86_400_000)]
    assert week == [("14m", "1m10s"), ("1h24m", "7m"), ("16h48m", "1h24m")]
    # each long window spends the same share of the budget at its burn rate, whatever the period
    for w, share in zip(windows(7 * 86_400_000), (Decimal("0.02"), Decimal("0.05"), Decimal("0.1"))):
        assert abs(w.burn * w.long_s / (7 * 86_400) - share) < Decimal("0.0001")
    assert min(w.short_s for w in windows(86_400_000)) == 60  # never under a minute


@pytest.mark.parametrize("text, code", [
    ("slo events_fresh { freshness(events) <= 1m }\n", "W1301"),  # a source: nothing exports its arrival
    ("slo up { availability(scorer) >= 99.9% }\n", "W1301"),  # scorer is not served
    ("slo good { quality(scorer) auc >= 0.8 }\n", "W1301"),  # no evaluation step gates on auc
    (SERVED + "slo always { availability(ranker) >= 100% }\n", "E1302"),
    (SERVED + "slo up { availability(ranker) >= 99.9% over 7d }\n", None),
    (SERVED + "slo quick { latency(ranker) p99 <= 50ms over 7d }\n", None),
    (SERVED + "slo up { availability(ranker) >= 99.9% over 5 }\n", "E1304"),  # not a period
    (SERVED + 'slo up { availability(ranker) >= 99.9% over "7d" }\n', "E1304"),
    (SERVED + "slo quick { latency(ranker) p99 <= 50ms over 10m }\n", "E1304"),  # its windows under a minute
    ("slo fresh { freshness(activity) <= 10m }\n", None),
    (SERVED + JUDGE + "slo f { fallback_rate(judge) <= 2% over 1h, drift(judge) confidence <= 0.05 }\n", None),
    (SERVED + JUDGE + "slo f { fallback_rate(judge) <= 120% }\n", "E1303"),  # not a share
    (SERVED + JUDGE + "slo f { fallback_rate(judge) <= 0.02 }\n", "E1303"),  # a percentage, not a fraction
    (SERVED + JUDGE + "slo f { fallback_rate(judge) <= 2% over 10s }\n", "E1303"),  # under a minute
    (SERVED + JUDGE + "slo f { fallback_rate(judge) >= 2% }\n", "E1303"),  # a limit is `<=`
    (SERVED + JUDGE + "slo f { drift(judge) confidance <= 0.05 }\n", "E1303"),  # only confidence drifts
    (SERVED + JUDGE + "slo f { drift(judge) confidence <= 5% }\n", "E1303"),  # a number in 0..1
    (SERVED + "slo f { drift(ranker) confidence <= 0.05 }\n", "E1303"),  # deterministic: no confidence
    (SERVED + "slo f { fallback_rate(ranker) <= 2% }\n", "W1301"),  # no fallback answers for it
    ("slo f { drift(scorer) confidence <= 0.05 }\n", "W1301"),  # not served
    ('flow nightly {\n  schedule daily\n  step fit bash("make fit") { timeout 1h }\n}\n'
     "slo fit_fresh { freshness(nightly.fit) <= 2d }\n", None),  # a step's success is pushed
])
def test_what_cannot_be_monitored(tmp_path: Path, text: str, code: str | None) -> None:
    assert "E0" not in " ".join(codes(tmp_path, text))  # the objective itself is of the language
    found = [c for c in codes(tmp_path, text) if c[1:3] == "13"]
    assert found == ([code] if code else [])


def test_program_text_cannot_reach_promql_yaml_or_templates(tmp_path: Path) -> None:
    hostile = '{{ printf \\"%s\\" .Value }}\\"}\\n- alert: X'
    files = compiled(tmp_path, SERVED.replace('owner "growth"', f'owner "{hostile}"')
                     + f'slo up {{ availability(ranker) >= 99.9% over 7d, tags {{ team = "{hostile}" }} }}\n')
    rules = yaml.safe_load(files["prometheus/rules/models/ranker.yml"])
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} == {"MlcErrorBudgetFastBurn", "MlcErrorBudgetBurn", "MlcErrorBudgetSlowBurn"}
    for a in alerts:
        for value in (a["labels"]["owner"], a["labels"]["team"]):
            # the text survives as a value; its `{{` is the template's own string, never an action
            assert value.startswith('{{"{{"}} printf "%s" .Value }}"}') and "\n- alert: X" in value
    board = json.loads(files["prometheus/dashboards/models/ranker.json"])
    assert board["uid"] == "mlc-model-ranker" and board["tags"] == ["mlc", "model"]


def test_a_latency_objective_over_a_period_derives_its_windows_from_it(tmp_path: Path) -> None:
    """`over` sets the budget's period of a latency objective as of an availability one: the alerts'
    windows are the table's shares of it (before, `over` on a latency objective was a syntax error
    and its windows were always the 30-day ones)."""
    files = compiled(tmp_path, SERVED + "slo quick { latency(ranker) p99 <= 50ms over 7d }\n")
    rules = [r for g in yaml.safe_load(files["prometheus/rules/models/ranker.yml"])["groups"] for r in g["rules"]]
    got = {r["alert"]: (r["labels"]["long_window"], r["labels"]["short_window"]) for r in rules if "alert" in r
           and r["labels"].get("slo") == "quick"}
    assert got == {"MlcErrorBudgetFastBurn": ("14m", "1m10s"), "MlcErrorBudgetBurn": ("1h24m", "7m"),
                   "MlcErrorBudgetSlowBurn": ("16h48m", "1h24m")}
    assert any(r.get("record") == "slo:mlc_error_ratio:rate16h48m" and 'le="0.05"' in r["expr"] for r in rules)


def test_the_same_program_gives_the_same_bytes(tmp_path: Path) -> None:
    text = SERVED + "slo up { availability(ranker) >= 99.9% over 7d }\nslo fast { latency(ranker) p99 <= 50ms }\n"
    assert compiled(tmp_path / "a", text) == compiled(tmp_path / "b", text)


def test_the_latency_bucket_a_rule_reads_is_one_the_service_exports(tmp_path: Path) -> None:
    files = compiled(tmp_path, SERVED + "slo fast { latency(ranker) p99 <= 45ms }\n")
    assert 'le="0.045"' in files["prometheus/rules/models/ranker.yml"]
    program = check(load_project([str(tmp_path)]), use_cache=False).program
    assert M.le(0.045) == "0.045" and 0.045 in M.latency_buckets(program, "demo.ranker")


def _runtime(engine: str):
    path = ROOT / f"mlc/targets/{engine}/templates/runtime/mlc_{engine}_runtime.py"
    spec = importlib.util.spec_from_file_location(f"mlc_{engine}_runtime_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_the_pipelines_push_the_metrics_of_metrics_py(engine: str) -> None:
    runtime = _runtime(engine)
    metrics = M.feature_metrics("acme.card velocity")
    assert runtime.push_url("127.0.0.1:9091", metrics) == \
        "http://127.0.0.1:9091/metrics/job/mlc/group/acme.card%20velocity"
    text = runtime.exposition({M.FEATURE_NEWEST_EVENT: 1.5, M.FEATURE_LAST_WRITE: 2.0})
    assert text == (f"# TYPE {M.FEATURE_LAST_WRITE} gauge\n{M.FEATURE_LAST_WRITE} 2.0\n"
                    f"# TYPE {M.FEATURE_NEWEST_EVENT} gauge\n{M.FEATURE_NEWEST_EVENT} 1.5\n")
    # without a Pushgateway, or with nothing written, nothing is pushed
    assert runtime.push_freshness(metrics, None, {"MLC_PUSHGATEWAY": "127.0.0.1:9"}) is False
    import datetime as dt

    assert runtime.push_freshness(metrics, dt.datetime.now(dt.timezone.utc), {}) is False
    # an unreachable one is a warning, never a failed job
    assert runtime.push_freshness(metrics, dt.datetime.now(dt.timezone.utc), {"MLC_PUSHGATEWAY": "127.0.0.1:9"}) \
        is False


GOLDEN = ROOT / "tests" / "prometheus" / "golden"
EXAMPLES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "mlc.toml").is_file())


@pytest.mark.parametrize("name", EXAMPLES)
def test_golden_rules_and_dashboards_of_the_examples(name: str, update_golden: bool) -> None:
    """Every example's rule files and dashboards, byte for byte (--update-golden rewrites; review the diff)."""
    done = compile_bundle(load_project([str(ROOT / "examples" / name)]).rooted(), "local", ["prometheus"],
                          use_cache=False)
    assert done.ok, [str(d) for d in done.result.diagnostics]
    got = {a.path: a.text for a in done.artifacts if a.path.startswith("prometheus/")}
    folder = GOLDEN / name
    if update_golden:
        for old in folder.rglob("*") if folder.exists() else ():
            if old.is_file():
                old.unlink()
        for path, text in got.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
    want = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    assert sorted(got) == sorted(want)
    assert [p for p in got if got[p] != want[p]] == []


def test_explain_availability_says_the_rules_numbers() -> None:
    """`mlc explain availability MODEL` (the alerts' `explain` link) prints the budget, windows and
    thresholds the rules use, from the same plan."""
    from click.testing import CliRunner

    from mlc.cli import main

    fixture = ROOT / "tests" / "prometheus" / "fixtures" / "watch"
    said = CliRunner().invoke(main, ["explain", "availability", "ranker", str(fixture), "--no-cache"])
    assert said.exit_code == 0, said.output
    done = compile_bundle(load_project([str(fixture)]).rooted(), "local", ["prometheus"], use_cache=False)
    rules = yaml.safe_load({a.path: a.text for a in done.artifacts}["prometheus/rules/models/ranker.yml"])
    alerts = [r for g in rules["groups"] if g["name"] == "mlc.slo.weekly_up" for r in g["rules"] if "alert" in r]
    assert {a["annotations"]["explain"] for a in alerts} == {"mlc explain availability ranker"}
    assert "0.5% of requests over 7d" in said.output
    for a, line in zip(alerts, [ln for ln in said.output.splitlines() if ln.strip().startswith("MlcErrorBudget")]):
        burn, budget = a["expr"].split("> (")[1].split(")")[0].split(" * ")  # `> (14.4 * 0.005)`
        assert line.split()[:3] == [a["alert"], f"{burn}x", burn] and f"x {budget} = " in line
        assert a["labels"]["long_window"] in line and a["labels"]["short_window"] in line
    missing = CliRunner().invoke(main, ["explain", "availability", "rankr", str(fixture), "--no-cache"])
    assert missing.exit_code != 0 and "did you mean `ranker`" in missing.output


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_alerts_source_and_explain_annotation_lead_to_its_objective(name: str) -> None:
    """An alert's `source` is the line of the objective it is about, and its `explain` is an
    `mlc explain` command that runs on the project and speaks of that subject."""
    from click.testing import CliRunner

    from mlc.cli import main

    rules = [r for p in (GOLDEN / name).rglob("*.yml") for g in yaml.safe_load(p.read_text())["groups"]
             for r in g["rules"] if "alert" in r]
    for r in rules:
        path, line = r["annotations"]["source"].rsplit(":", 1)
        text = (ROOT / "examples" / name / path).read_text().splitlines()[int(line) - 1]
        slo = r["labels"].get("slo")
        assert slo is None or f"slo {slo} " in text, (r["alert"], text)
    for command in sorted({r["annotations"]["explain"] for r in rules if "explain" in r["annotations"]}):
        word, what, subject = command.split()[1:]
        assert word == "explain"
        said = CliRunner().invoke(main, ["explain", what, subject, str(ROOT / "examples" / name), "--no-cache"])
        assert said.exit_code == 0 and said.output.startswith(what) and subject in said.output.splitlines()[0], \
            (command, said.output)
