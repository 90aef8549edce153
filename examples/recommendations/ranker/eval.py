"""Step `evaluate` of flow `train_ranker`: score a holdout set with the stored ranker, write
`metrics.json`.

The step's gate (`gate auc >= 0.80`) reads the `auc` this returns (its `returns { auc: float,
rows: int }`: the dict must hold both, typed).
"""

from __future__ import annotations

import json

from .common import artifact_dir, labelled_rows, load_model, write_json


def auc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve by the rank-sum formula (ties share ranks)."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return 0.5
    rank_sum = sum(r for r, y in zip(ranks, labels) if y == 1)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def main(**context) -> dict:
    out = artifact_dir(context)
    model = json.loads((out / "model.json").read_text())
    holdout = labelled_rows(int(context.get("rows", 1000)), seed=int(context.get("seed", 7)) + 1)
    scores = [float(p[1]) for p in load_model("ranker").predict_proba([x for x, _ in holdout])]
    labels = [y for _, y in holdout]
    metrics = {"auc": round(auc(scores, labels), 4), "rows": len(holdout), "version": model["version"]}
    write_json(out / "metrics.json", metrics)
    return metrics


def region(**context) -> dict:
    """Step `evaluate` of flow `evaluate_region`: the stored ranker's AUC on one region's
    holdout (its rows drawn with a seed of the region, the flow's `region` parameter), what its
    `returns` declares."""
    region = (context.get("params") or {}).get("region", "us")
    holdout = labelled_rows(int(context.get("rows", 1000)), seed=sum(map(ord, region)))
    scores = [float(p[1]) for p in load_model("ranker").predict_proba([x for x, _ in holdout])]
    return {"auc": round(auc(scores, [y for _, y in holdout]), 4), "rows": len(holdout), "region": region}


if __name__ == "__main__":
    print(main())
