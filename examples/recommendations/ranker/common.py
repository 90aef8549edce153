"""What train and eval share: the feature list, the example's data, the model store.

Plain Python at module top on purpose: the orchestrator loads the steps cheaply, and
scikit-learn and BentoML are imported only when a step runs.
"""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

# The ranker's inputs, in the order of `model ranker { inputs [...] }` (`group.*` expanded):
# the order the generated service passes them in.
FEATURES = [
    "views_1h",
    "clicks_1h",
    "avg_dwell",
    "titles_1h",
    "plays_7d",
    "viewers_7d",
    "conv_rate",
    "on_big_screen",
    "late_night",
    "click_through",
    "expected_conv",
]
# The baseline's input (`model popular_titles { inputs [title_popularity.plays_7d] }`).
BASELINE_FEATURES = ["plays_7d"]
# The baseline's rule: a title's share of the week's plays of the most played titles.
PLAYS_AT_TOP = 5000.0


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


def feature_row(rng: random.Random) -> dict:
    """One (member, title, request) as the feature store would serve it, at its real scale."""
    views = rng.randint(0, 20)
    clicks = rng.randint(0, views)
    conv = rng.random()
    row_position = rng.randint(0, 39)
    return {
        "views_1h": views,
        "clicks_1h": clicks,
        "avg_dwell": rng.uniform(0, 60_000),
        "titles_1h": rng.randint(0, 10),
        "plays_7d": rng.randint(0, 5000),
        "viewers_7d": rng.randint(0, 2000),
        "conv_rate": conv,
        "on_big_screen": float(rng.random() < 0.4),
        "late_night": float(rng.random() < 0.2),
        "click_through": clicks / (views + 1),
        "expected_conv": conv * (1.0 - row_position / 40),
    }


def click_probability(row: dict) -> float:
    """The hidden truth of the example: members click what converts, what is popular and
    what they have been clicking lately."""
    z = (-5.5 + 7.0 * row["expected_conv"] + 4.0 * row["click_through"] + 0.0008 * row["plays_7d"]
         + 0.5 * row["on_big_screen"] - 0.3 * row["late_night"])
    return sigmoid(z)


def labelled_rows(n: int, seed: int) -> list[tuple[list[float], int]]:
    """Feature rows (FEATURES order) with a click label drawn from `click_probability`."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        row = feature_row(rng)
        rows.append(([float(row[f]) for f in FEATURES], int(rng.random() < click_probability(row))))
    return rows


def save_model(name: str, estimator, metadata: dict) -> str:
    """Saves `estimator` as NAME in the BentoML model store ($BENTOML_HOME) the way the
    generated service loads it (`model.pkl`); returns the new tag."""
    import pickle

    import bentoml

    with bentoml.models.create(name, metadata=metadata) as model:
        with open(model.path_of("model.pkl"), "wb") as f:
            pickle.dump(estimator, f)
    return str(model.tag)


def load_model(name: str):
    import pickle

    import bentoml

    with open(bentoml.models.get(f"{name}:latest").path_of("model.pkl"), "rb") as f:
        return pickle.load(f)


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
