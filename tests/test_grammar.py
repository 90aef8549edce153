"""The grammar itself: it builds under `strict=True` (no hidden conflict, no terminal
collision), and every literal kind parses, with its normalised value, in every position
where the language allows it."""

from __future__ import annotations

from typing import Callable

import pytest
from lark import Lark

from mlc.dsl import ast as A
from mlc.dsl.parser import grammar_text, parse_text


@pytest.fixture(scope="module")
def strict_lark() -> Lark:
    import interegular  # noqa: F401  (strict mode checks terminal collisions with it)

    return Lark(grammar_text(), parser="lalr", lexer="contextual", strict=True,
                keep_all_tokens=True, maybe_placeholders=False)


def test_grammar_builds_strict(strict_lark: Lark) -> None:
    """A shift/reduce or reduce/reduce conflict, or two terminals that can match the same
    text, raises here instead of being resolved silently."""
    assert strict_lark.parser is not None


def test_strict_grammar_parses_every_example(strict_lark: Lark, examples) -> None:
    files = sorted(examples.glob("*/*.flow"))
    assert len(files) >= 3
    for f in files:
        strict_lark.parse(f.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- literals

# (source text, kind, normalised value)
STRINGS = [('"a b"', "string", "a b"), ('""', "string", ""),
           ('"say \\"hi\\"\\n"', "string", 'say "hi"\n'), ('"\\u00e9#x"', "string", "é#x")]
INTS = [("0", "int", 0), ("42", "int", 42), ("9092", "int", 9092)]
FLOATS = [("0.5", "float", 0.5), ("1.0", "float", 1.0), ("2.5e-3", "float", 0.0025),
          ("1.5E+2", "float", 150.0)]
BOOLS = [("true", "bool", True), ("false", "bool", False)]
DURATIONS = [("500ms", "duration", 500), ("30s", "duration", 30_000), ("5m", "duration", 300_000),
             ("2h", "duration", 7_200_000), ("1d", "duration", 86_400_000),
             ("4w", "duration", 4 * 604_800_000), ("1h30m", "duration", 5_400_000),
             ("1d12h", "duration", 129_600_000),
             ("1w2d3h4m5s6ms", "duration", 604_800_000 + 2 * 86_400_000 + 3 * 3_600_000 + 4 * 60_000 + 5_000 + 6)]
SIZES = [("512Ki", "size", 512 * 1024), ("16Mi", "size", 16 * 1024**2), ("16Gi", "size", 16 * 1024**3),
         ("2Ti", "size", 2 * 1024**4), ("10K", "size", 10_000), ("10M", "size", 10_000_000),
         ("10G", "size", 10 * 1000**3), ("1T", "size", 1000**4)]
PERCENTS = [("99.9%", "percent", 99.9), ("95%", "percent", 95.0), ("0%", "percent", 0.0)]
SCALARS = STRINGS + INTS + FLOATS + BOOLS + DURATIONS + SIZES + PERCENTS

# (source text, low, high)
RANGES = [("0.0..1.0", 0.0, 1.0), ("1..2", 1, 2), ("-1..1", -1, 1), ("-1.5..-0.5", -1.5, -0.5),
          ("0..100", 0, 100)]


def one(text: str) -> A.Declaration:
    module, diags = parse_text(text, "lit.flow")
    assert diags == [], (text, diags)
    assert len(module.decls) == 1, text
    return module.decls[0]


def _step(d: A.FlowDecl) -> A.Step:
    return d.steps[0]


# A position: a program with `{v}` where the literal goes, and how to get the node back.
Position = tuple[str, Callable[[A.Declaration], object]]

VALUE_POSITIONS: dict[str, Position] = {
    "source call, positional": ("source s: table hive({v})", lambda d: d.connector.args[0].value),
    "source call, named": ("source s: stream kafka(topic = {v})", lambda d: d.connector.kwargs()["topic"]),
    "env binding argument": ("env e {{ k = files(x = {v}) }}", lambda d: d.bindings[0].call.args[0].value),
    "offline argument": ("features g on e {{ offline s3({v}) }}", lambda d: d.offline.args[0].value),
    "serve setting": ("model m {{ serve {{ x {v} }} }}", lambda d: d.serve[0].value),
    "resources setting": ('flow f {{ step a python("m:f") {{ resources {{ x {v} }} }} }}',
                          lambda d: _step(d).resources[0].value),
    "step action argument": ("flow f {{ step a python({v}) }}", lambda d: _step(d).action.args[0].value),
    "param default": ("flow f {{ param p: t = {v} }}", lambda d: d.params[0].default),
    "list in a param default": ("flow f {{ param p: [t] = [{v}, {v}] }}", lambda d: d.params[0].default.items[1]),
    "connector env default": ("connector c {{ env {{ p: t = {v} }} }}", lambda d: d.env_params[0].default),
    "connector source default": ("connector c {{ source {{ p: t = {v} }} }}",
                                 lambda d: d.source_params[0].default),
    "slo template argument": ("slo s = std.slo.t(x, {v})", lambda d: d.args[1]),
    "freshness objective": ("slo s {{ freshness(x) <= {v} }}", lambda d: d.objectives[0].value),
    "latency objective": ("slo s {{ latency(x) p99 < {v} }}", lambda d: d.objectives[0].value),
    "availability objective": ("slo s {{ availability(x) >= {v} }}", lambda d: d.objectives[0].value),
    "availability window": ("slo s {{ availability(x) >= 1 over {v} }}", lambda d: d.objectives[0].window),
    "quality objective": ("slo s {{ quality(x) auc >= {v} }}", lambda d: d.objectives[0].value),
    "completion objective": ("slo s {{ completion(x) by {v} }}", lambda d: d.objectives[0].value),
}

EXPR_POSITIONS: dict[str, Position] = {
    "derived feature": ("features g on e {{ x = {v} }}", lambda d: d.derived[0].expr),
    "typed derived feature": ("features g on e {{ x: t = {v} }}", lambda d: d.derived[0].expr),
    "aggregation argument": ("features g on e {{ x = f({v}) over 1h }}", lambda d: d.derived[0].expr.args[0].value),
    "list in an expression": ("features g on e {{ x = [{v}, {v}] }}", lambda d: d.derived[0].expr.items[0]),
    "comparison": ("features g on e {{ x = y != {v} }}", lambda d: d.derived[0].expr.right),
    "membership": ("features g on e {{ x = {v} in y }}", lambda d: d.derived[0].expr.left),
    "fallback condition": ("model m {{ fallback n when c == {v} }}", lambda d: d.fallback.when.right),
    "gate": ('flow f {{ step a python("m:f") {{ gate auc >= {v} }} }}', lambda d: _step(d).gate.right),
    "when": ('flow f {{ step a python("m:f") {{ when {v} }} }}', lambda d: _step(d).when),
    "foreach": ('flow f {{ step a python("m:f") {{ foreach r in [{v}] }} }}',
                lambda d: _step(d).foreach.items.items[0]),
    "step env": ('flow f {{ step a python("m:f") {{ env {{ K = {v} }} }} }}', lambda d: _step(d).env[0].value),
    "emitted payload": ('flow f {{ step a python("m:f") {{ emits signal s(k = {v}) }} }}',
                        lambda d: _step(d).emits[0].payload[0].value),
    "trigger match": ("flow f {{ trigger signal(s, k = {v}) }}", lambda d: d.trigger.match[0].value),
}

# Positions that take one kind only.
DURATION_POSITIONS: dict[str, Position] = {
    "watermark": ("source s: stream k() {{ watermark {v} }}", lambda d: d.watermark),
    "arrives every": ("source s: table h() {{ arrives every {v} }}", lambda d: d.arrives_every),
    "arrives delay": ("source s: table h() {{ arrives every 1d delay {v} }}", lambda d: d.arrives_delay),
    "window size": ("features g on e {{ x = count(*) over {v} }}", lambda d: d.derived[0].window.size),
    "window slide": ("features g on e {{ x = count(*) over 1d every {v} }}", lambda d: d.derived[0].window.every),
    "checkpoint": ("features g on e {{ checkpoint every {v} }}", lambda d: d.checkpoint),
    "online ttl": ("features g on e {{ online ttl {v} }}", lambda d: d.online.ttl),
    "features interval schedule": ("features g on e {{ schedule every {v} }}", lambda d: d.schedule.value),
    "features timeout": ("features g on e {{ timeout {v} }}", lambda d: d.timeout),
    "features freshness": ("features g on e {{ freshness <= {v} }}", lambda d: d.freshness.value),
    "flow interval schedule": ("flow f {{ schedule every {v} }}", lambda d: d.schedule.value),
    "step timeout": ('flow f {{ step a python("m:f") {{ timeout {v} }} }}', lambda d: _step(d).timeout),
    "step retry delay": ('flow f {{ step a python("m:f") {{ retry_delay {v} }} }}', lambda d: _step(d).retry_delay),
}
STRING_POSITIONS: dict[str, Position] = {
    "owner": ("model m {{ owner {v} }}", lambda d: d.meta.owner),
    "description": ("signal s {{ description {v} }}", lambda d: d.meta.description),
    "tags": ("entity e {{ tags [{v}, {v}] }}", lambda d: d.meta.tags[1]),
    "step owner": ('flow f {{ step a python("m:f") {{ owner {v} }} }}', lambda d: _step(d).meta.owner),
}


def _check_literal(node: object, kind: str, value: object, text: str) -> None:
    assert isinstance(node, A.Literal), node
    assert node.kind == kind
    assert node.text == text
    if isinstance(value, float):
        assert node.value == pytest.approx(value)
    else:
        assert node.value == value and type(node.value) is type(value)


@pytest.mark.parametrize("position", sorted(VALUE_POSITIONS))
def test_every_literal_in_every_value_position(position: str) -> None:
    template, get = VALUE_POSITIONS[position]
    for text, kind, value in SCALARS:
        _check_literal(get(one(template.format(v=text))), kind, value, text)


@pytest.mark.parametrize("position", sorted(EXPR_POSITIONS))
def test_every_literal_in_every_expression_position(position: str) -> None:
    template, get = EXPR_POSITIONS[position]
    for text, kind, value in SCALARS:
        _check_literal(get(one(template.format(v=text))), kind, value, text)


@pytest.mark.parametrize("position", sorted(DURATION_POSITIONS))
def test_durations_where_a_duration_is_required(position: str) -> None:
    template, get = DURATION_POSITIONS[position]
    for text, kind, value in DURATIONS:
        _check_literal(get(one(template.format(v=text))), kind, value, text)


@pytest.mark.parametrize("position", sorted(DURATION_POSITIONS))
def test_other_literals_are_rejected_where_a_duration_is_required(position: str) -> None:
    template, _ = DURATION_POSITIONS[position]
    for text in ("5", "0.5", '"5m"', "16Gi", "95%", "true"):
        _, diags = parse_text(template.format(v=text), "lit.flow")
        assert [d.code for d in diags if d.is_error], (position, text)


@pytest.mark.parametrize("position", sorted(STRING_POSITIONS))
def test_strings_where_a_string_is_required(position: str) -> None:
    template, get = STRING_POSITIONS[position]
    for text, kind, value in STRINGS:
        _check_literal(get(one(template.format(v=text))), kind, value, text)


def test_retries_takes_an_integer() -> None:
    for text, kind, value in INTS:
        d = one(f'flow f {{ step a python("m:f") {{ retries {text} }} }}')
        _check_literal(_step(d).retries, kind, value, text)
    _, diags = parse_text('flow f { step a python("m:f") { retries 1.5 } }', "lit.flow")
    assert [d.code for d in diags] == ["E0001"]


def test_catchup_takes_a_bool() -> None:
    for text, kind, value in BOOLS:
        _check_literal(one(f"flow f {{ catchup {text} }}").catchup, kind, value, text)


@pytest.mark.parametrize("text, low, high", RANGES)
def test_ranges_in_confidence_and_values(text: str, low: float, high: float) -> None:
    for template, get in [("model m {{ confidence in {v} }}", lambda d: d.confidence),
                          ("flow f {{ param p: t = {v} }}", lambda d: d.params[0].default),
                          ("slo s = t({v})", lambda d: d.args[0]),
                          ("env e {{ k = files(r = {v}) }}", lambda d: d.bindings[0].call.args[0].value)]:
        node = get(one(template.format(v=text)))
        assert isinstance(node, A.Range)
        assert (node.low.value, node.high.value) == (low, high)
        assert type(node.low.value) is type(low)


def test_negative_numbers_in_values_and_expressions() -> None:
    d = one("flow f { param a: int = -3, param b: float = -0.25 }")
    assert [(p.default.kind, p.default.value, p.default.text) for p in d.params] == [
        ("int", -3, "-3"), ("float", -0.25, "-0.25")]
    e = one("features g on e { x = -y * -2 }").derived[0].expr
    assert isinstance(e, A.BinOp) and e.op == "*"
    assert isinstance(e.left, A.UnaryOp) and e.left.op == "-"
    assert isinstance(e.right, A.UnaryOp) and e.right.operand.value == 2


@pytest.mark.parametrize("cron", ["0 1 * * *", "*/5 * * * *", "30 5 * * 1-5"])
def test_cron_schedules(cron: str) -> None:
    for template in ('flow f {{ schedule cron("{c}") }}', 'features g on e {{ schedule cron("{c}") }}'):
        s = one(template.format(c=cron)).schedule
        assert s.kind == "cron"
        assert s.value.kind == "string" and s.value.value == cron


@pytest.mark.parametrize("preset", ["hourly", "daily", "weekly", "monthly", "yearly"])
def test_preset_schedules(preset: str) -> None:
    s = one(f"flow f {{ schedule {preset} }}").schedule
    assert (s.kind, s.value.value) == ("preset", preset)


# ---------------------------------------------------------------- lexer boundaries


def test_minutes_months_and_megabytes_do_not_collide() -> None:
    d = one("model m { serve { a 1m, b 1M, c 5ms, d 5m, e 1Mi, f 1h30m } }")
    got = {s.name.value: (s.value.kind, s.value.value) for s in d.serve}
    assert got == {"a": ("duration", 60_000), "b": ("size", 1_000_000), "c": ("duration", 5),
                   "d": ("duration", 300_000), "e": ("size", 1024**2), "f": ("duration", 5_400_000)}


def test_names_that_begin_with_a_keyword_are_names() -> None:
    d = one("features g on e { fromage: int, online_ttl: int, timeout_ms = schedule_x + 1 }")
    assert [c.name.value for c in d.columns] == ["fromage", "online_ttl"]
    assert d.derived[0].name.value == "timeout_ms"
    assert d.derived[0].expr.left.parts == ("schedule_x",)


def test_keywords_are_names_where_no_clause_can_start() -> None:
    d = one("entity online { key timeout: string }")
    assert d.name.value == "online" and d.keys[0].name.value == "timeout"
    s = one("source s: table t() { schema { from: string, schedule: int, key: date } }")
    assert [f.name.value for f in s.schema] == ["from", "schedule", "key"]


def test_range_dots_and_floats() -> None:
    c = one("model m { confidence in 0..1 }").confidence
    assert (c.low.kind, c.high.kind) == ("int", "int")
    c = one("model m { confidence in 0.5..0.75 }").confidence
    assert (c.low.value, c.high.value) == (0.5, 0.75)


def test_percentile_names_and_percentages() -> None:
    o = one("slo s { latency(m) p99 <= 50ms, availability(m) >= 99.95% over 30d }").objectives
    assert o[0].metric.value == "p99"
    assert (o[1].value.kind, o[1].value.value) == ("percent", 99.95)


def test_a_hash_inside_a_string_is_not_a_comment() -> None:
    module, diags = parse_text('model m { owner "team #1" }  # a comment\n', "c.flow")
    assert diags == []
    assert module.decls[0].meta.owner.value == "team #1"
    assert [c.text for c in module.comments] == ["# a comment"]
