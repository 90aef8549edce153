"""The command line, run as a user runs it (a subprocess): exit codes 0 clean, 1 findings,
2 usage or internal error; text and JSON output; atomic output folders; the IR schema."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from mlc.dsl.files import MAX_FILE_BYTES

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def mlc(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    full_env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "mlc", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=120)


def project(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "mlc.toml").write_text('[project]\nname = "demo"\nsources = ["."]\n', encoding="utf-8")
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


CLEAN = 'package demo\nsignal ready external\nflow f {\n  trigger signal(ready)\n  step a python("m:f")\n}\n'
BROKEN = 'package demo\nflow f {\n  step a python("m:f") {\n    timeout\n    retries 2\n  }\n}\n'


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A copy of examples/nightly_batch, so that runs write nothing into the repository."""
    dst = tmp_path / "nightly_batch"
    shutil.copytree(EXAMPLES / "nightly_batch", dst, ignore=shutil.ignore_patterns(".mlc_cache", "__pycache__"))
    return dst


# ---------------------------------------------------------------- check


def test_version_and_help(tmp_path: Path) -> None:
    r = mlc("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("mlc, version ")
    r = mlc("--help", cwd=tmp_path)
    assert r.returncode == 0 and "check" in r.stdout and "compile" in r.stdout and "schema" in r.stdout


def test_clean_project_exits_0(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": CLEAN})
    r = mlc("check", "--no-cache", cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr.strip() == "checked 1 file, 2 declarations: 0 errors, 0 warnings"


def test_syntax_error_exits_1_with_rustc_style_text(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": BROKEN})
    r = mlc("check", "--no-cache", cwd=root)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(
        "error[E0001]: expected a duration (like `5m`) after `timeout` in step `a`\n"
        " --> main.flow:4:5\n"
        "  |\n"
        "4 |     timeout\n"
        "  |     ^^^^^^^\n")
    assert r.stderr.rstrip().endswith("1 error, 0 warnings")


def test_json_format(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": BROKEN, "ok.flow": "package demo\nsignal s external\n"})
    r = mlc("check", "--format", "json", "--no-cache", cwd=root)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["format_version"] == "1.0"
    assert (doc["valid"], doc["error_count"]) == (False, 1)
    (d,) = [x for x in doc["diagnostics"] if x["severity"] == "error"]
    assert d["code"] == "E0001"
    assert d["range"] == {"file": "main.flow", "start": {"line": 4, "column": 5}, "end": {"line": 4, "column": 12}}
    assert set(d) == {"code", "severity", "message", "range", "labels", "notes", "help"}


def test_json_format_when_clean(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": CLEAN})
    r = mlc("check", "--format", "json", "--no-cache", cwd=root)
    assert r.returncode == 0
    assert json.loads(r.stdout) == {"format_version": "1.0", "valid": True, "error_count": 0,
                                    "warning_count": 0, "diagnostics": []}


def test_warnings_are_findings(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": "package demo\nsignal s\n"})
    r = mlc("check", "--format", "json", "--no-cache", cwd=root)
    doc = json.loads(r.stdout)
    assert (doc["valid"], doc["error_count"], doc["warning_count"]) == (True, 0, 1)
    assert r.returncode == 1


def test_check_named_files_and_folders(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": CLEAN, "bad.flow": BROKEN})
    assert mlc("check", "--no-cache", "main.flow", cwd=root).returncode == 0
    assert mlc("check", "--no-cache", str(root), cwd=tmp_path).returncode == 1


def test_every_syntax_error_of_a_file_in_one_run(tmp_path: Path) -> None:
    text = (Path(__file__).parent / "fixtures" / "syntax" / "three_mistakes.flow").read_text(encoding="utf-8")
    root = project(tmp_path / "p", {"three.flow": text})
    doc = json.loads(mlc("check", "--format", "json", "--no-cache", cwd=root).stdout)
    errors = [(d["code"], d["range"]["start"]["line"]) for d in doc["diagnostics"] if d["code"].startswith("E00")]
    assert errors == [("E0001", 7), ("E0007", 14), ("E0002", 21)]


# ---------------------------------------------------------------- usage errors: exit 2


def test_no_project_here_is_a_usage_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = mlc("check", cwd=empty)
    assert r.returncode == 2
    assert "no mlc.toml in this folder or above it" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    r = mlc("check", "nowhere.flow", cwd=tmp_path)
    assert r.returncode == 2 and "no such file or folder: nowhere.flow" in r.stderr


def test_unknown_option_and_command(tmp_path: Path) -> None:
    assert mlc("check", "--frobnicate", cwd=tmp_path).returncode == 2
    assert mlc("frobnicate", cwd=tmp_path).returncode == 2
    assert mlc("check", "--format", "xml", cwd=tmp_path).returncode == 2


def test_broken_mlc_toml_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "mlc.toml").write_text("[project\nname = ", encoding="utf-8")
    r = mlc("check", cwd=root)
    assert r.returncode == 2 and "not valid TOML" in r.stderr


def test_compile_usage_errors(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = mlc("compile", "--out", str(out), cwd=example_copy)
    assert r.returncode == 2 and "--env" in r.stderr
    r = mlc("compile", "--env", "lcoal", "--out", str(out), "--no-cache", cwd=example_copy)
    assert r.returncode == 2
    assert "no env `lcoal` in this program (envs: local, prod)" in r.stderr
    assert "did you mean `local`?" in r.stderr
    r = mlc("compile", "--env", "local", "--out", str(out), "--target", "nope", cwd=example_copy)
    assert r.returncode == 2 and "unknown target `nope`" in r.stderr
    assert not out.exists()


def test_internal_error_exits_2_with_a_short_report(tmp_path: Path) -> None:
    root = project(tmp_path / "p", {"main.flow": CLEAN})
    code = ("import sys, mlc.compiler.driver as d\n"
            "def boom(*a, **k): raise RuntimeError('kaboom')\n"
            "d.check = boom\n"
            "sys.argv = ['mlc', 'check', '--no-cache']\n"
            "import mlc.cli; mlc.cli.run()\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "internal error: RuntimeError: kaboom" in r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- files that are not programs


def test_unreadable_files_are_reported(tmp_path: Path) -> None:
    """Binary, non-UTF-8 and too large files are findings with a place, never a traceback; the
    readable files of the project are still checked."""
    root = project(tmp_path / "p", {
        "main.flow": BROKEN,
        "binary.flow": b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)),
        "latin1.flow": "package demo\nmodel m { owner \"Zoë\" }\n".encode("latin-1"),
    })
    with open(root / "huge.flow", "wb") as f:  # sparse: only its size is written
        f.truncate(MAX_FILE_BYTES + 1)
    r = mlc("check", "--format", "json", "--no-cache", cwd=root)
    assert r.returncode == 1
    found = {d["code"]: (d["range"]["file"], d["range"]["start"]["line"], d["range"]["start"]["column"])
             for d in json.loads(r.stdout)["diagnostics"]}
    assert found == {"E0001": ("main.flow", 4, 5), "E0010": ("latin1.flow", 2, 20),
                     "E0011": ("binary.flow", 1, 1), "E0012": ("huge.flow", 1, 1)}
    r = mlc("check", "--no-cache", cwd=root)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "error[E0011]: this is a binary file, not a .flow program" in r.stderr
    assert "error[E0010]: the file is not valid UTF-8 (byte 0xeb)" in r.stderr
    assert "error[E0012]: file is too large to be a program (16.0 MiB; the limit is 16 MiB)" in r.stderr


# ---------------------------------------------------------------- compile


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """examples/nightly_batch compiled once with --emit ir: the output folder."""
    base = tmp_path_factory.mktemp("compiled")
    src = base / "nightly_batch"
    shutil.copytree(EXAMPLES / "nightly_batch", src, ignore=shutil.ignore_patterns(".mlc_cache", "__pycache__"))
    r = mlc("compile", "--env", "local", "--out", str(base / "out"), "--emit", "ir", "--no-cache", cwd=src)
    assert r.returncode == 0, r.stderr
    assert re.search(r"; wrote \d+ files to " + re.escape(str(base / "out")) + "$", r.stderr.strip())
    return base / "out"


@pytest.fixture(scope="module")
def ir_schema(tmp_path_factory) -> dict:
    r = mlc("schema", cwd=tmp_path_factory.mktemp("schema"))
    assert r.returncode == 0
    return json.loads(r.stdout)


def test_compile_emits_ir_that_the_schema_validates(compiled: Path, ir_schema: dict) -> None:
    ir_doc = json.loads((compiled / "ir.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(ir_schema)
    validator = jsonschema.Draft202012Validator(ir_schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(ir_doc)]
    assert errors == []
    assert ir_doc["format_version"] == ir_schema["properties"]["format_version"]["default"]
    assert sorted(ir_doc["flows"]) and sorted(ir_doc["models"])
    leftovers = [p.name for p in compiled.parent.iterdir() if p.name.startswith(".out.")]
    assert leftovers == []


def test_compile_is_deterministic(compiled: Path, example_copy: Path, tmp_path: Path) -> None:
    """Another process (another hash seed), another folder: the same bytes."""
    r = mlc("compile", "--env", "local", "--out", str(tmp_path / "again"), "--emit", "ir", "--no-cache",
            cwd=example_copy, env={"PYTHONHASHSEED": "12345"})
    assert r.returncode == 0, r.stderr

    def tree(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    again, first = tree(tmp_path / "again"), tree(compiled)
    assert sorted(again) == sorted(first)
    assert [name for name in first if again[name] != first[name]] == []


def test_a_failed_compile_leaves_the_output_untouched(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".mlc-output").write_text("", encoding="utf-8")
    (out / "previous.txt").write_text("from the last good compile", encoding="utf-8")
    flow = example_copy / "churn.flow"
    flow.write_text(flow.read_text(encoding="utf-8").replace("timeout 1h\n", "timeout\n", 1), encoding="utf-8")
    r = mlc("compile", "--env", "local", "--out", str(out), "--emit", "ir", "--no-cache", cwd=example_copy)
    assert r.returncode == 1
    assert "nothing written" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == [".mlc-output", "previous.txt"]
    assert (out / "previous.txt").read_text(encoding="utf-8") == "from the last good compile"


def test_a_good_compile_replaces_its_own_earlier_output(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = mlc("compile", "--env", "local", "--out", str(out), "--emit", "ir", "--no-cache", cwd=example_copy)
    assert r.returncode == 0, r.stderr
    (out / "stale.txt").write_text("old", encoding="utf-8")
    r = mlc("compile", "--env", "local", "--out", str(out), "--emit", "ir", "--no-cache", cwd=example_copy)
    assert r.returncode == 0, r.stderr
    written = sorted(p.name for p in out.iterdir())
    assert "ir.json" in written and ".mlc-output" in written and "stale.txt" not in written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nightly_batch", "out"]


def test_a_recompile_into_build_keeps_the_data_a_local_env_wrote_there(example_copy: Path) -> None:
    """nightly_batch binds `s3 = files("build/s3")` locally, and the README compiles with `--out
    build`: the offline tables the last runs wrote under build/s3 survive a recompile (they were
    deleted with the old bundle), the rest of the old bundle does not."""
    r = mlc("compile", "--env", "local", "--out", "build", "--no-cache", cwd=example_copy)
    assert r.returncode == 0, r.stderr
    table = example_copy / "build" / "s3" / "features" / "account_health" / "part-0.parquet"
    table.parent.mkdir(parents=True)
    table.write_bytes(b"rows of the last run")
    (example_copy / "build" / "stale.txt").write_text("old", encoding="utf-8")
    r = mlc("compile", "--env", "local", "--out", "build", "--no-cache", cwd=example_copy)
    assert r.returncode == 0, r.stderr
    assert table.read_bytes() == b"rows of the last run"
    assert not (example_copy / "build" / "stale.txt").exists()
    assert (example_copy / "build" / "manifest.json").is_file()
    assert [p.name for p in example_copy.iterdir() if p.name.startswith(".build.")] == []


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", [".", "..", "churn_dir"])
def test_compile_never_replaces_the_project_or_a_folder_that_holds_it(example_copy: Path, where: str) -> None:
    """`--out .` once deleted every .flow file and mlc.toml of the project."""
    if where == "churn_dir":  # a folder of sources inside the project
        (example_copy / "churn_dir").mkdir()
        (example_copy / "churn.flow").rename(example_copy / "churn_dir" / "churn.flow")
    before = _tree(example_copy.parent)
    r = mlc("compile", "--env", "local", "--out", where, "--no-cache", cwd=example_copy)
    assert r.returncode == 2, r.stderr
    assert "would replace" in r.stderr and "nothing written" in r.stderr
    assert "Traceback" not in r.stderr
    assert _tree(example_copy.parent) == before


def test_compile_refuses_a_non_empty_folder_it_did_not_write(example_copy: Path, tmp_path: Path) -> None:
    """A shared DAG folder keeps its other files and its mode."""
    dags = tmp_path / "dags"
    dags.mkdir()
    dags.chmod(0o755)
    (dags / "someone_elses_dag.py").write_text("# theirs", encoding="utf-8")
    r = mlc("compile", "--env", "local", "--out", str(dags), "--no-cache", cwd=example_copy)
    assert r.returncode == 2
    assert "not empty and was not written by mlc" in r.stderr and "nothing written" in r.stderr
    assert _tree(dags) == {"someone_elses_dag.py": b"# theirs"}
    assert dags.stat().st_mode & 0o777 == 0o755


def test_compile_fills_an_empty_folder_and_keeps_its_mode(example_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    out.chmod(0o750)
    r = mlc("compile", "--env", "local", "--out", str(out), "--no-cache", cwd=example_copy)
    assert r.returncode == 0, r.stderr
    assert (out / ".mlc-output").is_file()
    assert out.stat().st_mode & 0o777 == 0o750


def test_outputs_get_the_umask_permissions(example_copy: Path, tmp_path: Path) -> None:
    """mkdtemp/mkstemp make 0700/0600; what mlc hands over is the umask's (022 here)."""
    script = ("import os, sys; os.umask(0o022); from mlc.cli import entry; sys.argv = ['mlc'] + sys.argv[1:]; "
              "entry()")
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script, *args], cwd=example_copy, capture_output=True,
                              text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    out = tmp_path / "bundle"
    assert run("compile", "--env", "local", "--out", str(out), "--no-cache").returncode == 0
    assert out.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_file()} == {0o644}
    assert {p.stat().st_mode & 0o777 for p in out.rglob("*") if p.is_dir()} == {0o755}
    assert run("graph", "--out", str(tmp_path / "g.mmd"), "--no-cache").returncode == 0
    assert (tmp_path / "g.mmd").stat().st_mode & 0o777 == 0o644
    run("lint", "-o", str(tmp_path / "report.json"), "--format", "json", "--no-cache")
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o644


def test_writing_is_all_or_nothing(tmp_path: Path) -> None:
    """An artifact that cannot be written (here: a path outside OUT) leaves OUT as it was."""
    from mlc.deploy.outdir import write_output
    from mlc.targets import Artifact

    out = tmp_path / "out"
    write_output(out, [Artifact("keep.txt", "keep")])
    with pytest.raises(ValueError, match="escapes the output folder"):
        write_output(out, [Artifact("a.txt", "a"), Artifact("../evil.txt", "x")])
    assert sorted(p.name for p in out.iterdir()) == [".mlc-output", "keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not (tmp_path / "evil.txt").exists()


def test_schema_prints_json_schema(ir_schema: dict) -> None:
    schema = ir_schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"].startswith("mlc IR ")
    assert {"flows", "models", "feature_groups", "sources", "signals", "slos"} <= set(schema["properties"])
