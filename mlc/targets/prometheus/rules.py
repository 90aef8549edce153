"""Prometheus recording and alerting rules from the watch plan (`watch.py`).

Every series a rule reads is named in `mlc.compiler.metrics`; every value from the program enters
PromQL through `string` (a quoted PromQL string) and YAML through `yaml.safe_dump`, and annotation
text from the program is kept out of Prometheus's templating (`_text`). Rules are laid out in a
fixed order, so the same program gives byte-identical files.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from decimal import Decimal

import yaml

from mlc.compiler import metrics as M
from mlc.compiler.freshness import fmt_ms
from mlc.targets.prometheus.watch import (DAY_S, DRIFT_FOR_S, DRIFT_WINDOWS_S, FALLBACK_FOR_S, BurnRate, Completion,
                                          Freshness, Meta, ModelWatch, Plan, Window, duration)

ERROR_RATIO = "slo:mlc_error_ratio:rate"  # + window: an objective's share of bad requests
FALLBACK_RATIO = "model:mlc_model_fallbacks:ratio_rate"  # + window
CONFIDENCE_MEAN = "model:mlc_model_confidence:mean_rate"  # + window


def string(value: str) -> str:
    """A PromQL string literal (double-quoted, Go escapes: JSON's are a subset)."""
    return json.dumps(value)


def selector(metric: str, **labels: str) -> str:
    """`metric{a="x",b=~"y"}`: a label name ending in `__re` matches a regular expression."""
    parts = [f"{k.removesuffix('__re')}{'=~' if k.endswith('__re') else '='}{string(v)}" for k, v in labels.items()]
    return metric + ("{" + ",".join(parts) + "}" if parts else "")


def number(d: Decimal | float | int) -> str:
    """A number as PromQL takes it, exact for the Decimals of the plan (`0.001`, not `0.00099...`)."""
    text = format(Decimal(str(d)).normalize(), "f")
    return text


def _text(s: str) -> str:
    """Program text inside an annotation, which Prometheus expands as a Go template: `{{` would
    start an action, so it is written as the template's own string `{{"{{"}}`."""
    return s.replace("{{", '{{"{{"}}')


def _annotations(meta: Meta | None, summary: str, description: str, source: str = "") -> dict[str, str]:
    """`source`: where the alert comes from when no objective asked for it (a model's defaults)."""
    out = {"summary": summary, "description": description, "source": _text(meta.source if meta else source)}
    if meta is not None and meta.explain:
        out["explain"] = _text(meta.explain)
    return out


def _labels(meta: Meta | None, severity: str, owner: str | None, **identity: str) -> dict[str, str]:
    """The program's tags first (a `severity` tag overrides the default), then who owns it and what
    it is about, which no tag may override. Prometheus expands templates in alert labels too, so the
    program's text is kept out of them as out of annotations."""
    labels = {"severity": severity}
    if meta is not None:
        labels.update(meta.labels)
    if owner:
        labels["owner"] = owner
    labels.update(identity)
    return {k: _text(v) for k, v in sorted(labels.items())}


# ------------------------------------------------------------------ error budgets
def ratio_expr(b: BurnRate, window_s: int) -> str:
    """The objective's share of bad requests over a window."""
    w = duration(window_s)
    if b.kind == "availability":
        bad = selector(M.PREDICTIONS, model=b.model, path="fallback", reason__re="|".join(M.UNAVAILABLE_REASONS))
        return f"sum(rate({bad}[{w}])) / sum(rate({selector(M.PREDICTIONS, model=b.model)}[{w}]))"
    fast = selector(M.LATENCY + "_bucket", model=b.model, le=M.le(b.threshold_s))
    return (f"1 - sum(rate({fast}[{w}])) / sum(rate({selector(M.LATENCY + '_count', model=b.model)}[{w}]))")


def burn_windows(b: BurnRate) -> list[int]:
    """Every window a burn-rate objective's alerts read, in order."""
    return sorted({s for w in b.windows for s in (w.short_s, w.long_s)})


def burn_alert_expr(b: BurnRate, w: Window) -> str:
    over = f"{number(w.burn)} * {number(b.budget)}"
    sel = {"slo": b.meta.slo, "objective": b.kind}
    return (f"{selector(ERROR_RATIO + duration(w.long_s), **sel)} > ({over})\n"
            f"and\n{selector(ERROR_RATIO + duration(w.short_s), **sel)} > ({over})")


def _burn_group(b: BurnRate, owner: str | None) -> dict:
    rules: list[dict] = []
    for s in burn_windows(b):
        rules.append({"record": ERROR_RATIO + duration(s), "expr": ratio_expr(b, s),
                      "labels": {"model": b.model, "objective": b.kind, "slo": b.meta.slo}})
    what = "unavailable" if b.kind == "availability" else f"slower than {fmt_ms(round(b.threshold_s * 1000))}"
    for w in b.windows:
        spent = b.spent(w)
        rules.append({
            "alert": w.alert,
            "expr": burn_alert_expr(b, w),
            "labels": _labels(b.meta, w.severity, owner, model=b.model, slo=b.meta.slo, objective=b.kind,
                              long_window=duration(w.long_s),
                              short_window=duration(w.short_s)),
            "annotations": _annotations(
                b.meta,
                f"{b.meta.slo}: {b.model} burns its error budget at over {number(w.burn)}x",
                f"`{_text(b.meta.text)}`: over {number(w.burn)} x {number(b.budget)} of requests were {what} in "
                f"the last {duration(w.long_s)} and {duration(w.short_s)}; at this rate {number(round(spent, 1))}% of the "
                f"{duration(b.period_ms // 1000)} budget is spent in {duration(w.long_s)}."),
        })
    return {"name": f"mlc.slo.{b.meta.slo}", "rules": rules}


# ------------------------------------------------------------------ freshness and completion
def freshness_expr(f: Freshness) -> str:
    """The subject's staleness (seconds) now: the oldest of its groups' newest events, or the time
    since its flow last succeeded."""
    if f.step is not None:
        return f"time() - max({selector(M.STEP_LAST_SUCCESS, flow=f.flow, step=f.step)})"
    if f.flow is not None:
        return f"time() - max({selector(M.FLOW_LAST_SUCCESS, flow=f.flow)})"
    if len(f.groups) == 1:
        return f"time() - max({selector(M.FEATURE_NEWEST_EVENT, group=f.groups[0])})"
    # the newest event of each group, then the oldest of those: the stalest input sets the subject's
    newest = f"max by (group) ({selector(M.FEATURE_NEWEST_EVENT, group__re='|'.join(map(re.escape, f.groups)))})"
    return f"time() - min({newest})"


def _freshness_absent(f: Freshness) -> str:
    if f.step is not None:
        return f"absent({selector(M.STEP_LAST_SUCCESS, flow=f.flow, step=f.step)})"
    if f.flow is not None:
        return f"absent({selector(M.FLOW_LAST_SUCCESS, flow=f.flow)})"
    return " or ".join(f"absent({selector(M.FEATURE_NEWEST_EVENT, group=g)})" for g in f.groups)


def _freshness_rules(f: Freshness, owner: str | None) -> list[dict]:
    ident = ({"flow": f.flow, **({"step": f.step} if f.step else {})} if f.flow is not None
             else {"subject": f.subject})
    proven = f"at worst {fmt_ms(f.proven_s * 1000)} (proven at compile time)" if f.proven_s is not None \
        else "unknown at compile time"
    fed = (f"step {f.step} of flow {f.flow}: its last success" if f.step is not None else
           f"flow {f.flow}'s last success" if f.flow is not None else
           "the newest event written by " + ", ".join(f.groups))
    return [{
        "alert": "MlcStale",
        "expr": f"{freshness_expr(f)} > {f.bound_s}",
        "labels": _labels(f.meta, "page", owner, slo=f.meta.slo, **ident),
        "annotations": _annotations(
            f.meta, f"{f.meta.slo}: {_text(f.subject)} is staler than {fmt_ms(f.bound_s * 1000)}",
            f"`{_text(f.meta.text)}`: {_text(fed)} is older than {fmt_ms(f.bound_s * 1000)}; the bound is "
            f"{proven}."),
    }, {
        "alert": "MlcStaleUnreported",
        "expr": _freshness_absent(f),
        "for": duration(f.bound_s),
        "labels": _labels(f.meta, "ticket", owner, slo=f.meta.slo, **ident),
        "annotations": _annotations(
            f.meta, f"{f.meta.slo}: nothing reported the freshness of {_text(f.subject)}",
            f"`{_text(f.meta.text)}`: {_text(fed)} has not been pushed for {fmt_ms(f.bound_s * 1000)}: check "
            "that the jobs run and reach the Pushgateway ($MLC_PUSHGATEWAY)."),
    }]


def completion_expr(c: Completion) -> str:
    """True after the deadline of a day on which the flow has not succeeded since the run the
    deadline is about could start (the evening before, for a run that starts before midnight)."""
    success = selector(M.FLOW_LAST_SUCCESS, flow=c.flow)
    late = f"vector(time() % {DAY_S}) >= {c.deadline_s}"
    start = f"+ {c.start_s}" if c.start_s >= 0 else f"- {-c.start_s}"  # the evening before's run
    return (f"(max({success}) < time() - time() % {DAY_S} {start}\nor\nabsent({success}))\n"
            f"and on()\n{late}")


def _completion_rules(c: Completion, owner: str | None) -> list[dict]:
    proven = f"{_clock(c.proven_s)} at worst (proven at compile time)" if c.proven_s is not None \
        else "unknown at compile time"
    return [{
        "alert": "MlcFlowLate",
        "expr": completion_expr(c),
        "labels": _labels(c.meta, "page", owner, slo=c.meta.slo, flow=c.flow),
        "annotations": _annotations(
            c.meta, f"{c.meta.slo}: flow {c.flow} has not finished by {_clock(c.deadline_s)} UTC",
            f"`{_text(c.meta.text)}`: no successful run of {c.flow} since {_since(c.start_s)}; its "
            f"finish is {proven}."),
    }]


def _since(s: int) -> str:
    """The start of the run a deadline is about, from the deadline day's midnight."""
    return f"{_clock(s + DAY_S)} UTC yesterday" if s < 0 else f"{_clock(s)} UTC today"


def _clock(s: int) -> str:
    return f"{(s % DAY_S) // 3600:02d}:{(s % 3600) // 60:02d}" + (f" (+{s // DAY_S}d)" if s >= DAY_S else "")


# ------------------------------------------------------------------ served models
def model_rules(m: ModelWatch) -> list[dict]:
    rules: list[dict] = []
    w = duration(m.fallback_window_s)
    if m.fallback is not None:
        fallbacks = f"sum by (reason) (rate({selector(M.FALLBACKS, model=m.model)}[{w}]))"
        total = f"sum(rate({selector(M.PREDICTIONS, model=m.model)}[{w}]))"
        rules.append({"record": FALLBACK_RATIO + w, "expr": f"{fallbacks}\n/ on() group_left()\n{total}",
                      "labels": {"model": m.model}})
        limit = number(m.fallback_rate * 100)
        said = f"`{_text(m.fallback_meta.text)}`: over" if m.fallback_meta else "Over"
        rules.append({
            "alert": "MlcFallbackRate",
            "expr": f"{selector(FALLBACK_RATIO + w, model=m.model)} > {number(m.fallback_rate)}",
            "for": duration(FALLBACK_FOR_S),
            "labels": _labels(m.fallback_meta, "ticket", m.owner, model=m.model,
                              **({"slo": m.fallback_meta.slo} if m.fallback_meta else {})),
            "annotations": _annotations(
                m.fallback_meta,
                f"{m.model}: over {limit}% of predictions answered by {m.fallback} ({{{{ $labels.reason }}}})",
                f"{said} {limit}% of the predictions of {m.model} in the last {w} were answered by its "
                f"fallback {m.fallback} for reason {{{{ $labels.reason }}}} (for {duration(FALLBACK_FOR_S)}).",
                m.source)})
    if m.confident:
        for s in DRIFT_WINDOWS_S:
            d = duration(s)
            rules.append({"record": CONFIDENCE_MEAN + d, "labels": {"model": m.model}, "expr": (
                f"sum(rate({selector(M.CONFIDENCE + '_sum', model=m.model)}[{d}]))\n"
                f"/ sum(rate({selector(M.CONFIDENCE + '_count', model=m.model)}[{d}]))")})
        short, long = (duration(s) for s in DRIFT_WINDOWS_S)
        said = f"`{_text(m.drift_meta.text)}`: the" if m.drift_meta else "The"
        rules.append({
            "alert": "MlcConfidenceDrift",
            "expr": (f"abs({selector(CONFIDENCE_MEAN + short, model=m.model)}"
                     f" - {selector(CONFIDENCE_MEAN + long, model=m.model)}) > {number(m.drift)}"),
            "for": duration(DRIFT_FOR_S),
            "labels": _labels(m.drift_meta, "ticket", m.owner, model=m.model,
                              **({"slo": m.drift_meta.slo} if m.drift_meta else {})),
            "annotations": _annotations(
                m.drift_meta, f"{m.model}: its mean confidence has drifted from the last {long}'s",
                f"{said} mean confidence of {m.model} over the last {short} is more than {number(m.drift)} "
                f"away from its mean over the last {long}: its inputs or the traffic changed.", m.source)})
    return rules


# ------------------------------------------------------------------ files
def rule_files(plan: Plan, owners: dict[str, str | None]) -> dict[tuple[str, str], dict]:
    """(kind, key) -> the rule file's document, its groups in a fixed order. `owners` maps a
    subject's key to its declaration's owner (the SLO's own owner comes first)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for m in plan.models:
        rules = model_rules(m)
        if rules:
            groups[("models", m.model_key)].append({"name": f"mlc.model.{m.model}", "rules": rules})
    for b in plan.burns:
        groups[("models", b.model_key)].append(_burn_group(b, b.meta.owner or owners.get(b.model_key)))
    for f in plan.freshness:
        groups[(f.kind, f.key)].append({"name": f"mlc.slo.{f.meta.slo}",
                                        "rules": _freshness_rules(f, f.meta.owner or owners.get(f.key))})
    for c in plan.completions:
        groups[("flows", c.flow_key)].append({"name": f"mlc.slo.{c.meta.slo}",
                                              "rules": _completion_rules(c, c.meta.owner or owners.get(c.flow_key))})
    return {k: {"groups": _merged(v)} for k, v in sorted(groups.items())}


def _merged(groups: list[dict]) -> list[dict]:
    """Groups of one name (an SLO with two objectives about one subject) as one, names sorted."""
    out: dict[str, dict] = {}
    for g in groups:
        out.setdefault(g["name"], {"name": g["name"], "rules": []})["rules"].extend(g["rules"])
    return [out[n] for n in sorted(out)]


class _Dumper(yaml.SafeDumper):
    """The safe writer, with a multi-line expression as a literal block (`|`), as people write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def dump(document: dict) -> str:
    """YAML through the safe writer; keys in the order built (fixed), never sorted alphabetically
    (a rule reads `record`/`alert` first)."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=100)
