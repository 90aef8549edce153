"""Fixtures of `mlc run` / `mlc serve` / `mlc predict`: the README's main command
(`scripts/main.sh`) run once per session into a temporary build folder — it deploys the fraud
example locally, runs its feature pipeline and training flow (`mlc run`: one Airflow
dag.test), serves the scorer (`mlc serve`: one `bentoml serve`) and predicts twice. The tests
read its output and reuse its deploy folder. A missing engine fails, never skips."""

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
    build = tmp_path_factory.mktemp("main-build")
    started = time.perf_counter()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "main.sh")], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "MLC_MAIN_BUILD": str(build), "MLC_MAIN_EXAMPLES": "fraud"}, timeout=900)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"scripts/main.sh failed (exit {done.returncode}):\n{out[-6000:]}")
    return {"out": out, "stdout": done.stdout, "seconds": time.perf_counter() - started,
            "project": build / "main" / "fraud", "deploy": build / "main" / "deploy"}


def mlc(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*MLC, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
