"""Values that have a range: `serve { }`, a step's `resources { }`, `retries`, `retry_delay`
and `timeout`, a model's confidence range, interval schedules.

- E0308 a value of the wrong kind (`replicas "two"`) or out of its range (`replicas 0`,
  `gpu -1`, `every 0m`, `retries -1`, `timeout 99999d`, `confidence in 1.0..0.0`).

The ranges are checked here, on the IR, so that a .flow and a .flow.yaml program get the
same diagnostic (the .flow grammar has no negative numbers; YAML has).

Settings other than these are not checked here: their meaning belongs to the backend
that reads them.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.freshness import fmt_ms
from mlc.diagnostics import Span, error

DAY_MS = 86_400_000
MAX_DURATION_MS = 3650 * DAY_MS   # ten years: any timeout, delay or interval beyond is a typo
MAX_RETRIES = 100
# setting -> (literal kinds it takes, the smallest value, the largest, what it is), for serve and resources
_SETTINGS: dict[str, tuple[tuple[str, ...], float, float, str]] = {
    "replicas": (("int",), 1, 1000, "a whole number of replicas from 1 to 1000"),
    "timeout": (("duration",), 1, MAX_DURATION_MS, "a duration above zero and at most 3650d, like `40ms`"),
    "cpu": (("int", "float"), 0.001, 1024, "a number of CPUs above zero and at most 1024, like `2` or `0.5`"),
    "memory": (("size",), 1, 64 * 1024 ** 4, "a size above zero and at most 64Ti, like `4Gi`"),
    "gpu": (("int",), 0, 64, "a whole number of GPUs from 0 to 64"),
}


def _setting(ctx: Context, block: str, name: str, value: ir.Expr, at: Span | None) -> None:
    spec = _SETTINGS.get(name)
    if spec is None:
        return
    kinds, least, most, what = spec
    number = value.value if value.op == "lit" and value.kind in kinds else None
    if isinstance(number, (int, float)) and not isinstance(number, bool) and least <= number <= most:
        return
    shown = value.text if value.op == "lit" and value.text else "this value"
    ctx.report(error("E0308", f"`{name}` in `{block}` is {what}; `{shown}` is not", value.loc or at))


def _positive(ctx: Context, ms: int | None, what: str, at: Span | None) -> None:
    if ms is not None and ms <= 0:
        ctx.report(error("E0308", f"{what} must be above zero", at))
    elif ms is not None and ms > MAX_DURATION_MS:
        ctx.report(error("E0308", f"{what} is at most 3650d (ten years); `{fmt_ms(ms)}` is not", at))


def _step_numbers(ctx: Context, s: ir.Step | ir.StepDefaults, what: str, skip: tuple[str, ...] = ()) -> None:
    """`retries`, `retry_delay` and `timeout` of a step (or of a flow's `defaults`, `what`),
    pointing at the value as written; those in `skip` (inherited from the defaults, checked
    there once) are not."""
    at = s.setting_locs
    if s.retries is not None and "retries" not in skip and not (0 <= s.retries <= MAX_RETRIES):
        ctx.report(error("E0308", f"`retries` of {what} is a whole number from 0 to {MAX_RETRIES}; "
                                  f"`{s.retries}` is not", at.get("retries", s.loc),
                         help="retries count the attempts after the first one: `retries 3`"))
    delay = s.retry_delay_ms
    if delay is not None and "retry_delay" not in skip and not (0 <= delay <= MAX_DURATION_MS):
        ctx.report(error("E0308", f"`retry_delay` of {what} is a duration from 0s to 3650d; "
                                  f"`{fmt_ms(delay) if delay > 0 else delay}` is not",
                         at.get("retry_delay", s.loc)))
    if "timeout" not in skip:
        _positive(ctx, s.timeout_ms, f"the `timeout` of {what}", at.get("timeout", s.loc))


def check(ctx: Context) -> None:
    p = ctx.program
    for m in p.models.values():
        if m.serve is not None:
            if m.serve.replicas is not None and not 1 <= m.serve.replicas <= 1000:
                ctx.report(error("E0308", f"`replicas` in `serve` is {_SETTINGS['replicas'][3]}; "
                                          f"`{m.serve.replicas}` is not", m.serve.loc))
            _positive(ctx, m.serve.timeout_ms, "the serve `timeout`", m.serve.loc)
            for name, value in m.serve.settings.items():
                _setting(ctx, "serve", name, value, m.serve.loc)
        if m.confidence is not None and m.confidence[0] >= m.confidence[1]:
            low, high = m.confidence
            ctx.report(error("E0308", f"the confidence range of `{m.name}` is empty: {low:g}..{high:g}", m.loc,
                             help=f"write the low end first: `confidence in {high:g}..{low:g}`"
                             if low > high else "give the range two different ends"))
    for f in p.flows.values():
        for s in f.steps:
            for name, value in s.resources.items():
                _setting(ctx, "resources", name, value, s.loc)
            _step_numbers(ctx, s, f"step `{s.name}`", s.inherited)
        if f.defaults is not None:
            _step_numbers(ctx, f.defaults, f"the `defaults` of `{f.name}`")
        if f.schedule is not None and f.schedule.kind == "interval":
            _positive(ctx, f.schedule.every_ms, "an interval schedule", f.schedule.loc)
    for g in p.feature_groups.values():
        if g.schedule is not None and g.schedule.kind == "interval":
            _positive(ctx, g.schedule.every_ms, "an interval schedule", g.schedule.loc)
        _positive(ctx, g.timeout_ms, f"the `timeout` of `{g.name}`", g.loc)
        _positive(ctx, g.ttl_ms, f"the `ttl` of `{g.name}`", g.ttl_loc or g.loc)
    for src in p.sources.values():
        _positive(ctx, src.arrives_every_ms, f"the arrival period of `{src.name}`", src.loc)
