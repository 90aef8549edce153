"""The Feast applier's incremental load and its warm worker (mlc/deploy/feast_worker.py,
mlc/deploy/templates/feast_apply.py), with real Feast in the serving engine.

One warm worker serves the whole module (it is started by the first request and stopped,
by its pid, at the end; no worker process may be left). Each step deploys a repository
incrementally from the previous release and also applies the same files from nothing into
a fresh registry; one Feast process at the end lists every registry, and each incremental
registry must hold exactly what the fresh one holds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlc.cli import main
from mlc.deploy import feast_worker
from mlc.deploy.apply import Release
from mlc.deploy.apply.feast import APPLIER
from mlc.deploy.config import DeployConfig
from mlc.deploy.plan import CHANGE, Change
from tests.deploy.conftest import ROOT

ENGINES = ROOT / ".engines"
PYTHON = ENGINES / "serving" / "bin" / "python"
DRIVER = ROOT / "tests" / "golden" / "feast" / "driver" / "local" / "feast"
BASE = (DRIVER / "definitions.py").read_text()
YAML = (DRIVER / "feature_store.yaml").read_text()
DAILY = '''

# feature group driver_daily_stats (a step of the test)
daily_source = FileSource(name="daily_source", path=_path("data/daily.parquet"), timestamp_field="event_timestamp")


view_daily = FeatureView(
    name="driver_daily_stats",
    entities=[entity_driver],
    ttl=timedelta(days=2),
    schema=[Field(name="trips", dtype=Int64)],
    online=True,
    source=daily_source,
)
'''
V3 = '''# feature service driver_activity_v3 (driver.flow:85)
service_driver_activity_v3 = FeatureService(name="driver_activity_v3", features=[view_driver_hourly_stats_fresh, transformed_conv_rate_fresh])
'''
EXTRA = '''from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64


rider = Entity(name="rider", join_keys=["rider_id"], value_type=ValueType.INT64)


rider_source = FileSource(name="rider_source", path="/tmp/mlc-test-rider.parquet", timestamp_field="event_timestamp")


view_rider = FeatureView(name="rider_stats", entities=[rider], ttl=timedelta(days=1),
                         schema=[Field(name="rating", dtype=Float64)], source=rider_source)
'''
# the one-day ttl of driver_hourly_stats, changed by a step
TTL, TTL2 = "    name=\"driver_hourly_stats\",\n    entities=[entity_driver],\n    ttl=timedelta(seconds=86400),", \
    "    name=\"driver_hourly_stats\",\n    entities=[entity_driver],\n    ttl=timedelta(seconds=172800),"
assert TTL in BASE and V3 in BASE

LIST = '''
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
import feast_apply as fa
out = {}
for repo in json.load(sys.stdin):
    store = fa._store(fa.Path(repo))
    objects = [*store.list_entities(), *store.list_data_sources(), *store.list_feature_views(),
               *store.list_on_demand_feature_views(), *store.list_feature_services()]
    out[repo] = {f"{type(o).__name__} {o.name}": hashlib.sha256(fa._spec(o)).hexdigest() for o in objects}
print(json.dumps(out))
'''


def _workers(folder: Path) -> list[int]:
    """The processes serving `folder` (scanned in /proc: none may be left)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--serve" in args and str(folder).encode() in args:
            found.append(int(proc.name))
    return found


class Chain:
    """Releases of one Feast repository in a deploy root, each applied by the real applier."""

    def __init__(self, root: Path, project: Path) -> None:
        self.root, self.last = root, None
        self.config = DeployConfig(env="local", kind="local", project_root=project, root=root, engines=ENGINES)
        self.fresh: dict[str, Path] = {}  # release -> the same files applied from nothing

    def deploy(self, name: str, files: dict[str, str], full: bool = False, fresh: bool = True) -> dict:
        kept = self._apply(name, files, self.last, full)
        if fresh:
            self._apply(f"{name}-fresh", files, None, False)
            self.fresh[name] = self.root / f"{name}-fresh" / "feast"
        self.last = self.root / name
        return kept

    def _apply(self, name: str, files: dict[str, str], previous: Path | None, full: bool) -> dict:
        folder = self.root / name
        texts = {f"feast/{k}": v for k, v in {"feature_store.yaml": YAML, **files}.items()}
        changes = [Change(CHANGE, p, "feast-definitions", "feast") for p in texts if p.endswith(".py")]
        if full:
            changes.append(Change(CHANGE, "feast/feature_store.yaml", "feast-store", "feast"))
        for path, text in texts.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text)
        return APPLIER.apply(changes, Release(name, folder, previous, self.config, texts))


