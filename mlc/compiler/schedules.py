"""What a schedule means, read once with croniter (what Airflow itself uses): the one place
that reads a cron string. The lowering stores what a schedule means in the IR
(`ir.Schedule.cron`, `.airflow`, `.longest_gap_ms`, ... from `timing`), which the freshness
calculus and every backend read; the checks ask `schedule_facts` why one cannot run.
Nothing parses a cron expression by hand.

    facts = schedule_facts(flow.schedule)
    facts.problem          # None, or why the schedule cannot run (the checks report it)
    facts.cron             # the five-field expression ("0 0 * * *" for `daily`), None for `every`
    facts.airflow          # what a DAG's `schedule=` takes: "@daily", the cron text; None for `every`
    facts.every_ms         # an interval's period
    facts.daily_start_ms   # the time of day (ms after midnight UTC) every run starts at, if fixed
    facts.first_run_ms     # the time of day of the first run on a day it runs (None for `every`)
    facts.longest_gap_ms   # the longest time between two runs (computed on first use)

Times are UTC, as the generated DAGs schedule them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from mlc.compiler import ir

# A preset -> the cron expression it stands for (Airflow's `cron_presets`).
PRESETS = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 0", "monthly": "0 0 1 * *",
           "yearly": "0 0 1 1 *", "annually": "0 0 1 1 *"}
# A preset -> what Airflow's `schedule=` takes for it.
AIRFLOW_PRESETS = {"hourly": "@hourly", "daily": "@daily", "weekly": "@weekly", "monthly": "@monthly",
                   "yearly": "@yearly", "annually": "@yearly"}
# The five fields of a cron expression: (name, smallest, largest value).
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
               ("day of week", 0, 7))
CRON_EXAMPLE = 'cron("30 2 * * *")'
DAY_MS = 86_400_000


@dataclass(frozen=True)
class Problem:
    """Why a schedule cannot run. `start`/`length`: the characters of the cron text at fault
    (None: the whole schedule)."""

    message: str
    help: str | None = None
    start: int | None = None
    length: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScheduleFacts:
    kind: str
    cron: str | None = None
    airflow: str | None = None
    every_ms: int | None = None
    daily_start_ms: int | None = None
    problem: Problem | None = None

    @property
    def first_run_ms(self) -> int | None:
        """The time of day (ms after midnight UTC) of the first run on a day the schedule runs
        (`hourly`: 00:00); None for an interval or a schedule that cannot run."""
        if self.problem is not None or self.cron is None:
            return None
        minute, hour = _expanded(self.cron)[:2]
        return (min(_numbers(hour, 0)) * 60 + min(_numbers(minute, 0))) * 60_000

    @property
    def longest_gap_ms(self) -> int | None:
        """The longest time between two runs; None when the schedule cannot run."""
        if self.problem is not None:
            return None
        if self.kind == "interval":
            return self.every_ms
        return cron_longest_gap_ms(self.cron or "")


def schedule_facts(s: ir.Schedule) -> ScheduleFacts:
    return _facts(s.kind, s.value, s.every_ms)


@lru_cache(maxsize=1024)
def _timing(kind: str, value: str | None, every_ms: int | None) -> tuple[tuple[str, int | str | None], ...]:
    f = _facts(kind, value, every_ms)
    ok = f.problem is None
    return (("cron", f.cron if ok else None), ("airflow", f.airflow if ok else None),
            ("daily_start_ms", f.daily_start_ms if ok else None), ("first_run_ms", f.first_run_ms),
            ("longest_gap_ms", f.longest_gap_ms))


def timing(kind: str, value: str | None, every_ms: int | None) -> dict[str, int | str | None]:
    """The fields of `ir.Schedule` that say what a schedule means (the lowering fills them
    once; checks, proofs and backends read them from the IR)."""
    return dict(_timing(kind, value, every_ms))


@lru_cache(maxsize=1024)
def _facts(kind: str, value: str | None, every_ms: int | None) -> ScheduleFacts:
    if kind == "interval":
        if not isinstance(every_ms, int) or every_ms <= 0:
            return ScheduleFacts(kind, every_ms=every_ms, problem=Problem("an interval schedule must be above zero",
                                                                          help="for example `every 6h`"))
        return ScheduleFacts(kind, every_ms=every_ms)
    if kind == "preset":
        name = value or ""
        if name not in PRESETS:
            return ScheduleFacts(kind, problem=_unknown_preset(name))
        cron = PRESETS[name]
        return ScheduleFacts(kind, cron=cron, airflow=AIRFLOW_PRESETS[name], daily_start_ms=_daily_start(cron))
    text = value or ""
    problem = cron_problem(text)
    if problem is not None:
        return ScheduleFacts(kind, problem=problem)
    return ScheduleFacts(kind, cron=text, airflow=text, daily_start_ms=_daily_start(text))


def _unknown_preset(name: str) -> Problem:
    from mlc.diagnostics import did_you_mean

    names = ", ".join(f"`{p}`" for p in PRESETS)
    hint = (f"did you mean `{name.lower()}`?" if name.lower() in PRESETS
            else did_you_mean(name, PRESETS))
    if hint is None and name.lower() in ("none", "null", "never", "manual", "off"):
        hint = "a flow without a schedule starts only by hand or by its `trigger`: remove the `schedule` line"
    if hint is None and name.startswith("@") and name[1:] in PRESETS:
        hint = f"did you mean `{name[1:]}`?"
    return Problem(f"unknown schedule `{name}`", help=hint or f"write a preset, `every 6h` or `{CRON_EXAMPLE}`",
                   notes=(f"the presets are {names}",))


def cron_problem(text: str) -> Problem | None:
    """None when `text` is a five-field cron expression that croniter accepts and that fires;
    else what is wrong, naming the field (`minute 61 is out of range 0-59`)."""
    fields = text.split()
    if len(fields) != 5:
        if text.strip().startswith("@"):
            name = text.strip()[1:]
            hint = f"write `schedule {name}`" if name in PRESETS else f"write a five-field cron, like `{CRON_EXAMPLE}`"
            return Problem(f"`{text.strip()}` is not a cron expression", help=hint,
                           notes=("presets are written without `cron` and `@`: `schedule daily`",))
        return Problem(f"a cron expression has five fields (minute hour day-of-month month day-of-week); "
                       f"`{text}` has {len(fields)}", help=f"for example `{CRON_EXAMPLE}`: at 02:30 every day")
    reason = _croniter_error(text)
    if reason is None:
        return None
    if reason == "never":
        return Problem(f"the cron expression `{text}` never fires: no date has that day of the month in that month",
                       help="check the day of the month against the month (February has at most 29 days)")
    starts = [m.start() for m in re.finditer(r"\S+", text)]
    for i, (name, low, high) in enumerate(CRON_FIELDS):
        probe = ["*"] * 5
        probe[i] = fields[i]
        why = _croniter_error(" ".join(probe))
        if why is None or why == "never":
            continue
        for m in re.finditer(r"[^,]+", fields[i]):
            base, _, step = m.group().partition("/")
            base, nth, occurrence = base.partition("#")
            if nth and not (occurrence.isdigit() and 1 <= int(occurrence) <= 5):
                at = starts[i] + m.start() + len(base) + (1 if occurrence else 0)
                return Problem(f"`{m.group()}`: the occurrence after `#` must be 1 to 5"
                               + (f", not `{occurrence}`" if occurrence else ""),
                               start=at, length=len(occurrence) or 1, help="for example `FRI#3`: the third Friday")
            for n in re.finditer(r"\d+", base):
                if not low <= int(n.group()) <= high:
                    at = starts[i] + m.start() + n.start()
                    return Problem(f"{name} {n.group()} is out of range {low}-{high}", start=at, length=len(n.group()),
                                   help=f"the {name} field takes {low} to {high}")
            if step and (not step.isdigit() or int(step) == 0):
                at = starts[i] + m.start() + len(base) + 1
                return Problem(f"{name} step `{step}` must be a whole number above zero", start=at,
                               length=len(step), help=f"for example `*/5` in the {name} field")
        return Problem(f"the {name} field `{fields[i]}` of `{text}` is not valid", start=starts[i],
                       length=len(fields[i]), help=_field_help(name), notes=(f"croniter says: {why}",))
    return Problem(f"`{text}` is not a valid cron expression", help=f"for example `{CRON_EXAMPLE}`",
                   notes=(f"croniter says: {reason}",))


def _field_help(name: str) -> str:
    low, high = next((lo, hi) for n, lo, hi in CRON_FIELDS if n == name)
    extra = {"month": " or JAN-DEC", "day of week": " or SUN-SAT"}.get(name, "")
    return f"the {name} field takes `*`, numbers {low}-{high}{extra}, ranges `a-b`, lists `a,b` and steps `*/n`"


@lru_cache(maxsize=4096)
def _croniter_error(text: str) -> str | None:
    """None when croniter accepts `text` and finds a next firing; "never" when it accepts it
    but no date matches; else croniter's message."""
    from croniter import CroniterBadDateError, CroniterError, croniter

    try:
        it = croniter(text, datetime(2025, 1, 1))
    except (CroniterError, ValueError, KeyError, TypeError, IndexError) as e:
        return str(e) or type(e).__name__
    try:
        it.get_next(datetime)
    except CroniterBadDateError:
        return "never"
    except (CroniterError, ValueError, KeyError, TypeError, IndexError) as e:  # pragma: no cover - defensive
        return str(e) or type(e).__name__
    return None


