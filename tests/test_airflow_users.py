"""What Airflow and dag-factory users write (issue 12), compile-level: flow-wide step
`defaults`, `start`/`end` dates, signals bound to an asset `uri`, the trigger's payload
(`trigger.FIELD`). Both front ends, the checks' diagnostics, the IR and the generated DAG
text. The same features run in Airflow in tests/airflow (fixture `airflow_users`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlc.cli import main
from mlc.compiler.dates import parse_utc
from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.dsl import ast as A
from mlc.dsl.parser import parse_text
from mlc.dsl.fmt import format_module
from mlc.dsl.yaml_emit import module_to_yaml
from mlc.dsl.yaml_front import parse_yaml

HEAD = "package au\n\nenv local { }\n\n"


def project(tmp_path: Path, text: str, yaml: bool = False) -> Path:
    (tmp_path / "mlc.toml").write_text('[project]\nname = "au"\nsources = ["."]\n')
    if yaml:
        module, diags = parse_text(HEAD + text, "main.flow")
        assert diags == []
        (tmp_path / "main.flow.yaml").write_text(module_to_yaml(module))
    else:
        (tmp_path / "main.flow").write_text(HEAD + text)
    return tmp_path


def diagnostics(tmp_path: Path, text: str, yaml: bool = False) -> list[tuple[str, int, str]]:
    result = check(load_project([str(project(tmp_path, text, yaml))]), use_cache=False)
    return [(d.code, d.span.line if d.span else 0, d.message) for d in result.diagnostics]


def program(tmp_path: Path, text: str, yaml: bool = False):
    result = check(load_project([str(project(tmp_path, text, yaml))]), use_cache=False)
    assert [d for d in result.diagnostics if d.severity.name == "ERROR"] == []
    return result.program


def dag(tmp_path: Path, text: str, flow: str) -> str:
    project(tmp_path, text)
    result = CliRunner().invoke(main, ["compile", str(tmp_path), "--env", "local", "--target", "airflow",
                                       "--out", str(tmp_path / "out"), "--no-cache"])
    assert result.exit_code == 0, result.output
    return (tmp_path / "out" / "airflow" / "dags" / f"{flow}.py").read_text()


# ---------------------------------------------------------------- 1. defaults
DEFAULTS = """\
flow nightly {
  schedule daily
  defaults { retries 2, retry_delay 5m, timeout 1h, owner "ml-platform" }
  step extract bash("make extract")
  step train bash("make train") { retries 0, timeout 3h, owner "ds" }
  extract >> train
}
"""


@pytest.mark.parametrize("yaml", [False, True], ids=["flow", "yaml"])
def test_defaults_reach_every_step_in_the_ir_and_a_step_wins(tmp_path, yaml):
    flow = program(tmp_path, DEFAULTS, yaml).flows["au.nightly"]
    extract, train = flow.steps
    assert (extract.retries, extract.retry_delay_ms, extract.timeout_ms, extract.owner) == \
        (2, 300_000, 3_600_000, "ml-platform")
    assert extract.inherited == ("retries", "retry_delay", "timeout", "owner")
    assert (train.retries, train.retry_delay_ms, train.timeout_ms, train.owner) == (0, 300_000, 10_800_000, "ds")
    assert train.inherited == ("retry_delay",)
    # the loc of an inherited setting is the defaults' clause (what proofs and checks cite)
    assert extract.setting_locs["timeout"].line == train.setting_locs["retry_delay"].line == (9 if yaml else 7)
    assert flow.defaults.retries == 2 and flow.defaults.owner == "ml-platform"


def test_defaults_lower_to_each_task(tmp_path):
    text = dag(tmp_path, DEFAULTS, "nightly")
    extract = text[text.index('task_id="extract"'):text.index('task_id="train"')]
    assert "retries=2," in extract and "retry_delay=timedelta(seconds=300)" in extract
    assert "execution_timeout=timedelta(seconds=3600)" in extract and 'owner="ml-platform"' in extract
    train = text[text.index('task_id="train"'):]
    assert "retries=0," in train and "execution_timeout=timedelta(seconds=10800)" in train and 'owner="ds"' in train


def test_the_completion_proof_reads_the_default_timeout(tmp_path):
    """A completion objective that the default timeout makes impossible: the proof sees it."""
    slo = 'slo done { completion(nightly) by "00:30" }\n'
    with_default = diagnostics(tmp_path, DEFAULTS.replace("timeout 1h", "timeout 20h") + slo)
    assert any(code.startswith("E") for code, _l, _m in with_default), with_default
    assert not any(code.startswith("E") for code, _l, _m in
                   diagnostics(tmp_path, DEFAULTS.replace("timeout 3h", "timeout 5m")
                               .replace("timeout 1h", "timeout 5m") + slo))


def test_a_bad_default_is_reported_once_at_the_defaults(tmp_path):
    found = diagnostics(tmp_path, DEFAULTS.replace("retries 2", "retries 500"))
    assert found == [("E0308", 7, "`retries` of the `defaults` of `nightly` is a whole number from 0 to 100; "
                                  "`500` is not")]


def test_defaults_twice_and_unknown_items_are_refused(tmp_path):
    found = diagnostics(tmp_path, DEFAULTS.replace("owner \"ml-platform\" }", "owner \"a\", retries 3 }"))
    assert [c for c, _l, _m in found] == ["E0110"]
    found = diagnostics(tmp_path, DEFAULTS.replace("retries 2,", "produces x,"))
    assert found and found[0][0] == "E0001"


# ---------------------------------------------------------------- 2. start and end
DATES = """\
flow yearly {
  schedule daily
  start "2026-01-01"
  end "2026-12-31T06:30:00Z"
  catchup true
  step a bash("true")
}
"""


@pytest.mark.parametrize("text,expected", [
    ("2026-01-01", (2026, 1, 1, 0, 0, 0)),
    ("2026-01-01T06:30", (2026, 1, 1, 6, 30, 0)),
    ("2026-01-01T06:30:15Z", (2026, 1, 1, 6, 30, 15)),
    ("2026-01-01T06:30:15+00:00", (2026, 1, 1, 6, 30, 15)),
])
def test_utc_dates_are_read(text, expected):
    value, why = parse_utc(text)
    assert why is None and value.utcoffset().total_seconds() == 0
    assert value.timetuple()[:6] == expected


@pytest.mark.parametrize("text,why", [
    ("31/12/2026", "write a day or a time in ISO 8601"),
    ("2026-02-30", "no such day or time"),
    ("2026-01-01T06:00:00+02:00", "times are UTC: write `Z` (or no offset), not `+02:00`"),
    ("2026-01-01 06:00", "separate the day and the time with `T`"),
    ("2026-01-01T06:00:00.5Z", "give whole seconds"),
])
def test_bad_dates_say_why(text, why):
    value, problem = parse_utc(text)
    assert value is None and why in problem


@pytest.mark.parametrize("yaml", [False, True], ids=["flow", "yaml"])
def test_start_and_end_are_checked(tmp_path, yaml):
    assert diagnostics(tmp_path, DATES, yaml) == []
    bad = diagnostics(tmp_path, DATES.replace('"2026-12-31T06:30:00Z"', '"2026-13-01"'), yaml)
    assert [(c, m.split(":")[0]) for c, _l, m in bad] == [("E0309", "the `end` of `yearly` is not a date")]
    before = diagnostics(tmp_path, DATES.replace('"2026-12-31T06:30:00Z"', '"2025-12-31"'), yaml)
    assert [(c, m) for c, _l, m in before] == [("E0309", "the `end` of `yearly` is not after its `start`")]


def test_start_and_end_lower_to_aware_datetimes_and_allow_catchup(tmp_path):
    text = dag(tmp_path, DATES, "yearly")
    assert "from datetime import datetime, timezone" in text
    assert "catchup=True,\n    max_active_tasks=16,\n    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),\n" \
           "    end_date=datetime(2026, 12, 31, 6, 30, tzinfo=timezone.utc),\n" in text


def test_catchup_without_start_is_still_refused(tmp_path):
    project(tmp_path, DATES.replace('  start "2026-01-01"\n', ""))
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--no-cache", "--format", "json"])
    assert [d["code"] for d in json.loads(result.output)["diagnostics"]] == ["E1008"]


# ---------------------------------------------------------------- 3. signals bound to an asset uri
URI = """\
signal raw_landed external { uri "s3://lake/raw/landed/", region: string }
signal scores_ready { uri "s3://lake/scores/", run_id: string }