def _registries(repos: list[Path]) -> dict[str, dict[str, str]]:
    done = subprocess.run([str(PYTHON), "-P", "-c", LIST, str(feast_worker.SCRIPT.parent)], input=json.dumps([str(r) for r in repos]),
                          capture_output=True, text=True, env={**os.environ, "FEAST_USAGE": "False"}, check=True)
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """Every step deployed (warm worker, then the one-shot chain), then one listing of every
    registry; the worker stopped at the end and no process left."""
    base = tmp_path_factory.mktemp("feast_worker")
    project = base / "project"
    project.mkdir()
    saved = os.environ.get("MLC_FEAST_WORKER")
    os.environ["MLC_FEAST_WORKER"] = "on"
    warm = Chain(base / "warm", project)
    out: dict = {"chain": warm}
    try:
        daily = BASE + DAILY
        out["first"] = warm.deploy("r1", {"definitions.py": BASE})
        out["pid"] = feast_worker.running(warm.root)["pid"]
        out["ttl"] = warm.deploy("r2", {"definitions.py": BASE.replace(TTL, TTL2)})
        out["add"] = warm.deploy("r3", {"definitions.py": daily.replace(TTL, TTL2)})
        out["remove"] = warm.deploy("r4", {"definitions.py": daily.replace(TTL, TTL2).replace(V3, "")})
        defs = daily.replace(TTL, TTL2).replace(V3, "")
        out["file"] = warm.deploy("r5", {"definitions.py": defs, "extra.py": EXTRA})
        out["rename"] = warm.deploy("r6", {"definitions.py": defs, "more.py": EXTRA})
        out["drop_file"] = warm.deploy("r7", {"definitions.py": defs})
        out["yaml"] = warm.deploy("r8", {"definitions.py": defs}, full=True)
        # a module the definitions import from the repository changes, they do not: the worker
        # must import the new release's module, not reuse the one an older request loaded
        mod = Chain(warm.root, project)  # the same root: the same worker
        uses = BASE.replace('tags={"team": "driver_performance"},\n)\n\n\n# push',
                            'tags={"team": "driver_performance"},\n    description=helper.DESCRIPTION,\n)\n\n\n# push')
        uses = uses.replace("import os\n", "import os\n\nimport helper\n")
        out["module1"] = mod.deploy("m1", {"definitions.py": uses, "helper.py": 'DESCRIPTION = "one"\n'}, fresh=False)
        out["module2"] = mod.deploy("m2", {"definitions.py": uses, "helper.py": 'DESCRIPTION = "two"\n'})
        out["same_pid"] = feast_worker.running(warm.root)
        # the same releases by the one-shot script
        os.environ["MLC_FEAST_WORKER"] = "off"
        cold = Chain(base / "cold", project)
        out["cold_first"] = cold.deploy("r1", {"definitions.py": BASE}, fresh=False)
        out["cold_ttl"] = cold.deploy("r2", {"definitions.py": BASE.replace(TTL, TTL2)}, fresh=False)
        # stopped from the command line; the next request starts another worker
        shutil.copytree(ROOT / "examples" / "recommendations", project / "example",
                        ignore=shutil.ignore_patterns(".mlc", ".mlc_cache", "build"))
        out["cli"] = CliRunner().invoke(main, ["deploy", str(project / "example"), "--env", "local", "--to",
                                               str(warm.root), "--stop-worker"]).output
        out["after_cli"] = _workers(warm.root / feast_worker.FOLDER)
        # started ahead (as `mlc deploy` does before compiling) and then used, not started again
        os.environ["MLC_FEAST_WORKER"] = "on"
        feast_worker.prestart(warm.root, PYTHON)
        out["prestarted"] = _workers(warm.root / feast_worker.FOLDER)
        out["after_prestart"] = warm.deploy("r9", {"definitions.py": defs.replace(TTL2, TTL)}, fresh=False)
        out["served_by"] = feast_worker.running(warm.root)["pid"]
        # a worker that dies mid-request: the deploy goes on in the one-shot script
        dies = BASE.replace("import os\n", "import os\nimport sys\n") + \
            '\n\n_die = "--serve" in sys.argv and os._exit(9)  # in the warm worker only\n'
        out["died"] = warm.deploy("r10", {"definitions.py": dies}, fresh=False)
        out["after_death"] = _workers(warm.root / feast_worker.FOLDER)
        repos = [r / "feast" for r in (warm.root / n for n in ("r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"))]
        out["registries"] = _registries(repos + list(warm.fresh.values()) + [warm.root / "m2" / "feast"]
                                        + [mod.fresh["m2"]] + [cold.root / "r1" / "feast", cold.root / "r2" / "feast"])
        yield out
    finally:
        if saved is None:
            os.environ.pop("MLC_FEAST_WORKER", None)
        else:
            os.environ["MLC_FEAST_WORKER"] = saved
        feast_worker.stop(warm.root)
        assert _workers(warm.root / feast_worker.FOLDER) == []


