"""A flow's `start` and `end` dates.

- E0309 a `start` or `end` that is not a UTC date or time in ISO 8601 (`"2026-01-01"`,
  `"2026-12-31T00:00:00Z"`), or an `end` that is not after the `start`.
"""

from __future__ import annotations

from mlc.compiler.checks import Context
from mlc.compiler.dates import FORMS, parse_utc
from mlc.diagnostics import Label, error


def check(ctx: Context) -> None:
    for flow in ctx.program.flows.values():
        moments = {}
        for clause, text, at in (("start", flow.start, flow.start_loc), ("end", flow.end, flow.end_loc)):
            if text is None:
                continue
            value, why = parse_utc(text)
            if value is None:
                ctx.report(error("E0309", f"the `{clause}` of `{flow.name}` is not a date: {why}", at or flow.loc,
                                 notes=(f"a day ({FORMS.split(', ')[0]}, its midnight UTC) or a time of day in UTC "
                                        f"({FORMS.split(', ')[1]})",)))
            else:
                moments[clause] = value
        if len(moments) == 2 and moments["end"] <= moments["start"]:
            ctx.report(error("E0309", f"the `end` of `{flow.name}` is not after its `start`", flow.end_loc,
                             labels=(Label(flow.start_loc, "starts here"),) if flow.start_loc else (),
                             help="a flow runs from its start date until its end date: give a later end"))
