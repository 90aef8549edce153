"""What `mlc run` prints: one line per task as it starts and ends (task, state, duration),
a summary table at the end, and for a failed task its name and the tail of its log."""

from __future__ import annotations

from collections.abc import Callable

from mlc.run.flow import Outcome, Step

MARK = {"success": "ok", "failed": "!!", "upstream_failed": "!!", "skipped": "--", "running": ".."}


def _duration(step: Step) -> str:
    return "" if step.seconds is None else f"{step.seconds:.1f}s"


def progress(echo: Callable[..., None], live: bool = False) -> Callable[[str, Step], None]:
    """Prints each task's start and end; `live` (a terminal): the start line is replaced by
    the end line, one line per task."""
    def show(event: str, step: Step) -> None:
        if event == "start":
            echo(f"  .. {step.task:<28} running", nl=not live)
        else:
            end = f"  {MARK.get(step.state, '??')} {step.task:<28} {step.state:<16} {_duration(step)}"
            echo(("\r\033[K" if live else "") + end)
    return show


def summary(outcome: Outcome) -> str:
    width = max([len(s.task) for s in outcome.steps] + [4])
    lines = [f"\n{'task':<{width}}  {'state':<16} duration"]
    lines += [f"{s.task:<{width}}  {s.state:<16} {_duration(s)}" for s in outcome.steps]
    verdict = "succeeded" if outcome.ok else "FAILED"
    lines.append(f"\nrun of {outcome.dag_id} {verdict} in {outcome.seconds:.1f}s (log: {outcome.log})")
    for step in outcome.failed():
        tail = outcome.tail(step)
        if tail:
            lines.append(f"\nstep `{step.task}` {step.state}; the end of its log:\n" +
                         "\n".join("  | " + line for line in tail.splitlines()))
        else:
            lines.append(f"\nstep `{step.task}` {step.state}")
    if outcome.error:
        lines.append("\nerror: " + outcome.error)
    return "\n".join(lines)
