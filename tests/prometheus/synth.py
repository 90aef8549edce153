"""Synthetic series for `promtool test rules`, made from the watch plan of a program (what each
objective promises), not from the generated rules: each case says which alerts must fire and which
must stay quiet, and at which ratio, age or time of day.

- an error budget (availability or latency) at r times its budget rate: an alert of burn rate B
  fires exactly when r > B, so at 1.1 B its alert fires, at 14.5x the fast burn (14.4) fires, at
  0.9 x 14.4 it stays quiet,
  at 1x both page alerts stay quiet, at 0.5x the ticket too;
- a freshness bound: the newest event a minute older than the bound fires, a minute younger not;
  never reported fires after the bound;
- a completion deadline: after it, no success since the start of the run it is about fires (the
  evening before's, for a run that starts before midnight); that run's success does not, and
  nothing fires before it;
- a fallback rate twice its limit (the model's `fallback_rate` objective's, else the default) fires
  (after its `for`), a fifth of it not;
- a mean confidence that rises by 1.5 times its drift limit (its `drift` objective's, else the
  default) fires, by half of it not.
"""

from __future__ import annotations

from decimal import Decimal

from mlc.compiler import metrics as M
from mlc.targets.prometheus import rules as R
from mlc.targets.prometheus.watch import (DAY_S, DRIFT_FOR_S, DRIFT_WINDOWS_S, FALLBACK_FOR_S, BurnRate, Completion,
                                          Freshness, ModelWatch, Plan, duration)

PER_MINUTE = 1000  # requests a minute in the synthetic traffic


def _series(metric: str, values: str, **labels: str) -> dict:
    return {"series": R.selector(metric, **labels), "values": values}


def _alerts(rule_doc: dict, name: str, **match: str) -> list[dict]:
    """The generated alerting rules named `name` whose labels hold `match` (their expected labels
    and annotations, as promtool renders a rule without `$value`)."""
    out = []
    for g in rule_doc["groups"]:
        for r in g["rules"]:
            if r.get("alert") == name and all(r["labels"].get(k) == v for k, v in match.items()):
                out.append(r)
    return out


def _expect(rule: dict, **extra: str) -> dict:
    notes = {k: v.replace("{{ $labels.reason }}", extra.get("reason", "")) for k, v in rule["annotations"].items()}
    return {"exp_labels": {**rule["labels"], **extra}, "exp_annotations": notes}


def _case(name: str, series: list[dict], at: str, checks: list[tuple[str, list[dict]]], interval: str = "1m") -> dict:
    return {"name": name, "interval": interval, "input_series": series,
            "alert_rule_test": [{"eval_time": at, "alertname": a, "exp_alerts": exp} for a, exp in checks]}


DAYS_STEP = 1800  # the series and evaluation interval of a case spanning days


def _spans_days(case: dict) -> bool:
    """A case over days of series: its file evaluates the rules every 30m, not every minute (a
    week of one-minute evaluations of 7d rates takes promtool half a minute)."""
    return case["interval"] == duration(DAYS_STEP)


# ------------------------------------------------------------------ error budgets
def burn_traffic(b: BurnRate, ratio: Decimal, steps: int) -> list[dict]:
    """PER_MINUTE requests a minute, `ratio` of them bad in the objective's sense."""
    bad = ratio * PER_MINUTE
    good = PER_MINUTE - bad
    if b.kind == "availability":
        return [_series(M.PREDICTIONS, f"0+{good}x{steps}", model=b.model, path="model", reason="ok"),
                _series(M.PREDICTIONS, f"0+{bad}x{steps}", model=b.model, path="fallback",
                        reason=M.UNAVAILABLE_REASONS[0])]
    return [_series(M.LATENCY + "_bucket", f"0+{good}x{steps}", model=b.model, le=M.le(b.threshold_s)),
            _series(M.LATENCY + "_count", f"0+{PER_MINUTE}x{steps}", model=b.model)]


