"""What every generated BentoML service of an mlc bundle runs (a copy beside each service, so
that `bentoml build` of the service's folder takes it along).

A generated `service.py` is its docstring, one literal `SPEC` and a `@bentoml.service` class
that subclasses `ModelService` and binds one `@bentoml.api` to `ModelService.answer`. This
module imports BentoML, Feast, prometheus_client and pickle's payloads only inside functions,
so it imports (and is unit-tested) without them.

One request (`answer`):
1. the input is checked against the SPEC (entity keys and request fields, with their types);
   a bad one is refused with HTTP 400 and a message naming the field;
2. the model's online features are read from Feast through the model's feature service;
3. the model (the newest `NAME:latest` of the BentoML model store) predicts within
   `serve.timeout` (the model's call: the feature lookup is Feast's, and is not cut short);
4. the fallback's condition (`fallback M when EXPR`) is evaluated with `confidence` and
   `unavailable`: it answers when the model was unsure, raised (or could not be loaded), missed
   a feature of the entity, or ran out of time. The response says which path answered and why.

Confidence of a model (`predictions`): a classifier (`predict_proba`) scores the probability
of its last class (the positive class of a binary classifier) and is as confident as its top
class probability; an estimator whose `predict` returns two columns gives (score, confidence);
one that returns one column (a deterministic rule) has no confidence.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

# The file every model-store entry holds: a pickled estimator.
ARTEFACT = "model.pkl"
# Threads that run predictions under the timeout; one left over by a slow model keeps running
# until the model returns (Python cannot stop a thread), so there are a few.
PREDICT_THREADS = 8


class InputError(ValueError):
    """A request the SPEC refuses (HTTP 400)."""


# ----------------------------------------------------------------------- input


def _check_value(name: str, type_: list, value: Any) -> Any:
    kind = type_[0]
    if value is None:
        raise InputError(f"field `{name}` is null; expected {describe(type_)}")
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InputError(f"field `{name}` is {value!r}; expected a finite number")
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "enum" and isinstance(value, str):
        if value not in type_[1]:
            raise InputError(f"field `{name}` is {value!r}; expected one of {', '.join(type_[1])}")
        return value
    raise InputError(f"field `{name}` is {_json_kind(value)}; expected {describe(type_)}")


def describe(type_: list) -> str:
    kind = type_[0]
    return {"string": "a string", "int": "an integer", "float": "a number", "bool": "true or false"}.get(
        kind, f"one of {', '.join(type_[1])}" if kind == "enum" else kind)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def check_input(spec: dict, inputs: Any) -> dict:
    """The request's fields, checked and in SPEC order: every entity key, then every request
    field. Unknown and missing fields are refused by name."""
    fields = spec["keys"] + spec["request"]
    if not isinstance(inputs, dict):
        raise InputError(f"`inputs` is {_json_kind(inputs)}; expected an object with "
                         + ", ".join(f"`{n}`" for n, _ in fields))
    known = {n for n, _ in fields}
    unknown = sorted(set(inputs) - known)
    if unknown:
        raise InputError(f"unknown field `{unknown[0]}`; expected "
                         + ", ".join(f"`{n}`" for n, _ in fields))
    missing = [n for n, _ in fields if n not in inputs]
    if missing:
        raise InputError(f"missing field `{missing[0]}` ({describe(dict(fields)[missing[0]])})")
    return {n: _check_value(n, t, inputs[n]) for n, t in fields}


# -------------------------------------------------------------------- features


def feature_values(names: list[str], online: dict[str, list]) -> tuple[list[float | None], list[str]]:
    """The values of `names` (`VIEW__FEATURE`) in one row of Feast's online response, as
    numbers, and the names that had none (an unknown entity, an expired value)."""
    values, missing = [], []
    for name in names:
        column = online.get(name)
        value = column[0] if column else None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            values.append(None)
            missing.append(name)
        else:
            values.append(float(value))
    return values, missing


# ---------------------------------------------------------------- predictions


def prediction(estimator: Any, row: list[float]) -> tuple[float, float | None]:
    """(score, confidence) of one row (see the module's docstring)."""
    if hasattr(estimator, "predict_proba"):
        probabilities = [float(p) for p in estimator.predict_proba([row])[0]]
        return probabilities[-1], max(probabilities)
    out = estimator.predict([row])[0]
    if hasattr(out, "__len__"):
        if len(out) != 2:
            raise ValueError(f"predict returned {len(out)} values per row; expected 1 (a score) or 2 "
                             "(score, confidence)")
        return float(out[0]), float(out[1])
    return float(out), None


def holds(expr: Any, confidence: float | None, unavailable: bool) -> bool:
    """The fallback's condition, a tree lowered by the compiler: a number, `confidence`,
    `unavailable`, `["not", e]`, `["and"|"or", e, e...]` or `[OP, a, b]` with OP a comparison.
    A comparison with an unknown confidence (the model did not answer) is false."""
    value = _eval(expr, confidence, unavailable)
    return bool(value) if value is not None else False


_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


def _eval(expr: Any, confidence: float | None, unavailable: bool) -> Any:
    if expr == "confidence":
        return confidence
    if expr == "unavailable":
        return unavailable
    if not isinstance(expr, list):
        return expr
    op, args = expr[0], [_eval(a, confidence, unavailable) for a in expr[1:]]
    if op == "not":
        return not args[0] if args[0] is not None else None
    if op == "and":
        return all(bool(a) for a in args)
    if op == "or":
        return any(bool(a) for a in args)
    if args[0] is None or args[1] is None:
        return None
    return _COMPARE[op](args[0], args[1])


def load_estimator(stored: Any) -> Any:
    """The estimator of a model-store entry (a `bentoml` stored model)."""
    import pickle

    with open(stored.path_of(ARTEFACT), "rb") as f:
        return pickle.load(f)


# --------------------------------------------------------------------- service


class ModelService:
    """The body of a generated service class: the class gives `SPEC`, `HOME` (its folder) and
    the BentoML model references `model` and `fallback` (class attributes; an instance reads
    them as stored models)."""

    SPEC: dict = {}
    HOME: str = "."

    def __init__(self) -> None:
        # One row per request: an OpenMP pool per prediction (scikit-learn's gradient boosting)
        # costs more than it saves, and under load its threads wait for cores (one row, 2 busy
        # cores: p99 83 ms with the pool, 4.7 ms without). Set before the model's library loads.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        spec = self.SPEC
        self.spec = spec
        self.name = spec["model"]
        self.model_error: str | None = None
        try:
            self.estimator = load_estimator(self.model)
            self.version = str(self.model.tag)
        except Exception as exc:  # a broken artefact: every request goes to the fallback
            self.estimator, self.version = None, None
            self.model_error = f"could not load {spec['store_tag']}: {type(exc).__name__}: {exc}"
        fallback = spec["fallback"]
        self.fallback_estimator = load_estimator(self.fallback) if fallback else None
        self.store = feature_store(spec, self.HOME)
        self.services = {spec["feature_service"]: self.store.get_feature_service(spec["feature_service"])}
        if fallback and fallback["feature_service"] not in self.services:
            self.services[fallback["feature_service"]] = self.store.get_feature_service(fallback["feature_service"])
        self.pool = ThreadPoolExecutor(max_workers=PREDICT_THREADS, thread_name_prefix="mlc-predict")
        self.metrics = Metrics(spec)

    # one request ------------------------------------------------------------
    def answer(self, inputs: Any) -> dict:
        start = time.perf_counter()
        try:
            fields = check_input(self.spec, inputs)
        except InputError as exc:
            self.metrics.invalid()
            from bentoml.exceptions import InvalidArgument

            raise InvalidArgument(f"bad input for model `{self.name}`: {exc}") from None
        result = self._answer(fields)
        self.metrics.observe(result, time.perf_counter() - start)
        return result

    def _answer(self, fields: dict) -> dict:
        spec = self.spec
        online, failure = self._online(spec["feature_service"], fields)
        values, missing = feature_values(spec["features"], online)
        confidence = None
        if self.estimator is None:
            reason, detail = "model_error", self.model_error
        elif failure:
            reason, detail = "missing_features", failure
        elif missing:
            reason, detail = "missing_features", "no value for " + ", ".join(missing)
        else:
            timeout = spec["timeout_ms"] / 1000 if spec["timeout_ms"] else None
            try:
                score, confidence = self.pool.submit(prediction, self.estimator, values).result(timeout=timeout)
            except FutureTimeout:
                reason, detail = "timeout", f"no answer within {spec['timeout_ms']} ms"
            except Exception as exc:
                reason, detail = "model_error", f"{type(exc).__name__}: {exc}"
            else:
                if not (spec["fallback"] and holds(spec["fallback"]["when"], confidence, False)):
                    return self._response(score, confidence, "model", "ok", spec["model"], None, confidence)
                reason, detail = "low_confidence", f"the fallback's condition holds at confidence {confidence:.4f}"
        return self._fall_back(fields, online, reason, detail, confidence)

    def _fall_back(self, fields: dict, online: dict, reason: str, detail: str | None,
                   confidence: float | None) -> dict:
        fallback = self.spec["fallback"]
        unavailable = reason != "low_confidence"
        if fallback is None or not holds(fallback["when"], confidence, unavailable):
            from bentoml.exceptions import ServiceUnavailable

            raise ServiceUnavailable(f"model `{self.name}` could not answer ({reason}: {detail}) and its "
                                     "fallback's condition does not hold")
        if fallback["feature_service"] != self.spec["feature_service"]:
            online = self._online(fallback["feature_service"], fields)[0]
        # A deterministic rule always answers: a value the store lacks counts as 0.
        values = [0.0 if v is None else v for v in feature_values(fallback["features"], online)[0]]
        score, own = prediction(self.fallback_estimator, values)
        return self._response(score, own, "fallback", reason, fallback["model"], detail, confidence)

    def _online(self, service: str, fields: dict) -> tuple[dict, str | None]:
        """Feast's online values for the request through `service`, and why there are none when
        the lookup failed (an online store that is down is features missing, not an error)."""
        row = {n: fields[n] for n in self.spec["row"]}
        try:
            return self.store.get_online_features(features=self.services[service], entity_rows=[row],
                                                  full_feature_names=True).to_dict(), None
        except Exception as exc:
            return {}, f"the feature lookup failed: {type(exc).__name__}: {exc}"

    def _response(self, score: float, confidence: float | None, path: str, reason: str, by: str,
                  detail: str | None, model_confidence: float | None) -> dict:
        return {self.spec["output"]: score, "confidence": confidence, "path": path, "reason": reason,
                "answered_by": by, "detail": detail, "model_confidence": model_confidence,
                "model_version": self.version}


def feature_store(spec: dict, home: str) -> Any:
    """Feast's store for the model: the repository at $MLC_FEAST_REPO (a built Bento runs away
    from its bundle), else the bundle's (`spec["feast_repo"]`: path parts from `home`, the
    service's folder)."""
    from feast import FeatureStore

    repo = os.environ.get("MLC_FEAST_REPO") or os.path.join(home, *spec["feast_repo"])
    return FeatureStore(repo_path=repo)


class Metrics:
    """The series of `mlc.compiler.metrics`, with every label value the service can use
    registered at zero, so a rule or a panel finds each series before it first counts."""

    def __init__(self, spec: dict) -> None:
        from prometheus_client import Counter, Histogram

        m, model = spec["metrics"], spec["model"]
        self.model = model
        self.fallback = spec["fallback"]["model"] if spec["fallback"] else None
        self.predictions = Counter(m["predictions"]["name"], "Predictions answered, by path and reason",
                                   m["predictions"]["labels"])
        self.fallbacks = Counter(m["fallbacks"]["name"], "Predictions answered by the fallback, by reason",
                                 m["fallbacks"]["labels"])
        self.invalid_requests = Counter(m["invalid"]["name"], "Requests refused as bad input (HTTP 400)",
                                        m["invalid"]["labels"])
        self.confidence = Histogram(m["confidence"]["name"], "Confidence of the model's predictions",
                                    m["confidence"]["labels"], buckets=m["confidence"]["buckets"])
        self.latency = Histogram(m["latency"]["name"], "Seconds per prediction, features and fallback included",
                                 m["latency"]["labels"], buckets=m["latency"]["buckets"])
        self.predictions.labels(model, "model", "ok")
        for reason in spec["fallback_reasons"]:
            if self.fallback:
                self.predictions.labels(model, "fallback", reason)
                self.fallbacks.labels(model, self.fallback, reason)
        self.invalid_requests.labels(model)
        self.confidence.labels(model)
        self.latency.labels(model)

    def invalid(self) -> None:
        self.invalid_requests.labels(self.model).inc()

    def observe(self, result: dict, seconds: float) -> None:
        self.predictions.labels(self.model, result["path"], result["reason"]).inc()
        if result["path"] == "fallback":
            self.fallbacks.labels(self.model, result["answered_by"], result["reason"]).inc()
        if result["model_confidence"] is not None:
            self.confidence.labels(self.model).observe(result["model_confidence"])
        self.latency.labels(self.model).observe(seconds)
