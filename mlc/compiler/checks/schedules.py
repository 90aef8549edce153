"""Schedules of flows and batch feature groups, read by `mlc.compiler.schedules` (croniter,
as Airflow reads them):

- E0413 an unknown preset (`schedule Daily`, `schedule None`), with a did-you-mean;
- E0414 a cron expression croniter rejects or that never fires, naming the field
  (`minute 61 is out of range 0-59`) and pointing at it.

An interval that is not above zero is E0308 (`settings`).
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.schedules import Problem, schedule_facts
from mlc.diagnostics import Span, error

_CRON_CALL = len('cron("")')


def _narrow(loc: Span | None, s: ir.Schedule, p: Problem) -> Span | None:
    """The characters at fault inside `cron("...")`, when the schedule is written on one line
    exactly as `cron("TEXT")` (no spaces or escapes to skew the columns); else the schedule."""
    if loc is None or p.start is None or loc.line != loc.end_line or loc.end_col - loc.col != len(s.value or "") + _CRON_CALL:
        return loc
    col = loc.col + len('cron("') + p.start
    return Span(loc.file, loc.line, col, loc.line, col + p.length)


def _check(ctx: Context, s: ir.Schedule | None) -> None:
    if s is None or s.kind == "interval":
        return
    p = schedule_facts(s).problem
    if p is None:
        return
    code = "E0413" if s.kind == "preset" else "E0414"
    ctx.report(error(code, p.message, _narrow(s.loc, s, p) if s.kind == "cron" else s.loc, help=p.help,
                     notes=p.notes))


def check(ctx: Context) -> None:
    for f in ctx.program.flows.values():
        _check(ctx, f.schedule)
    for g in ctx.program.feature_groups.values():
        _check(ctx, g.schedule)
