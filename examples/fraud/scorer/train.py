"""Step `train` of flow `retrain_fraud`: fit the scorer, write `model.json`.

A stand-in for XGBoost: per-feature thresholds learned from labelled rows.
The artifact directory is the `artifact_dir` argument, else
$FRAUD_ARTIFACT_DIR, else build/artifacts/fraud_scorer.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

FEATURES = ["txn_count_5m", "amount_sum_1h", "countries_1h", "declines_1h", "amount_vs_avg"]


def artifact_dir(context: dict) -> Path:
    out = Path(context.get("artifact_dir") or os.environ.get("FRAUD_ARTIFACT_DIR") or "build/artifacts/fraud_scorer")
    out.mkdir(parents=True, exist_ok=True)
    return out


def labelled_rows(n: int, seed: int) -> list[tuple[dict, int]]:
    """Synthetic transactions: fraud is bursty, foreign and large."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        fraud = rng.random() < 0.05
        row = {
            "txn_count_5m": rng.randint(3, 12) if fraud else rng.randint(0, 3),
            "amount_sum_1h": rng.uniform(500, 5000) if fraud else rng.uniform(0, 800),
            "countries_1h": rng.randint(2, 4) if fraud else 1,
            "declines_1h": rng.randint(1, 5) if fraud and rng.random() < 0.6 else 0,
            "amount_vs_avg": rng.uniform(3, 20) if fraud else rng.uniform(0, 3),
        }
        rows.append((row, int(fraud)))
    return rows


def score(model: dict, row: dict) -> float:
    """Share of features above their learned threshold."""
    hits = sum(1 for f in FEATURES if row[f] > model["thresholds"][f])
    return hits / len(FEATURES)


def main(**context) -> dict:
    rows = labelled_rows(int(context.get("rows", 5000)), seed=int(context.get("seed", 11)))
    thresholds = {}
    for f in FEATURES:
        legit = sorted(r[f] for r, y in rows if y == 0)
        thresholds[f] = legit[int(0.99 * (len(legit) - 1))]   # the 99th percentile of legitimate traffic
    version = str(context.get("run_id") or "dev")
    model = {"model": "fraud_scorer", "version": version, "features": FEATURES, "thresholds": thresholds}
    path = artifact_dir(context) / "model.json"
    path.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    return {"artifact": str(path), "version": version}


if __name__ == "__main__":
    print(main())
