"""Step `train` of flow `train_ranker`: fit the ranker and write `model.json`."""

from __future__ import annotations

from .common import FEATURES, artifact_dir, predict, synthetic_rows, write_json


def fit(rows, epochs: int = 50, lr: float = 0.5) -> dict:
    """Logistic regression by batch gradient descent."""
    model = {"weights": [0.0] * len(FEATURES), "bias": 0.0}
    n = len(rows)
    for _ in range(epochs):
        grad_w = [0.0] * len(FEATURES)
        grad_b = 0.0
        for x, y in rows:
            err = predict(model, x) - y
            grad_b += err
            for i, v in enumerate(x):
                grad_w[i] += err * v
        model["bias"] -= lr * grad_b / n
        model["weights"] = [w - lr * g / n for w, g in zip(model["weights"], grad_w)]
    return model


def main(**context) -> dict:
    """Train on the snapshot's rows and write the artifact.

    Accepts the orchestrator's context as keyword arguments and ignores what
    it does not use. Returns a small summary (pushed as the step's result).
    """
    out = artifact_dir(context)
    rows = synthetic_rows(int(context.get("rows", 2000)), seed=int(context.get("seed", 7)))
    model = fit(rows)
    version = str(context.get("run_id") or "dev")
    artifact = {
        "model": "ranker",
        "version": version,
        "features": FEATURES,
        "weights": [round(w, 6) for w in model["weights"]],
        "bias": round(model["bias"], 6),
        "trained_on_rows": len(rows),
    }
    path = out / "model.json"
    write_json(path, artifact)
    return {"artifact": str(path), "version": version, "rows": len(rows)}


if __name__ == "__main__":
    print(main())
