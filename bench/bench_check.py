"""Benchmark `mlc check` against a raw Lark parse of the same files.

    python bench/bench_check.py [--project DIR] [--runs 3] [--files 1000] [--seed 0] [--mlc CMD]

Figures (medians over --runs; every run is a fresh process):
  (a) raw Lark LALR parse of every file, summed (no file reading, no grammar
      build): the baseline;
  (b) `mlc check DIR --no-cache` wall time and peak RSS (target: <= 2x (a), <= 1 GiB);
  (c) `mlc check DIR` with a warm cache after editing one file (target: <= 3 s), three ways:
      a comment added (no declaration changes: the last findings are reused), a value
      changed (the program changes: every check runs), a declaration added (names change:
      each cached file's IR is kept only if its names still mean the same);
  (d) `mlc check examples/recommendations`, best of 5 (target: <= 0.8 s).
The figures go to stdout and to bench/results/check.json. Always exits 0: this
is a report, not a test; a failing `mlc` is shown and the other figures go on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GRAMMAR = ROOT / "mlc" / "dsl" / "flow.lark"
EXAMPLE = ROOT / "examples" / "recommendations"
RESULTS = BENCH / "results" / "check.json"
TIMEOUT_S = 900.0

sys.path.insert(0, str(BENCH))
import gen_project  # noqa: E402

# Runs in a fresh interpreter: build the parser, then time only `parse`.
RAW_LARK = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from lark import Lark
    grammar, root = Path(sys.argv[1]).read_text(), Path(sys.argv[2])
    texts = [p.read_text() for p in sorted(root.rglob("*.flow"))]
    t0 = time.perf_counter()
    parser = Lark(grammar, parser="lalr", lexer="contextual",
                  propagate_positions=True, maybe_placeholders=True)
    build = time.perf_counter() - t0
    total = 0.0
    for text in texts:
        t0 = time.perf_counter()
        parser.parse(text)
        total += time.perf_counter() - t0
    print(json.dumps({"parse_s": total, "build_s": build, "files": len(texts)}))
    """
)


@dataclass
class Run:
    """One finished subprocess."""

    cmd: list[str]
    wall_s: float
    maxrss_mib: float
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def report_failure(self, label: str) -> None:
        """Print the command's output tail, once per distinct failure."""
        seen = (self.rc, self.stdout, self.stderr)
        again = " (same output as above)" if seen in _REPORTED else ""
        say(f"  ! {label}: `{shlex.join(self.cmd)}` exited {self.rc}{again}")
        if again:
            return
        _REPORTED.add(seen)
        for name, text in (("stdout", self.stdout), ("stderr", self.stderr)):
            tail = text.strip().splitlines()[-15:]
            if tail:
                say(f"    {name} (last {len(tail)} lines):")
                say(textwrap.indent("\n".join(tail), "      "))


_REPORTED: set[tuple[int, str, str]] = set()


def say(text: str) -> None:
    print(text, flush=True)


