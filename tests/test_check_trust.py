"""Issue 12: a program that `mlc check` accepts compiles and loads in every engine.

Each mistake below passed `mlc check` and failed later (in a backend's validation, at
compile time, or in Airflow itself). Each is now a check-time diagnostic with the span of
the offending value, in both front ends; each has a failing and a passing fixture.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlc.compiler import ir
from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.compiler.schedules import cron_longest_gap_ms, cron_problem, schedule_facts

H, D = 3_600_000, 86_400_000


def check_result(tmp_path: Path, text: str, yaml: bool = False):
    """The findings of a one-file project (a package line is added)."""
    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    name = "main.flow.yaml" if yaml else "main.flow"
    (tmp_path / name).write_text(("package: t\n" if yaml else "package t\n") + text)
    return check(load_project([str(tmp_path)]), use_cache=False).diagnostics


def diags(tmp_path: Path, text: str, yaml: bool = False) -> list[tuple[str, int, int, str]]:
    """(code, line, column, message) of every finding of a one-file project."""
    return [(d.code, d.span.line if d.span else 0, d.span.col if d.span else 0, d.message)
            for d in check_result(tmp_path, text, yaml)]


def flow(schedule: str = "daily", step: str = 'bash("make")', settings_: str = "") -> str:
    body = f" {{ {settings_} }}" if settings_ else ""
    return f"flow f {{\n  schedule {schedule}\n  step s {step}{body}\n}}\n"


def yaml_flow(schedule: str = "daily", step: str = 'bash("make")', settings_: str = "") -> str:
    lines = ["flows:", "  f:", f"    schedule: {schedule}", "    steps:", "      s:", f"        run: {step}"]
    lines += [f"        {s}" for s in settings_.split("\n") if s]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- 1. step targets
@pytest.mark.parametrize("step, code, message, col", [
    ("""python("jobs.mod:main'); import os; ('")""", "E0406",
     ("""`jobs.mod:main'); import os; ('` is not `module.path:function` of Python names: """
     """`main'); import os; ('` is not a Python name"""), 17),
    ('python("jobs.class:main")', "E0406",
     "`jobs.class:main` is not `module.path:function` of Python names: `class` is a Python keyword", 17),
    ('python("jobs..x:main")', "E0406",
     "`jobs..x:main` is not `module.path:function` of Python names: a part is empty", 17),
    ('spark("jobs/a.py", "--fast")', "E0406", "`spark(...)` takes one argument: the path of a PySpark job", 29),
    ('bash("make", retries = 2)', "E0406", "`bash(...)` takes one argument: a command string", 23),
    ('bash("  ")', "E0406", "`bash(...)` takes a command; this one is empty", 15),
    ('spark("../jobs/a.py")', "E0407", "`../jobs/a.py` is not the path of a .py file inside the project", 16),
    ('spark("/opt/jobs/a.py")', "E0407", "`/opt/jobs/a.py` is not the path of a .py file inside the project", 16),
    ('flink("jobs/a.sh")', "E0407", "`jobs/a.sh` is not the path of a .py file inside the project", 16),
    ('flink("-c import os")', "E0407", "`-c import os` is not the path of a .py file inside the project", 16),
])
def test_a_bad_step_target_is_reported_at_check_time(tmp_path: Path, step: str, code: str, message: str,
                                                     col: int) -> None:
    assert diags(tmp_path, flow(step=step)) == [(code, 4, col, message)]
    # YAML: the same finding, at the same value (`        run: ` is 13 characters before it)
    (yaml := tmp_path / "y").mkdir()
    assert diags(yaml, yaml_flow(step=step), yaml=True) == [(code, 7, col + 13 - len("  step s "), message)]


@pytest.mark.parametrize("step", ['python("jobs.mod:main")', 'python("main:run")', 'spark("jobs/a.py")',
                                  'flink("jobs/stream_job.py")', 'bash("make all")', 'spark("a-b/c.d.py")'])
def test_a_good_step_target_passes(tmp_path: Path, step: str) -> None:
    assert diags(tmp_path, flow(step=step)) == []
    (yaml := tmp_path / "y").mkdir()
    assert diags(yaml, yaml_flow(step=step), yaml=True) == []


def test_env_variable_names_are_already_names_in_both_front_ends(tmp_path: Path) -> None:
    """A step's env names are NAME tokens in .flow and `Name` keys in YAML: both front ends
    reject anything but `[A-Za-z_][A-Za-z0-9_]*` before the IR exists."""
    bad = diags(tmp_path, flow(settings_='env { 1BAD = "x" }'))
    assert bad and all(code.startswith("E00") for code, *_ in bad)
    (yaml := tmp_path / "y").mkdir()
    got = diags(yaml, yaml_flow(settings_='env: {"A-B": "x"}'), yaml=True)
    assert [(c, m) for c, _l, _c, m in got] == [("E0112", "`A-B` is not a valid name here")]
    (ok := tmp_path / "ok").mkdir()
    assert diags(ok, flow(settings_='env { _A1 = "x" }')) == []


# ---------------------------------------------------------------- 2. a flow without steps
def test_a_flow_without_steps_is_an_error(tmp_path: Path) -> None:
    assert diags(tmp_path, "flow f { schedule daily }\n") == [("E0409", 2, 1, "flow `f` has no steps")]
    (yaml := tmp_path / "y").mkdir()
    assert diags(yaml, "flows:\n  f:\n    schedule: daily\n    steps: {}\n", yaml=True) == [
        ("E0409", 3, 3, "flow `f` has no steps")]
    (ok := tmp_path / "ok").mkdir()
    assert diags(ok, flow()) == []


# ---------------------------------------------------------------- 3. schedule presets
@pytest.mark.parametrize("preset, hint", [
    ("None", "a flow without a schedule starts only by hand or by its `trigger`: remove the `schedule` line"),
    ("Daily", "did you mean `daily`?"),
    ("dayly", "did you mean `daily`?"),
    ("HOURLY", "did you mean `hourly`?"),
])
def test_an_unknown_preset_is_an_error_with_a_hint(tmp_path: Path, preset: str, hint: str) -> None:
    (f := tmp_path / "f").mkdir()
    result = check_result(f, flow(schedule=preset))
    assert [(d.code, d.span.line, d.span.col, d.message, d.help) for d in result] == [
        ("E0413", 3, 12, f"unknown schedule `{preset}`", hint)]
    (y := tmp_path / "y").mkdir()
    result = check_result(y, yaml_flow(schedule=preset), yaml=True)
    assert [(d.code, d.span.line, d.span.col, d.message, d.help) for d in result] == [
        ("E0413", 4, 15, f"unknown schedule `{preset}`", hint)]


@pytest.mark.parametrize("schedule", ["hourly", "daily", "weekly", "monthly", "yearly", "annually", "every 6h",
                                      'cron("0 1 * * *")'])
def test_every_preset_interval_and_cron_passes(tmp_path: Path, schedule: str) -> None:
    assert diags(tmp_path, flow(schedule=schedule)) == []


def test_a_feature_group_schedule_is_checked_too(tmp_path: Path) -> None:
    text = ("entity user { key user_id: string }\n"
            "source t: table files(path = \"x\") {\n  schema { user_id: string, ds: date }\n  event_time ds\n}\n"
            "features g on user {\n  from t\n  schedule Weekly\n  timeout 1h\n}\n")
    text = "import std.connectors.{files}\nenv local { }\n" + text
    got = [(c, l, m) for c, l, _c, m in diags(tmp_path, text)]
    assert ("E0413", 11, "unknown schedule `Weekly`") in got


# ---------------------------------------------------------------- 4. cron strings
@pytest.mark.parametrize("cron, message, col", [
    ("61 3 * * *", "minute 61 is out of range 0-59", 18),
    ("0 24 * * *", "hour 24 is out of range 0-23", 20),
    ("0 0 32 * *", "day of month 32 is out of range 1-31", 22),
    ("0 0 0 * *", "day of month 0 is out of range 1-31", 22),
    ("0 0 * 13 *", "month 13 is out of range 1-12", 24),
    ("0 0 * * 8", "day of week 8 is out of range 0-7", 26),
    ("*/0 * * * *", "minute step `0` must be a whole number above zero", 20),
    ("0 0 * * FRI#6", "`FRI#6`: the occurrence after `#` must be 1 to 5, not `6`", 30),
    ("0 0 30 2 *", "the cron expression `0 0 30 2 *` never fires: no date has that day of the month in that month",
     12),
    ("0 0 * *", "a cron expression has five fields (minute hour day-of-month month day-of-week); `0 0 * *` has 4",
     12),
    ("0 0 * * * 30", ("a cron expression has five fields (minute hour day-of-month month day-of-week); "
                     "`0 0 * * * 30` has 6"), 12),
    ("@daily", "`@daily` is not a cron expression", 12),
    ("0 0 * FOO *", "the month field `FOO` of `0 0 * FOO *` is not valid", 24),
])
def test_a_bad_cron_names_its_field_and_points_at_it(tmp_path: Path, cron: str, message: str, col: int) -> None:
    assert diags(tmp_path, flow(schedule=f'cron("{cron}")')) == [("E0414", 3, col, message)]
    (y := tmp_path / "y").mkdir()
    assert diags(y, yaml_flow(schedule=f'cron("{cron}")'), yaml=True) == [("E0414", 4, col + 3, message)]


@pytest.mark.parametrize("cron", ["0 1 * * *", "*/15 * * * *", "0 9 * * 1-5", "30 5 1,15 * *", "0 0 * JAN-MAR SUN",
                                  "0 0 29 2 *", "0 0 L * *", "0 12 * * 5#3", "0 0 * * 7"])
def test_a_good_cron_passes(tmp_path: Path, cron: str) -> None:
    assert diags(tmp_path, flow(schedule=f'cron("{cron}")')) == []


def _croniter_accepts(text: str) -> bool:
    from croniter import CroniterError, croniter

    try:
        croniter(text, datetime(2025, 1, 1)).get_next(datetime)
    except (CroniterError, ValueError, KeyError, TypeError, IndexError):
        return False
    return True


_FIELD = st.one_of(
    st.just("*"), st.integers(-1, 70).map(str),
    st.tuples(st.integers(0, 65), st.integers(0, 65)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.tuples(st.sampled_from(["*", "1-30", "5"]), st.integers(0, 80)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.lists(st.integers(0, 65), min_size=2, max_size=3).map(lambda xs: ",".join(map(str, xs))),
    st.sampled_from(["L", "?", "MON", "jan", "FRI#3", "MON#7", "SUN-SAT", "JAN-DEC", "x", "1-", "*/", "3#"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELD, min_size=5, max_size=5))
def test_cron_strings_are_reported_exactly_when_croniter_rejects_them(fields: list[str]) -> None:
    """The oracle is croniter (what Airflow uses): it must build the expression and find its
    next firing. Every five-field string it rejects is reported, every one it accepts is not."""
    text = " ".join(fields)
    problem = cron_problem(text)
    assert (problem is None) == _croniter_accepts(text), (text, problem)
    if problem is not None and problem.start is not None:
        assert text[problem.start:problem.start + problem.length].strip() != ""


# ---------------------------------------------------------------- the schedule helper
def _schedule(kind: str, value: str | None = None, every_ms: int | None = None) -> ir.Schedule:
    return ir.Schedule(kind=kind, value=value, every_ms=every_ms)


def test_schedule_facts_read_by_croniter() -> None:
    daily = schedule_facts(_schedule("preset", "daily"))
    assert (daily.cron, daily.airflow, daily.daily_start_ms, daily.longest_gap_ms) == ("0 0 * * *", "@daily", 0, D)
    hourly = schedule_facts(_schedule("preset", "hourly"))
    assert (hourly.airflow, hourly.daily_start_ms, hourly.longest_gap_ms) == ("@hourly", None, H)
    assert schedule_facts(_schedule("preset", "yearly")).longest_gap_ms == 366 * D  # across a 29 February
    assert schedule_facts(_schedule("preset", "monthly")).longest_gap_ms == 31 * D
    c = schedule_facts(_schedule("cron", "30 5 * * 1-5"))
    assert (c.cron, c.airflow, c.daily_start_ms, c.longest_gap_ms) == ("30 5 * * 1-5", "30 5 * * 1-5",
                                                                       (5 * 60 + 30) * 60_000, 3 * D)
    assert schedule_facts(_schedule("cron", "0 1,13 * * *")).daily_start_ms is None
    assert schedule_facts(_schedule("cron", "0 0 29 2 *")).longest_gap_ms == (366 + 3 * 365) * D
    assert schedule_facts(_schedule("preset", "hourly")).first_run_ms == 0
    assert schedule_facts(_schedule("cron", "15,45 9-17 * * 1-5")).first_run_ms == (9 * 60 + 15) * 60_000
    every = schedule_facts(_schedule("interval", every_ms=6 * H))
    assert (every.cron, every.airflow, every.every_ms, every.longest_gap_ms) == (None, None, 6 * H, 6 * H)
    bad = schedule_facts(_schedule("cron", "61 3 * * *"))
    assert bad.problem is not None and bad.longest_gap_ms is None and bad.cron is None
    assert schedule_facts(_schedule("preset", "None")).problem.message == "unknown schedule `None`"


@pytest.mark.parametrize("schedule, yaml_schedule, facts", [
    ("weekly", "weekly", ("0 0 * * 0", "@weekly", 0, 0, 7 * D)),
    ('cron("30 5 * * 1-5")', 'cron("30 5 * * 1-5")',
     ("30 5 * * 1-5", "30 5 * * 1-5", (5 * 60 + 30) * 60_000, (5 * 60 + 30) * 60_000, 3 * D)),
    ("every 6h", "every 6h", (None, None, None, None, 6 * H)),
    ("Weekly", "Weekly", (None, None, None, None, None)),
])
def test_the_ir_carries_what_a_schedule_means(tmp_path: Path, schedule: str, yaml_schedule: str, facts) -> None:
    """Both front ends lower a schedule with croniter's reading of it, so the proofs and the
    backends read one fact; a schedule that cannot run carries none."""
    for name, text in (("main.flow", "package t\n" + flow(schedule=schedule)),
                       ("main.flow.yaml", "package: t\n" + yaml_flow(schedule=yaml_schedule))):
        (d := tmp_path / name).mkdir()
        (d / "mlc.toml").write_text('[project]\nname = "t"\n')
        (d / name).write_text(text)
        s = check(load_project([str(d)]), use_cache=False).program.flows["t.f"].schedule
        assert (s.cron, s.airflow, s.daily_start_ms, s.first_run_ms, s.longest_gap_ms) == facts, name


@pytest.mark.parametrize("cron, gap", [("0 1 * * *", D), ("0 1,13 * * *", 12 * H), ("0 9 * * 1-5", 3 * D),
                                       ("*/15 * * * *", 15 * 60_000)])
def test_longest_gap(cron: str, gap: int) -> None:
    assert cron_longest_gap_ms(cron) == gap


# ---------------------------------------------------------------- 5. numeric ranges
@pytest.mark.parametrize("flow_setting, yaml_setting, message", [
    ("retries 101", "retries: 101", "`retries` of step `s` is a whole number from 0 to 100; `101` is not"),
    ("retries 99999999999999999999999", "retries: 99999999999999999999999",
     "`retries` of step `s` is a whole number from 0 to 100; `99999999999999999999999` is not"),
    ("timeout 3651d", "timeout: 3651d", "the `timeout` of step `s` is at most 3650d (ten years); `3651d` is not"),
    ("timeout 0s", "timeout: 0s", "the `timeout` of step `s` must be above zero"),
    ("retry_delay 5000d", "retry_delay: 5000d",
     "`retry_delay` of step `s` is a duration from 0s to 3650d; `5000d` is not"),
])
def test_numeric_ranges_are_the_same_in_both_front_ends(tmp_path: Path, flow_setting: str, yaml_setting: str,
                                                         message: str) -> None:
    value_col = flow_setting.index(" ") + 1
    assert diags(tmp_path, flow(settings_=flow_setting)) == [("E0308", 4, 25 + value_col, message)]
    (y := tmp_path / "y").mkdir()
    assert diags(y, yaml_flow(settings_=yaml_setting), yaml=True) == [
        ("E0308", 8, 9 + yaml_setting.index(" ") + 1, message)]


def test_negative_retries_in_yaml_is_out_of_range(tmp_path: Path) -> None:
    """`.flow` has no negative numbers (`retries -1` is a syntax error); YAML has, and the
    range check on the IR catches them."""
    assert diags(tmp_path, yaml_flow(settings_="retries: -1"), yaml=True) == [
        ("E0308", 8, 18, "`retries` of step `s` is a whole number from 0 to 100; `-1` is not")]
    (f := tmp_path / "f").mkdir()
    assert [c for c, *_ in diags(f, flow(settings_="retries -1"))] != []


@pytest.mark.parametrize("flow_setting, yaml_setting", [
    ("retries 0", "retries: 0"), ("retries 100", "retries: 100"), ("retry_delay 0s", "retry_delay: 0s"),
    ("timeout 3650d", "timeout: 3650d"), ("resources { cpu 0.5, memory 4Gi, gpu 1 }",
                                           "resources: {cpu: 0.5, memory: 4Gi, gpu: 1}"),
])
def test_numbers_in_range_pass(tmp_path: Path, flow_setting: str, yaml_setting: str) -> None:
    assert diags(tmp_path, flow(settings_=flow_setting)) == []
    (y := tmp_path / "y").mkdir()
    assert diags(y, yaml_flow(settings_=yaml_setting), yaml=True) == []


@pytest.mark.parametrize("text, message", [
    ("flow f {\n  schedule every 3651d\n  step s bash(\"make\")\n}\n",
     "an interval schedule is at most 3650d (ten years); `3651d` is not"),
    ("flow f {\n  schedule daily\n  step s bash(\"make\") { resources { gpu 65 } }\n}\n",
     "`gpu` in `resources` is a whole number of GPUs from 0 to 64; `65` is not"),
    ("flow f {\n  schedule daily\n  step s bash(\"make\") { resources { cpu 2000 } }\n}\n",
     "`cpu` in `resources` is a number of CPUs above zero and at most 1024, like `2` or `0.5`; `2000` is not"),
])
def test_upper_bounds_of_flow_settings(tmp_path: Path, text: str, message: str) -> None:
    assert [(c, m) for c, _l, _c, m in diags(tmp_path, text)] == [("E0308", message)]


# ---------------------------------------------------------------- what check accepts compiles
ACCEPTED = """\
import std.connectors.{files}
env local { }
flow nightly {
  schedule cron("30 2 * * 1-5")
  step a python("jobs.train:main") { retries 100, retry_delay 0s, timeout 3650d }
  step b spark("jobs/score.py") { env { _MODE = "fast" } }
  step c flink("jobs/stream.py")
  step d bash("make report")
  a >> b >> c >> d
}
flow hourly_sync {
  schedule hourly
  step s bash("make sync")
}
flow every_six {
  schedule every 6h
  step s bash("make sync")
}
"""


def test_what_check_accepts_every_backend_compiles(tmp_path: Path) -> None:
    from mlc.deploy.bundle import compile as compile_bundle
    from mlc.targets import TARGETS

    (tmp_path / "mlc.toml").write_text('[project]\nname = "t"\n')
    (tmp_path / "main.flow").write_text("package t\n" + ACCEPTED)
    compiled = compile_bundle(load_project([str(tmp_path)]), "local", sorted(TARGETS), use_cache=False)
    assert compiled.result.diagnostics == [] and compiled.ok
    dags = {a.path: a.text for a in compiled.artifacts if a.path.endswith(".py") and "/dags/" in a.path}
    assert any('"30 2 * * 1-5"' in text for text in dags.values()), sorted(dags)
