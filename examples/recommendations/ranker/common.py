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


# Where each input lives in the feature store (the views of features.flow): the stored ones, then
# ranking_context's, which Feast computes at request time from the request and stored values.
VIEWS = {"views_1h": "member_activity", "clicks_1h": "member_activity", "avg_dwell": "member_activity",
         "titles_1h": "member_activity", "plays_7d": "title_popularity", "viewers_7d": "title_popularity",
         "conv_rate": "member_title_affinity", "on_big_screen": "ranking_context",
         "late_night": "ranking_context", "click_through": "ranking_context", "expected_conv": "ranking_context"}


def draw(rng: random.Random) -> tuple[dict, dict]:
    """One (member, title) as stored (each view's columns) and one request (device, hour, row)."""
    views = rng.randint(0, 20)
    stored = {
        "member_activity": {"views_1h": views, "clicks_1h": rng.randint(0, views),
                            "avg_dwell": rng.uniform(0, 60_000), "titles_1h": rng.randint(0, 10)},
        "title_popularity": {"plays_7d": rng.randint(0, 5000), "seconds_7d": rng.randint(0, 10_000_000),
                             "viewers_7d": rng.randint(0, 2000)},
        "member_title_affinity": {"conv_rate": rng.random(), "completion_rate": rng.random(),
                                  "impressions": rng.randint(0, 50)},
    }
    request = {"device": rng.choice(["tv", "tv", "mobile", "web", "web"]),
               "hour_of_day": rng.choice(range(24)), "row_position": rng.randint(0, 39)}
    return stored, request


def features(stored: dict, request: dict) -> dict:
    """The ranker's inputs: the stored values and ranking_context as features.flow computes it."""
    a, mt = stored["member_activity"], stored["member_title_affinity"]
    return {**a, **stored["title_popularity"], **mt,
            "on_big_screen": float(request["device"] == "tv"),
            "late_night": float(request["hour_of_day"] >= 22 or request["hour_of_day"] < 5),
            "click_through": a["clicks_1h"] / (a["views_1h"] + 1),
            "expected_conv": mt["conv_rate"] * (1.0 - request["row_position"] / 40)}


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
        row = features(*draw(rng))
        rows.append(([float(row[f]) for f in FEATURES], int(rng.random() < click_probability(row))))
    return rows


def history(n: int, seed: int, now) -> tuple[dict[str, list[dict]], list[dict]]:
    """The example's data as the platform holds it: per (member, title) pair, each view's row an
    hour before `now`, one labelled impression at `now` (clicked or not, drawn from
    `click_probability`), and rows written after it (all zero) that a point-in-time-correct
    training set never gives the label. Returns (rows per view, labelled impressions)."""
    from datetime import timedelta

    rng = random.Random(seed)
    tables: dict[str, list[dict]] = {"member_activity": [], "title_popularity": [], "member_title_affinity": []}
    labels = []
    keys = {"member_activity": ("member_id",), "title_popularity": ("title_id",),
            "member_title_affinity": ("member_id", "title_id")}
    for i in range(n):
        stored, request = draw(rng)
        ids = {"member_id": f"hist-m{i}", "title_id": f"hist-t{i}"}
        for view, row in stored.items():
            key = {k: ids[k] for k in keys[view]}
            tables[view].append({**key, "event_timestamp": now - timedelta(hours=1), **row})
            tables[view].append({**key, "event_timestamp": now + timedelta(minutes=1), **{c: 0 for c in row}})
        clicked = int(rng.random() < click_probability(features(stored, request)))
        labels.append({**ids, "event_timestamp": now, **request, "clicked": clicked})
    return tables, labels


def store_rows(labels_path: str, service: str) -> list[tuple[list[float], int]]:
    """The point-in-time training set of the labelled impressions at `labels_path` (FEATURES
    order) from $MLC_FEAST_REPO; impressions with a feature out of reach are left out."""
    import sys

    import pandas as pd

    sys.path.insert(0, os.path.join(os.environ["MLC_FEAST_REPO"], "runtime"))
    import mlc_feast_runtime

    frame = mlc_feast_runtime.training_set(pd.read_parquet(labels_path), service=service,
                                           repo=os.environ["MLC_FEAST_REPO"])
    columns = [f"{VIEWS[f]}__{f}" for f in FEATURES]
    rows = []
    for record in frame[columns + ["clicked"]].to_dict("records"):
        if all(record[c] is not None and record[c] == record[c] for c in columns):
            rows.append(([float(record[c]) for c in columns], int(record["clicked"])))
    return rows


def stored_name(name: str) -> str:
    """Model NAME's name in the BentoML store, as the run passes it ($MLC_BENTO_MODELS: a test
    branch's deployment keeps its own models)."""
    return json.loads(os.environ.get("MLC_BENTO_MODELS") or "{}").get(name, name)


def save_model(name: str, estimator, metadata: dict) -> str:
    """Saves `estimator` as NAME in the BentoML model store ($BENTOML_HOME) the way the
    generated service loads it (`model.pkl`); returns the new tag."""
    import pickle

    import bentoml

    with bentoml.models.create(stored_name(name), metadata=metadata) as model:
        with open(model.path_of("model.pkl"), "wb") as f:
            pickle.dump(estimator, f)
    return str(model.tag)


def load_model(name: str):
    import pickle

    import bentoml

    with open(bentoml.models.get(f"{stored_name(name)}:latest").path_of("model.pkl"), "rb") as f:
        return pickle.load(f)


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