def run(cmd: list[str], cwd: Path | None = None) -> Run:
    """Run `cmd`, measuring wall time and the peak RSS of that child alone
    (os.wait4 returns the child's own rusage; ru_maxrss is in KiB on Linux)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        except OSError as e:
            return Run(cmd, 0.0, 0.0, 127, "", f"cannot start: {e}")
        timer = threading.Timer(TIMEOUT_S, os.kill, (proc.pid, signal.SIGKILL))
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(cmd, wall, usage.ru_maxrss / 1024, proc.returncode,
                   out.read().decode(errors="replace"), err.read().decode(errors="replace"))


def mlc_command(override: str | None) -> list[str]:
    if override:
        return shlex.split(override)
    for exe in (Path(sys.executable).parent / "mlc", ROOT / ".venv" / "bin" / "mlc"):
        if exe.exists():
            return [str(exe)]
    return [sys.executable, "-m", "mlc"]


@dataclass
class Figure:
    key: str
    label: str
    unit: str
    values: list[float] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # exit codes of failed runs
    target: float | None = None
    best_of: bool = False  # report the minimum rather than the median

    @property
    def value(self) -> float | None:
        if not self.values:
            return None
        return min(self.values) if self.best_of else statistics.median(self.values)

    def add(self, r: Run, value: float, label: str) -> None:
        self.values.append(value)
        if not r.ok:
            self.failures.append(r.rc)
            r.report_failure(label)


def project_stats(root: Path) -> dict[str, int]:
    texts = [p.read_text() for p in sorted(root.rglob("*.flow"))]
    return {"files": len(texts), "lines": sum(t.count("\n") for t in texts),
            "bytes": sum(len(t.encode()) for t in texts)}


def changed_value(text: str, i: int) -> str:
    """The file with its first millisecond timeout changed: a declaration's value, and so its
    IR, differ; what the file declares does not."""
    match = re.search(r"timeout (\d+)ms", text)
    if match is None:
        raise SystemExit("bench: the edited file has no `timeout NNms` to change")
    return text[:match.start(1)] + str(int(match.group(1)) + 1 + i) + text[match.end(1):]


def measure(project: Path, runs: int, mlc: list[str]) -> dict[str, Figure]:
    figs = {
        "raw_lark": Figure("raw_lark", "(a) raw Lark parse, all files", "s"),
        "grammar_build": Figure("grammar_build", "    Lark grammar build (info)", "s"),
        "cold": Figure("cold", "(b) mlc check --no-cache", "s"),
        "cold_rss": Figure("cold_rss", "(b) peak RSS", "MiB", target=1024.0),
        "warm_edit": Figure("warm_edit", "(c) warm, one file edited: a comment", "s", target=3.0),
        "warm_change": Figure("warm_change", "(c) warm, one file edited: a value", "s", target=3.0),
        "warm_decl": Figure("warm_decl", "(c) warm, one file edited: a new decl", "s", target=3.0),
        "warm_noop": Figure("warm_noop", "    warm cache, nothing changed (info)", "s"),
        "example": Figure("example", "(d) check examples/recommendations", "s",
                          target=0.8, best_of=True),
        "example_nc": Figure("example_nc", "    same, --no-cache (info)", "s", best_of=True),
    }
    files = sorted(project.rglob("*.flow"))
    edited = files[len(files) // 2]
    original = edited.read_text()
    check = [*mlc, "check", str(project)]

    fill = run(check, cwd=project)  # fills the cache for (c)
    say(f"  cache fill (mlc check, cold): {fill.wall_s:.2f} s")
    if not fill.ok:
        fill.report_failure("cache fill")
    try:
        for i in range(runs):
            say(f"  run {i + 1}/{runs} ...")
            r = run([sys.executable, "-c", RAW_LARK, str(GRAMMAR), str(project)])
            if r.ok:
                data = json.loads(r.stdout)
                figs["raw_lark"].values.append(data["parse_s"])
                figs["grammar_build"].values.append(data["build_s"])
            else:
                r.report_failure("raw Lark")

            r = run([*check, "--no-cache"], cwd=project)
            figs["cold"].add(r, r.wall_s, "mlc check --no-cache")
            figs["cold_rss"].values.append(r.maxrss_mib)
            figs["cold_rss"].failures += [] if r.ok else [r.rc]

            # each edit is measured against a cache that has seen the file just before it
            edited.write_text(original)
            run(check, cwd=project)
            edited.write_text(original + f"# bench edit {i} at {time.time_ns()}\n")
            r = run(check, cwd=project)
            figs["warm_edit"].add(r, r.wall_s, "mlc check (a comment added)")
            r = run(check, cwd=project)
            figs["warm_noop"].add(r, r.wall_s, "mlc check (nothing changed)")
            changed = changed_value(original, i)
            edited.write_text(changed)
            r = run(check, cwd=project)
            figs["warm_change"].add(r, r.wall_s, "mlc check (a value changed)")
            edited.write_text(changed + f"\nentity bench_added_{i} {{ key id: string }}\n")
            r = run(check, cwd=project)
            figs["warm_decl"].add(r, r.wall_s, "mlc check (a declaration added)")
    finally:
        edited.write_text(original)

    if EXAMPLE.is_dir():
        with tempfile.TemporaryDirectory() as cwd:
            for _ in range(5):
                r = run([*mlc, "check", str(EXAMPLE)], cwd=Path(cwd))
                figs["example"].add(r, r.wall_s, "mlc check example")
                r = run([*mlc, "check", str(EXAMPLE), "--no-cache"], cwd=Path(cwd))
                figs["example_nc"].add(r, r.wall_s, "mlc check example --no-cache")
    else:
        say(f"  ! {EXAMPLE} does not exist: (d) skipped")
    return figs


def verdict(f: Figure, baseline: float | None) -> tuple[str, str, bool | None]:
    """(target text, ratio text, met?) for one figure; met is None without a target."""
    v = f.value
    if f.key == "raw_lark":
        return "baseline", "", None
    if f.key == "cold":
        target, limit = "<= 2x (a)", 2.0 * baseline if baseline else None
    elif f.target is not None:
        target, limit = f"<= {f.target:g} {f.unit}", f.target
    else:
        return "", "", None
    if f.failures:
        return target, "", False
    if v is None or limit is None:
        return target, "", None
    ratio = f"{v / baseline:.2f}x (a)" if f.key == "cold" and baseline else f"{v / limit:.2f} of target"
    return target, ratio, v <= limit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", type=Path, help="existing project (generated there if missing)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mlc", help="command that runs mlc (default: the venv's `mlc`)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="JSON results file")
    args = ap.parse_args(argv)
    mlc = mlc_command(args.mlc)

    with tempfile.TemporaryDirectory(prefix="mlc-bench-") as tmp:
        project = args.project or Path(tmp) / "project"
        if not project.exists():
            gen_project.generate(project, args.files, args.seed)
        stats = project_stats(project)
        say(f"project {project}: {stats['files']} files, {stats['lines']} lines, "
            f"{stats['bytes']} bytes; mlc = {shlex.join(mlc)}; runs = {args.runs}")
        figs = measure(project.resolve(), max(1, args.runs), mlc)

    baseline = figs["raw_lark"].value
    rows: list[dict[str, object]] = []
    print(f"\n{'figure':42} {'value':>12}  {'target':14} {'ratio':16} status")
    for f in figs.values():
        target, ratio, met = verdict(f, baseline)
        v = f.value
        shown = "n/a" if v is None else f"{v:.3f} {f.unit}" if f.unit == "s" else f"{v:.0f} {f.unit}"
        status = ("FAILED rc=" + ",".join(map(str, sorted(set(f.failures))))) if f.failures \
            else {True: "ok", False: "MISSED", None: ""}[met]
        print(f"{f.label:42} {shown:>12}  {target:14} {ratio:16} {status}")
        rows.append({"key": f.key, "label": f.label.strip(), "unit": f.unit, "value": v,
                     "runs": f.values, "aggregate": "min" if f.best_of else "median",
                     "target": target or None, "ratio": ratio or None, "met": met,
                     "failed_exit_codes": f.failures})

    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"python": platform.python_version(), "machine": platform.machine(),
                 "cpus": os.cpu_count()},
        "mlc": mlc, "runs": args.runs, "seed": args.seed, "project": stats,
        "figures": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
