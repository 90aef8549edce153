"""Step `train` of flow `train_ranker`: fit the ranker, save it and its baseline to the
BentoML model store, and write `model.json` (what was saved, for the steps after).

The rows: with labelled impressions (the `labels` argument or $RANKER_LABELS: a Parquet file
of member_id, title_id, event_timestamp (the label's time), device, hour_of_day, row_position,
clicked) and the feature store ($MLC_FEAST_REPO, set for a step that `produces` a model), the
point-in-time training set of the ranker's feature service ($MLC_FEATURE_SERVICE, else
`ranker`); otherwise the example's generated rows. `common.history` generates the first kind.

The training set this run trains from (artifact `training_set`, which the step `reads`) is
where $MLC_ARTIFACT_TRAINING_SET says: the run passes its location, the code never spells it.
It is recorded in `model.json` with what it held, so that a model can be traced to its set.
"""

from __future__ import annotations

import os

from .common import (BASELINE_FEATURES, FEATURES, PLAYS_AT_TOP, artifact_dir, labelled_rows, save_model, store_rows,
                     write_json)


def fit(rows):
    """A logistic regression on standardised features (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return model.fit([x for x, _ in rows], [y for _, y in rows])


def baseline():
    """The deterministic `popular_titles`: plays_7d / PLAYS_AT_TOP, as a linear model
    through two points (exactly the rule, nothing learned)."""
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit([[0.0], [PLAYS_AT_TOP]], [0.0, 1.0])


def _files(location: str | None) -> int | None:
    """How many data files the training set holds, when it is a local folder (None elsewhere)."""
    if not location or "://" in location or not os.path.isdir(location):
        return None
    return sum(1 for _root, _dirs, files in os.walk(location) for f in files if not f.startswith((".", "_")))


def main(**context) -> dict:
    """Accepts the orchestrator's context as keyword arguments and ignores what it does not
    use. Returns a small summary (pushed as the step's result)."""
    labels = context.get("labels") or os.environ.get("RANKER_LABELS")
    if labels and os.environ.get("MLC_FEAST_REPO"):
        rows, source = store_rows(labels, os.environ.get("MLC_FEATURE_SERVICE") or "ranker"), "feature store"
    else:
        rows, source = labelled_rows(int(context.get("rows", 4000)), seed=int(context.get("seed", 7))), "generated"
    version = str(context.get("run_id") or "dev")
    training_set = os.environ.get("MLC_ARTIFACT_TRAINING_SET")
    tag = save_model("ranker", fit(rows), {"version": version, "features": FEATURES, "rows": len(rows),
                                           "source": source})
    base = save_model("popular_titles", baseline(), {"version": version, "features": BASELINE_FEATURES})
    artifact = {"model": "ranker", "version": version, "tag": tag, "baseline_tag": base,
                "features": FEATURES, "trained_on_rows": len(rows), "source": source,
                "training_set": training_set, "training_set_files": _files(training_set)}
    path = artifact_dir(context) / "model.json"
    write_json(path, artifact)
    return {"artifact": str(path), "version": version, "tag": tag, "rows": len(rows), "source": source,
            "training_set": training_set}


if __name__ == "__main__":
    print(main())
