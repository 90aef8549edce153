"""Fixtures of `mlc run` / `mlc serve` / `mlc predict`: the README's main command
(`bash scripts/main.sh`) run once per session on a clean checkout, as a new user would:
`git clone` of this repository (its committed files only) into a temporary folder, then the
command there, as written. It sets up the compiler (`scripts/setup.sh`: a new .venv, from
the uv cache), checks and compiles every example, then runs two platforms locally: the fraud
example (its feature pipeline, its training flow, the scorer served and asked twice) and the
recommendations example (three feature pipelines, the ranker's training flow, the ranker
served and asked twice). The tests read its output and reuse the fraud deploy folder.

The engines: the clone is pointed at this checkout's pinned engine environments through
`MLC_ENGINES`, which `mlc doctor` (run by main.sh) verifies against the pinned requirements
(each environment's `.requirements.sha256` stamp); building them again in every session
would cost minutes and ~2 GB. `MLC_MAIN_COLD=1` leaves MLC_ENGINES unset: main.sh then
builds them in the clone (`scripts/engines.sh airflow spark serving`), as on a new machine.
A missing engine fails, never skips."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
MLC = [str(ROOT / ".venv" / "bin" / "python"), "-m", "mlc"]


@pytest.fixture(scope="session")
def main_run(tmp_path_factory) -> dict:
    clone = tmp_path_factory.mktemp("clean-checkout") / "mlc"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=300)
    # a new user's environment: nothing of this session's settings of main.sh
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLC_", "VIRTUAL_ENV", "AIRFLOW", "BENTOML", "PYTHONPATH"))}
    if os.environ.get("MLC_MAIN_COLD") != "1":
        env["MLC_ENGINES"] = str(ROOT / ".engines")
    started = time.perf_counter()
    done = subprocess.run(["bash", "scripts/main.sh"], cwd=clone, capture_output=True, text=True, check=False,
                          env=env, timeout=2400)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"bash scripts/main.sh failed in a clean clone (exit {done.returncode}):\n{out[-6000:]}")
    seconds = time.perf_counter() - started
    print(f"\nthe main command on a clean checkout: {seconds:.0f}s")
    return {"out": out, "stdout": done.stdout, "seconds": seconds, "clone": clone,
            "project": clone / "build" / "main" / "fraud", "deploy": clone / "build" / "main" / "deploy"}


def mlc(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*MLC, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
