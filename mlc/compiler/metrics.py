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

Series of the feature pipelines and flows, pushed to a Pushgateway (`$MLC_PUSHGATEWAY`, from the
deploy env's `pushgateway` setting) by short-lived processes, under the job `PUSH_JOB`:

- `mlc_feature_newest_event_timestamp_seconds{group}` (gauge): the event time (Unix seconds) of the
  newest row a group's job wrote: pushed by the Spark job of a batch group and by the publisher of
  a stream group (what reaches the stores); `time()` minus it is the group's staleness, the
  quantity the freshness calculus bounds.
- `mlc_feature_last_write_timestamp_seconds{group}` (gauge): when that write finished.
- `mlc_flow_last_success_timestamp_seconds{flow}` (gauge): when a flow's run last succeeded
  (pushed by the Airflow listener plugin); completion and flow freshness alerts read it.
- `mlc_step_last_success_timestamp_seconds{flow, step}` (gauge): when a step of a flow last
  succeeded (the same listener); `freshness(flow.step)` alerts read it.
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

FEATURE_NEWEST_EVENT = "mlc_feature_newest_event_timestamp_seconds"
FEATURE_LAST_WRITE = "mlc_feature_last_write_timestamp_seconds"
FLOW_LAST_SUCCESS = "mlc_flow_last_success_timestamp_seconds"
STEP_LAST_SUCCESS = "mlc_step_last_success_timestamp_seconds"
# The Pushgateway job the pipelines push under; their grouping key adds `group` or `flow`.
PUSH_JOB = "mlc"

PREDICTION_LABELS = ("model", "path", "reason")
FALLBACK_LABELS = ("model", "fallback", "reason")
MODEL_LABELS = ("model",)

# Why the fallback answered: the model was unsure, raised (or could not be loaded), lacked a
# feature value of the entity, or did not answer within `serve.timeout`.
FALLBACK_REASONS = ("low_confidence", "model_error", "missing_features", "timeout")
PATHS = ("model", "fallback")
# The reasons that mean the model could not answer (its availability's errors); `low_confidence`
# is the model declining by design, which an availability objective does not count against it.
UNAVAILABLE_REASONS = tuple(r for r in FALLBACK_REASONS if r != "low_confidence")

CONFIDENCE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def le(seconds: float) -> str:
    """A histogram bucket's `le` label as prometheus_client writes it (`0.05`, `1.0`), so a rule
    selects the exported bucket by its exact text."""
    return repr(float(seconds))


def feature_metrics(group: str) -> dict[str, Any]:
    """What a feature job or publisher pushes (plain data, written into its SPEC)."""
    return {"job": PUSH_JOB, "grouping": {"group": group},
            "newest_event": FEATURE_NEWEST_EVENT, "last_write": FEATURE_LAST_WRITE}


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
