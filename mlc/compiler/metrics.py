"""The one definition of the metrics that generated services and jobs export.

The BentoML services (`mlc/targets/bentoml`) export these series on `/metrics`; the
monitoring target (Prometheus rules, Grafana dashboards) reads the same names, labels and
buckets from here, so a rule can never query a series nobody exports.

Series of a served model (label `model`: the model's name in the bundle):

- `mlc_model_predictions_total{model, path, reason}` (counter): every answered prediction;
  `path` is `model` (the model answered) or `fallback` (its fallback did), `reason` is `ok`
  on the model path and one of `FALLBACK_REASONS` on the fallback path.
- `mlc_model_fallbacks_total{model, fallback, reason}` (counter): predictions answered by the
  fallback model `fallback`, by reason.
- `mlc_model_invalid_requests_total{model}` (counter): requests refused with HTTP 400.
- `mlc_model_confidence{model}` (histogram): the model's confidence on every prediction it
  made (fallback for low confidence included); buckets every 0.1 and at each fallback
  threshold, so `le="THRESHOLD"` counts exactly the unsure predictions.
- `mlc_model_latency_seconds{model}` (histogram): the whole request, feature lookup and
  fallback included; buckets a fixed ladder plus one at each latency objective of the model
  (its `slo`s) and at its serve timeout, so a rule reads `le="OBJECTIVE"` exactly.
"""

from __future__ import annotations

from typing import Any

from mlc.compiler import ir
from mlc.targets.memo import once

PREDICTIONS = "mlc_model_predictions_total"
FALLBACKS = "mlc_model_fallbacks_total"
INVALID = "mlc_model_invalid_requests_total"
CONFIDENCE = "mlc_model_confidence"
LATENCY = "mlc_model_latency_seconds"

PREDICTION_LABELS = ("model", "path", "reason")
FALLBACK_LABELS = ("model", "fallback", "reason")
MODEL_LABELS = ("model",)

# Why the fallback answered: the model was unsure, raised (or could not be loaded), lacked a
# feature value of the entity, or did not answer within `serve.timeout`.
FALLBACK_REASONS = ("low_confidence", "model_error", "missing_features", "timeout")
PATHS = ("model", "fallback")

CONFIDENCE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def latency_objectives_ms(program: ir.Program, model_key: str) -> list[int]:
    """The thresholds (ms) of every latency objective about `model_key`, sorted."""
    return sorted(once(program, ("latency-objectives",), lambda: _latency_objectives(program)).get(model_key, ()))


def _latency_objectives(program: ir.Program) -> dict[str, set[int]]:
    """Every model's latency thresholds, from one pass over the objectives (not one per model)."""
    from mlc.compiler.checks.objectives import objectives

    found: dict[str, set[int]] = {}
    for o in objectives(program):
        if o.kind == "latency" and o.value.op == "lit" and o.value.kind == "duration":
            found.setdefault(o.target, set()).add(o.value.value)
    return found


def latency_buckets(program: ir.Program, model_key: str) -> list[float]:
    """Seconds: the fixed ladder, each latency objective and the serve timeout."""
    model = program.models[model_key]
    extra = latency_objectives_ms(program, model_key)
    if model.serve is not None and model.serve.timeout_ms is not None:
        extra.append(model.serve.timeout_ms)
    return sorted(set(LATENCY_BUCKETS) | {ms / 1000 for ms in extra})


def confidence_buckets(thresholds: list[float]) -> list[float]:
    """The fixed ladder and each fallback threshold."""
    return sorted(set(CONFIDENCE_BUCKETS) | {float(t) for t in thresholds if 0.0 <= t <= 1.0})


def model_metrics(program: ir.Program, model_key: str, thresholds: list[float]) -> dict[str, Any]:
    """What a served model's service registers: names, label names and buckets (plain data,
    written into the service's SPEC)."""
    return {
        "predictions": {"name": PREDICTIONS, "labels": list(PREDICTION_LABELS)},
        "fallbacks": {"name": FALLBACKS, "labels": list(FALLBACK_LABELS)},
        "invalid": {"name": INVALID, "labels": list(MODEL_LABELS)},
        "confidence": {"name": CONFIDENCE, "labels": list(MODEL_LABELS),
                       "buckets": confidence_buckets(thresholds)},
        "latency": {"name": LATENCY, "labels": list(MODEL_LABELS),
                    "buckets": latency_buckets(program, model_key)},
    }
