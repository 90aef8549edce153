"""Step `train` of flow `retrain_churn`: fit a churn score, write `model.json`.

A stand-in for LightGBM: a hand-weighted logistic score whose weights are
fitted by one pass of gradient descent on synthetic history. The artifact
directory is the `artifact_dir` argument, else $CHURN_ARTIFACT_DIR, else
build/artifacts/churn_model. The step's gate (`gate auc >= 0.75`) reads the
`auc` this returns.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

FEATURES = ["tenure_days", "hours_7d", "hours_28d", "sessions_28d", "failed_pay_28d"]


def _rows(n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        x = [rng.uniform(0, 2000) / 2000, rng.uniform(0, 30) / 30, rng.uniform(0, 120) / 120,
             rng.uniform(0, 60) / 60, rng.randint(0, 3) / 3]
        z = 2.0 - 4.0 * x[0] - 3.0 * x[1] - 2.0 * x[2] - 1.0 * x[3] + 5.0 * x[4]
        yield x, int(rng.random() < 1 / (1 + math.exp(-z)))


def _auc(scores, labels) -> float:
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return 0.5
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main(**context) -> dict:
    out = Path(context.get("artifact_dir") or os.environ.get("CHURN_ARTIFACT_DIR") or "build/artifacts/churn_model")
    out.mkdir(parents=True, exist_ok=True)
    seed = int(context.get("seed", 3))
    w, b = [0.0] * len(FEATURES), 0.0
    for _ in range(20):
        for x, y in _rows(1000, seed):
            err = 1 / (1 + math.exp(-(b + sum(wi * xi for wi, xi in zip(w, x))))) - y
            b -= 0.1 * err
            w = [wi - 0.1 * err * xi for wi, xi in zip(w, x)]
    holdout = list(_rows(400, seed + 1))
    scores = [b + sum(wi * xi for wi, xi in zip(w, x)) for x, _ in holdout]
    auc = round(_auc(scores, [y for _, y in holdout]), 4)
    version = str(context.get("run_id") or "dev")
    model = {"model": "churn_model", "version": version, "features": FEATURES,
             "weights": [round(v, 6) for v in w], "bias": round(b, 6), "auc": auc}
    (out / "model.json").write_text(json.dumps(model, indent=2, sort_keys=True) + "\n")
    return {"auc": auc, "version": version, "artifact": str(out / "model.json")}


if __name__ == "__main__":
    print(main())
