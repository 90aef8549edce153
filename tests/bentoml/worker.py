"""The serving engine's side of tests/bentoml, run in .engines/serving: sets up the model
stores and the Feast repository once, then takes JSON commands on stdin (one a line) and
answers each with one JSON line on stdout. Importing Feast costs ~10 s: one worker per session.

Commands:
- {"op": "setup", "repo", "project_root", "stores": {"good", "broken", "slow"}, "example", "slow_seconds"}
  writes the example's labelled history (`scorer.train.history`) as card_velocity's offline table,
  applies the generated Feast repo, trains the scorer with the example's own training step from
  its point-in-time training set into the good store, copies it into
  the broken and slow stores and saves a failing / a slow `fraud_scorer` there; writes the rows of
  the cards it chose (a sure legitimate one, a sure fraud, an unsure one) and materialises them;
  answers the cards, the request that goes with each, and the training step's summary.
- {"op": "setup_ranker", "repo", "project_root", "example"}: the same for the recommendations
  example's ranker (its training step, one stored row per view); answers the rows.
- {"op": "ranker_probability", "rows", "request"}: the ranker's probability for them.
- {"op": "write", "card_id", "values"}: new online values for one card (now).
- {"op": "predict", "values", "amount_cents", "channel"}: the good model's probability of fraud
  for these features, as the service computes its input.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

VIEW = "card_velocity"
TRAINING_CARDS = 3000
COLUMNS = ["txn_count_5m", "txn_count_1h", "amount_sum_1h", "max_amount_1h", "merchants_1h", "countries_1h",
           "declines_1h"]


def model_row(values: dict, amount_cents: int, channel: str) -> list[float]:
    """The scorer's input as the service builds it: card_velocity's features, then txn_context's
    (the on-demand view's expressions of fraud.flow)."""
    avg = values["amount_sum_1h"] / (values["txn_count_1h"] + 1)
    return [float(values[c]) for c in COLUMNS] + [amount_cents / (avg + 1), float(channel == "online")]


def _table(rows: list[dict]):
    """card_velocity's offline table as the stream job writes it (int64 counts)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for c in COLUMNS:
        frame[c] = frame[c].astype("int64")
    return frame


def apply(repo: Path):
    """`feast apply` of a generated repository in this process; its store. Feast imports the
    repository's files by module name, and every generated one is `definitions.py`: the module
    of a repository applied before is dropped first."""
    from feast import FeatureStore
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    sys.modules.pop("definitions", None)
    sys.path.insert(0, str(repo))
    try:
        apply_total(load_repo_config(repo, repo / "feature_store.yaml"), repo, skip_source_validation=False)
    finally:
        sys.path.remove(str(repo))
    return FeatureStore(repo_path=repo)


class Worker:
    def setup(self, cmd: dict) -> dict:
        import bentoml
        import pandas as pd

        sys.path.insert(0, cmd["example"])
        from scorer import train

        root, stores = cmd["project_root"], cmd["stores"]  # the good store is $BENTOML_HOME, set by the test
        os.environ["MLC_PROJECT_ROOT"] = root
        table = os.path.join(root, "build/s3/features/card_velocity")
        os.makedirs(table, exist_ok=True)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        # the example's history, labelled two hours ago, in the offline table; then the training
        # step reads its point-in-time training set through the generated repository
        history, labels = train.history(TRAINING_CARDS, seed=11, now=now - timedelta(hours=2))
        _table(history).to_parquet(os.path.join(table, "history.parquet"), index=False)
        labels_path = os.path.join(root, "labels.parquet")
        pd.DataFrame(labels).to_parquet(labels_path, index=False)
        self.store = apply(Path(cmd["repo"]))
        summary = train.main(artifact_dir=os.path.join(root, "artifacts"), run_id="test", labels=labels_path)
        with open(bentoml.models.get(summary["tag"]).path_of("model.pkl"), "rb") as f:
            self.model = pickle.load(f)
        self._variants(stores, cmd["slow_seconds"])

        cards = self._cards()
        rows = [{"card_id": c["card_id"], "event_timestamp": now - timedelta(minutes=5), **c["values"]}
                for c in cards.values()]
        _table(rows).to_parquet(os.path.join(table, "cards.parquet"), index=False)
        self.store.materialize(start_date=now - timedelta(hours=1), end_date=now)
        # a value stamped after its label (the blocked card's zeros; countries_1h is never 0 before)
        leaked = sum(1 for x, _ in train.store_rows(labels_path) if x[COLUMNS.index("countries_1h")] == 0)
        return {"cards": cards, "tag": summary["tag"], "training": summary, "labels": len(labels),
                "fraud_labels": sum(r["is_fraud"] for r in labels), "leaked": leaked}

    def _variants(self, stores: dict, seconds: float) -> None:
        """The broken store: a scorer fitted on two features (it raises on the nine it is given);
        the slow one: the real scorer, wrapped to answer after `seconds`."""
        import bentoml
        from bentoml._internal.models import ModelStore
        from sklearn.ensemble import HistGradientBoostingClassifier

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from slow_model import Slow

        broken = HistGradientBoostingClassifier(max_iter=5).fit([[0, 1], [1, 0], [0, 0], [1, 1]], [0, 1, 0, 1])
        for name, estimator in (("broken", broken), ("slow", Slow(self.model, seconds))):
            shutil.copytree(stores["good"], stores[name])
            models = os.path.join(stores[name], "models")
            with bentoml.models.create("fraud_scorer", metadata={"variant": name}, _model_store=ModelStore(models)) as m, \
                    open(m.path_of("model.pkl"), "wb") as f:
                pickle.dump(estimator, f)

    def probability(self, values: dict, amount_cents: int, channel: str) -> float:
        return float(self.model.predict_proba([model_row(values, amount_cents, channel)])[0][1])

    def _cards(self) -> dict:
        """A sure legitimate card, a sure fraud, an unsure one (fraud probability between 0.35 and
        0.65: confidence below the 0.7 threshold), found among the example's kind of traffic."""
        from scorer.train import transaction

        rng = random.Random(5)
        found: dict = {}
        wanted = {"legit": lambda p: p < 0.02, "fraud": lambda p: p > 0.98, "unsure": lambda p: 0.35 < p < 0.65}
        for i in range(200_000):
            raw = transaction(rng, rng.random() < 0.5)
            values = {c: int(round(raw[c])) for c in COLUMNS}
            amount = int(rng.uniform(1, 3000))
            channel = "online" if raw["card_not_present"] else "pos"
            p = self.probability(values, amount, channel)
            for kind, ok in wanted.items():
                if kind not in found and ok(p):
                    found[kind] = {"card_id": f"card-{kind}", "values": values,
                                   "request": {"card_id": f"card-{kind}", "amount_cents": amount, "channel": channel},
                                   "p": p}
            if len(found) == len(wanted):
                return found
        raise RuntimeError(f"no card found for {sorted(set(wanted) - set(found))} in {i + 1} draws")

    def setup_ranker(self, cmd: dict) -> dict:
        """The recommendations example: its labelled history and one stored row per view for a
        member, a title and the pair, written as the offline tables; the generated repo applied;
        the example's training step (the point-in-time training set) saves `ranker` and
        `popular_titles` to the store ($BENTOML_HOME); materialised. Answers the test's rows, the
        training summary and three requests for them: one the ranker is sure of, another sure
        one with another score, one it is unsure of (confidence below 0.6)."""
        import pandas as pd

        sys.path.insert(0, cmd["example"])
        from ranker import common, train

        root = cmd["project_root"]
        now = datetime.now(timezone.utc).replace(microsecond=0)
        history, labels = common.history(TRAINING_CARDS, seed=7, now=now - timedelta(hours=2))
        rows = {
            "member_activity": {"member_id": "m-1", "views_1h": 12, "clicks_1h": 7, "avg_dwell": 41_000.0,
                                "titles_1h": 3},
            "title_popularity": {"title_id": "t-1", "plays_7d": 4200, "seconds_7d": 9_000_000, "viewers_7d": 1500},
            "member_title_affinity": {"member_id": "m-1", "title_id": "t-1", "conv_rate": 0.8,
                                      "completion_rate": 0.6, "impressions": 30},
        }
        for view, row in rows.items():
            folder = os.path.join(root, "build/s3/features", view)
            os.makedirs(folder, exist_ok=True)
            pd.DataFrame(history[view]).to_parquet(os.path.join(folder, "history.parquet"), index=False)
            pd.DataFrame([{**row, "event_timestamp": now - timedelta(minutes=5)}]).to_parquet(
                os.path.join(folder, "rows.parquet"), index=False)
        labels_path = os.path.join(root, "ranker-labels.parquet")
        pd.DataFrame(labels).to_parquet(labels_path, index=False)
        store = apply(Path(cmd["repo"]))
        os.environ["MLC_FEAST_REPO"] = cmd["repo"]  # as the DAG sets it for a step that `produces` a model
        summary = train.main(artifact_dir=os.path.join(root, "ranker-artifacts"), run_id="test", labels=labels_path)
        self.ranker = common.load_model("ranker")
        store.materialize(start_date=now - timedelta(hours=1), end_date=now)
        # a value stamped after its label (the zeros; conv_rate and plays_7d are never both 0 before)
        conv, plays = common.FEATURES.index("conv_rate"), common.FEATURES.index("plays_7d")
        leaked = sum(1 for x, _ in common.store_rows(labels_path, "ranker") if x[conv] == 0 and x[plays] == 0)
        return {"rows": rows, "training": summary, "labels": len(labels), "leaked": leaked,
                "requests": self._ranker_requests(rows)}

    def _ranker_requests(self, rows: dict) -> dict:
        base = {"member_id": "m-1", "title_id": "t-1"}
        found: dict = {}
        for device in ("tv", "mobile", "web"):
            for position in range(40):
                for hour in (12, 23):
                    request = {**base, "device": device, "hour_of_day": hour, "row_position": position}
                    p = self._ranker_p(rows, request)
                    confidence = max(p, 1 - p)
                    if confidence >= 0.7 and "sure" not in found:
                        found["sure"] = request
                    elif (confidence >= 0.7 and "other" not in found
                          and abs(p - self._ranker_p(rows, found["sure"])) > 0.05):
                        found["other"] = request
                    elif confidence < 0.55 and "unsure" not in found:
                        found["unsure"] = request
        if len(found) < 3:
            raise RuntimeError(f"no ranker request found for {sorted({'sure', 'other', 'unsure'} - set(found))}")
        return found

    def _ranker_p(self, rows: dict, request: dict) -> float:
        from ranker.common import FEATURES, features

        values = features({v: rows[v] for v in ("member_activity", "title_popularity", "member_title_affinity")},
                          request)
        return float(self.ranker.predict_proba([[float(values[f]) for f in FEATURES]])[0][1])

    def ranker_probability(self, cmd: dict) -> dict:
        """The ranker's probability for stored rows and a request, ranking_context computed as
        features.flow says (the service gets it from Feast's on-demand view)."""
        return {"p": self._ranker_p(cmd["rows"], cmd["request"])}

    def write(self, cmd: dict) -> dict:
        row = {"card_id": cmd["card_id"], "event_timestamp": datetime.now(timezone.utc), **cmd["values"]}
        self.store.write_to_online_store(VIEW, _table([row]))
        return {}

    def predict(self, cmd: dict) -> dict:
        return {"p": self.probability(cmd["values"], cmd["amount_cents"], cmd["channel"])}


def main() -> None:
    worker = Worker()
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever a library prints does not break the answers
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            answer = {"ok": True, **getattr(worker, cmd["op"])(cmd)}
        except Exception as exc:  # reported to the test, which fails with it
            import traceback

            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
