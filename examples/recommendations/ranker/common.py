"""What train and eval share: the feature list, the data and the artifact paths."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

# The ranker's inputs, in the order of `model ranker { inputs [...] }`.
FEATURES = [
    "views_1h",
    "clicks_1h",
    "avg_dwell",
    "titles_1h",
    "plays_7d",
    "viewers_7d",
    "conv_rate",
    "click_through",
    "expected_conv",
]

# Hidden weights of the synthetic data; training should find something close.
_TRUE_WEIGHTS = [0.4, 0.9, 0.2, -0.3, 0.6, 0.1, 1.8, 1.2, 1.5]
_TRUE_BIAS = -0.5


def artifact_dir(context: dict) -> Path:
    """Where artifacts go: the `artifact_dir` argument, else $RANKER_ARTIFACT_DIR,
    else build/artifacts/ranker (relative to the working directory)."""
    path = context.get("artifact_dir") or os.environ.get("RANKER_ARTIFACT_DIR") or "build/artifacts/ranker"
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def synthetic_rows(n: int, seed: int) -> list[tuple[list[float], int]]:
    """Standardised feature rows with a click label drawn from the hidden model."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        x = [rng.gauss(0.0, 1.0) for _ in FEATURES]
        p = sigmoid(_TRUE_BIAS + sum(w * v for w, v in zip(_TRUE_WEIGHTS, x)))
        rows.append((x, 1 if rng.random() < p else 0))
    return rows


def predict(model: dict, x: list[float]) -> float:
    return sigmoid(model["bias"] + sum(w * v for w, v in zip(model["weights"], x)))


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
