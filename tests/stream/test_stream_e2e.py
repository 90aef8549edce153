"""Streaming end to end (issue 14): card transactions produced to a Kafka-protocol broker on
127.0.0.1 → `mlc run features.card_velocity --env stream` (the generated Flink job, bounded,
with the Flink engine's Kafka connector jars; then its publisher pushing to Feast's push
source through a feature server) → Feast's online store → the served scorer's prediction,
which changes when new events arrive. The features online are checked against what the
events imply, and the predictions against the model's and the rules' meaning."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime, timedelta

from conftest import mlc, produce

CARD = "c-x"
FEATURES = ["txn_count_5m", "txn_count_1h", "amount_sum_1h", "max_amount_1h", "merchants_1h", "countries_1h",
            "declines_1h"]


def txn(n: int, card: str, at: datetime, amount: int, merchant: str, country: str = "FR", channel: str = "pos",
        status: str = "approved") -> dict:
    return {"txn_id": f"t-{n:04d}", "card_id": card, "merchant_id": merchant, "amount_cents": amount,
            "country": country, "channel": channel, "status": status, "ts": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def run_features(platform: dict, broker: str) -> tuple[str, float]:
    started = time.perf_counter()
    done = mlc("run", "features.card_velocity", str(platform["project"]), "--env", "stream", "--to",
               str(platform["deploy"]), env={"MLC_KAFKA_BOOTSTRAP": broker})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    return out, time.perf_counter() - started


def online(feast, platform: dict, card: str) -> dict:
    answer = feast.call(cmd="online", repo=str(platform["deploy"] / "current" / "feast"),
                        features=[f"card_velocity:{f}" for f in FEATURES], rows=[{"card_id": card}],
                        env={"MLC_PROJECT_ROOT": str(platform["project"])})
    return {f: answer["values"][f"card_velocity__{f}"][0] for f in FEATURES}


def predict(platform: dict, card: str, amount: int, channel: str) -> dict:
    done = mlc("predict", "fraud_scorer", "--project", str(platform["project"]), "--env", "stream", "--to",
               str(platform["deploy"]), "--wait", "180", "--json", f"card_id={card}", f"amount_cents:={amount}",
               f"channel={channel}")
    assert done.returncode == 0, done.stdout + done.stderr + platform["serve_log"].read_text(errors="replace")[-3000:]
    return json.loads(done.stdout)


def test_new_events_on_the_broker_change_the_online_features_and_the_prediction(broker, feast, platform):
    now = datetime.now(UTC)
    # a quiet card: twice at the bakery in the last hour (not in the last 5 minutes); another
    # card's payment on the same topic, which must not count for it
    first = [txn(0, CARD, now - timedelta(minutes=40), 120, "m-bakery"),
             txn(1, "c-other", now - timedelta(minutes=35), 9900, "m-shop", "DE"),
             txn(2, CARD, now - timedelta(minutes=30), 430, "m-bakery")]
    assert produce(broker, first) == 3
    out, first_seconds = run_features(platform, broker)
    assert re.search(r"^  ok offsets card-transactions +success", out, re.MULTILINE), out
    assert re.search(r"^  ok flink card_velocity +success", out, re.MULTILINE), out
    assert re.search(r"^  ok publish card_velocity +success", out, re.MULTILINE), out
    log = (platform["deploy"] / "airflow" / "runs" / "features.card_velocity.log").read_text(errors="replace")
    assert "partition:0,offset:3" in log  # the topic's true end, though Tansu reports a lower one
    assert online(feast, platform, CARD) == {
        "txn_count_5m": 0, "txn_count_1h": 2, "amount_sum_1h": 550, "max_amount_1h": 430, "merchants_1h": 1,
        "countries_1h": 1, "declines_1h": 0}
    quiet = predict(platform, CARD, 150, "pos")
    assert (quiet["path"], quiet["reason"], quiet["answered_by"]) == ("model", "ok", "fraud_scorer"), quiet
    assert quiet["fraud_score"] < 0.3 and quiet["confidence"] >= 0.7, quiet

    # a burst in the last minute: large card-not-present payments at four merchants in four
    # countries, two declined
    burst_at = datetime.now(UTC) - timedelta(seconds=50)
    burst = [txn(10 + i, CARD, burst_at + timedelta(seconds=5 * i), 4000 + 500 * i, f"m-{i % 4}",
                 ["FR", "DE", "ES", "IT"][i % 4], "online", "declined" if i in (2, 5) else "approved")
             for i in range(8)]
    assert produce(broker, burst) == 11
    out, second_seconds = run_features(platform, broker)
    assert online(feast, platform, CARD) == {
        "txn_count_5m": 8, "txn_count_1h": 10, "amount_sum_1h": 550 + sum(4000 + 500 * i for i in range(8)),
        "max_amount_1h": 7500, "merchants_1h": 5, "countries_1h": 4, "declines_1h": 2}
    risky = predict(platform, CARD, 6000, "online")
    # the model is sure it is fraud (or, unsure, the rules answer: all three of their alarms ring)
    assert risky["fraud_score"] > 0.9, risky
    assert risky["path"] == "model" or (risky["answered_by"], risky["fraud_score"]) == ("fraud_rules", 1.0), risky
    print(f"\nstream runs: {first_seconds:.1f}s, {second_seconds:.1f}s; predictions {quiet['fraud_score']:.4f} -> "
          f"{risky['fraud_score']:.4f} ({risky['path']})")


def test_no_broker_at_the_address_is_named_with_the_way_out(platform):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = mlc("run", "features.card_velocity", str(platform["project"]), "--env", "stream", "--to",
               str(platform["deploy"]), env={"MLC_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}"})
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"^  !! offsets card-transactions +failed", out, re.MULTILINE), out
    assert f"error: no Kafka broker answers at 127.0.0.1:{port}" in out and "MLC_KAFKA_BOOTSTRAP" in out, out
    assert "flink card_velocity" not in out  # nothing after the failed step ran