def test_each_incremental_step_leaves_the_registry_a_fresh_apply_makes(steps) -> None:
    chain, registries = steps["chain"], steps["registries"]
    for name, fresh in chain.fresh.items():
        got, want = registries[str(chain.root / name / "feast")], registries[str(fresh)]
        assert got == want, name
    assert "FeatureService driver_activity_v3" not in registries[str(chain.root / "r4" / "feast")]
    assert "FeatureView rider_stats" in registries[str(chain.root / "r6" / "feast")]
    assert "FeatureView rider_stats" not in registries[str(chain.root / "r7" / "feast")]


def test_a_one_view_change_runs_a_few_chunks_and_applies_what_changed(steps) -> None:
    first, ttl = steps["first"], steps["ttl"]
    assert first["worker"] == "warm" and first["applied"] == first["objects"]
    # the view, what reads it (two on-demand views, two services) and what those need to run
    assert ttl["worker"] == "warm" and ttl["chunks_run"] < first["chunks_run"]
    applied = json.loads((steps["chain"].root / "r2" / "feast" / "data" / "mlc_specs.json").read_text())
    assert ttl["objects"] == len(applied["objects"]) == first["objects"]
    # the view alone: what reads it is re-run, but its spec names the view, not the view's ttl
    assert ttl["applied"] == 1 and ttl["deleted"] == 0


def test_added_removed_and_renamed_views_and_files(steps) -> None:
    assert steps["add"]["applied"] == 2 and steps["add"]["deleted"] == 0  # the view and its source
    assert steps["remove"]["applied"] == 0 and steps["remove"]["deleted"] == 1  # the feature service
    assert steps["file"]["applied"] == 3 and steps["file"]["deleted"] == 0  # entity, source, view
    assert steps["rename"]["applied"] == 0 and steps["rename"]["deleted"] == 0  # the same objects
    assert steps["drop_file"]["applied"] == 0 and steps["drop_file"]["deleted"] == 3
    assert steps["yaml"]["applied"] == steps["yaml"]["objects"]  # feature_store.yaml: everything


def test_the_worker_imports_the_new_release_s_modules(steps) -> None:
    registries = steps["registries"]
    m2 = str(steps["chain"].root / "m2" / "feast")
    assert steps["module2"]["applied"] == 1  # the view whose description came from the new helper.py
    fresh = [r for r in registries if r.endswith("m2-fresh/feast")][0]
    assert registries[m2] == registries[fresh]


def test_warm_and_one_shot_apply_the_same(steps) -> None:
    registries, warm, cold = steps["registries"], steps["chain"].root, steps["chain"].root.parent / "cold"
    for name, key in (("r1", "first"), ("r2", "ttl")):
        assert registries[str(warm / name / "feast")] == registries[str(cold / name / "feast")]
        assert steps[f"cold_{key}"]["worker"] == "one-shot"
        assert {k: v for k, v in steps[key].items() if k in ("applied", "deleted", "objects", "chunks_run")} == \
            {k: v for k, v in steps[f"cold_{key}"].items() if k in ("applied", "deleted", "objects", "chunks_run")}


def test_a_worker_dying_mid_request_falls_back_to_the_one_shot_script(steps) -> None:
    assert steps["same_pid"]["pid"] == steps["pid"]  # one worker served every request until then
    assert steps["died"]["worker"] == "one-shot" and steps["died"]["applied"] >= 1
    assert steps["after_death"] == []
    assert not (steps["chain"].root / feast_worker.FOLDER / feast_worker.SOCKET).exists()


def test_stop_worker_from_the_command_line_and_a_worker_started_ahead(steps) -> None:
    assert f"stopped the Feast worker (pid {steps['pid']})" in steps["cli"] and steps["after_cli"] == []
    assert len(steps["prestarted"]) == 1 and steps["served_by"] == steps["prestarted"][0]
    assert steps["after_prestart"]["worker"] == "warm" and steps["after_prestart"]["applied"] >= 1
