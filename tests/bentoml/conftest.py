"""Fixtures of the BentoML backend's tests: the fraud example compiled for Feast and BentoML,
the serving engine (`.engines/serving`) set up once by one worker process (the example's own
training step into a model store, the generated Feast repository applied and materialised),
and the generated `fraud_scorer` service served by real `bentoml serve` on 127.0.0.1 — one
server per model store: the trained scorer, a broken artefact, a slow artefact (the same
generated code; only what is stored differs). Servers are stopped at the end of the session.
A missing engine fails the tests, never skips them."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_support import PY, EngineError, compile_fraud, start, stop

SLOW_SECONDS = 0.3  # the slow artefact's delay: ten times the scorer's 25ms serve timeout


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    return compile_fraud(tmp_path_factory.mktemp("bundle") / "out")


@pytest.fixture(scope="session")
def serving(bundle, tmp_path_factory):
    """The worker set up, the three servers ready and warmed. Yields {"cards", "servers",
    "worker", "start_s"} and stops them all at the end of the session."""
    if not PY.exists():
        pytest.fail("the serving engine environment is missing: run `bash scripts/engines.sh serving`")
    try:
        setup, worker, servers = start(bundle, tmp_path_factory.mktemp("serving"), ("good", "broken", "slow"),
                                       SLOW_SECONDS)
    except EngineError as e:
        pytest.fail(str(e))
    try:
        # the first requests of a process import and warm what the next ones reuse
        for s in servers.values():
            for _ in range(5):
                s.predict(setup["cards"]["legit"]["request"])
        yield {"cards": setup["cards"], "servers": servers, "worker": worker, "env": setup["env"],
               "stores": setup["stores"],
               "start_s": {n: round(s.ready_after, 1) for n, s in servers.items()}}
    finally:
        stop(worker, servers)
