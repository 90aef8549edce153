"""Step `evaluate` of flow `retrain_fraud`: recall at a fixed alert threshold, with the stored
scorer, on transactions it was not trained on.

The step's gate (`gate recall >= 0.85`) reads the `recall` this returns.
"""

from __future__ import annotations

import json

from .train import artifact_dir, labelled_rows

ALERT_AT = 0.3   # the fraud probability above which a transaction is held


def main(**context) -> dict:
    import pickle

    import bentoml

    out = artifact_dir(context)
    model = json.loads((out / "model.json").read_text())
    with open(bentoml.models.get(model["tag"]).path_of("model.pkl"), "rb") as f:
        scorer = pickle.load(f)
    rows = labelled_rows(int(context.get("rows", 5000)), seed=int(context.get("seed", 11)) + 1)
    scores = [float(p[1]) for p in scorer.predict_proba([x for x, _ in rows])]
    alerts = [(s >= ALERT_AT, y) for s, (_, y) in zip(scores, rows)]
    fraud = sum(y for _, y in alerts)
    caught = sum(1 for a, y in alerts if a and y)
    false_alerts = sum(1 for a, y in alerts if a and not y)
    metrics = {
        "recall": round(caught / fraud, 4) if fraud else 0.0,
        "false_positive_rate": round(false_alerts / (len(rows) - fraud), 4),
        "version": model["version"],
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


if __name__ == "__main__":
    print(main())