flow load {
  trigger signal(raw_landed)
  step copy bash("true") { emits signal scores_ready(run_id = run.id) }
}
"""


@pytest.mark.parametrize("yaml", [False, True], ids=["flow", "yaml"])
def test_a_signal_with_a_uri_is_that_asset(tmp_path, yaml):
    p = program(tmp_path, URI, yaml)
    assert p.signals["au.raw_landed"].uri == "s3://lake/raw/landed/"
    # scores_ready is emitted and awaited by no flow: a hand-written DAG may wait for it (no W0410)
    (tmp_path / "again").mkdir()
    assert diagnostics(tmp_path / "again", URI, yaml) == []


def test_the_uri_is_the_asset_name_and_uri(tmp_path):
    text = dag(tmp_path, URI, "load")
    assert 'Asset(\n    name="s3://lake/raw/landed/",\n    uri="s3://lake/raw/landed/",\n)' in text
    assert 'Asset(\n    name="s3://lake/scores/",\n    uri="s3://lake/scores/",\n)' in text


@pytest.mark.parametrize("uri,why", [
    ("airflow://raw", "the scheme `airflow` is reserved by Airflow"),
    ("mlc://signal/x", "the scheme `mlc` is the compiler's own"),
    ("s3://lake/raw landed", "it holds whitespace"),
    ("raw-landed", "it is not an address `scheme://...`"),
    ("s3://user:hunter2@lake/raw", "it holds a password"),
    ("s3://lake/" + "x" * 1500, "longer than Airflow's 1500 characters"),
])
def test_bad_uris_are_refused(tmp_path, uri, why):
    found = diagnostics(tmp_path, URI.replace("s3://lake/raw/landed/", uri))
    assert len(found) == 1 and found[0][:2] == ("E0310", 5) and why in found[0][2], found


def test_two_signals_on_one_address_are_refused(tmp_path):
    found = diagnostics(tmp_path, URI.replace("s3://lake/scores/", "S3://lake/raw/landed"))
    assert [(c, line) for c, line, _m in found] == [("E0310", 6)]
    assert "`raw_landed` and `scores_ready` are bound to one asset address" in found[0][2]


def test_the_uri_and_a_field_named_uri_round_trip():
    text = HEAD + 'signal s external { uri "s3://a/b", uri: string }\n'
    module, diags = parse_text(text, "m.flow")
    assert diags == [] and module.decls[-1].uri.value == "s3://a/b"
    assert [f.name.value for f in module.decls[-1].fields] == ["uri"]
    again, diags = parse_yaml(module_to_yaml(module), "m.flow.yaml")
    assert diags == [] and again.decls[-1].uri.value == "s3://a/b"
    assert format_module(again) == format_module(module)


# ---------------------------------------------------------------- round trips of the new clauses
ALL = DEFAULTS.replace("  schedule daily\n", '  schedule daily\n  start "2026-01-01"\n  end "2027-01-01"\n') + URI


def test_new_clauses_round_trip_through_fmt_and_yaml():
    module, diags = parse_text(HEAD + ALL, "m.flow")
    assert diags == []
    flow_text = format_module(module)
    again, diags = parse_text(flow_text, "m.flow")
    assert diags == [] and format_module(again) == flow_text
    from_yaml, diags = parse_yaml(module_to_yaml(module), "m.flow.yaml")
    assert diags == []   # YAML groups declarations by kind: the same declarations, in another order
    by_name = {d.name.value: format_module(parse_text(format_module(A.Module("x", [d])), "x")[0])
               for d in module.decls[1:]}
    assert {d.name.value: format_module(A.Module("x", [d])) for d in from_yaml.decls[1:]} == by_name
    flow = next(d for d in from_yaml.decls if d.name.value == "nightly")
    assert (flow.start.value, flow.end.value, flow.defaults.timeout.text) == ("2026-01-01", "2027-01-01", "1h")


def test_steps_named_like_the_new_keywords_still_chain():
    text = HEAD + ('flow f {\n  start "2026-01-01"\n  step start bash("a")\n  step end bash("b")\n'
                   '  step defaults bash("c")\n  start >> end >> defaults\n}\n')
    module, diags = parse_text(text, "m.flow")
    assert diags == []
    flow = module.decls[-1]
    assert [[n.value for n in hop] for hop in flow.edges[0].hops] == [["start"], ["end"], ["defaults"]]
    assert flow.start.value == "2026-01-01"


# ---------------------------------------------------------------- 4. the trigger's payload
PAYLOAD = """\
signal raw_landed external { uri "s3://lake/raw/", region: string, day: string, n: int }
signal eu_landed external { region: string, n: string }

