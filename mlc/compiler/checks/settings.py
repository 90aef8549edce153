"""Values that have a range: `serve { }`, a step's `resources { }`, a model's confidence
range, interval schedules and timeouts.

- E0308 a value of the wrong kind (`replicas "two"`) or out of its range (`replicas 0`,
  `gpu -1`, `every 0m`, `confidence in 1.0..0.0`).

Settings other than these are not checked here: their meaning belongs to the backend
that reads them.
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.diagnostics import Span, error

# setting -> (literal kinds it takes, the smallest value, what it is), for serve and resources
_SETTINGS: dict[str, tuple[tuple[str, ...], float, str]] = {
    "replicas": (("int",), 1, "a whole number of replicas, at least 1"),
    "timeout": (("duration",), 1, "a duration above zero, like `40ms`"),
    "cpu": (("int", "float"), 0.001, "a number of CPUs above zero, like `2` or `0.5`"),
    "memory": (("size",), 1, "a size above zero, like `4Gi`"),
    "gpu": (("int",), 0, "a whole number of GPUs, 0 or more"),
}


def _setting(ctx: Context, block: str, name: str, value: ir.Expr, at: Span | None) -> None:
    spec = _SETTINGS.get(name)
    if spec is None:
        return
    kinds, least, what = spec
    number = value.value if value.op == "lit" and value.kind in kinds else None
    if isinstance(number, (int, float)) and not isinstance(number, bool) and number >= least:
        return
    shown = value.text if value.op == "lit" and value.text else "this value"
    ctx.report(error("E0308", f"`{name}` in `{block}` is {what}; `{shown}` is not", value.loc or at))


def _positive(ctx: Context, ms: int | None, what: str, at: Span | None) -> None:
    if ms is not None and ms <= 0:
        ctx.report(error("E0308", f"{what} must be above zero", at))


def check(ctx: Context) -> None:
    p = ctx.program
    for m in p.models.values():
        if m.serve is not None:
            if m.serve.replicas is not None and m.serve.replicas < 1:
                ctx.report(error("E0308", f"`replicas` in `serve` is {_SETTINGS['replicas'][2]}; "
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
            _positive(ctx, s.timeout_ms, f"the `timeout` of step `{s.name}`", s.loc)
        if f.schedule is not None and f.schedule.kind == "interval":
            _positive(ctx, f.schedule.every_ms, "an interval schedule", f.schedule.loc)
    for g in p.feature_groups.values():
        if g.schedule is not None and g.schedule.kind == "interval":
            _positive(ctx, g.schedule.every_ms, "an interval schedule", g.schedule.loc)
        _positive(ctx, g.timeout_ms, f"the `timeout` of `{g.name}`", g.loc)
    for src in p.sources.values():
        _positive(ctx, src.arrives_every_ms, f"the arrival period of `{src.name}`", src.loc)
