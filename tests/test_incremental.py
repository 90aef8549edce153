"""The incremental check: whatever the cache holds, a cached run reports exactly what a run
without the cache reports, and builds the same program.

Each test edits a copy of the recommendations example step by step and compares
`check(use_cache=True)` with `check(use_cache=False)` after every step. Where the
early cut-off applies (the edit changes no declaration), it also asserts that no
check ran: that is the behaviour the warm-check benchmark relies on. The last
tests apply many seeded edits of every kind to a scaled-down platform and compare
what a warm `mlc check` prints, checked per declaration (mlc.compiler.incremental),
with what a cold one prints.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

import mlc.compiler.checks as checks_module
from mlc.compiler.driver import CACHE_DIR, check
from mlc.compiler.project import load_project

EXAMPLE = Path(__file__).parent.parent / "examples" / "recommendations"


@pytest.fixture(autouse=True)
def per_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sub-program holding most of the program is checked in full, for speed; here it is
    checked per declaration whatever its size (these programs are small): the tests prove
    what the sub-program reports."""
    from mlc.compiler import incremental

    monkeypatch.setattr(incremental, "_LARGEST", 1.0)


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "recs"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(CACHE_DIR, "__pycache__"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def checks_run(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the runs of the checks (the driver imports `run_checks` when it needs it)."""
    calls: list[int] = []
    real = checks_module.run_checks

    def counting(program, resolver):
        calls.append(1)
        return real(program, resolver)

    monkeypatch.setattr(checks_module, "run_checks", counting)
    return calls


def findings(result) -> list[dict]:
    return [d.to_json() for d in result.diagnostics]


def same_as_uncached(root: Path) -> list[dict]:
    """Checks with the cache and without; asserts they agree, on findings and on the program."""
    cached = check(load_project([str(root)]))
    fresh = check(load_project([str(root)]), use_cache=False)
    assert findings(cached) == findings(fresh)
    assert cached.declarations == fresh.declarations
    if fresh.program is not None:
        assert cached.program is not None
        assert cached.program.model_dump_json() == fresh.program.model_dump_json()
    return findings(cached)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def codes(found: list[dict]) -> list[str]:
    return [d["code"] for d in found]


def test_a_comment_edit_reuses_the_findings_without_running_a_check(proj: Path, checks_run: list[int]) -> None:
    edit(proj / "slos.flow", "ranker_fresh     { freshness(ranker) <= 3d,", "ranker_fresh     { freshness(ranker) <= 1h,")
    first = check(load_project([str(proj)]))
    assert codes(findings(first)) == ["E0701"]
    assert len(checks_run) == 1

    with (proj / "models.flow").open("a") as f:
        f.write("# a note at the end\n\n")
    again = check(load_project([str(proj)]))
    assert len(checks_run) == 1, "the checks ran although no declaration changed"
    assert findings(again) == findings(first)
    # the program is still there for the commands that need it, and is the one a fresh run builds
    fresh = check(load_project([str(proj)]), use_cache=False)
    assert again.program.model_dump_json() == fresh.program.model_dump_json()


def test_an_edit_that_changes_a_declaration_runs_the_checks(proj: Path, checks_run: list[int]) -> None:
    assert same_as_uncached(proj) == []
    runs = len(checks_run)
    edit(proj / "models.flow", "timeout 40ms", "timeout 80ms")
    found = same_as_uncached(proj)
    assert len(checks_run) == runs + 2  # the cached run could not reuse anything, and the fresh one
    assert codes(found) == ["E0705"]  # the serve timeout no longer fits the 50 ms objective
    assert found[0]["range"]["start"]["line"] == 11 and found[0]["range"]["file"] == "slos.flow"
    edit(proj / "models.flow", "timeout 80ms", "timeout 40ms")
    assert same_as_uncached(proj) == []


def _age(root: Path, seconds: int) -> None:
    """Every source file as last modified `seconds` ago: no longer racy (see snapshot.RACY_NS)."""
    for f in root.rglob("*.flow"):
        st = f.stat()
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files a check reads (the driver imports `read_source` when it reads)."""
    import mlc.dsl.files as files_module

    seen: list[str] = []
    real = files_module.read_source

    def counting(path, display):
        seen.append(Path(display).name)
        return real(path, display)

    monkeypatch.setattr(files_module, "read_source", counting)
    return seen


def test_unchanged_files_are_known_by_their_stat_and_not_read(proj: Path, reads: list[str]) -> None:
    from mlc.diagnostics import render_text

    _age(proj, 10)
    check(load_project([str(proj)]))
    assert len(reads) == len(list(proj.glob("*.flow")))
    reads.clear()
    edit(proj / "models.flow", "timeout 40ms", "timeout 80ms")
    warm = check(load_project([str(proj)]))
    assert reads == ["models.flow"], "an unchanged file was read although its signature is the snapshot's"
    cold = check(load_project([str(proj)]), use_cache=False)
    assert codes(findings(warm)) == ["E0705"] and findings(warm) == findings(cold)
    # the finding is in a file this run did not read: its line is read when it is quoted
    assert render_text(warm.diagnostics, warm.sources) == render_text(cold.diagnostics, cold.sources)
    assert "slos.flow" in reads
    # a file touched (same text, new signature) is read and hashed again, and then known again
    _age(proj, 20)
    reads.clear()
    check(load_project([str(proj)]))
    assert len(reads) == len(list(proj.glob("*.flow")))
    reads.clear()
    check(load_project([str(proj)]))
    assert reads == []


def test_an_edit_in_the_same_timestamp_tick_is_still_seen(proj: Path) -> None:
    """git's racy timestamp rule: a file modified in the tick the last run read it in could be
    written again in that tick, same size, same mtime; its signature is therefore not trusted."""
    models = proj / "models.flow"
    text = models.read_text()
    models.write_text(text)  # just saved (the copy kept the example's old mtime)
    assert same_as_uncached(proj) == []
    st = models.stat()
    assert "timeout 40ms" in text
    models.write_text(text.replace("timeout 40ms", "timeout 80ms"))
    os.utime(models, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same tick: the same signature
    after = models.stat()
    assert (after.st_mtime_ns, after.st_size, after.st_ino, after.st_dev) == \
        (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
    assert codes(same_as_uncached(proj)) == ["E0705"]


def test_moving_lines_moves_the_findings(proj: Path) -> None:
    edit(proj / "slos.flow", "<= 3d, owner", "<= 1h, owner")
    before = same_as_uncached(proj)
    edit(proj / "slos.flow", "package netflix.recs\n", "package netflix.recs\n\n\n")
    after = same_as_uncached(proj)
    assert codes(after) == ["E0701"]
    assert after[0]["range"]["start"]["line"] == before[0]["range"]["start"]["line"] + 2


def test_renaming_a_declaration_reports_its_users(proj: Path) -> None:
    same_as_uncached(proj)
    edit(proj / "models.flow", "model popular_titles deterministic", "model popular deterministic")
    found = same_as_uncached(proj)
    assert found and all(d["severity"] == "error" for d in found)
    assert any(d["range"]["file"] == "models.flow" and "popular_titles" in d["message"] for d in found)
    edit(proj / "models.flow", "model popular deterministic", "model popular_titles deterministic")
    assert same_as_uncached(proj) == []


def test_files_added_removed_and_broken(proj: Path) -> None:
    same_as_uncached(proj)
    extra = proj / "extra.flow"
    extra.write_text("package netflix.recs\nsignal extra_done { version: string }\n")
    assert codes(same_as_uncached(proj)) == ["W0412"]  # neither emitted nor awaited
    extra.write_text("package netflix.recs\nsignal extra_done { version: }\n")
    assert "E0001" in codes(same_as_uncached(proj))
    extra.unlink()
    assert same_as_uncached(proj) == []
    (proj / "slos.flow").unlink()
    # without its completion objective, build_training_set's `alert { late oncall }` never fires
    assert codes(same_as_uncached(proj)) == ["W1410"]


def test_a_damaged_cache_is_rebuilt_not_trusted(proj: Path, checks_run: list[int]) -> None:
    edit(proj / "slos.flow", "<= 3d, owner", "<= 1h, owner")
    expected = same_as_uncached(proj)
    cache = proj / CACHE_DIR
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert any(p.parent.parent.name == "snapshot" for p in entries)
    for p in entries:
        p.write_bytes(b"\x80\x05garbage")
    assert same_as_uncached(proj) == expected
    for p in [p for p in cache.rglob("*") if p.is_file()]:
        p.unlink()
    assert same_as_uncached(proj) == expected


def test_checking_a_few_files_then_the_project(proj: Path) -> None:
    edit(proj / "slos.flow", "<= 3d, owner", "<= 1h, owner")
    whole = same_as_uncached(proj)
    part = check(load_project([str(proj / "models.flow"), str(proj / "sources.flow")]))
    part_fresh = check(load_project([str(proj / "models.flow"), str(proj / "sources.flow")]), use_cache=False)
    assert findings(part) == findings(part_fresh)
    assert same_as_uncached(proj) == whole


def test_the_cache_keeps_one_version_of_each_file(proj: Path) -> None:
    same_as_uncached(proj)
    cache = proj / CACHE_DIR

    def size() -> int:
        return sum(1 for p in cache.rglob("*") if p.is_file())

    baseline = None
    for i in range(6):
        with (proj / "models.flow").open("a") as f:
            f.write(f"# edit {i}\n")
        edit(proj / "flows.flow", f"timeout {20 + i}m", f"timeout {21 + i}m")
        same_as_uncached(proj)
        # after the first edit: the edited file's tree is kept too (driver._unchanged), one version of it
        baseline = baseline or size()
    assert size() == baseline


def test_random_edit_sequences_agree_with_a_fresh_check(proj: Path) -> None:
    """Edits that keep, change, break and restore declarations, in a seeded random order."""
    edits = [
        ("models.flow", "timeout 40ms", "timeout 90ms"),
        ("slos.flow", "<= 3d, owner", "<= 1h, owner"),
        ("flows.flow", "gate auc >= 0.80", "gate auc >= 0.85"),
        ("models.flow", "fallback popular_titles when", "fallback popular_title when"),
        ("features.flow", "freshness <= 10m", "freshness <= 1m"),
        ("sources.flow", "package netflix.recs\n", "package netflix.recs\n# moved down a line\n"),
        ("models.flow", "output score: float\n  confidence", "output score: flot\n  confidence"),
        ("flows.flow", "timeout 20m }", "timeout 20m "),
    ]
    rng = random.Random(20261125)
    applied: set[int] = set()
    seen_codes: set[str] = set()
    for _ in range(24):
        i = rng.randrange(len(edits))
        name, old, new = edits[i]
        if i in applied:
            edit(proj / name, new, old)
            applied.discard(i)
        else:
            edit(proj / name, old, new)
            applied.add(i)
        if rng.random() < 0.3:
            with (proj / rng.choice(["models.flow", "flows.flow", "slos.flow"])).open("a") as f:
                f.write("# touched\n")
        seen_codes.update(codes(same_as_uncached(proj)))
    assert len(seen_codes) >= 3, seen_codes  # the sequence went through several kinds of finding


def test_the_cli_reports_the_same_with_and_without_the_cache(proj: Path) -> None:
    from click.testing import CliRunner

    from mlc.cli import main

    edit(proj / "slos.flow", "<= 3d, owner", "<= 1h, owner")
    runner = CliRunner()
    outputs = []
    for args in (["check", "--format", "json"], ["check", "--format", "json"], ["check", "--format", "json", "--no-cache"]):
        r = runner.invoke(main, args)
        assert r.exit_code == 1
        outputs.append(json.loads(r.stdout)["diagnostics"])
    assert outputs[0] == outputs[1] == outputs[2]
    assert [d["code"] for d in outputs[0]] == ["E0701"]


def test_project_walk_skips_caches_hidden_folders_and_excluded_files(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "sub").mkdir(parents=True)
    (root / "mlc.toml").write_text('[project]\nname = "p"\nexclude = ["scratch/*"]\n')
    for rel in ("a.flow", "sub/b.flow", "sub/c.flow.yaml", ".hidden/d.flow", CACHE_DIR + "/e.flow",
                "build/f.flow", "scratch/g.flow", "notes.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("package p\n")
    os.symlink(root / "missing.flow", root / "dangling.flow")
    found = [p.relative_to(root.resolve()).as_posix() for p in load_project([str(root)]).files]
    assert found == ["a.flow", "sub/b.flow", "sub/c.flow.yaml"]


def test_a_new_declaration_relowers_only_the_files_whose_names_change_meaning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlc.compiler.lower import Lowering

    root = tmp_path / "p"
    root.mkdir()
    (root / "mlc.toml").write_text('[project]\nname = "p"\n')
    (root / "m.flow").write_text("package m\nsignal done { version: string }\n"
                                 "flow emit { schedule cron(\"0 1 * * *\")\n"
                                 "  step s python(\"x:y\") { emits signal done(version = run.id) } }\n")
    (root / "a.flow").write_text("package p\nimport m.{done}\n"
                                 "flow wait { trigger signal(done)\n  step s python(\"x:y\") }\n")
    (root / "b.flow").write_text("package p\nsignal other { version: string }\n"
                                 "flow chained { trigger signal(other)\n  step s python(\"x:y\") }\n")
    (root / "c.flow").write_text("package q\nimport m.{done}\n"
                                 "flow also { trigger signal(done)\n  step s python(\"x:y\") }\n")
    monkeypatch.chdir(root)
    lowered: list[str] = []
    real = Lowering.module

    def counting(self, m):
        lowered.append(m.path)
        return real(self, m)

    monkeypatch.setattr(Lowering, "module", counting)
    same_as_uncached(root)
    edit(root / "b.flow", "signal other {", "signal done { version: string }\nsignal other {")
    lowered.clear()
    cached = check(load_project([str(root)]))
    # b changed; a's `done` now means p.done; c's still means m.done and is not lowered again
    assert sorted(set(lowered)) == ["a.flow", "b.flow"]
    assert cached.program.flows["p.wait"].trigger.target.target == "p.done"
    assert cached.program.flows["q.also"].trigger.target.target == "m.done"
    same_as_uncached(root)


def test_the_cache_folder_is_ignored_by_git(proj: Path) -> None:
    import subprocess

    check(load_project([str(proj)]))
    cache = proj / CACHE_DIR
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    if shutil.which("git") is None:
        pytest.fail("git is needed for this test")
    subprocess.run(["git", "init", "-q", str(proj)], check=True)
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=proj,
                            capture_output=True, text=True, check=True).stdout
    assert "mlc.toml" in status and CACHE_DIR not in status


def test_yaml_files_are_incremental_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        checks_run: list[int]) -> None:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "mlc.toml").write_text('[project]\nname = "shop"\n')
    source = Path(__file__).parent / "fixtures" / "yaml" / "shop.flow.yaml"
    shutil.copy(source, root / "shop.flow.yaml")
    monkeypatch.chdir(root)
    first = same_as_uncached(root)
    runs = len(checks_run)
    with (root / "shop.flow.yaml").open("a") as f:
        f.write("# reviewed\n")
    assert findings(check(load_project([str(root)]))) == first
    assert len(checks_run) == runs  # a comment: the last findings stand
    edit(root / "shop.flow.yaml", "watermark: 30s", "watermark: 45s")
    same_as_uncached(root)
    assert len(checks_run) == runs + 2


# ---------------------------------------------------------------------------------------------
# The per-declaration warm check (mlc.compiler.incremental) on a scaled-down platform: after
# each of many seeded edits, a warm check prints what a cold one prints, byte for byte.

@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("platform") / "platform"
    from tests.test_scale import _generator

    _generator().generate(root, 0.01, seed=0)  # two packages, ~9,900 lines
    return root


class Edits:
    """Seeded edits of a platform, each a different kind of change; `undo` puts a file back."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.original: dict[Path, str] = {}
        self.added = 0

    def _files(self, pattern: str) -> list[Path]:
        return sorted(self.root.glob(pattern))

    def _sub(self, pattern: str, regex: str, make) -> str:
        """Replaces one match of `regex`, picked at random among the files of `pattern`."""
        import re

        hits = [(p, m) for p in self._files(pattern) for m in re.finditer(regex, p.read_text())]
        path, m = self.rng.choice(hits)
        text = path.read_text()
        self.original.setdefault(path, text)
        new = make(m)
        path.write_text(text[:m.start()] + new + text[m.end():])
        return f"{path.relative_to(self.root)}: {m.group(0)!r} -> {new!r}"

    def _append(self, pattern: str, text: str) -> str:
        path = self.rng.choice(self._files(pattern))
        self.original.setdefault(path, path.read_text())
        path.write_text(path.read_text() + text)
        return f"{path.relative_to(self.root)}: + {text.strip()!r}"

    # -- the kinds of edit
    def model_value(self) -> str:
        return self._sub("p*/models.flow", r"timeout \d+ms", lambda m: f"timeout {self.rng.randint(20, 140)}ms")

    def replicas(self) -> str:
        return self._sub("p*/models.flow", r"replicas \d+", lambda m: f"replicas {self.rng.randint(1, 9)}")

    def window(self) -> str:  # a stream group's window, or its step (E1011 when steps differ)
        return self._sub("p*/streams*.flow", r"over 1h every 10m",
                         lambda m: self.rng.choice(["over 2h every 10m", "over 1h every 5m", "over 3h every 10m"]))

    def batch_value(self) -> str:
        return self._sub("p*/batch.flow", r"  timeout 1h\n", lambda m: f"  timeout {self.rng.randint(2, 5)}h\n")

    def flow_value(self) -> str:
        return self._sub("p*/flows.flow", r"\{ timeout \d+m", lambda m: f"{{ timeout {self.rng.choice([5, 15, 45])}m")

    def schedule(self) -> str:
        return self._sub("p*/flows.flow", r'cron\("\d+ ', lambda m: f'cron("{self.rng.randint(0, 59)} ')

    def slo_bound(self) -> str:  # may break an objective (E0701, E0705)
        return self._sub("p*/slos.flow", r"<= \d+(ms|h|d)",
                         lambda m: self.rng.choice(["<= 5ms", "<= 300ms", "<= 150ms", "<= 3d", "<= 30d"]))

    def new_declaration(self) -> str:
        import re

        self.added += 1
        pkg, other = self.rng.sample(["p000", "p001"], 2)
        signal = self.rng.choice(re.findall(r"^signal (\w+)", (self.root / pkg / "flows.flow").read_text(), re.MULTILINE))
        return self._append(f"{pkg}/*.flow", self.rng.choice([
            f"\nentity {pkg}_added{self.added} {{ key added_id: string }}\n",
            f"\nslo {pkg}_added{self.added} {{ latency({pkg}_model0) p99 <= 120ms }}\n",
            f"\nsignal {pkg}_added{self.added} {{ version: string }}\n",
            # the short name of the other package's entity: the layout qualifies both
            f"\nentity {other}_user {{ key user_id: string }}\n",
            (f"\nflow {pkg}_added{self.added} {{\n  trigger signal({signal})\n"
             f"  step go bash(\"scripts/go.sh\") {{ timeout 5m }}\n}}\n"),
        ]))

    def remove_slo(self) -> str:
        return self._sub("p*/slos.flow", r"slo \w+ \{[^\n]*\}\n", lambda m: "")

    def rename(self) -> str:  # its users no longer resolve (E0202)
        return self._sub("p*/models.flow", r"model (p\d+_rules\d)", lambda m: f"model {m.group(1)}x")

    def mistake(self) -> str:
        return self._sub("p*/flows.flow", r"produces (p\d+_model\d)", lambda m: f"produces {m.group(1)}e")

    def comment(self) -> str:
        return self._append("p*/*.flow", "\n# a note\n")

    def entity(self) -> str:  # a shared entity: every group on it reads it
        return self._sub("p*/sources.flow", r"key (\w+)_id: string", lambda m: f"key {m.group(1)}_id: int")

    def env(self) -> str:  # every declaration reads the envs
        return self._sub("core/envs.flow", r'bucket = "[\w-]+"', lambda m: f'bucket = "b{self.rng.randint(0, 99)}"')

    def new_file(self) -> str:
        self.added += 1
        pkg = self.rng.choice(["p000", "p001"])
        path = self.root / pkg / f"added{self.added}.flow"
        self.original[path] = None
        path.write_text(f"package platform.{pkg}\nentity {pkg}_file{self.added} {{ key file_id: string }}\n"
                        f"slo {pkg}_file{self.added} {{ latency({pkg}_model1) p99 <= 90ms }}\n")
        return f"{path.relative_to(self.root)}: new"

    def several(self) -> str:  # one check after edits in several files (a branch checked out)
        kinds = self.rng.sample(["model_value", "flow_value", "new_declaration", "batch_value", "remove_slo"], 3)
        return "; ".join(getattr(self, k)() for k in kinds)

    def undo(self) -> str:
        if not self.original:
            return self.comment()
        path = self.rng.choice(sorted(self.original))
        text = self.original.pop(path)
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
        return f"{path.relative_to(self.root)}: undone"

    KINDS = ("model_value", "replicas", "window", "batch_value", "flow_value", "schedule", "slo_bound",
             "new_declaration", "remove_slo", "rename", "mistake", "comment", "entity", "env", "new_file",
             "several", "undo", "undo")

    MISTAKES = ("rename", "mistake", "entity", "slo_bound", "model_value")

    def plan(self, n: int) -> list[str]:
        """Every kind once, then random ones; a kind that may make an error is mostly undone
        next, so that most edits are checked with the backends' validation too."""
        kinds = list(self.KINDS) + [self.rng.choice(self.KINDS) for _ in range(n - len(self.KINDS))]
        self.rng.shuffle(kinds)
        return [k for kind in kinds
                for k in ([kind, "undo"] if kind in self.MISTAKES and self.rng.random() < 0.7 else [kind])]


def _incremental_runs(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each warm check was the per-declaration one (True) or fell back to a full one."""
    from mlc.compiler import incremental

    taken: list[bool] = []
    real = incremental.recheck

    def recording(*args, **kwargs):
        out = real(*args, **kwargs)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(incremental, "recheck", recording)
    return taken


def _printed(root: Path, use_cache: bool, backends: bool) -> str:
    """What `mlc check` prints (JSON), with the backends' validation or the compiler's alone."""
    from mlc.deploy.bundle import check as check_bundle
    from mlc.diagnostics import render_json

    run = check_bundle if backends else check
    return render_json(run(load_project([str(root)]), use_cache=use_cache).diagnostics)


@pytest.mark.parametrize("backends,seed,steps", [(True, 0, 16), (False, 1, 6)])
def test_seeded_edits_of_a_platform_check_warm_as_cold(platform: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         backends: bool, seed: int, steps: int) -> None:
    root = tmp_path / "p"
    shutil.copytree(platform, root, ignore=shutil.ignore_patterns(CACHE_DIR))
    monkeypatch.chdir(root)
    taken = _incremental_runs(monkeypatch)
    assert json.loads(_printed(root, True, backends))["error_count"] == 0  # fills the cache
    edits = Edits(root, seed)
    seen: set[str] = set()
    kinds = iter(edits.plan(steps))
    i = 0
    # then back to the clean platform, its validation included
    while (kind := next(kinds, "undo" if edits.original else None)) is not None:
        what = getattr(edits, kind)()
        warm = _printed(root, True, backends)
        cold = _printed(root, False, backends)
        assert warm == cold, (i, kind, what)
        seen |= {d["code"] for d in json.loads(cold)["diagnostics"]}
        i += 1
    assert json.loads(cold)["error_count"] == 0
    assert {"E0202"} <= seen, seen
    assert sum(taken) >= len(taken) * 2 // 3, taken  # most edits were checked per declaration


class ExampleEdits(Edits):
    """Edits any program takes: a duration, a declaration renamed (its users break) or
    removed, undone in a seeded order."""

    KINDS = ("duration", "duration", "duration", "rename", "remove", "comment", "undo", "undo")
    MISTAKES = ("rename", "remove")

    def duration(self) -> str:
        return self._sub("**/*.flow", r"\b(\d+)(ms|m|h|d)\b",
                         lambda m: f"{max(1, int(m.group(1)) + self.rng.choice([-5, -1, 1, 7, 30]))}{m.group(2)}")

    def rename(self) -> str:
        return self._sub("**/*.flow", r"(?m)^(model|features|source|flow|signal|artifact|entity|service|slo) (\w+)",
                         lambda m: f"{m.group(1)} {m.group(2)}x")

    def remove(self) -> str:  # a whole declaration, from its first line to its closing brace
        return self._sub("**/*.flow", r"(?m)^(model|features|flow|signal|artifact|service|slo) \w+[^\n]*\{(.*\n)*?\}\n",
                         lambda m: "")

    def comment(self) -> str:
        return self._append("**/*.flow", "\n# a note\n")


@pytest.mark.parametrize("example", ["recommendations", "fraud", "nightly_batch", "feast_local"])
def test_seeded_edits_of_the_examples_check_warm_as_cold(example: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Artifacts, feature services, request sources, payload matches, alerts: what the
    platform lacks, the examples have."""
    root = tmp_path / example
    shutil.copytree(EXAMPLE.parent / example, root, ignore=shutil.ignore_patterns(CACHE_DIR, "__pycache__"))
    monkeypatch.chdir(root)
    taken = _incremental_runs(monkeypatch)
    _printed(root, True, True)
    edits = ExampleEdits(root, sum(map(ord, example)))
    kinds = iter(edits.plan(10))
    i = 0
    while (kind := next(kinds, "undo" if edits.original else None)) is not None:
        what = getattr(edits, kind)()
        assert _printed(root, True, True) == _printed(root, False, True), (i, kind, what)
        i += 1
    assert sum(taken) >= len(taken) // 2, taken
