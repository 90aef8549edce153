"""Diagnostics latency of `mlc lsp` after a one-line edit: the language server's engine
(`mlc.lsp.engine.Workspace`: the text set, then the check that gives every file's diagnostics),
timed in process, p50/p95 over N edits, on three programs:

- `examples/recommendations` (7 files);
- one generated file of ~10,000 lines (the shards of `bench/gen_project.py` in one package);
- the 1,000-file project of `bench/gen_project.py` (`bench/bench_check.py`'s), with the server's
  peak memory.

    python bench/bench_lsp.py [--edits 100] [--seed 0] [--out bench/results/lsp.json]

An edit changes one duration on one line of a random declaration (`30s` -> `37s`: the line count
stays, as for a keystroke); a second series adds a line at a random place (every declaration below
it moves). Prints one table, and with --out writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_project import ENVS_FLOW, gen_file, generate

from mlc.lsp.engine import Workspace

_DURATION = re.compile(r"\b(\d+)(s|m|h|d)\b")


def _big_file(out: Path, shards: int) -> Path:
    out.mkdir(parents=True)
    bodies = [gen_file(i, 0).split("\n", 2)[2] for i in range(1, shards + 1)]  # less package, import
    (out / "envs.flow").write_text(ENVS_FLOW)
    (out / "big.flow").write_text("package bench\nimport std.connectors.{kafka, hive, s3}\n\n" + "\n".join(bodies))
    (out / "mlc.toml").write_text('[project]\nname = "big"\n')
    return out


def _edit_in_line(text: str, rng: random.Random) -> str:
    found = list(_DURATION.finditer(text))
    m = rng.choice(found)
    return text[: m.start()] + f"{int(m[1]) + rng.randint(1, 9)}{m[2]}" + text[m.end():]


def _edit_new_line(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    blanks = [i for i, line in enumerate(lines) if not line.strip()]
    lines.insert(rng.choice(blanks), "")
    return "\n".join(lines)


def _series(ws: Workspace, edit, edits: int, rng: random.Random) -> tuple[list[float], int]:
    files = sorted(p for p in ws.docs if not p.startswith("<") and _DURATION.search(ws.docs[p].text))
    times, scoped = [], 0
    for _ in range(edits):
        path = rng.choice(files)
        text = edit(ws.docs[path].text, rng)
        t = time.perf_counter()
        ws.set_text(path, text)
        ws.check()
        times.append((time.perf_counter() - t) * 1000)
        scoped += ws.stats["scoped"] > 0
    return times, scoped


def _row(name: str, what: str, times: list[float], scoped: int) -> dict:
    return {"program": name, "edit": what, "edits": len(times), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(statistics.quantiles(times, n=20)[18], 1), "max_ms": round(max(times), 1),
            "checked_in_part": scoped}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--files", type=int, default=1000, help="files of the generated project")
    ap.add_argument("--out", type=Path, help="also write the figures here, as JSON")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        programs = [("recommendations (7 files)", ROOT / "examples" / "recommendations"),
                    ("one file, ~10k lines", _big_file(Path(tmp) / "big", 100))]
        project = Path(tmp) / "project"
        generate(project, args.files, 0)
        programs.append((f"{args.files}-file project", project))
        for name, root in programs:
            ws = Workspace()
            t = time.perf_counter()
            ws.load_folder(root)
            ws.check()
            cold = (time.perf_counter() - t) * 1000
            lines = sum(d.text.count("\n") for p, d in ws.docs.items() if not p.startswith("<"))
            print(f"{name}: {lines} lines, first check {cold:.0f} ms", file=sys.stderr)
            rows.append(_row(name, "one line changed", *_series(ws, _edit_in_line, args.edits, rng)))
            rows.append(_row(name, "a line added", *_series(ws, _edit_new_line, max(args.edits // 5, 5), rng)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("| program | edit | edits | p50 ms | p95 ms | max ms | checked in part |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")
    print(f"\npeak memory of the process (the last program is the largest): {peak:.0f} MB")
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "peak_rss_mb": round(peak), "cpus": os.cpu_count(),
                                        "load_average": os.getloadavg()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
