"""Every check of part 2: a program that triggers it (exact code, position and message, and
nothing else) and the corrected program that does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlc.compiler.driver import check
from mlc.compiler.project import load_project

BASE = """\
package demo
import std.connectors.{kafka, hive, s3, files}

env local { kafka = files("data/events"), hive = files("data/wh"), s3 = files("build/s3") }

source events: stream kafka(topic = "events", format = json) {
  schema { user_id: string, kind: enum(view, click), amount: int, label: string, ts: timestamp }
  event_time ts
  watermark 10s
}
source daily: table hive(table = "wh.daily") {
  schema { user_id: string, spend: float, ds: date }
  event_time ds
  arrives every 1d delay 1h
}
entity user { key user_id: string }
features activity on user {
  from events
  views_1h = count(kind == view) over 1h every 5m
  amount_1h = sum(amount) over 1h every 5m
  checkpoint every 1m
  online ttl 1d
  offline s3("features/activity")
}
model baseline deterministic {
  framework rule
  inputs [activity.views_1h]
  output score: float
}
model scorer nondeterministic {
  framework sklearn
  inputs [activity.*]
  output score: float
  confidence in 0.0..1.0
  fallback baseline when confidence < 0.5 or unavailable
}
signal trained { version: string }
flow train {
  schedule cron("0 2 * * *")
  step fit python("pkg.train:main") { produces scorer, emits signal trained(version = run.id) }
  step check python("pkg.eval:main") { uses scorer, gate auc >= 0.8 }
  fit >> check
}
flow score {
  trigger signal(trained)
  step run spark("jobs/score.py") { uses scorer }
}
"""


def run(tmp_path: Path, text: str) -> list[tuple[str, int, int, str]]:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    (tmp_path / "main.flow").write_text(text)
    result = check(load_project([str(tmp_path)]), use_cache=False)
    return [(d.code, d.span.line if d.span else 0, d.span.col if d.span else 0, d.message)
            for d in result.diagnostics]


def by_line(tmp_path: Path, text: str) -> list[tuple[str, int, str]]:
    return [(code, line, message) for code, line, _col, message in run(tmp_path, text)]


def test_base_program_is_clean(tmp_path: Path) -> None:
    assert run(tmp_path, BASE) == []


# (name, old text, new text, expected diagnostics (code, line, col, message))
CASES = [
    ("duplicate", "entity user { key user_id: string }",
     "entity user { key user_id: string }\nsignal user { v: string }",
     [("E0201", 17, 8, "`user` is declared twice")]),
    ("unknown entity", "features activity on user {", "features activity on usr {",
     [("E0202", 17, 22, "unknown entity `usr`")]),
    ("unknown source", "  from events\n", "  from event\n",
     [("E0202", 18, 8, "unknown source `event`")]),
    ("unknown module", "import std.connectors.{kafka, hive, s3, files}",
     "import std.connectors.{kafka, hive, s3, files}\nimport std.conectors.{kafka}",
     [("E0203", 3, 8, "unknown module `std.conectors`")]),
    ("unknown member", "import std.connectors.{kafka, hive, s3, files}",
     "import std.connectors.{kafka, hive, s3, files, kafak}",
     [("E0204", 2, 48, "module `std.connectors` has no `kafak`")]),
    ("produces a source", "produces scorer, emits", "produces events, emits",
     [("E0205", 40, 48, "`events` is a source, not a model")]),
    ("deploy a feature group", '  step run spark("jobs/score.py") { uses scorer }',
     '  step run spark("jobs/score.py") { uses scorer }\n  step ship deploy(activity)\n  run >> ship',
     [("E0205", 47, 20, "`activity` is a feature group, not a model")]),
    ("missing input feature", "inputs [activity.views_1h]", "inputs [activity.views_2h]",
     [("E0206", 27, 11, "feature group `activity` has no feature `views_2h`")]),
    ("sum of a string", "amount_1h = sum(amount)", "amount_1h = sum(label)",
     [("E0301", 20, 19, "`sum` needs a float or int column; this is string")]),
    ("comparing a number with a string", "views_1h = count(kind == view)", 'views_1h = count(amount > "x")',
     [("E0303", 19, 20, "`>` compares an int (`amount`) with a string")]),
    ("not an aggregation", "amount_1h = sum(amount)", "amount_1h = total(amount)",
     [("E0307", 20, 3, "`total` is not an aggregation, but `amount_1h` has a window")]),
    ("entity key not in schema", "entity user { key user_id: string }", "entity user { key uid: string }",
     [("E0304", 18, 8, "entity `user` is keyed by `uid`, which the source of `activity` lacks")]),
    ("event time not a time", "  event_time ts\n", "  event_time label\n",
     [("E0305", 8, 14, "`event_time` must be a timestamp or date column; `label` is string")]),
    ("unknown column", "count(kind == view)", "count(knd == view)",
     [("E0306", 19, 20, "unknown column `knd`")]),
    ("emits a missing field", "trained(version = run.id)", "trained(versoin = run.id)",
     [("E0302", 40, 77, "signal `trained` has no field `versoin`")]),
    ("emits a wrong type", "trained(version = run.id)", "trained(version = 3)",
     [("E0303", 40, 87, "`version` of signal `trained` is string; the step gives int")]),
    ("match on a missing field", "trigger signal(trained)", 'trigger signal(trained, region = "us")',
     [("E0302", 45, 27, "signal `trained` has no field `region`")]),
    ("step cycle", "  fit >> check\n", "  fit >> check >> fit\n",
     [("E0401", 42, 10, "the steps of flow `train` form a cycle: check >> fit >> check")]),
    ("flow chain cycle", '  schedule cron("0 2 * * *")\n', "  trigger on_finish(score)\n",
     [("E0402", 44, 1, "flows trigger each other in a cycle: score --on_finish--> train, "
                       "train --signal trained--> score")]),
    ("unconnected step", "  fit >> check\n", '  fit >> check\n  step extra bash("echo hi")\n',
     [("W0403", 43, 3, "step `extra` is connected to no other step of `train`")]),
    ("edge to unknown step", "  fit >> check\n", "  fit >> chek\n",
     [("E0404", 42, 10, "flow `train` has no step `chek`")]),
    ("unknown step kind", 'step run spark("jobs/score.py")', 'step run sprak("jobs/score.py")',
     [("E0405", 46, 3, "unknown step kind `sprak`")]),
    ("python entry point", 'python("pkg.eval:main")', 'python("pkg.eval")',
     [("E0406", 41, 21, 'a python step names its entry point as "module:function"')]),
    ("emitted never awaited", "  trigger signal(trained)\n", '  schedule cron("0 3 * * *")\n',
     [("W0410", 37, 1, "signal `trained` is emitted but no flow waits for it")]),
    ("awaited never emitted", ", emits signal trained(version = run.id) }", " }",
     [("E0411", 45, 11, "flow `score` can never start: its trigger waits for signal `trained`, which no flow emits")]),
    ("unused signal", "signal trained { version: string }",
     "signal trained { version: string }\nsignal spare { }",
     [("W0412", 38, 1, "signal `spare` is neither emitted nor awaited")]),
    ("env lacks a binding", 'hive = files("data/wh"), ', "",
     [("E0501", 4, 1, "env `local` has no binding for `hive`, which source `daily` needs")]),
    ("literal credential", 'env local {',
     'env prod { kafka = kafka(bootstrap = "b:9092", credentials = "hunter2"), hive = hive(metastore = "m"), '
     's3 = s3(bucket = "b") }\nenv local {',
     [("E0502", 4, 62, "`credentials` is a credential written as a literal")]),
    ("unknown connector option", 'kafka(topic = "events", format = json)',
     'kafka(topic = "events", fromat = json)',
     [("E0208", 6, 47, "`kafka` has no option `fromat` in source `events`")]),
    # a misspelt required option: "did you mean `table`", not also E0209 "needs `table`"
    ("misspelt required connector option", 'hive(table = "wh.daily")', 'hive(tabel = "wh.daily")',
     [("E0208", 11, 26, "`hive` has no option `tabel` in source `daily`")]),
    ("missing connector option", 'hive(table = "wh.daily")', "hive()",
     [("E0209", 11, 21, "`hive` needs `table` in source `daily`")]),
    ("connector of the wrong kind", 'source daily: table hive(table = "wh.daily")',
     'source daily: stream hive(table = "wh.daily")',
     [("E0207", 11, 22, "connector `hive` cannot read a stream")]),
]


@pytest.mark.parametrize("name,old,new,expected", CASES, ids=[c[0] for c in CASES])
def test_check_triggers(tmp_path: Path, name: str, old: str, new: str, expected) -> None:
    assert old in BASE, f"fixture drifted: {old!r}"
    got = run(tmp_path, BASE.replace(old, new, 1))
    assert got == expected


def test_an_offline_store_on_a_table_connector_is_one_error(tmp_path: Path) -> None:
    # not also E0503 ("bound to hive in env `prod`, which cannot serve ...") for each env that binds it
    text = BASE.replace('offline s3("features/activity")', 'offline hive(table = "wh.activity")').replace(
        "env local {", 'env prod { kafka = files("e"), hive = hive(metastore = "thrift://m:9083"), s3 = files("s") }\n'
                       "env local {")
    assert run(tmp_path, text) == [
        ("E0207", 24, 11, "connector `hive` cannot hold the offline store of `activity`: it holds no files")]


def test_unknown_name_has_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "main.flow").write_text(BASE.replace("features activity on user {", "features activity on usr {"))
    result = check(load_project([str(tmp_path)]), use_cache=False)
    (d,) = result.diagnostics
    assert d.help == "did you mean `user`?"


def test_failed_import_does_not_cascade(tmp_path: Path) -> None:
    text = BASE.replace("import std.connectors.{kafka, hive, s3, files}", "import std.conectors.{kafka, hive, s3, files}")
    got = run(tmp_path, text)
    assert [c for c, *_ in got] == ["E0203"]


def test_a_name_declared_in_another_module_names_the_import(tmp_path: Path) -> None:
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "main.flow").write_text(BASE.replace("import std.connectors.{kafka, hive, s3, files}",
                                                     "import std.connectors.{kafka, hive, s3}"))
    found = check(load_project([str(tmp_path)]), use_cache=False).diagnostics
    assert {(d.code, d.message) for d in found} == {("E0202", "unknown connector `files`")}
    assert {d.help for d in found} == {
        "`files` is declared in `std.connectors`: add it to the import, `import std.connectors.{hive, kafka, s3, files}`"}


def test_a_member_imported_as_a_module_gets_the_braces(tmp_path: Path) -> None:
    text = BASE.replace("import std.connectors.{kafka, hive, s3, files}",
                        "import std.connectors.kafka\nimport std.connectors.{hive, s3, files}")
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "main.flow").write_text(text)
    (d,) = check(load_project([str(tmp_path)]), use_cache=False).diagnostics
    assert (d.code, d.span.line, d.help) == (
        "E0203", 2, "a module's members are imported in braces: `import std.connectors.{kafka}`")


def test_a_declaration_with_a_syntax_error_gets_no_further_findings(tmp_path: Path) -> None:
    """The failed item is dropped by recovery: without the rule, the scorer's broken fallback
    would also be reported as a probabilistic model served with no fallback (E0801)."""
    broken = BASE.replace("fallback baseline when confidence < 0.5 or unavailable",
                          "fallback baseline when confidence = 0.5 or unavailable\n  serve { replicas 2 }")
    assert [c for c, *_ in run(tmp_path, broken)] == ["E0001"]
    # findings outside the broken declaration still come
    broken = broken.replace("features activity on user {", "features activity on usr {")
    assert [c for c, *_ in run(tmp_path, broken)] == ["E0202", "E0001"]


def test_settings_out_of_range(tmp_path: Path) -> None:
    text = BASE + (
        "model served nondeterministic {\n"
        "  framework sklearn\n  output score: float\n  confidence in 1.0..0.0\n"
        "  fallback baseline when confidence < 0.5 or unavailable\n"
        "  serve { replicas 0, timeout 40, gpu -1, cpu 0.5, memory 2Gi }\n}\n"
        "flow often {\n  schedule every 0m\n"
        '  step s bash("true") { timeout 0s, resources { cpu 0, memory "lots" } }\n}\n')
    assert by_line(tmp_path, text) == [
        ("E0308", 48, "the confidence range of `served` is empty: 1..0"),  # and no E0803 for 0.5
        ("E0308", 53, "`replicas` in `serve` is a whole number of replicas from 1 to 1000; `0` is not"),
        ("E0308", 53, "`timeout` in `serve` is a duration above zero and at most 3650d, like `40ms`; `40` is not"),
        ("E0308", 53, "`gpu` in `serve` is a whole number of GPUs from 0 to 64; `-1` is not"),
        ("E0308", 56, "an interval schedule must be above zero"),
        ("E0308", 57, "the `timeout` of step `s` must be above zero"),
        ("E0308", 57, "`cpu` in `resources` is a number of CPUs above zero and at most 1024, like `2` or `0.5`; `0` is not"),
        ("E0308", 57, "`memory` in `resources` is a size above zero and at most 64Ti, like `4Gi`; `\"lots\"` is not"),
    ]


def test_names_in_step_expressions_and_parameter_defaults(tmp_path: Path) -> None:
    text = BASE + (
        "flow regional {\n"
        '  param region: string = 5\n  param day: string = "today"\n  schedule daily\n'
        '  step a bash("echo $R") { env { R = regin, ID = run.id, DAY = day } }\n'
        '  step b bash("echo $X") { foreach r in [1, 2], when region == "eu", env { X = r, Y = rr } }\n'
        '  step c python("pkg.m:f") { emits signal done(auc = auc, run = run.id, bad = run.idd) }\n'
        '  step d bash("echo $N") { when region > 3, env { N = 1 + run.id, M = day + "-x", K = -day } }\n'
        "  a >> b >> c >> d\n}\nsignal done { auc: float, run: string, bad: string }\n"
        'flow after {\n  trigger signal(done)\n  step s bash("true")\n}\n')
    assert by_line(tmp_path, text) == [
        ("E0303", 49, "the default of `region` is an int, but `region` is a string"),
        ("E0202", 52, "unknown name `regin` in flow `regional`"),
        ("E0202", 53, "unknown name `rr` in flow `regional`"),
        ("E0202", 54, "unknown name `run.idd` in flow `regional`"),  # a metric is a bare name
        ("E0303", 55, "`>` compares a string (`region`) with an int"),
        ("E0303", 55, "`+` adds numbers or durations, or joins strings; here it has an int and a string"),
        ("E0303", 55, "`-` works on numbers and durations; here it has a string"),
    ]
    fixed = (text.replace("= 5", '= "eu"').replace("= regin", "= region").replace("Y = rr", "Y = r")
             .replace("bad = run.idd", "bad = run.id").replace("region > 3", "region > \"a\"")
             .replace("1 + run.id", "run.id + \"-1\"").replace("K = -day", "K = day"))
    assert run(tmp_path, fixed) == []


def test_slo_template_arity(tmp_path: Path) -> None:
    text = BASE + "slo fresh(target, bound) { freshness(target) <= bound }\nslo s = fresh(scorer)\n"
    assert run(tmp_path, text) == [("E0601", 49, 1, "template `fresh` takes 2 arguments (target, bound); 1 given")]
    text = BASE + "slo fresh(target, bound) { freshness(target) <= bound }\nslo s = fresh(scorer, 3d)\n"
    assert run(tmp_path, text) == []


def test_std_slo_template(tmp_path: Path) -> None:
    text = BASE.replace("import std.connectors.{kafka, hive, s3, files}",
                        "import std.connectors.{kafka, hive, s3, files}\nimport std.slo") + \
        "slo s = std.slo.fresh_within(scorer, 3d)\n"
    assert run(tmp_path, text) == []
