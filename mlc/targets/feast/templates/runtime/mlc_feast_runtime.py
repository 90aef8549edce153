"""The Feast runtime of an mlc bundle: point-in-time-correct training sets.

Shipped once per bundle (in the feature repository's `runtime/` folder, which
`.feastignore` keeps out of `feast apply`). Feast and pandas are imported inside the
functions that need them, so this module imports (and is tested) without them.

A model's training step (a python step that `produces MODEL`) gets, in its environment:
- `MLC_FEAST_REPO`: the feature repository (the bundle's `feast/` folder);
- `MLC_FEATURE_SERVICE`: the feature service the model is served and trained with.
It calls `training_set(rows)` with its labelled entity rows (the join keys, the label,
and the label's time in `event_timestamp`); each row gets, for every feature of the
service, the newest value stamped at or before its label time (within the view's ttl),
never one stamped after it. Rows keep their order; a row with no value in reach keeps
missing values (Feast's file offline store drops such rows: they are put back).
"""

from __future__ import annotations

import datetime as _dt
import os

REPO_ENV = "MLC_FEAST_REPO"
SERVICE_ENV = "MLC_FEATURE_SERVICE"
EVENT_TIMESTAMP = "event_timestamp"
ROW = "__mlc_row"  # the position of an entity row, to restore order and dropped rows


def step_context(environ=None) -> tuple[str, str]:
    """(repository, feature service) of a training step, from its environment."""
    environ = os.environ if environ is None else environ
    missing = [v for v in (REPO_ENV, SERVICE_ENV) if not environ.get(v)]
    if missing:
        raise RuntimeError(f"{' and '.join(missing)} not set: a training set is read in a step that "
                           "`produces` a model (the DAG sets them), or pass repo= and service=")
    return environ[REPO_ENV], environ[SERVICE_ENV]


def utc(value) -> _dt.datetime:
    """A label time as an aware UTC datetime (naive values are UTC; ISO text accepted)."""
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z
    elif hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"a label time must be a datetime, a date or ISO text, not {type(value).__name__}")
    return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)


def entity_columns(rows: list[dict], label_time: str = EVENT_TIMESTAMP) -> dict[str, list]:
    """Labelled entity rows as the columns of Feast's entity frame: every column of the
    rows, the label time as `event_timestamp` (UTC), and each row's position."""
    if not rows:
        raise ValueError("no entity rows: a training set needs at least one labelled row")
    names: list[str] = []
    for r in rows:
        for n in r:
            if n not in names:
                names.append(n)
    if label_time not in names:
        raise ValueError(f"the entity rows have no `{label_time}` column (the label's time)")
    if ROW in names:
        raise ValueError(f"`{ROW}` is a reserved column name")
    columns = {n: [r.get(n) for r in rows] for n in names if n != label_time}
    columns[EVENT_TIMESTAMP] = [utc(r[label_time]) for r in rows]
    columns[ROW] = list(range(len(rows)))
    return columns


def restore(result: list[dict], entity: dict[str, list], features: list[str]) -> list[dict]:
    """Feast's result rows in the entity rows' order; a row Feast dropped comes back with
    its features missing (None). The position column is removed."""
    by_row = {r[ROW]: r for r in result}
    out = []
    for i in range(len(entity[ROW])):
        got = by_row.get(i)
        row = {n: v[i] for n, v in entity.items() if n != ROW}
        for f in features:
            row[f] = None if got is None else got.get(f)
        out.append(row)
    return out


def training_set(rows, repo: str | None = None, service: str | None = None, label_time: str = EVENT_TIMESTAMP,
                 full_feature_names: bool = True):
    """The training set of a model: `rows` (a pandas DataFrame or a list of dicts: join keys,
    labels, the label time) with the features of the model's feature service as of each
    row's label time, as a pandas DataFrame in the rows' order. `repo` and `service`
    default to the step's environment (`step_context`)."""
    import pandas as pd
    from feast import FeatureStore

    if repo is None or service is None:
        env_repo, env_service = step_context()
        repo, service = repo or env_repo, service or env_service
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    entity = entity_columns(records, label_time)
    frame = pd.DataFrame(entity)
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
    store = FeatureStore(repo_path=repo)
    job = store.get_historical_features(entity_df=frame, features=store.get_feature_service(service),
                                        full_feature_names=full_feature_names)
    result = job.to_df()
    features = [c for c in result.columns if c not in entity]
    restored = restore(result.astype(object).where(result.notna(), None).to_dict("records"), entity, features)
    out = pd.DataFrame(restored, columns=[n for n in entity if n != ROW] + features)
    out[EVENT_TIMESTAMP] = pd.to_datetime(out[EVENT_TIMESTAMP], utc=True)
    return out
