"""One mistake, one diagnostic, said rightly (issue 12).

Each test writes a small project with one mistake and asserts the exact list of codes
reported, so that no finding that merely follows from another one slips back in.
"""

from __future__ import annotations

from pathlib import Path

from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.lint.registry import EXAMPLE_PRELUDE


def run(tmp_path: Path, files: dict[str, str]):
    (tmp_path / "mlc.toml").write_text("")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return check(load_project([str(tmp_path)]), use_cache=False).diagnostics


def codes(diags) -> list[str]:
    return [d.code for d in diags]


# ---------------------------------------------------------------- 1. E0411 only for a dead trigger
SIGNALS = """\
package demo
signal output_1 { v: string }
signal output_2 { v: string }
signal output_3 { v: string }
flow producer {
  schedule daily
  step a bash("echo a") { emits signal output_1(v = "x") }
  step b bash("echo b") { emits signal output_2(v = "x") }
  a >> b
}
flow live {
  trigger signal(output_1) or (signal(output_2) and signal(output_3))
  step run bash("echo run")
}
"""


def test_an_unsent_signal_in_a_live_branch_is_a_warning_naming_the_branch(tmp_path: Path) -> None:
    (d,) = run(tmp_path, {"p.flow": SIGNALS})
    assert d.code == "W0415"
    assert "flow `live`" in d.message and "`output_3`" in d.message
    assert (d.span.line, d.span.col) == (12, 32)  # the branch `signal(output_2) and signal(output_3)`
    assert [lb.message for lb in d.labels] == ["no flow emits `output_3`"]


def test_e0411_names_the_flow_whose_trigger_is_dead(tmp_path: Path) -> None:
    text = SIGNALS + """\
flow dead {
  trigger signal(output_3) and signal(output_1)
  step run bash("echo run")
}
"""
    diags = run(tmp_path, {"p.flow": text})
    assert codes(diags) == ["W0415", "E0411"]
    err = diags[1]
    assert err.message == "flow `dead` can never start: its trigger waits for signal `output_3`, which no flow emits"
    assert (err.span.line, err.span.col) == (16, 11)
    assert [lb.message for lb in err.labels] == ["signal `output_3` declared here"]


# ---------------------------------------------------------------- 2. W0410 counts what it does not list
def test_w0410_says_how_many_emit_sites_it_does_not_list(tmp_path: Path) -> None:
    steps = "\n".join(f'  step s{i} bash("echo {i}") {{ emits signal done(v = "x") }}' for i in range(7))
    text = ("package demo\nsignal done { v: string }\nflow f {\n  schedule daily\n" + steps + "\n  "
            + " >> ".join(f"s{i}" for i in range(7)) + "\n}\n")
    (d,) = run(tmp_path, {"p.flow": text})
    assert d.code == "W0410" and len(d.labels) == 3
    assert d.notes == ("and 4 more emit sites",)


# ---------------------------------------------------------------- 3. nothing that follows from an error
PROGRAM = EXAMPLE_PRELUDE + """\
model fast deterministic {
  framework rule
  inputs [activity.views_1h]
  output score: float
  serve { timeout 40ms }
}
flow nightly {
  schedule cron("0 1 * * *")
  step fit bash("make fit") { timeout 1h }
  step report bash("make report") { timeout 10m }
  fit >> report
}
slo fast_fresh { freshness(fast) <= 1h }
slo activity_fresh { freshness(activity) <= 10m }
slo fast_latency { latency(fast) p99 <= 50ms }
slo nightly_done { completion(nightly) by "06:00" }
"""


def test_the_program_is_clean(tmp_path: Path) -> None:
    assert codes(run(tmp_path, {"p.flow": PROGRAM})) == []


def test_a_mistyped_source_gives_one_error_not_unprovable_freshness(tmp_path: Path) -> None:
    assert codes(run(tmp_path, {"p.flow": PROGRAM.replace("  from events", "  from event")})) == ["E0202"]


def test_a_bad_duration_gives_one_error_not_an_unprovable_completion(tmp_path: Path) -> None:
    text = PROGRAM.replace("{ timeout 1h }", "{ timeout 1.5h }")
    assert codes(run(tmp_path, {"p.flow": text})) == ["E0007"]


def test_a_bad_serve_timeout_gives_one_error_not_an_unbounded_latency(tmp_path: Path) -> None:
    text = PROGRAM.replace("serve { timeout 40ms }", "serve { timeout 50 }")
    assert codes(run(tmp_path, {"p.flow": text})) == ["E0308"]


def test_a_step_cycle_gives_one_error_not_an_unprovable_completion(tmp_path: Path) -> None:
    text = PROGRAM.replace("  fit >> report\n", "  fit >> report >> fit\n")
    assert codes(run(tmp_path, {"p.flow": text})) == ["E0401"]


def test_two_missing_facts_of_one_declaration_label_it_once(tmp_path: Path) -> None:
    # a batch group with neither `schedule` nor `timeout`: both facts are missing at the group
    text = PROGRAM.replace("entity user", """source daily: table hive(table = "wh.daily") {
  schema { user_id: string, spend: float, ds: date }
  event_time ds
  arrives every 1d delay 1h
}
features spend on user {
  from daily
  spend_7d = sum(spend) over 7d
  freshness <= 3d
}
entity user""")
    (d,) = run(tmp_path, {"p.flow": text})
    assert d.code == "W0702" and "`schedule`" in d.message and "`timeout`" in d.message
    assert [lb.message for lb in d.labels] == ["this fact is missing"]


