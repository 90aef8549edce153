"""The BentoML target without BentoML: the runtime's input checks, confidence, fallback
condition and feature reading; the target's SPEC (inputs expanded, the fallback lowered, the
metric buckets at each objective), its validation codes, and the goldens of the examples'
services (tests/bentoml/golden/). The real `bentoml serve` is tests/bentoml/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mlc.compiler import metrics
from mlc.compiler.driver import check
from mlc.compiler.project import load_project
from mlc.targets import get
from mlc.targets.bentoml.target import served, spec
from mlc.targets.layout import Layout

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "mlc/targets/bentoml/templates/runtime/mlc_bento_runtime.py"
GOLDEN = Path(__file__).resolve().parent / "bentoml" / "golden"


def _load(path: Path):
    s = importlib.util.spec_from_file_location(f"test_{path.stem}", path)
    module = importlib.util.module_from_spec(s)
    s.loader.exec_module(module)
    return module


rt = _load(RUNTIME)

SPEC = {"keys": [["card_id", ["string"]]],
        "request": [["amount_cents", ["int"]], ["channel", ["enum", ["pos", "online", "atm"]]],
                    ["ratio", ["float"]], ["flag", ["bool"]]]}
GOOD = {"card_id": "c1", "amount_cents": 100, "channel": "pos", "ratio": 2, "flag": False}


def _program(example: str):
    return check(load_project([str(ROOT / "examples" / example)]), use_cache=False).program


# ------------------------------------------------------------------ runtime: input


def test_a_good_request_is_taken_in_spec_order_with_ints_as_floats_where_declared():
    fields = rt.check_input(SPEC, dict(reversed(list(GOOD.items()))))
    assert list(fields) == ["card_id", "amount_cents", "channel", "ratio", "flag"]
    assert fields["ratio"] == 2.0 and isinstance(fields["ratio"], float)


@pytest.mark.parametrize("change, message", [
    ({"card_id": 7}, "field `card_id` is the number 7; expected a string"),
    ({"amount_cents": "100"}, "field `amount_cents` is the string '100'; expected an integer"),
    ({"amount_cents": True}, "field `amount_cents` is the boolean true; expected an integer"),
    ({"amount_cents": 1.5}, "field `amount_cents` is the number 1.5; expected an integer"),
    ({"channel": "phone"}, "field `channel` is 'phone'; expected one of pos, online, atm"),
    ({"ratio": float("inf")}, "field `ratio` is inf; expected a finite number"),
    ({"flag": 1}, "field `flag` is the number 1; expected true or false"),
    ({"card_id": None}, "field `card_id` is null; expected a string"),
    ({"extra": 1}, "unknown field `extra`; expected `card_id`, `amount_cents`, `channel`, `ratio`, `flag`"),
])
def test_a_bad_field_is_refused_by_name(change, message):
    with pytest.raises(rt.InputError) as e:
        rt.check_input(SPEC, {**GOOD, **change})
    assert str(e.value) == message


def test_a_missing_field_or_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(rt.InputError, match=r"missing field `channel` \(one of pos, online, atm\)"):
        rt.check_input(SPEC, {k: v for k, v in GOOD.items() if k != "channel"})
    with pytest.raises(rt.InputError, match=r"`inputs` is a list; expected an object with `card_id`"):
        rt.check_input(SPEC, [1])


# ----------------------------------------------------------- runtime: predictions


class Classifier:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, rows):
        return [[1 - self.p, self.p] for _ in rows]


class Regressor:
    def __init__(self, out):
        self.out = out

    def predict(self, rows):
        return [self.out for _ in rows]


def test_confidence_is_the_top_class_probability_or_a_second_output():
    assert rt.prediction(Classifier(0.8), [1.0]) == (0.8, 0.8)
    assert rt.prediction(Classifier(0.3), [1.0]) == (0.3, 0.7)
    assert rt.prediction(Regressor([0.4, 0.9]), [1.0]) == (0.4, 0.9)
    assert rt.prediction(Regressor(0.25), [1.0]) == (0.25, None)
    with pytest.raises(ValueError, match="predict returned 3 values per row"):
        rt.prediction(Regressor([1, 2, 3]), [1.0])


WHEN = ["or", ["<", "confidence", 0.6], "unavailable"]


def test_the_fallback_condition_reads_confidence_and_unavailable():
    assert rt.holds(WHEN, 0.5, False) and not rt.holds(WHEN, 0.6, False)
    assert rt.holds(WHEN, None, True)
    # without `unavailable`, a model that could not answer is not handed to the fallback
    assert not rt.holds(["<", "confidence", 0.6], None, True)
    assert rt.holds(["not", [">=", "confidence", 0.6]], 0.2, False)
    assert rt.holds(["and", ["<", "confidence", 0.9], [">", "confidence", 0.1]], 0.5, False)


def test_feature_values_name_what_the_store_lacks():
    online = {"v__a": [3], "v__b": [None], "v__c": [float("nan")], "v__d": [True]}
    values, missing = rt.feature_values(["v__a", "v__b", "v__c", "v__d", "v__e"], online)
    assert values == [3.0, None, None, 1.0, None] and missing == ["v__b", "v__c", "v__e"]


# ---------------------------------------------------------------------- the target


def test_served_models_and_their_spec():
    program = _program("recommendations")
    layout = Layout(program)
    assert served(program) == ["netflix.recs.ranker"]
    s = spec(program, layout, "netflix.recs.ranker")
    assert s["features"][:4] == ["member_activity__views_1h", "member_activity__clicks_1h",
                                 "member_activity__avg_dwell", "member_activity__titles_1h"]
    assert len(s["features"]) == 11
    assert s["keys"] == [["member_id", ["string"]], ["title_id", ["string"]]]
    assert [n for n, _ in s["request"]] == ["device", "hour_of_day", "row_position"]
    assert s["fallback"]["when"] == WHEN and s["fallback"]["features"] == ["title_popularity__plays_7d"]
    assert s["timeout_ms"] == 40 and s["feature_service"] == "ranker"
    # a bucket at the latency objective (50ms) and at the serve timeout (40ms); one at the threshold
    assert {0.04, 0.05} <= set(s["metrics"]["latency"]["buckets"])
    assert 0.6 in s["metrics"]["confidence"]["buckets"]
    assert s["metrics"]["predictions"]["name"] == metrics.PREDICTIONS


def test_latency_buckets_follow_the_objectives():
    program = _program("fraud")
    assert metrics.latency_objectives_ms(program, "payments.fraud.fraud_scorer") == [30]
    buckets = metrics.latency_buckets(program, "payments.fraud.fraud_scorer")
    assert 0.03 in buckets and 0.025 in buckets and buckets == sorted(buckets)


def _with_model(tmp_path: Path, fallback: str, extra: str = "") -> list:
    (tmp_path / "m.flow").write_text(f"""package t