flow load {
  trigger signal(raw_landed, region = "us") or signal(eu_landed)
  step copy bash("echo $REGION") { env { REGION = trigger.region }, when trigger.region != "fr" }
  step tell bash("true") { emits signal loaded(region = trigger.region) }
  copy >> tell
}
signal loaded { region: string }
flow after { trigger signal(loaded), step a bash("true") }
"""


@pytest.mark.parametrize("yaml", [False, True], ids=["flow", "yaml"])
def test_trigger_fields_every_signal_declares_can_be_read(tmp_path, yaml):
    assert diagnostics(tmp_path, PAYLOAD, yaml) == []


@pytest.mark.parametrize("use,expected", [
    ("trigger.day", ("E0202", "`trigger.day` cannot be read in flow `load`: signal `eu_landed` of the trigger "
                              "has no field `day`")),
    ("trigger.n", ("E0303", "`trigger.n` cannot be read in flow `load`: the signals of the trigger disagree on "
                            "its type: int in `raw_landed`, string in `eu_landed`")),
    ("trigger.regoin", ("E0202", "`trigger.regoin` cannot be read in flow `load`: no signal of the trigger "
                                 "declares it")),
])
def test_unreadable_trigger_fields_say_why(tmp_path, use, expected):
    found = diagnostics(tmp_path, PAYLOAD.replace("REGION = trigger.region", f"REGION = {use}"))
    assert [(c, m) for c, _l, m in found] == [expected]


def test_a_typo_gets_a_suggestion_and_a_flow_without_signals_has_no_payload(tmp_path):
    result = check(load_project([str(project(tmp_path, PAYLOAD.replace("REGION = trigger.region",
                                                                       "REGION = trigger.regoin")))]), use_cache=False)
    assert result.diagnostics[0].help == "did you mean `trigger.region`?"
    found = diagnostics(tmp_path, 'flow f {\n  schedule daily\n  step a bash("x") { env { D = trigger.day } }\n}\n')
    assert found == [("E0202", 7, "`trigger.day`: flow `f` is not started by a signal, so its runs have no "
                                  "trigger payload")]


def test_a_trigger_field_is_typed(tmp_path):
    found = diagnostics(tmp_path, PAYLOAD.replace('trigger.region != "fr"', "trigger.region > 3"))
    assert [c for c, _l, _m in found] == ["E0303"]


def test_the_payload_lowers_to_triggering_asset_events(tmp_path):
    text = dag(tmp_path, PAYLOAD, "load")
    assert ('return _mlc_trigger(events, [(asset_signal_raw_landed, {"region": "us"}), '
            "(asset_signal_eu_landed, {})])") in text
    assert 'user_defined_macros={"mlc_trigger": _trigger_payload},' in text
    assert 'env={"REGION": "{{ mlc_trigger(triggering_asset_events).get(\\"region\\", \'\') }}"}' in text
    assert 'trigger = _trigger_payload(context["triggering_asset_events"])\n    return bool(trigger.get("region") != "fr")' \
        in text
    assert 'payload = {"region": trigger.get("region")}' in text
    # a flow that reads no payload gets none of it
    assert "mlc_trigger" not in (tmp_path / "out" / "airflow" / "dags" / "after.py").read_text()
