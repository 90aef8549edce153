"""The environments of a local deploy's step runtimes (`runtime R { python, pypi }`).

The Airflow target writes each runtime its steps use as `airflow/runtimes/<key>.json`; the
local Airflow applier makes `ROOT/runtimes/<key>` the environment steps of that runtime run
with (`$MLC_RUNTIMES/<key>/bin/python`, see `_mlc_policy_step`): an engine environment of
the deploy that already has that python and every pinned package (found, linked, nothing
installed), else a virtualenv built with uv. What was made is recorded beside it
(`<key>.json`, the spec), so a deploy with the same spec keeps it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from mlc.deploy.apply import RUNTIMES, ApplyError
from mlc.dsl.files import write_atomically

_PROBE = ("import importlib.metadata as m, json, sys\n"
          "spec = json.loads(sys.argv[1])\n"
          "ok = spec.get('python') in (None, '%d.%d' % sys.version_info[:2])\n"
          "for pin in spec.get('pypi', []):\n"
          "    name, _, version = pin.partition('==')\n"
          "    try:\n"
          "        ok = ok and (not version or m.version(name.strip()) == version.strip())\n"
          "    except m.PackageNotFoundError:\n"
          "        ok = False\n"
          "sys.exit(0 if ok else 1)\n")


def ensure(root: Path, engines: Path, key: str, spec: dict) -> str:
    """Makes ROOT/runtimes/KEY the environment of `spec`; returns what was done (kept,
    found ENGINE, built)."""
    folder, record = root / RUNTIMES / key, root / RUNTIMES / f"{key}.json"
    if record.is_file() and json.loads(record.read_text(encoding="utf-8")) == spec and folder.exists():
        return "kept"
    if folder.is_symlink():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    found = next((env for env in sorted(engines.iterdir()) if _satisfies(env, spec)), None) \
        if engines.is_dir() else None
    if found is not None:
        folder.symlink_to(found.resolve(), target_is_directory=True)
        done = f"found {found.name}"
    else:
        _build(folder, spec, key)
        done = "built"
    write_atomically(record, json.dumps(spec, sort_keys=True))
    return done


def _satisfies(env: Path, spec: dict) -> bool:
    python = env / "bin" / "python"
    if not python.is_file():
        return False
    return subprocess.run([str(python), "-c", _PROBE, json.dumps(spec)], capture_output=True,
                          timeout=60).returncode == 0


def _build(folder: Path, spec: dict, key: str) -> None:
    uv = shutil.which("uv")
    if uv is None:
        raise ApplyError("airflow", f"airflow/runtimes/{key}.json", f"runtime `{key}` needs a new environment "
                         "and uv is not installed", help="pip install uv, or pin what an engine environment has")
    steps = [[uv, "venv", "--python", spec.get("python") or "3.11", str(folder)]]
    if spec.get("pypi"):
        steps.append([uv, "pip", "install", "--python", str(folder / "bin" / "python"), *spec["pypi"]])
    for command in steps:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, env={**os.environ})
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApplyError("airflow", f"airflow/runtimes/{key}.json",
                             f"runtime `{key}`: {' '.join(command[:3])} failed: {(done.stderr or done.stdout)[-800:]}",
                             help="check the runtime's python and pypi pins (offline, uv installs from its cache)")
