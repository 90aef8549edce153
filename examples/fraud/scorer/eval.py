"""Step `evaluate` of flow `retrain_fraud`: recall at a fixed alert threshold.

The step's gate (`gate recall >= 0.85`) reads the `recall` this returns.
"""

from __future__ import annotations

import json

from .train import artifact_dir, labelled_rows, score

ALERT_AT = 0.4   # alert when at least two of the five features are abnormal


def main(**context) -> dict:
    out = artifact_dir(context)
    model = json.loads((out / "model.json").read_text())
    rows = labelled_rows(int(context.get("rows", 5000)), seed=int(context.get("seed", 11)) + 1)
    alerts = [(score(model, r) >= ALERT_AT, y) for r, y in rows]
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