import std.connectors.{{files}}
env local {{ hive = files("data") }}
source s: table hive(table = "s") {{
  schema {{ user_id: string, amount: int, ds: date }}
  event_time ds
  arrives every 1d delay 1h
}}
entity user {{ key user_id: string }}
features f on user {{
  from s
  total = sum(amount) over 7d
  schedule daily
  timeout 1h
  online ttl 2d
}}
model rules deterministic {{ inputs [f.total] output score: float }}
{extra}
model scorer nondeterministic {{
  inputs [f.*]
  output score: float
  confidence in 0.0..1.0
  {fallback}
  serve {{ timeout 50ms }}
}}
""")
    result = check(load_project([str(tmp_path)]), use_cache=False)
    program = result.program
    return [(d.code, d.message) for d in get("bentoml").validate(program, "local", Layout(program))]


def test_validation_codes(tmp_path):
    assert _with_model(tmp_path, "fallback rules when confidence < 0.6 or unavailable") == []
    codes = _with_model(tmp_path, "fallback rules when confidence * 2 < 1.2")
    assert [c for c, _ in codes] == ["E1201"]
    codes = _with_model(tmp_path, "fallback rules2 when confidence < 0.6",
                        "model rules2 nondeterministic { inputs [f.total] output score: float "
                        "confidence in 0.0..1.0 fallback rules }")
    assert "E1202" in [c for c, _ in codes]


def test_an_input_that_is_not_online_is_e1204(tmp_path):
    (tmp_path / "m.flow").write_text("""package t