def burn_cases(b: BurnRate, doc: dict) -> list[dict]:
    longest = max(w.long_s for w in b.windows)
    steps = min(longest // 60, 60) + 10  # the rates are steady from the start: any window reads the ratio
    at = duration(steps * 60)
    fast = max(b.windows, key=lambda w: w.burn)
    cases = []
    scenarios = [(w.burn * Decimal("1.1"), f"{b.meta.slo} at 1.1x the {w.alert} burn rate") for w in b.windows]
    scenarios += [(fast.burn + Decimal("0.1"), f"{b.meta.slo} just over the fast burn rate (14.5x at 14.4)"),
                  (fast.burn * Decimal("0.9"), f"{b.meta.slo} just under the fast burn rate"),
                  (Decimal(1), f"{b.meta.slo} at 1x its budget rate"),
                  (Decimal("0.5"), f"{b.meta.slo} at half its budget rate")]
    for times, name in scenarios:
        checks = []
        for w in b.windows:
            rule = _alerts(doc, w.alert, slo=b.meta.slo, objective=b.kind)
            assert len(rule) == 1, (w.alert, b.meta.slo)
            # the arithmetic the rules must encode: over B times the budget rate fires, at or under it not
            fires = times > w.burn
            if times == w.burn:  # exactly at a threshold is left to floating point: not asserted
                continue
            checks.append((w.alert, [_expect(rule[0])] if fires else []))
        cases.append(_case(name, burn_traffic(b, times * b.budget, steps), at, checks))
    return cases


# ------------------------------------------------------------------ freshness
def freshness_cases(f: Freshness, doc: dict) -> list[dict]:
    step = DAYS_STEP if f.bound_s >= 3 * DAYS_STEP else 60
    steps = f.bound_s // step + 3
    now = steps * step
    stale = _alerts(doc, "MlcStale", slo=f.meta.slo)[0]
    absent = _alerts(doc, "MlcStaleUnreported", slo=f.meta.slo)[0]

    def pushed(age: int) -> list[dict]:
        if f.step is not None:
            return [_series(M.STEP_LAST_SUCCESS, f"{now - age}x{steps}", flow=f.flow, step=f.step, job=M.PUSH_JOB)]
        if f.flow is not None:
            return [_series(M.FLOW_LAST_SUCCESS, f"{now - age}x{steps}", flow=f.flow, job=M.PUSH_JOB)]
        return [_series(M.FEATURE_NEWEST_EVENT, f"{now - age}x{steps}", group=g, job=M.PUSH_JOB) for g in f.groups]

    other = [_series("up", f"1x{steps}", job="unrelated")]
    unreported = [_expect(absent)] if f.flow is not None else [_expect(absent, group=g) for g in f.groups]
    at = duration(now)
    return [
        _case(f"{f.meta.slo}: a minute older than {duration(f.bound_s)}", pushed(f.bound_s + 60), at,
              [("MlcStale", [_expect(stale)]), ("MlcStaleUnreported", [])], duration(step)),
        _case(f"{f.meta.slo}: a minute younger than {duration(f.bound_s)}", pushed(f.bound_s - 60), at,
              [("MlcStale", []), ("MlcStaleUnreported", [])], duration(step)),
        # absent() keeps the equality matchers' labels: one alert per group (or the flow) never reported
        _case(f"{f.meta.slo}: never reported", other, at, [("MlcStaleUnreported", unreported)], duration(step)),
    ]


# ------------------------------------------------------------------ completion
def completion_cases(c: Completion, doc: dict) -> list[dict]:
    rule = _alerts(doc, "MlcFlowLate", slo=c.meta.slo)[0]
    step = 300
    after = DAY_S + c.deadline_s + 600  # day 2, ten minutes after the deadline
    before = DAY_S + c.deadline_s - 600
    steps = after // step + 1

    def success(at_s: int) -> list[dict]:
        return [_series(M.FLOW_LAST_SUCCESS, f"{at_s}x{steps}", flow=c.flow, job=M.PUSH_JOB)]

    # the run before the one the deadline is about, and that one, each done a minute after its start
    # (for a run that starts at 23:30 for a 06:00 deadline, day 2's run finishes on day 1, before midnight)
    yesterday = c.start_s + 60
    today = DAY_S + c.start_s + 60
    late = [_expect(rule)]
    return [
        _case(f"{c.meta.slo}: only yesterday's run, after the deadline", success(yesterday), duration(after),
              [("MlcFlowLate", late)], duration(step)),
        _case(f"{c.meta.slo}: the run the deadline is about done (at {R._clock(today % DAY_S)}), after the deadline", success(today), duration(after),
              [("MlcFlowLate", [])], duration(step)),
        _case(f"{c.meta.slo}: only yesterday's run, before the deadline", success(yesterday), duration(before),
              [("MlcFlowLate", [])], duration(step)),
        _case(f"{c.meta.slo}: never succeeded, after the deadline", [_series("up", f"1x{steps}", job="x")],
              duration(after), [("MlcFlowLate", [_expect(rule)])], duration(step)),
    ]


# ------------------------------------------------------------------ served models
def model_cases(m: ModelWatch, doc: dict) -> list[dict]:
    cases = []
    steps = (m.fallback_window_s + FALLBACK_FOR_S + 600) // 60
    at = duration(steps * 60)
    if m.fallback is not None:
        rule = _alerts(doc, "MlcFallbackRate", model=m.model)[0]
        for times, fires in ((2, True), (Decimal("0.2"), False)):
            share = m.fallback_rate * times
            fb = share * PER_MINUTE
            series = [_series(M.PREDICTIONS, f"0+{PER_MINUTE - fb}x{steps}", model=m.model, path="model",
                              reason="ok"),
                      _series(M.PREDICTIONS, f"0+{fb}x{steps}", model=m.model, path="fallback",
                              reason="low_confidence"),
                      _series(M.FALLBACKS, f"0+{fb}x{steps}", model=m.model, fallback=m.fallback,
                              reason="low_confidence")]
            exp = [_expect(rule, reason="low_confidence")] if fires else []
            cases.append(_case(f"{m.model}: fallbacks at {times}x the limit", series, at, [("MlcFallbackRate", exp)]))
    if m.confident:
        rule = _alerts(doc, "MlcConfidenceDrift", model=m.model)[0]
        step = DAYS_STEP
        long_steps = DRIFT_WINDOWS_S[1] // step
        recent = (DRIFT_WINDOWS_S[0] + DRIFT_FOR_S) // step + 3  # the short window all new, then its `for`
        per = 600
        for rise, fires in ((m.drift * Decimal("1.5"), True), (m.drift / 2, False)):
            mean, then = Decimal("0.1"), Decimal("0.1") + rise
            first_sum = mean * per * long_steps
            sums = f"0+{mean * per}x{long_steps} {first_sum + then * per}+{then * per}x{recent}"
            counts = f"0+{per}x{long_steps + recent + 1}"
            series = [_series(M.CONFIDENCE + "_sum", sums, model=m.model),
                      _series(M.CONFIDENCE + "_count", counts, model=m.model)]
            cases.append(_case(f"{m.model}: mean confidence rises by {rise}", series,
                               duration((long_steps + recent) * step), [("MlcConfidenceDrift",
                                                                        [_expect(rule)] if fires else [])],
                               duration(step)))
    return cases


def promtool_tests(plan: Plan, files: dict[tuple[str, str], tuple[str, dict]]) -> dict[str, dict]:
    """test file path (beside its rule file) -> a promtool test document. `files`: (kind, key) ->
    (the rule file's path, its rules)."""
    out: dict[str, list[dict]] = {}
    for (kind, key), (path, doc) in files.items():
        cases = []
        for m in plan.models:
            if (kind, key) == ("models", m.model_key):
                cases += model_cases(m, doc)
        for b in plan.burns:
            if (kind, key) == ("models", b.model_key):
                cases += burn_cases(b, doc)
        for f in plan.freshness:
            if (kind, key) == (f.kind, f.key):
                cases += freshness_cases(f, doc)
        for c in plan.completions:
            if (kind, key) == ("flows", c.flow_key):
                cases += completion_cases(c, doc)
        out[path] = cases
    docs = {}
    for path, cases in out.items():
        for suffix, every, picked in (("", "1m", [c for c in cases if not _spans_days(c)]),
                                      (".days", duration(DAYS_STEP), [c for c in cases if _spans_days(c)])):
            if picked:
                docs[path.removesuffix(".yml") + suffix + ".test.yml"] = {
                    "rule_files": [path.rsplit("/", 1)[-1]], "evaluation_interval": every, "tests": picked}
    return docs
