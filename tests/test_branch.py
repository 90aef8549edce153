"""Test namespaces across every backend (`mlc compile --branch`, `mlc deploy --branch`): nothing a
production deployment names or writes appears in a branch's bundle, but for what it only reads
(`external` signals and sources). The production names are read from the unbranched bundle and
its IR, never spelled here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from mlc.compiler import ir
from mlc.compiler.project import load_project
from mlc.deploy import config as C
from mlc.deploy.bundle import compile as compile_bundle
from mlc.deploy.release import on_branch
from mlc.targets import TARGETS
from mlc.targets.layout import IR, Layout

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BRANCH = "test.alice"

# what a backend's file names that another deployment could share, by the file's folder
_QUOTED = {
    "airflow/dags": r'^\s+(?:dag_id|trigger_dag_id|name|uri)="([^"]*)"|"(MLC_ARTIFACT_\w+)": "([^"]*)"',
    "spark": r'"(?:app_name|output)": "([^"]*)"|"grouping": {"group": "([^"]*)"',
    "flink": r'"(?:app_name|output)": "([^"]*)"|"grouping": {"group": "([^"]*)"',
    "bentoml": r'(?:^name: |service\(name=|"store_tag": |"model": )"([^"]*)"',
    "feast/definitions.py": r'path=_path\("([^"]*)"\)|Project\(name="([^"]*)"',
    "prometheus/dashboards": r'^  "uid": "([^"]*)"|(?:model|flow|group|slo)=~?\\"([^\\]*)\\"',
}
_ARTIFACT_ENV = re.compile(r"MLC_ARTIFACT_\w+")


def _names(texts: dict[str, str]) -> dict[str, set[str]]:
    """Every name and location a bundle's deployment uses, by the backend that uses it."""
    out: dict[str, set[str]] = {}
    for path, text in texts.items():
        for prefix, pattern in _QUOTED.items():
            if path.startswith(prefix):
                found = {g for m in re.finditer(pattern, text, re.MULTILINE) for g in m.groups()
                         if g and not _ARTIFACT_ENV.fullmatch(g)}
                out.setdefault(path.partition("/")[0], set()).update(found)
        if path == Layout.feast_store_yaml():
            store = yaml.safe_load(text)
            out.setdefault("feast", set()).update({store["project"], store["registry"],
                                                   store["online_store"].get("path", "")})
        if path.startswith("prometheus/rules/"):
            rules = out.setdefault("prometheus", set())
            for group in yaml.safe_load(text)["groups"]:
                rules.add(group["name"])
                for rule in group["rules"]:
                    rules.update(v for k, v in (rule.get("labels") or {}).items() if k in ("model", "flow", "group", "slo"))
                    rules.update(v for m in re.finditer(r'(?:model|flow|group|slo)=~?"([^"]*)"', rule["expr"])
                                 for v in m.group(1).replace("\\.", ".").split("|"))
    return out


def _bundle(example: str, env: str, branch: str | None) -> tuple[dict[str, str], ir.Program]:
    compiled = compile_bundle(load_project([str(EXAMPLES / example)]), env, sorted(TARGETS), use_cache=False,
                              emit_ir=True, branch=branch)
    assert compiled.ok, [str(d) for d in compiled.result.diagnostics]
    texts = {a.path: a.text for a in compiled.artifacts}
    return texts, ir.Program.model_validate_json(texts[IR])


def _read_only(program: ir.Program, env: str) -> set[str]:
    """What a branch keeps because it only reads it: external signals' asset names and addresses,
    the sources' locations (derived from the production IR)."""
    layout = Layout(program)
    keep: set[str] = set()
    for key, signal in program.signals.items():
        if signal.external:
            keep |= {f"mlc.signal.{key}", f"mlc://signal/{key}", *([signal.uri] if signal.uri else [])}
    for loc in program.environments[env].sources.values():
        keep |= {v for v in (loc.path, loc.topic, loc.table) if v}
        if loc.kind == "s3":
            keep.add(f"s3://{loc.bucket}/{loc.path or ''}".rstrip("/"))
    assert layout.program.branch is None
    return keep


@pytest.mark.parametrize("example, env", [("recommendations", "local"), ("recommendations", "prod"),
                                          ("fraud", "local"), ("fraud", "prod")])