import std.connectors.{files}
env local { hive = files("data") }
source s: table hive(table = "s") {
  schema { user_id: string, amount: int, ds: date }
  event_time ds
  arrives every 1d delay 1h
}
entity user { key user_id: string }
features f on user {
  from s
  total = sum(amount) over 7d
  schedule daily
  timeout 1h
}
model rules deterministic { inputs [f.total] output score: float serve { timeout 20ms } }
""")
    program = check(load_project([str(tmp_path)]), use_cache=False).program
    found = [(d.code, d.message) for d in get("bentoml").validate(program, "local", Layout(program))]
    assert found == [("E1204", "served model `rules` reads `f`, which is not online: its service would find "
                               "no value for it")]


# ---------------------------------------------------------------------- goldens


@pytest.mark.parametrize("example", ["recommendations", "fraud"])
def test_goldens_of_the_examples_services(example, update_golden):
    program = _program(example)
    artifacts = get("bentoml").lower(program, "local", Layout(program))
    runtime = RUNTIME.read_text()
    written = {}
    for a in artifacts:
        if a.kind == "bentoml-runtime":
            assert a.text == runtime  # copied as it is: compared with its source, not stored
        else:
            written[a.path] = a.text
    again = {a.path: a.text for a in get("bentoml").lower(program, "local", Layout(program))}
    assert all(again[p] == t for p, t in written.items())  # deterministic
    folder = GOLDEN / example
    if update_golden:
        for path, text in written.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
    expected = {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*"))
                if p.is_file()}
    assert sorted(written) == sorted(expected)
    assert [p for p in written if written[p] != expected[p]] == []
    for path, text in written.items():
        if path.endswith(".py"):
            compile(text, path, "exec")


# ------------------------------------------------ runtime: one request, without BentoML or Feast


class Store:
    """Feast's online lookup as the runtime calls it: values per feature, or a failure."""

    def __init__(self, values: dict | None = None, error: Exception | None = None):
        self.values, self.error = values or {}, error

    def get_online_features(self, features, entity_rows, full_feature_names):
        assert full_feature_names and len(entity_rows) == 1
        if self.error:
            raise self.error
        store = self

        class Response:
            def to_dict(self):
                return {k: [v] for k, v in store.values.items()}

        return Response()


class Raising:
    def predict_proba(self, rows):
        raise ValueError("X has 2 features, but the model is expecting 3")


class Slow(Classifier):
    def predict_proba(self, rows):
        import time

        time.sleep(0.2)
        return super().predict_proba(rows)


def _service(estimator, store):
    from concurrent.futures import ThreadPoolExecutor

    spec = {"model": "scorer", "feature_service": "scorer", "features": ["f__a", "f__b"], "row": ["user_id"],
            "timeout_ms": 50, "output": "score", "keys": [["user_id", ["string"]]], "request": [],
            "fallback": {"model": "rules", "feature_service": "scorer", "features": ["f__b"], "when": WHEN}}
    s = object.__new__(rt.ModelService)
    s.spec, s.name, s.version, s.model_error = spec, "scorer", "scorer:v1", None
    s.estimator, s.fallback_estimator, s.store = estimator, Regressor(0.25), store
    s.services, s.pool = {"scorer": object()}, ThreadPoolExecutor(2)
    return s


@pytest.mark.parametrize("estimator, store, path, reason, detail", [
    (Classifier(0.9), Store({"f__a": 1, "f__b": 2}), "model", "ok", None),
    (Classifier(0.55), Store({"f__a": 1, "f__b": 2}), "fallback", "low_confidence",
     "the fallback's condition holds at confidence 0.5500"),
    (Raising(), Store({"f__a": 1, "f__b": 2}), "fallback", "model_error",
     "ValueError: X has 2 features, but the model is expecting 3"),
    (Classifier(0.9), Store({"f__a": 1, "f__b": None}), "fallback", "missing_features", "no value for f__b"),
    (Classifier(0.9), Store(error=ConnectionError("online store down")), "fallback", "missing_features",
     "the feature lookup failed: ConnectionError: online store down"),
    (Slow(0.9), Store({"f__a": 1, "f__b": 2}), "fallback", "timeout", "no answer within 50 ms"),
])
def test_which_path_answers_and_why(estimator, store, path, reason, detail):
    body = _service(estimator, store)._answer({"user_id": "u"})
    assert (body["path"], body["reason"], body["detail"]) == (path, reason, detail)
    assert body["answered_by"] == ("scorer" if path == "model" else "rules")
    assert body["score"] == (0.9 if path == "model" else 0.25)
