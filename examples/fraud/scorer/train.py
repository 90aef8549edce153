"""Step `train` of flow `retrain_fraud`: fit the scorer, save it and the risk team's rules to the
BentoML model store ($BENTOML_HOME), write `model.json`.

Where the training rows come from:
- with labelled transactions (the `labels` argument or $FRAUD_LABELS: a Parquet file of
  card_id, event_timestamp (the label's time), amount_cents, channel, is_fraud) and the feature
  store ($MLC_FEAST_REPO, set for a step that `produces` a model): the point-in-time training set
  of the model's feature service ($MLC_FEATURE_SERVICE, else `fraud_scorer`), each transaction
  with the card's features as they were at its time, never later (`mlc_feast_runtime.training_set`);
- otherwise the example's own transactions, generated (`labelled_rows`).
`history` generates the first kind of data: what the Flink job would have written and the labels.

The artifact directory is the `artifact_dir` argument, else $FRAUD_ARTIFACT_DIR, else
build/artifacts/fraud_scorer.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

# The scorer's inputs, in the order of `model fraud_scorer { inputs [card_velocity.*, txn_context.*] }`:
# the order the generated service passes them in.
FEATURES = ["txn_count_5m", "txn_count_1h", "amount_sum_1h", "max_amount_1h", "merchants_1h", "countries_1h",
            "declines_1h", "amount_vs_avg", "card_not_present"]
# `model fraud_rules { inputs [...] }`
RULE_FEATURES = ["txn_count_5m", "countries_1h", "declines_1h"]


def artifact_dir(context: dict) -> Path:
    out = Path(context.get("artifact_dir") or os.environ.get("FRAUD_ARTIFACT_DIR") or "build/artifacts/fraud_scorer")
    out.mkdir(parents=True, exist_ok=True)
    return out


def rule_score(txn_count_5m: float, countries_1h: float, declines_1h: float) -> float:
    """The risk team's rules: a share of three alarms (a burst, many countries, declines)."""
    return ((txn_count_5m > 5) + (countries_1h > 1) + (declines_1h > 0)) / 3


def transaction(rng: random.Random, fraud: bool) -> dict:
    """A card's last hour and the transaction being scored, as the feature store serves them:
    fraud is bursty, foreign, large and card-not-present more often (not always)."""
    count_1h = rng.randint(4, 30) if fraud else rng.randint(0, 8)
    count_5m = min(count_1h, rng.randint(2, 12) if fraud else rng.randint(0, 3))
    amount_sum = rng.uniform(500, 8000) if fraud else rng.uniform(0, 1500)
    amount = rng.uniform(200, 3000) if fraud else rng.uniform(1, 300)
    return {
        "txn_count_5m": count_5m,
        "txn_count_1h": count_1h,
        "amount_sum_1h": amount_sum,
        "max_amount_1h": amount_sum * rng.uniform(0.2, 1.0),
        "merchants_1h": min(count_1h, rng.randint(2, 10) if fraud else rng.randint(0, 4)),
        "countries_1h": rng.randint(1, 4) if fraud else (1 if rng.random() < 0.95 else 2),
        "declines_1h": rng.randint(0, 5) if fraud and rng.random() < 0.6 else int(rng.random() < 0.05),
        "amount_vs_avg": amount / (amount_sum / (count_1h + 1) + 1),
        "card_not_present": float(rng.random() < (0.8 if fraud else 0.3)),
    }