def _expanded(text: str) -> list[list]:
    from croniter import croniter

    return croniter(text).expanded


def _numbers(field: list, low: int) -> list[int]:
    """The values of an expanded croniter field (`*` is every value, so its smallest is `low`)."""
    return [low if v == "*" else int(v) for v in field]


def _daily_start(cron: str) -> int | None:
    """The time of day of every run when the minute and hour are each one number; else None."""
    minute, hour = _expanded(cron)[:2]
    if len(minute) != 1 or len(hour) != 1 or minute[0] == "*" or hour[0] == "*":
        return None
    return (int(hour[0]) * 60 + int(minute[0])) * 60_000


@lru_cache(maxsize=512)
def cron_longest_gap_ms(cron: str) -> int:
    """The longest time between two firings of a valid cron expression: over two days for one
    that repeats daily, else over two years and a month that hold a 29th of February."""
    from croniter import croniter

    daily = all(f == ["*"] for f in _expanded(cron)[2:5])
    start = datetime(2025, 1, 1) if daily else datetime(2027, 1, 1)
    horizon = start + (timedelta(days=2) if daily else timedelta(days=2 * 366 + 31))
    it = croniter(cron, start - timedelta(seconds=1))
    prev = it.get_next(datetime)
    gap = timedelta(0)
    for _ in range(20_000):
        nxt = it.get_next(datetime)
        gap = max(gap, nxt - prev)
        prev = nxt
        if prev > horizon:
            break
    return int(gap.total_seconds() * 1000)
