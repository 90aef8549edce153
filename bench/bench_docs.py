"""`mlc docs` on the synthetic benchmark project: build time, the site's size, and the map's
first render in headless Chromium (Debian's `chromium`, from file://).

    python bench/bench_docs.py [--files 1000] [--env local]

Generates the project with bench/gen_project.py in a temporary folder, runs `mlc docs` twice
(cold: --no-cache; warm) and `mlc compile` once for comparison, then opens the map and reads
what static/app.js records on <body>: data-render-ms (navigation to the first parts of the
map drawn) and data-laid-out-ms (to all of it laid out).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def _size(folder: Path) -> tuple[int, int]:
    files = [f for f in folder.rglob("*") if f.is_file()]
    return len(files), sum(f.stat().st_size for f in files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--env", default="local")
    args = ap.parse_args(argv)
    mlc = [sys.executable, "-m", "mlc"]
    with tempfile.TemporaryDirectory(prefix="bench-docs-") as tmp:
        work = Path(tmp)
        project = work / "project"
        subprocess.run([sys.executable, str(ROOT / "bench/gen_project.py"), str(project), "--files", str(args.files)],
                       check=True, capture_output=True)
        site = work / "site"
        cold = _timed([*mlc, "docs", "--env", args.env, "--out", str(site), "--no-cache"], project)
        warm = _timed([*mlc, "docs", "--env", args.env, "--out", str(site)], project)
        bundle = _timed([*mlc, "compile", "--env", args.env, "--out", str(work / "bundle")], project)
        count, size = _size(site)
        data = (site / "data.js").stat().st_size
        print(f"mlc docs, {args.files} files: cold {cold:.1f} s, warm {warm:.1f} s "
              f"(mlc compile, warm: {bundle:.1f} s)")
        print(f"site: {count} files, {size / 1e6:.1f} MB (site.json {(site / 'site.json').stat().st_size / 1e6:.1f} MB, "
              f"data.js {data / 1e6:.1f} MB)")
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            print("map: no chromium on PATH, not measured")
            return 0
        done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                               "--virtual-time-budget=600000", "--dump-dom", (site / "index.html").as_uri()],
                              capture_output=True, text=True, timeout=900)
        body = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', re.search(r"<body([^>]*)>", done.stdout).group(1)))
        print(f"map: {body.get('shown')} nodes; first parts drawn at {body.get('render-ms')} ms, "
              f"all laid out at {body.get('laid-out-ms')} ms (headless Chromium, from navigation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