def test_an_unprovable_objective_with_no_error_behind_it_stands(tmp_path: Path) -> None:
    text = PROGRAM.replace("serve { timeout 40ms }", "serve { replicas 2 }")
    assert codes(run(tmp_path, {"p.flow": text})) == ["W0707"]


# ---------------------------------------------------------------- 4. a file with no package line
def test_a_file_with_no_package_line_is_one_error_that_names_the_line(tmp_path: Path) -> None:
    uses = EXAMPLE_PRELUDE.replace("package demo\n", "")  # its names are used by the other file
    more = ('package demo\nflow nightly {\n  schedule daily\n  step fit python("pkg.train:main") { uses scorer }\n'
            "  step ship materialize(activity)\n  fit >> ship\n}\n")
    (d,) = run(tmp_path, {"main.flow": uses, "more.flow": more})
    assert (d.code, d.span.file.endswith("main.flow"), d.span.line) == ("E0210", True, 1)
    assert d.message == "this file has no `package` line"
    assert d.help == "add `package demo` at the top, before its imports and declarations"


def test_the_package_is_guessed_from_the_folder_first(tmp_path: Path) -> None:
    files = {"a/one.flow": "package alpha\nsignal s external { v: string }\n",
             "a/two.flow": 'flow f {\n  trigger signal(s)\n  step run bash("x")\n}\n',
             "b/three.flow": "package beta\nsignal t external { v: string }\n",
             "b/four.flow": "package beta\nsignal u external { v: string }\n"}
    (d,) = run(tmp_path, files)
    assert d.code == "E0210" and "`package alpha`" in d.help


# ---------------------------------------------------------------- 5. a file that fails to parse
FLOWS_YAML = """\
package: demo
flows:
  nightly:
    schedule: daily
    steps:
      fit:
        run: bash("make fit")
        retries: 2
        retry_delay: 5m
        timeout: 1h
  weekly:
    schedule: weekly
    steps:
      fit: {run: 'bash("make weekly")', timeout: 1h}
"""
USES = """\
package demo
flow after {
  trigger on_finish(nightly) and on_finish(weekly)
  step run bash("make after") { timeout 1h }
}
slo nightly_done { completion(nightly) by "06:00" }
"""


def test_a_yaml_line_indented_less_is_reported_at_that_line_and_names_nothing_unknown(tmp_path: Path) -> None:
    bad = FLOWS_YAML.replace("        retry_delay: 5m", "      retry_delay: 5m")
    (d,) = run(tmp_path, {"flows.flow.yaml": bad, "uses.flow": USES})
    assert (d.code, d.span.line, d.span.col) == ("E0111", 9, 7)
    assert d.message == "malformed YAML: `retry_delay` is indented less than the lines around it"
    assert d.help == "indent `retry_delay` by 8 spaces, as the keys beside it"


def test_a_yaml_line_indented_more_is_reported_at_that_line(tmp_path: Path) -> None:
    bad = FLOWS_YAML.replace("    schedule: weekly", "     schedule: weekly")
    # nightly is read (only the declaration that failed is dropped), weekly is not reported unknown
    assert codes(run(tmp_path, {"flows.flow.yaml": FLOWS_YAML, "uses.flow": USES})) == []
    (d,) = run(tmp_path, {"flows.flow.yaml": bad, "uses.flow": USES})
    assert (d.code, d.span.line, d.span.col) == ("E0111", 12, 6)
    assert d.message == "malformed YAML: `schedule` is not lined up with the keys after it"
    assert d.help == "indent `schedule` by 4 spaces, as `steps`"
    bad = FLOWS_YAML.replace("    schedule: daily", "     schedule: daily")
    (d,) = run(tmp_path, {"flows.flow.yaml": bad, "uses.flow": USES})
    assert (d.code, d.span.line, d.span.col) == ("E0111", 4, 6)
    assert d.message == "malformed YAML: `schedule` is not lined up with the keys after it"
    bad = FLOWS_YAML.replace("        retries: 2", "         retries: 2")
    (d,) = run(tmp_path, {"flows.flow.yaml": bad, "uses.flow": USES})
    assert (d.code, d.span.line, d.span.col) == ("E0111", 8, 10)
    assert d.message == ("malformed YAML: `retries` is indented more than `run` above it, "
                         "whose value is not a mapping")


def test_a_flow_declaration_that_fails_to_parse_names_nothing_unknown(tmp_path: Path) -> None:
    broken = 'package demo\nflow nightly (\n  schedule daily\n  step fit bash("make")\n}\n'
    weekly = 'package demo\nflow weekly {\n  schedule weekly\n  step fit bash("make weekly") { timeout 1h }\n}\n'
    assert codes(run(tmp_path, {"a.flow": broken, "b.flow": weekly, "uses.flow": USES})) == ["E0001"]


# ---------------------------------------------------------------- 6. huge integers in YAML
def test_huge_integers_in_yaml_neither_crash_nor_overflow(tmp_path: Path) -> None:
    from mlc.dsl.yaml_front import parse_yaml

    for value in ("-1", "99999999999999999999999", "0x" + "f" * 40):
        text = FLOWS_YAML.replace("retries: 2", f"retries: {value}")
        module, diags = parse_yaml(text, "flows.flow.yaml")
        assert diags == [] and len(module.decls) == 3
        run(tmp_path, {"flows.flow.yaml": text})  # the range is the IR's to check, not a crash
    module, diags = parse_yaml(FLOWS_YAML.replace("retries: 2", "retries: " + "9" * 5000), "f.flow.yaml")
    (d,) = diags
    assert d.message == "`99999999999999999999...` (5000 characters) is not a number YAML can read"
