"""The generated `fraud_scorer` service under real `bentoml serve`, features from the generated
Feast repository (applied, materialised), models from the example's own training step.

The cards come from the worker: `legit` and `fraud` are ones the scorer is sure of, `unsure`
one whose fraud probability is between 0.35 and 0.65 (confidence below the 0.7 threshold of
`fallback fraud_rules when confidence < 0.7 or unavailable`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def _ok(status, body):
    assert status == 200, body
    return body


def test_the_served_scorer_was_trained_from_its_point_in_time_training_set(serving):
    """The example's training step read every labelled transaction's features from the Feast repo
    as of the label's time: the rows written after it (the card blocked, all zero) never reach a
    label, or the scorer could not tell the cards apart (the sure and unsure cards below)."""
    setup = serving["setup"]
    assert setup["training"]["source"] == "feature store"
    assert setup["training"]["rows"] == setup["labels"] > 0 and setup["leaked"] == 0
    model = json.loads(Path(setup["training"]["artifact"]).read_text())
    assert model["fraud_rows"] == setup["fraud_labels"] > 0


def test_a_normal_prediction_is_the_models(serving):
    card = serving["cards"]["fraud"]
    body = _ok(*serving["servers"]["good"].predict(card["request"]))
    assert (body["path"], body["reason"], body["answered_by"]) == ("model", "ok", "fraud_scorer"), body
    assert body["fraud_score"] == pytest.approx(card["p"], abs=1e-6)
    assert body["confidence"] == pytest.approx(max(card["p"], 1 - card["p"]), abs=1e-6)
    assert body["confidence"] >= 0.7
    assert body["model_version"].startswith("fraud_scorer:")


def test_the_prediction_follows_the_entitys_features(serving):
    """The same request, before and after the card's online features change."""
    server, worker, cards = serving["servers"]["good"], serving["worker"], serving["cards"]
    request = {**cards["legit"]["request"], "card_id": "card-changing"}
    worker("write", card_id="card-changing", values=cards["legit"]["values"])
    before = _ok(*server.predict(request))
    worker("write", card_id="card-changing", values=cards["fraud"]["values"])
    after = _ok(*server.predict(request))
    expected = worker("predict", values=cards["fraud"]["values"], amount_cents=request["amount_cents"],
                      channel=request["channel"])["p"]
    assert before["path"] == after["path"] == "model", (before, after)
    assert before["fraud_score"] < 0.02 and after["fraud_score"] == pytest.approx(expected, abs=1e-6)


def test_low_confidence_is_answered_by_the_fallback(serving):
    card = serving["cards"]["unsure"]
    body = _ok(*serving["servers"]["good"].predict(card["request"]))
    assert body["path"] == "fallback" and body["reason"] == "low_confidence"
    assert body["answered_by"] == "fraud_rules" and body["confidence"] is None
    assert body["model_confidence"] == pytest.approx(max(card["p"], 1 - card["p"]), abs=1e-6)
    assert body["model_confidence"] < 0.7
    v = card["values"]   # the rules of the example, on the card's features
    assert body["fraud_score"] == pytest.approx(
        ((v["txn_count_5m"] > 5) + (v["countries_1h"] > 1) + (v["declines_1h"] > 0)) / 3)


def test_a_broken_artefact_is_answered_by_the_fallback(serving):
    body = _ok(*serving["servers"]["broken"].predict(serving["cards"]["fraud"]["request"]))
    assert body["path"] == "fallback" and body["reason"] == "model_error"
    assert "expecting 2 features" in body["detail"]


def test_a_missing_entity_is_answered_by_the_fallback(serving):
    request = {**serving["cards"]["fraud"]["request"], "card_id": "card-never-seen"}
    body = _ok(*serving["servers"]["good"].predict(request))
    assert body["path"] == "fallback" and body["reason"] == "missing_features"
    assert "card_velocity__txn_count_5m" in body["detail"] and body["fraud_score"] == 0.0


def test_a_slow_model_is_answered_by_the_fallback_within_the_timeout(serving):
    server = serving["servers"]["slow"]
    body = _ok(*server.predict(serving["cards"]["fraud"]["request"]))
    assert body["path"] == "fallback" and body["reason"] == "timeout"
    assert body["detail"] == "no answer within 25 ms" and body["answered_by"] == "fraud_rules"


