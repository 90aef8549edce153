"""The compiler's own code: no undefined names, unused imports or syntax errors (pyflakes
rules through ruff), and no engine imported anywhere in mlc/ outside generated templates."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_pyflakes_rules_pass() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--no-cache", "mlc"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


RUNTIMES = ["mlc/targets/spark/templates/runtime", "mlc/targets/flink/templates/runtime",
            "mlc/targets/bentoml/templates/runtime"]


def test_the_runtimes_shipped_with_bundles_pass_a_stricter_lint() -> None:
    """The modules every generated Spark and Flink job imports (tests/test_runtimes.py tests
    them): pyflakes, pycodestyle, bugbear, comprehensions and simplifications."""
    modules = sorted(str(p.relative_to(ROOT)) for d in RUNTIMES for p in (ROOT / d).glob("*.py"))
    assert modules == ["mlc/targets/bentoml/templates/runtime/mlc_bento_runtime.py",
                       "mlc/targets/flink/templates/runtime/mlc_flink_runtime.py",
                       "mlc/targets/spark/templates/runtime/mlc_spark_runtime.py"]
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F,E,W,B,C4,SIM",
                           "--line-length", "120", *modules], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_engine_imports_in_the_compiler() -> None:
    engine = re.compile(r"^\s*(import|from)\s+(airflow|pyspark|pyflink|feast|bentoml)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "mlc").rglob("*.py")
                 if "templates" not in p.parts and engine.search(p.read_text())]
    assert offenders == []
