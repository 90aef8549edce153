"""The served models, as session fixtures any engine test may use (tests/conftest.py registers this
module in `pytest_plugins`, so tests/bentoml and tests/prometheus share one start-up): the fraud
example compiled for Feast and BentoML, the serving engine (`.engines/serving`) set up once by one
worker process (the example's own training step into a model store, the generated Feast
repository applied and materialised), and the generated `fraud_scorer` service served by real
`bentoml serve` on 127.0.0.1 — one server per model store: the trained scorer, a broken artefact,
a slow artefact (the same generated code; only what is stored differs). Servers are stopped at
the end of the session. A missing engine fails the tests, never skips them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.bentoml.serving_support import PY, RECOMMENDATIONS, EngineError, Server, compile_example, start, stop

SLOW_SECONDS = 0.3  # the slow artefact's delay: ten times the scorer's 25ms serve timeout


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> Path:
    return compile_example(tmp_path_factory.mktemp("bundle") / "out")


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
        yield {"cards": setup["cards"], "servers": servers, "worker": worker, "env": setup["env"], "setup": setup,
               "stores": setup["stores"],
               "start_s": {n: round(s.ready_after, 1) for n, s in servers.items()}}
    finally:
        stop(worker, servers)


@pytest.fixture(scope="session")
def ranker(serving, tmp_path_factory):
    """The recommendations example's ranker service, its Feast repo and models set up by the
    same worker, served once. Yields {"server", "worker", "rows", "requests", "training", "labels"}."""
    base = tmp_path_factory.mktemp("ranker")
    try:
        recs = compile_example(base / "out", RECOMMENDATIONS)
        project_root = serving["env"]["MLC_PROJECT_ROOT"]
        setup = serving["worker"]("setup_ranker", repo=str(recs / "feast"), project_root=project_root,
                                  example=str(RECOMMENDATIONS))
        # a store of its own: `bentoml serve` empties the Prometheus folder under BENTOML_HOME when it
        # starts, so two servers sharing a home would wipe each other's metrics
        store = base / "store-ranker"
        shutil.copytree(serving["stores"]["good"], store)
        server = Server("ranker", recs / "bentoml" / "ranker",
                        {**serving["env"], "MLC_FEAST_REPO": str(recs / "feast"), "BENTOML_HOME": str(store)},
                        base / "serve-ranker.log")
    except EngineError as e:
        pytest.fail(str(e))
    try:
        server.wait_ready()
    except EngineError as e:
        server.stop()
        pytest.fail(str(e))
    try:
        yield {"server": server, "worker": serving["worker"], **setup}
    finally:
        server.stop()
