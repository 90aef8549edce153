"""The bundle contract: one layout for every path, manifest.json, and the closure proof.

Every example for every env, and generated multi-package programs whose declarations
share names across packages, compile to a bundle in which every reference names a file
that was written, and whose manifest hashes are the files' own. A broken reference is
caught (E1090) and nothing is written. The two-package name clash is a golden bundle.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlc.cli import main
from mlc.compiler.project import load_project
from mlc.deploy.bundle import compile as compile_bundle
from mlc.targets import TARGETS
from mlc.targets import manifest as M
from tests.runtimes import without_environment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden" / "bundle"

ENVS = """\
env local {
  hive = files("data/warehouse")
  s3   = files("build/s3")
  kafka = files("data/events")
}
env prod {
  hive = hive(metastore = "thrift://metastore:9083")
  s3   = s3(bucket = "ml")
  kafka = kafka(bootstrap = "broker:9092")
}
"""


def _package(name: str, groups: list[tuple[str, str]], flows: list[tuple[str, list[str]]], envs: bool) -> str:
    """A package of the language: batch and stream groups, flows of spark/python steps."""
    lines = [f"package {name}", "import std.connectors.{hive, s3, files, kafka}", ""]
    if envs:
        lines.append(ENVS)
    lines += [
        "source daily: table hive(table = \"wh.daily\") {",
        "  schema { account_id: string, hours: float, ds: date }",
        "  event_time ds",
        "  arrives every 1d delay 3h",
        "}",
        "source events: stream kafka(topic = \"events\", format = json) {",
        "  schema { account_id: string, kind: enum(view, click), ts: timestamp }",
        "  event_time ts",
        "  watermark 10s",
        "}",
        "entity account { key account_id: string }",
    ]
    for group, mode in groups:
        if mode == "batch":
            lines += [f"features {group} on account {{", "  from daily",
                      "  hours_7d = sum(hours) over 7d", "  schedule daily", "  timeout 1h",
                      "  online ttl 3d", f"  offline s3(\"features/{name}/{group}\")", "}"]
        else:
            lines += [f"features {group} on account {{", "  from events",
                      "  views_1h = count(kind == view) over 1h every 5m", "  checkpoint every 1m",
                      "  online ttl 1d", f"  offline s3(\"features/{name}/{group}\")", "}"]
    for flow, steps in flows:
        lines.append(f"flow {flow} {{")
        lines.append("  schedule daily")
        for i, kind in enumerate(steps):
            target = f'spark("jobs/{flow}_{i}.py")' if kind == "spark" else f'python("jobs.{flow}:step_{i}")'
            lines.append(f"  step s{i} {target} {{ timeout 10m }}")
        if len(steps) > 1:
            lines.append("  " + " >> ".join(f"s{i}" for i in range(len(steps))))
        lines.append("}")
    return "\n".join(lines) + "\n"


def _write_project(root: Path, packages: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlc.toml").write_text('[project]\nname = "generated"\nsources = ["."]\n', encoding="utf-8")
    for name, text in packages.items():
        (root / f"{name}.flow").write_text(text, encoding="utf-8")
    return root


def _assert_closed(compiled, targets: list[str]) -> dict:
    assert compiled.ok, [d.message for d in compiled.result.diagnostics if d.is_error]
    files = {a.path: a.text for a in compiled.artifacts}
    manifest = json.loads(files[M.MANIFEST])
    assert M.dangling(manifest) == []
    listed = {e["path"] for e in manifest["artifacts"]}
    assert listed == set(files) - {M.MANIFEST}
    for e in manifest["artifacts"]:
        assert e["sha256"] == hashlib.sha256(files[e["path"]].encode()).hexdigest()
        for ref in e.get("references", ()):
            inside = ref in files or any(p.startswith(ref + "/") for p in files)
            assert inside or ref.split("/")[0] not in targets, (e["path"], ref)
    return manifest


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if (p / "mlc.toml").is_file()))
def test_every_example_compiles_to_a_closed_bundle_for_every_env(example: str) -> None:
    project = load_project([str(EXAMPLES / example)]).rooted()
    envs = ["local", "prod"] if "env prod" in "".join(p.read_text() for p in (EXAMPLES / example).rglob("*.flow")) \
        else ["local"]
    for env in envs:
        compiled = compile_bundle(project, env, sorted(TARGETS), use_cache=False)
        manifest = _assert_closed(compiled, sorted(TARGETS))
        assert manifest["env"] == env
        # every reference a DAG makes to a compiled backend is listed, and resolved
        dags = [e for e in manifest["artifacts"] if e["kind"] == "airflow-dag"]
        assert dags and all(e["source"]["file"].endswith(".flow") for e in dags)


@st.composite
def clashing_programs(draw) -> dict[str, str]:
    """2-3 packages whose feature groups and flows reuse a small pool of names."""
    names = ["account_health", "activity", "score", "train"]
    count = draw(st.integers(2, 3))
    packages = {}
    for i in range(count):
        groups = draw(st.lists(st.tuples(st.sampled_from(names[:2]), st.sampled_from(["batch", "stream"])),
                               max_size=2, unique_by=lambda g: g[0]))
        flows = draw(st.lists(st.tuples(st.sampled_from(names[2:]),
                                        st.lists(st.sampled_from(["spark", "python"]), min_size=1, max_size=3)),
                              max_size=2, unique_by=lambda f: f[0]))
        packages[f"acme_{chr(97 + i)}"] = _package(f"acme_{chr(97 + i)}", groups, flows, envs=(i == 0))
    return packages


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(clashing_programs())
def test_generated_programs_with_name_clashes_compile_to_closed_bundles(tmp_path_factory, packages) -> None:
    root = _write_project(tmp_path_factory.mktemp("gen"), packages)
    project = load_project([str(root)]).rooted()
    for env in ("local", "prod"):
        compiled = compile_bundle(project, env, sorted(TARGETS), use_cache=False)
        manifest = _assert_closed(compiled, sorted(TARGETS))
        paths = [e["path"] for e in manifest["artifacts"]]
        assert len(paths) == len(set(paths))
        # each DAG's references belong to declarations of its own package
        for e in manifest["artifacts"]:
            if e["kind"] == "airflow-dag" and e["source"]["name"].startswith("acme_"):
                package = e["source"]["name"].split(".")[0]
                for ref in e.get("references", ()):
                    owner = next((a for a in manifest["artifacts"] if a["path"] == ref), None)
                    if owner is not None and "source" in owner:  # not a runtime shared by the bundle
                        assert owner["source"]["name"].startswith(package + "."), (e["path"], ref)
        # every reference into the bundle, moved to a file nobody wrote, is caught naming both ends
        inside = [(e, ref) for e in manifest["artifacts"] for ref in e.get("references", ())
                  if M.owner(ref) in manifest["targets"]]
        for e, ref in inside:
            original = e["references"]
            e["references"] = [r + ".moved" if r == ref else r for r in original]
            assert [(d.referrer, d.path) for d in M.dangling(manifest)] == [(e["path"], ref + ".moved")]
            e["references"] = original


def test_a_dangling_reference_is_caught_and_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    """A backend that names a file nobody writes (simulated by a layout that disagrees with
    itself) fails the compile with E1090 naming both ends."""
    from mlc.targets.layout import Layout

    src = tmp_path / "nightly_batch"
    shutil.copytree(EXAMPLES / "nightly_batch", src, ignore=shutil.ignore_patterns(".mlc_cache"))
    original = Layout.spark_feature_job
    calls = {"n": 0}

    def drifting(self, key: str) -> str:
        calls["n"] += 1
        return original(self, key) if calls["n"] % 2 else "spark/features/renamed.py"

    monkeypatch.setattr(Layout, "spark_feature_job", drifting)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["compile", str(src), "--env", "local", "--out", str(out), "--no-cache"])
    assert r.exit_code == 1, r.output
    assert "E1090" in r.output and "the bundle is not closed" in r.output
    assert "`airflow/dags/features.account_health.py` references `spark/features/account_health.py`" in r.output
    assert not out.exists()


def test_a_mutated_manifest_reference_is_caught(tmp_path: Path) -> None:
    project = load_project([str(EXAMPLES / "nightly_batch")]).rooted()
    compiled = compile_bundle(project, "local", sorted(TARGETS), use_cache=False)
    manifest = _assert_closed(compiled, sorted(TARGETS))
    dag = next(e for e in manifest["artifacts"] if e.get("references") and e["kind"] == "airflow-dag"
               and any(r.startswith("spark/") for r in e["references"]))
    job = next(r for r in dag["references"] if r.startswith("spark/") and "/runtime/" not in r)
    dag["references"] = [r.replace(".py", "_v2.py") if r == job else r for r in dag["references"]]
    found = M.dangling(manifest)
    assert [(d.referrer, d.path) for d in found] == [(dag["path"], job.replace(".py", "_v2.py"))]


def test_a_reference_to_a_backend_not_compiled_is_external(tmp_path: Path) -> None:
    project = load_project([str(EXAMPLES / "nightly_batch")]).rooted()
    compiled = compile_bundle(project, "local", ["airflow"], use_cache=False)
    manifest = _assert_closed(compiled, ["airflow"])
    external = {(x["path"], x["target"]) for x in manifest["external"]}
    assert ("spark/features/account_health.py", "spark") in external
    assert ("spark/steps/score_accounts/score.py", "spark") in external


def test_two_packages_with_one_feature_group_name_golden(tmp_path: Path, update_golden: bool) -> None:
    """Once, both DAGs ran spark/features/account_health.py while Spark wrote two other names."""
    packages = {p: _package(p, [("account_health", "batch")], [("score", ["spark"])], envs=(p == "acme_a"))
                for p in ("acme_a", "acme_b")}
    root = _write_project(tmp_path / "clash", packages)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["compile", str(root), "--env", "local", "--out", str(out), "--no-cache"])
    assert r.exit_code == 0, r.output
    written = {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file()}
    assert "spark/features/acme_a.account_health.py" in written
    assert "spark/features/acme_b.account_health.py" in written
    assert "_mlc_bundle_file(\"spark/features/acme_a.account_health.py\")" in \
        written["airflow/dags/features.acme_a.account_health.py"]
    assert "_mlc_bundle_file(\"spark/steps/acme_b.score/s0.py\")" in written["airflow/dags/acme_b.score.py"]
    # the runtime modules are copied as they are, but for the Spark runtime's line that holds the
    # env's variables (tests/test_branch_steps.py reads it): compared with their source, not stored
    runtimes = {e["path"]: e["kind"].split("-")[0] for e in json.loads(written["manifest.json"])["artifacts"]
                if e["kind"].endswith("-runtime")}
    for path, engine in runtimes.items():
        source = ROOT / "mlc/targets" / engine / "templates/runtime" / Path(path).name
        assert without_environment(written.pop(path)) == source.read_text(encoding="utf-8")
    if update_golden:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for path, text in written.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_text(text, encoding="utf-8")
    expected = {str(p.relative_to(GOLDEN)): p.read_text(encoding="utf-8") for p in sorted(GOLDEN.rglob("*"))
                if p.is_file()}
    assert sorted(written) == sorted(expected)
    assert [p for p in written if written[p] != expected[p]] == []


def test_compiled_output_does_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    """Headers cite sources relative to the project root, wherever mlc was started."""
    src = tmp_path / "proj"
    shutil.copytree(EXAMPLES / "nightly_batch", src, ignore=shutil.ignore_patterns(".mlc_cache"))
    outs = []
    for i, cwd in enumerate([src, tmp_path, src / "jobs"]):
        monkeypatch.chdir(cwd)
        out = tmp_path / f"out{i}"
        r = CliRunner().invoke(main, ["compile", str(src), "--env", "local", "--out", str(out), "--no-cache",
                                      "--emit", "ir"])
        assert r.exit_code == 0, r.output
        outs.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outs[0] == outs[1] == outs[2]
    assert b"churn.flow:" in outs[0]["spark/features/account_health.py"]

