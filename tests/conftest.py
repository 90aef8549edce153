"""Shared fixtures. Under CI=true a skipped test fails the run: an engine test that did not
run is not a pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the served models (`bundle`, `serving`, `ranker`): one start-up for tests/bentoml and tests/prometheus
pytest_plugins = ["tests.bentoml.serving_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# a deploy's warm Feast worker outlives it (mlc/deploy/feast_worker.py): no test may leave one
# running, so deploys of tests (and the `mlc` they run) use the one-shot worker;
# tests/deploy/test_feast_worker.py switches it on and stops it
os.environ["MLC_FEAST_WORKER"] = "off"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; under CI a skipped test is a failure",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


# ---------------------------------------------------------------- golden files
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the expected output of golden tests (tests/fixtures/**) "
                          "from what the code prints now; review the diff before committing")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True under `--update-golden` or MLC_UPDATE_GOLDEN=1."""
    return bool(request.config.getoption("--update-golden")) or \
        os.environ.get("MLC_UPDATE_GOLDEN", "") in ("1", "true", "yes")
