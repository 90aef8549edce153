"""The platform at scale (issue 18), on a scaled-down platform (bench/gen_platform.py, 1%):

- it checks clean;
- a check on two processes (`jobs=2`, mlc.compiler.parallel) and one on one process give
  byte-identical diagnostics, with and without the cache, on a copy with mistakes in
  several files (a syntax error, an unknown name, a name declared twice, a file without
  its `package` line), and byte-identical compiled artefacts of every target;
- an edit followed by a warm check reports what a cold check reports, with the backends' validation
  too.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest

from mlc.compiler.driver import CACHE_DIR, check
from mlc.compiler.parallel import Workers
from mlc.compiler.project import load_project
from mlc.diagnostics import render_json

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCALE = 0.01  # two packages, ~9,000 lines


def _generator():
    spec = importlib.util.spec_from_file_location("gen_platform", BENCH / "gen_platform.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("platform") / "platform"
    _generator().generate(root, SCALE, seed=0)
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(CACHE_DIR))
    return dst


def _edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def _with_mistakes(root: Path) -> Path:
    """Mistakes in four files of two packages: what each reports must not depend on which
    process read the file."""
    _edit(root, "p000/streams1.flow", "  checkpoint every 1m", "  checkpoint every every 1m")  # syntax
    _edit(root, "p001/models.flow", "  output score: float", "  output score: flaot")  # unknown type
    _edit(root, "p001/flows.flow", "produces p001_model", "produces p001_modle")  # unknown name
    _edit(root, "p000/slos.flow", "package platform.p000\n", "")  # no package line
    (root / "p001" / "twice.flow").write_text(
        "package platform.p001\nentity p001_user { key user_id: string }\n")  # declared twice
    return root


def _diagnostics(root: Path, jobs: int, use_cache: bool) -> str:
    project = load_project([str(root)])
    project.jobs = jobs
    return render_json(check(project, use_cache=use_cache).diagnostics)


def test_the_platform_checks_clean(platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _copy(platform, tmp_path / "p")
    monkeypatch.chdir(root)
    result = check(load_project([str(root)]), use_cache=False)
    assert [d.code for d in result.diagnostics] == []
    assert result.declarations > 300


@pytest.mark.parametrize("use_cache", [False, True])
def test_two_processes_report_what_one_does(platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            use_cache: bool) -> None:
    one = _with_mistakes(_copy(platform, tmp_path / "one"))
    two = _copy(one, tmp_path / "two")
    # the same display paths in both runs: each is checked from inside its own copy
    monkeypatch.chdir(one)
    serial = _diagnostics(one, 1, use_cache)
    monkeypatch.chdir(two)
    parsed: list[int] = []
    real = Workers.parse
    monkeypatch.setattr(Workers, "parse", lambda self, items: parsed.append(len(items)) or real(self, items))
    parallel = _diagnostics(two, 2, use_cache)
    assert parsed and parsed[0] > 10  # the files were parsed by the workers
    assert parallel == serial
    codes = sorted({d["code"] for d in json.loads(serial)["diagnostics"]})
    assert {"E0201", "E0202", "E0210"} <= set(codes), codes


def test_two_processes_compile_what_one_does(platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlc.deploy.bundle import compile as compile_bundle
    from mlc.targets import TARGETS

    root = _copy(platform, tmp_path / "p")
    outputs = []
    for jobs in (1, 2):
        project = load_project([str(root)]).rooted()
        project.jobs = jobs
        compiled = compile_bundle(project, "prod", sorted(TARGETS), use_cache=False, emit_ir=True)
        assert compiled.ok, render_json(compiled.result.diagnostics)
        outputs.append([(a.path, a.text) for a in compiled.artifacts])
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 500


def test_an_edit_then_a_warm_check_reports_what_a_cold_one_does(platform: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache is filled by a parallel run (the workers write the parse and IR entries), then
    each edit is checked warm (with the cache, two processes) and cold (without, one)."""
    root = _copy(platform, tmp_path / "p")
    monkeypatch.chdir(root)
    assert json.loads(_diagnostics(root, 2, True))["error_count"] == 0  # fills the cache

    steps = [
        lambda: _edit(root, "p001/models.flow", "  serve { replicas", "  # retuned\n  serve { replicas"),  # a comment
        lambda: _edit(root, "p001/batch.flow", "  timeout 30m", "  timeout 45m"),  # a value
        lambda: (root / "p001" / "extra.flow").write_text(
            "package platform.p001\nentity p001_extra { key extra_id: string }\n"),  # a declaration
        lambda: _edit(root, "p000/flows.flow", "uses p000_model0", "uses p000_modle0"),  # a mistake
        lambda: _edit(root, "p001/models.flow", "import platform.p000.{p000_s000}", "import platform.p000.{p000_s999}"),
        lambda: (root / "p001" / "extra.flow").unlink(),  # a file removed
    ]
    codes = set()
    for step in steps:
        step()
        warm = _diagnostics(root, 2, True)
        assert warm == _diagnostics(root, 1, False)
        codes |= {d["code"] for d in json.loads(warm)["diagnostics"]}
    assert {"E0202", "E0204"} <= codes, codes


def _checked(root: Path, jobs: int, use_cache: bool) -> str:
    """The check of `mlc check`: the compiler's and every backend's validation."""
    from mlc.deploy.bundle import check as check_bundle

    project = load_project([str(root)])
    project.jobs = jobs
    return render_json(check_bundle(project, use_cache=use_cache).diagnostics)


def test_an_edit_then_a_warm_check_with_the_backends_reports_what_a_cold_one_does(
        platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlc check`'s findings, the backends' validation with them: a value edit that only some
    backends read, then a finding of Spark and Flink (windows at different steps, E1011) and of
    a check (E0202), then both undone."""
    root = _copy(platform, tmp_path / "p")
    monkeypatch.chdir(root)
    assert json.loads(_checked(root, 1, True))["error_count"] == 0  # fills the cache
    streams = (root / "p001" / "streams1.flow").read_text()
    models = (root / "p001" / "models.flow").read_text()

    steps = [
        lambda: _edit(root, "p001/models.flow", "timeout 87ms", "timeout 88ms"),  # a model's serve timeout
        lambda: _edit(root, "p001/streams1.flow", "over 1h every 10m", "over 1h every 5m"),  # E1011
        lambda: _edit(root, "p001/flows.flow", "produces p001_model", "produces p001_modle"),  # a check's E0202
        lambda: (root / "p001" / "streams1.flow").write_text(streams),
        lambda: _edit(root, "p001/flows.flow", "produces p001_modle", "produces p001_model"),
        lambda: (root / "p001" / "models.flow").write_text(models),
    ]
    codes = set()
    for i, step in enumerate(steps):
        step()
        warm = _checked(root, 1, True)
        assert warm == _checked(root, 1, False), i
        codes |= {d["code"] for d in json.loads(warm)["diagnostics"]}
    assert {"E1011", "E0202"} <= codes, codes