def labelled_rows(n: int, seed: int) -> list[tuple[list[float], int]]:
    """Transactions (FEATURES order), 5% fraud, with labels that follow the features, overlapping
    on purpose so that the scorer is unsure of some."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        fraud = rng.random() < 0.05
        # a fraud that looks ordinary and an ordinary transaction that looks like fraud
        looks = (rng.random() < 0.95) if fraud else (rng.random() < 0.01)
        row = transaction(rng, looks)
        rows.append(([float(row[f]) for f in FEATURES], int(fraud)))
    return rows


def history(n_cards: int, seed: int, now) -> tuple[list[dict], list[dict]]:
    """The example's data as the platform holds it: per card, the card_velocity row the stream job
    wrote an hour before `now`, one labelled transaction of `now` (fraud or not, as its card
    looks; the same overlap as `labelled_rows`), and a row written after it (the card blocked:
    everything zero) that a point-in-time-correct training set never gives the label."""
    from datetime import timedelta

    rng = random.Random(seed)
    features, labels = [], []
    velocity = FEATURES[:7]
    for i in range(n_cards):
        fraud = rng.random() < 0.05
        looks = (rng.random() < 0.95) if fraud else (rng.random() < 0.01)
        row = transaction(rng, looks)
        card = f"hist-{i}"
        stored = {f: int(round(row[f])) for f in velocity}
        features.append({"card_id": card, "event_timestamp": now - timedelta(hours=1), **stored})
        features.append({"card_id": card, "event_timestamp": now + timedelta(minutes=1), **{f: 0 for f in velocity}})
        # the transaction's amount as the card's history says (amount_vs_avg), its channel as drawn
        avg = stored["amount_sum_1h"] / (stored["txn_count_1h"] + 1)
        labels.append({"card_id": card, "event_timestamp": now, "amount_cents": int(row["amount_vs_avg"] * (avg + 1)),
                       "channel": "online" if row["card_not_present"] else "pos", "is_fraud": int(fraud)})
    return features, labels


def store_rows(labels_path: str) -> list[tuple[list[float], int]]:
    """The point-in-time training set of the labelled transactions at `labels_path` (FEATURES
    order); transactions of cards with no features in reach are left out."""
    import sys

    import pandas as pd

    sys.path.insert(0, os.path.join(os.environ["MLC_FEAST_REPO"], "runtime"))
    import mlc_feast_runtime

    labels = pd.read_parquet(labels_path)
    service = os.environ.get("MLC_FEATURE_SERVICE") or "fraud_scorer"
    frame = mlc_feast_runtime.training_set(labels, service=service, repo=os.environ["MLC_FEAST_REPO"])
    columns = [f"card_velocity__{f}" for f in FEATURES[:7]] + [f"txn_context__{f}" for f in FEATURES[7:]]
    rows = []
    for record in frame[columns + ["is_fraud"]].to_dict("records"):
        if all(record[c] is not None and record[c] == record[c] for c in columns):
            rows.append(([float(record[c]) for c in columns], int(record["is_fraud"])))
    return rows


def fit(rows):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=100, max_depth=3, random_state=0).fit(
        [x for x, _ in rows], [y for _, y in rows])


def rules():
    """`fraud_rules` as a decision tree fitted to `rule_score` on every value that matters:
    exactly the rules, nothing learned from labels."""
    from sklearn.tree import DecisionTreeRegressor

    grid = [[a, b, c] for a in range(0, 12) for b in range(0, 5) for c in range(0, 4)]
    return DecisionTreeRegressor(random_state=0).fit(grid, [rule_score(*g) for g in grid])


def save_model(name: str, estimator, metadata: dict) -> str:
    """Saves `estimator` as NAME in the BentoML model store the way the generated service
    loads it (`model.pkl`); returns the new tag."""
    import pickle

    import bentoml

    # the store name the run passes ($MLC_BENTO_MODELS: a test branch's deployment keeps its own)
    stored = json.loads(os.environ.get("MLC_BENTO_MODELS") or "{}").get(name, name)
    with bentoml.models.create(stored, metadata=metadata) as model:
        with open(model.path_of("model.pkl"), "wb") as f:
            pickle.dump(estimator, f)
    return str(model.tag)


def main(**context) -> dict:
    labels = context.get("labels") or os.environ.get("FRAUD_LABELS")
    if labels and os.environ.get("MLC_FEAST_REPO"):
        rows, source = store_rows(labels), "feature store"
    else:
        rows, source = labelled_rows(int(context.get("rows", 5000)), seed=int(context.get("seed", 11))), "generated"
    version = str(context.get("run_id") or "dev")
    tag = save_model("fraud_scorer", fit(rows), {"version": version, "features": FEATURES, "rows": len(rows),
                                                 "source": source})
    rules_tag = save_model("fraud_rules", rules(), {"version": version, "features": RULE_FEATURES})
    model = {"model": "fraud_scorer", "version": version, "tag": tag, "rules_tag": rules_tag, "features": FEATURES,
             "rows": len(rows), "source": source, "fraud_rows": sum(y for _, y in rows)}
    path = artifact_dir(context) / "model.json"
    path.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    return {"artifact": str(path), "version": version, "tag": tag, "rows": len(rows), "source": source}


if __name__ == "__main__":
    print(main())