def test_a_branch_bundle_names_nothing_production_uses(example, env):
    prod_texts, prod = _bundle(example, env, None)
    branch_texts, branched = _bundle(example, env, BRANCH)
    assert branched.branch == BRANCH and prod.branch is None
    prod_names, branch_names = _names(prod_texts), _names(branch_texts)
    # the extraction is not vacuous: every backend of the bundle names something, on both sides
    assert set(prod_names) == set(branch_names) and {"airflow", "feast", "prometheus"} <= set(prod_names)
    for backend, names in prod_names.items():
        assert names and branch_names[backend], backend
        shared = (names & branch_names[backend]) - _read_only(prod, env)
        assert not shared, f"{backend}: the branch uses production's {sorted(shared)}"
    # every location the production env writes has a branch twin under branches/NAME/
    written = prod.environments[env]
    for loc in [*written.offline.values(), *written.artifacts.values()]:
        assert Layout(branched).written(loc).path != loc.path
        assert f"branches/{BRANCH}/" in (Layout(branched).written(loc).path or "")


def test_external_signals_and_sources_stay_as_production_reads_them():
    _, prod = _bundle("recommendations", "local", None)
    branch_texts, _ = _bundle("recommendations", "local", BRANCH)
    external = [k for k, s in prod.signals.items() if s.external]
    assert external
    for key in external:
        assert any(f'"mlc.signal.{key}"' in t for p, t in branch_texts.items() if p.startswith("airflow/dags/"))
    sources = {loc.path for loc in prod.environments["local"].sources.values() if loc.path}
    assert sources and all(any(f'"{s}"' in t for t in branch_texts.values()) for s in sources)


def _location(kind: str, path: str) -> ir.Location:
    return ir.Location(kind=kind, path=path, bucket="b" if kind == "s3" else None)


@pytest.mark.parametrize("kind, path, moved", [
    ("files", "data/offline/x", "branches/test.alice/data/offline/x"),
    ("files", "/srv/data/x", "/srv/data/branches/test.alice/x"),
    ("files", "/srv/data/x/", "/srv/data/branches/test.alice/x"),
    ("s3", "features/x", "branches/test.alice/features/x"),
])
def test_written_locations_move_under_the_branch_folder(kind, path, moved):
    program = ir.Program(branch=BRANCH)
    assert Layout(program).written(_location(kind, path)).path == moved
    assert Layout(ir.Program()).written(_location(kind, path)).path == path


def test_kafka_consumer_groups_and_feast_names_are_the_branch_own():
    program = ir.Program(branch="pr-12", environments={"e": ir.Environment(
        name="e", sources={"s": ir.Location(kind="kafka", topic="t", group="recs")},
        feature_store=ir.FeatureStore(online_kind="redis", online_path="redis://h:6379"))})
    env = Layout(program).environment("e")
    assert env.sources["s"].group == "pr-12.recs" and env.sources["s"].topic == "t"
    # a connection string is not a path: the project name (which prefixes Feast's tables) parts them
    assert env.feature_store.online_path == "redis://h:6379"
    assert env.feature_store.registry == "data/pr-12.registry.db"
    assert Layout(program).feast_project("recs") == "pr_12__recs"


def _config(kind: str, tmp_path: Path) -> C.DeployConfig:
    if kind == "local":
        return C.DeployConfig("local", "local", tmp_path, root=tmp_path / "deploy" / "local")
    return C.DeployConfig("prod", "s3", tmp_path, bucket="bkt", prefix="recs")


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_branch_deploys_below_production_never_in_its_place(kind, tmp_path):
    prod = _config(kind, tmp_path)
    branch = on_branch(prod, BRANCH)
    assert on_branch(prod, None) is prod
    assert branch.where != prod.where and branch.where.startswith(prod.where + "/branches/")
    # production's own keys (`current`, `releases/N/`) never lie below the branch's folder
    assert not (prod.where + "/releases").startswith(branch.where)
    with pytest.raises(C.ConfigError):
        on_branch(prod, "../prod")


def test_deploy_and_plan_use_the_branch_folder(tmp_path):
    from click.testing import CliRunner

    from mlc.cli import main

    project = EXAMPLES / "fraud"
    to = tmp_path / "deploy"
    result = CliRunner().invoke(main, ["plan", str(project), "--env", "local", "--to", str(to), "--json",
                                       "--branch", BRANCH, "--no-cache"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["where"] == str(to / "branches" / BRANCH)
