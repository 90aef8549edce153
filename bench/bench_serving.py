"""What the generated BentoML service costs over a hand-written one, per prediction.

Both serve the same model (the fraud example's scorer, trained by the example's own step, from
the same BentoML model store) with the same Feast lookup (the generated repository, applied and
materialised; `get_online_features` through the `fraud_scorer` feature service); both run under
real `bentoml serve` on 127.0.0.1 at once. The hand-written one (BASELINE below) is the minimal
service a person would write: read the features, predict, return score and confidence. The
generated one also checks the input, applies the timeout on a thread, evaluates the fallback's
condition and counts Prometheus metrics.

Requests alternate between the two servers (one keep-alive connection each), so both see the
same load; each is warmed first. p50 and p99 of the client's wall-clock per request, and the
ratio generated / hand-written, are printed and written to bench/results/serving.json.
Target: the generated service's overhead <= 10% at p50.

    .venv/bin/python bench/bench_serving.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "bentoml"))

from serving_support import Server, compile_example, start, stop  # noqa: E402

BASELINE = '''
import os
import pickle
from typing import Any

import bentoml
from feast import FeatureStore

FEATURES = ["card_velocity__txn_count_5m", "card_velocity__txn_count_1h", "card_velocity__amount_sum_1h",
            "card_velocity__max_amount_1h", "card_velocity__merchants_1h", "card_velocity__countries_1h",
            "card_velocity__declines_1h", "txn_context__amount_vs_avg", "txn_context__card_not_present"]


@bentoml.service(name="fraud_scorer_by_hand")
class Baseline:
    model = bentoml.models.BentoModel("fraud_scorer:latest")

    def __init__(self) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with open(self.model.path_of("model.pkl"), "rb") as f:
            self.estimator = pickle.load(f)
        self.store = FeatureStore(repo_path=os.environ["MLC_FEAST_REPO"])
        self.service = self.store.get_feature_service("fraud_scorer")

    @bentoml.api(route="/predict")
    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        online = self.store.get_online_features(features=self.service, entity_rows=[inputs],
                                                full_feature_names=True).to_dict()
        row = [float(online[name][0]) for name in FEATURES]
        p = [float(x) for x in self.estimator.predict_proba([row])[0]]
        return {"fraud_score": p[-1], "confidence": max(p)}
'''


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def predict(self, inputs: dict) -> tuple[float, dict]:
        body = json.dumps({"inputs": inputs})
        t = time.perf_counter()
        self.conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - t
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:500]!r}")
        return elapsed, json.loads(data)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="requests per service (default 1000)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_serving_") as tmp:
        base = Path(tmp)
        bundle = compile_example(base / "bundle")
        started = time.perf_counter()
        setup, worker, servers = start(bundle, base, ("good",), slow_seconds=0.0)
        generated = servers["good"]
        by_hand_dir = base / "by_hand"
        by_hand_dir.mkdir()
        (by_hand_dir / "service.py").write_text(BASELINE)
        by_hand = Server("by_hand", by_hand_dir, {**setup["env"], "BENTOML_HOME": setup["stores"]["good"]},
                         base / "serve-by_hand.log", target="service:Baseline")
        servers["by_hand"] = by_hand
        try:
            by_hand.wait_ready()
            print(f"set up and serving in {time.perf_counter() - started:.1f} s (generated ready after "
                  f"{generated.ready_after:.1f} s)")
            # The sure cards: both services answer with the model (no fallback in the generated one).
            requests = [setup["cards"][k]["request"] for k in ("legit", "fraud")]
            clients = {"generated": Client(generated.port), "by_hand": Client(by_hand.port)}
            for name, client in clients.items():
                for i in range(50):
                    client.predict(requests[i % 2])
            times: dict[str, list[float]] = {name: [] for name in clients}
            paths: dict[str, int] = {}
            for i in range(args.requests):
                order = ("generated", "by_hand") if i % 2 == 0 else ("by_hand", "generated")
                for name in order:
                    elapsed, body = clients[name].predict(requests[i % 2])
                    times[name].append(elapsed)
                    if name == "generated":
                        paths[body["path"]] = paths.get(body["path"], 0) + 1
                        assert body["fraud_score"] is not None
        finally:
            stop(worker, servers)
    result = {name: {"p50_ms": round(percentile(t, 0.50) * 1000, 3), "p99_ms": round(percentile(t, 0.99) * 1000, 3),
                     "mean_ms": round(statistics.fmean(t) * 1000, 3)} for name, t in times.items()}
    result["ratio_p50"] = round(result["generated"]["p50_ms"] / result["by_hand"]["p50_ms"], 3)
    result["ratio_p99"] = round(result["generated"]["p99_ms"] / result["by_hand"]["p99_ms"], 3)
    result["requests"] = args.requests
    result["generated_paths"] = paths
    result["serve_ready_s"] = round(generated.ready_after, 1)
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / "serving.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    ok = result["ratio_p50"] <= 1.10
    print(f"generated / hand-written at p50: {result['ratio_p50']}x ({'within' if ok else 'OVER'} the 1.10x target)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