@pytest.mark.parametrize("inputs, message", [
    ({"card_id": "c", "amount_cents": "12", "channel": "pos"},
     "field `amount_cents` is the string '12'; expected an integer"),
    ({"card_id": "c", "amount_cents": 12, "channel": "phone"},
     "field `channel` is 'phone'; expected one of pos, online, atm"),
    ({"card_id": "c", "amount_cents": 12}, "missing field `channel` (one of pos, online, atm)"),
])
def test_bad_input_is_refused_with_400_and_a_clear_message(serving, inputs, message):
    status, body = serving["servers"]["good"].predict(inputs)
    assert status == 400
    assert body == [{"error": f"bad input for model `fraud_scorer`: {message}"}]


def _counts(text: str) -> dict:
    """{(series, labels): value} of the counters and histogram counts of /metrics."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(mlc_model_\w+?)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def test_metrics_count_each_path(serving):
    """One request of each kind between two scrapes: each counted once, under the names of
    mlc.compiler.metrics; the latency histogram has a bucket at the 30ms objective."""
    servers, cards = serving["servers"], serving["cards"]
    before = {n: _counts(s.metrics()) for n, s in servers.items()}
    servers["good"].predict(cards["fraud"]["request"])
    servers["good"].predict(cards["unsure"]["request"])
    servers["good"].predict({**cards["fraud"]["request"], "card_id": "card-never-seen"})
    servers["good"].predict({"card_id": 1})
    servers["broken"].predict(cards["fraud"]["request"])
    servers["slow"].predict(cards["fraud"]["request"])
    after = {n: _counts(s.metrics()) for n, s in servers.items()}

    def delta(server, series, labels):
        key = (series, "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}")
        assert key in after[server], (key, sorted(after[server]))
        return after[server][key] - before[server].get(key, 0.0)

    p, f = "mlc_model_predictions_total", "mlc_model_fallbacks_total"
    assert delta("good", p, {"model": "fraud_scorer", "path": "model", "reason": "ok"}) == 1
    for server, reason, n in (("good", "low_confidence", 1), ("good", "missing_features", 1),
                              ("broken", "model_error", 1), ("slow", "timeout", 1), ("good", "timeout", 0)):
        assert delta(server, p, {"model": "fraud_scorer", "path": "fallback", "reason": reason}) == n
        assert delta(server, f, {"fallback": "fraud_rules", "model": "fraud_scorer", "reason": reason}) == n
    assert delta("good", "mlc_model_invalid_requests_total", {"model": "fraud_scorer"}) == 1
    # confidence observed where the model answered (the sure card and the unsure one)
    assert delta("good", "mlc_model_confidence_count", {"model": "fraud_scorer"}) == 2
    assert delta("good", "mlc_model_confidence_bucket", {"le": "0.7", "model": "fraud_scorer"}) == 1
    assert delta("good", "mlc_model_latency_seconds_count", {"model": "fraud_scorer"}) == 3
    assert ("mlc_model_latency_seconds_bucket", '{le="0.03",model="fraud_scorer"}') in after["good"]


def test_the_service_folder_builds_into_a_bento_offline(serving, bundle):
    """`bentoml build` of the generated folder, every proxy pointing nowhere and pip without an
    index: the Bento holds the service, its runtime, both models it serves and the pinned packages."""
    import subprocess

    from serving_support import SERVING

    store = serving["stores"]["good"]
    dead = "http://127.0.0.1:9"
    env = {**serving["env"], "BENTOML_HOME": store, "HTTP_PROXY": dead, "HTTPS_PROXY": dead,
           "http_proxy": dead, "https_proxy": dead, "PIP_NO_INDEX": "1", "UV_OFFLINE": "1"}
    # as the Airflow deploy step runs it: in the folder (bentoml build refuses a context outside it)
    done = subprocess.run([str(SERVING / "bin" / "bentoml"), "build", ".", "--output", "tag"],
                          cwd=bundle / "bentoml" / "fraud_scorer", env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    listing = subprocess.run([str(SERVING / "bin" / "bentoml"), "get", tag, "-o", "json"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr[-3000:]
    info = json.loads(listing.stdout)
    models = sorted(m["tag"].split(":")[0] for s in info["services"] for m in s["models"])
    assert models == ["fraud_rules", "fraud_scorer"]
    name, version = tag.split(":")
    bento = Path(store) / "bentos" / name / version
    assert {p.name for p in (bento / "src").iterdir()} >= {"service.py", "mlc_bento_runtime.py"}
    assert "feast==0.67.0" in (bento / "env" / "python" / "requirements.txt").read_text()
