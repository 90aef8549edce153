"""The dates a program writes (a flow's `start` and `end`): UTC instants as ISO 8601 text.

Accepted: a day, `"2026-01-01"` (its midnight, UTC), or a time of day on a day,
`"2026-01-01T06:00"` / `"2026-01-01T06:00:00"`, with no offset, `Z` or `+00:00`. Every
time is UTC: another offset is refused rather than converted, so that what is written is
what every backend uses.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

_FORM = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})?)?")
FORMS = '`"2026-01-01"`, `"2026-01-01T06:00:00Z"`'


def parse_utc(text: str) -> tuple[datetime | None, str | None]:
    """(the instant, None), or (None, why `text` is not one) — the why completes "... is not a date: "."""
    m = _FORM.fullmatch(text)
    if m is None:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ t]\d{2}:\d{2}.*", text):
            return None, "separate the day and the time with `T`"
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+.*", text):
            return None, "give whole seconds (no fraction)"
        return None, f"write a day or a time in ISO 8601, such as {FORMS}"
    year, month, day, hour, minute, second, offset = m.groups()
    if offset not in (None, "Z", "+00:00", "-00:00"):
        return None, f"times are UTC: write `Z` (or no offset), not `{offset}`"
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                         tzinfo=timezone.utc)
    except ValueError as e:   # month 13, February 30th, hour 24 ...
        return None, f"no such day or time ({e})"
    return value, None
