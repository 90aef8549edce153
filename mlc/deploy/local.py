"""The local deploy: versioned release folders and a `current` pointer switched last.

```
ROOT/                    ([deploy.local] root, default PROJECT/deploy/local)
  releases/000001/       a whole bundle (the paths of `mlc compile --out`), its
  releases/000002/         manifest.json and release.json (id, previous, what each applier kept)
  current -> releases/000002
  airflow/               AIRFLOW_HOME: dags -> ../current/airflow/dags, plugins -> ...
  deploy.env             the variables the engines run with (AIRFLOW_HOME, MLC_BUNDLE, ...)
```

A deploy diffs the compiled manifest against `current/manifest.json`. No change: nothing
is written. Otherwise the new release is built in a staging folder beside the others:
unchanged artifacts are hard links to the current release's files, each target's changes
go through its applier, then the folder is renamed into place and `current` is replaced
by a new symbolic link in one rename. Until that rename the current release is whole and
current; a failure removes the staging folder. One deploy at a time (a lock file).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mlc.deploy import apply as appliers
from mlc.deploy import engines
from mlc.deploy.apply import BENTO_STORE, CURRENT, RELEASES, RUNTIMES, ApplyError, Release
from mlc.deploy.config import DeployConfig
from mlc.deploy.plan import REMOVE, Plan, diff
from mlc.dsl.files import write_atomically
from mlc.targets.layout import MANIFEST, Layout

RELEASE_JSON, DEPLOY_ENV = "release.json", "deploy.env"


class DeployError(Exception):
    """A deploy or rollback that cannot go on; `target`/`artifact` name where, when known."""

    def __init__(self, message: str, target: str | None = None, artifact: str | None = None,
                 help: str | None = None) -> None:
        super().__init__(message)
        self.message, self.target, self.artifact, self.help = message, target, artifact, help


@dataclass
class Outcome:
    plan: Plan
    release: str | None  # the release current afterwards
    applied: dict[str, int] = field(default_factory=dict)  # target -> artifacts applied
    pruned: list[str] = field(default_factory=list)


def current_release(root: Path) -> str | None:
    link = root / CURRENT
    return os.path.basename(os.readlink(link)) if link.is_symlink() else None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DeployError(f"cannot read {path}: {e}",
                          help="the deploy folder is damaged; deploy to a new --to folder") from e


def deployed_manifest(root: Path) -> dict | None:
    release = current_release(root)
    return _read_json(root / RELEASES / release / MANIFEST) if release else None


def plan(manifest: dict, config: DeployConfig) -> Plan:
    root = config.root
    return diff(manifest, deployed_manifest(root), config.env, config.where, current_release(root))


@contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    ignore = root / ".gitignore"
    if not ignore.exists():  # releases are built from the sources: never commit them
        ignore.write_text("*\n", encoding="utf-8")
    with open(root / ".lock", "a") as lock:  # "a": never truncated, so never touched
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise DeployError(f"another deploy to {root} is running", help="wait for it to finish") from e
        yield


def _switch(root: Path, release: str) -> None:
    """Points `current` at `release` with one rename of a new link over the old one."""
    tmp = root / f".{CURRENT}.{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(os.path.join(RELEASES, release), tmp)
    os.replace(tmp, root / CURRENT)


def engine_environment(config: DeployConfig) -> dict[str, str]:
    """The variables an engine of this deploy runs with: how generated files and steps find
    the bundle, the Airflow home, the feature repository, the model store and the engines."""
    from mlc.deploy.apply.airflow import airflow_home

    root = config.root
    return {"AIRFLOW_HOME": str(airflow_home(root)), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "MLC_BUNDLE": str(root / CURRENT), "MLC_FEAST_REPO": str(root / CURRENT / Layout.feast_repo()),
            "BENTOML_HOME": str(root / BENTO_STORE), "BENTOML_DO_NOT_TRACK": "True",
            "MLC_ENGINES": str(config.engines), "MLC_PROJECT_ROOT": str(config.project_root),
            "MLC_FEAST": str(engines.program(config.engines, "serving", "feast")),
            # python steps (a model's training) run where the ML stack is
            "MLC_STEP_PYTHON": str(engines.program(config.engines, "serving")),
            # ... or in the environment of their runtime (mlc.deploy.runtimes)
            "MLC_RUNTIMES": str(root / RUNTIMES),
            # jobs and flows push their freshness and success there (mlc.compiler.metrics)
            **({"MLC_PUSHGATEWAY": config.pushgateway} if config.pushgateway else {}),
            # the broker of the stream sources ([deploy.ENV] kafka_bootstrap; mlc.run.kafka)
            **({"MLC_KAFKA_BOOTSTRAP": config.kafka_bootstrap} if config.kafka_bootstrap else {})}


def _write_env(config: DeployConfig) -> None:
    text = "".join(f"{k}={v}\n" for k, v in sorted(engine_environment(config).items()))
    path = config.root / DEPLOY_ENV
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        write_atomically(path, text)


def _next_id(root: Path) -> str:
    ids = [int(p.name) for p in (root / RELEASES).iterdir() if p.name.isdigit()] if (root / RELEASES).is_dir() else []
    return f"{max(ids, default=0) + 1:06d}"


def _prune(root: Path, keep: int) -> list[str]:
    """Removes the oldest releases beyond `keep`, never the current one nor its previous."""
    current = current_release(root)
    info = _read_json(root / RELEASES / current / RELEASE_JSON) if current else None
    protect = {current, (info or {}).get("previous")}
    releases = sorted(p.name for p in (root / RELEASES).iterdir() if p.name.isdigit())
    gone = [r for r in releases[:-keep] if r not in protect] if len(releases) > keep else []
    for r in gone:
        shutil.rmtree(root / RELEASES / r)
    return gone


def deploy(manifest: dict, texts: dict[str, str], config: DeployConfig) -> Outcome:
    """Deploys the compiled bundle (`manifest`, and `texts`: path -> text of every artifact)."""
    root = config.root
    with _locked(root):
        the_plan = plan(manifest, config)
        current = the_plan.deployed
        if the_plan.empty:
            # the bundle is deployed, but where the engines are (or the broker, the Pushgateway)
            # may have moved since: deploy.env is what runs read (written only when it differs)
            if current:
                _write_env(config)
            return Outcome(the_plan, current)
        try:  # every changed target has an applier, before anything is done
            for target in the_plan.by_target():
                appliers.get(target)
        except ApplyError as e:
            raise DeployError(e.message, e.target, e.artifact, e.help) from e
        previous = root / RELEASES / current if current else None
        state = ((_read_json(previous / RELEASE_JSON) or {}).get("applied", {})) if previous else {}
        (root / RELEASES).mkdir(parents=True, exist_ok=True)
        for left in (root / RELEASES).glob("staging-*"):  # of a deploy that died; we hold the lock
            shutil.rmtree(left, ignore_errors=True)
        new_id = _next_id(root)
        staging = Path(tempfile.mkdtemp(prefix=f"staging-{new_id}-", dir=root / RELEASES))
        try:
            changed = {c.path for c in the_plan.changes}
            for a in manifest["artifacts"]:  # carried: deployable, deployed and unchanged
                if a.get("target") and a["path"] not in changed:
                    try:
                        appliers.carry(previous / a["path"], staging / a["path"])
                    except OSError as e:
                        raise ApplyError(a["target"], a["path"], f"the deployed file cannot be carried over: {e}",
                                         help="the current release was changed by hand: restore it, or deploy "
                                              "to a new --to folder") from e
            release = Release(new_id, staging, previous, config, texts)
            kept: dict[str, dict] = {}
            applied: dict[str, int] = {}
            for target, changes in sorted(the_plan.by_target().items(), key=lambda kv: appliers.order([kv[0]])):
                release.state = state.get(target, {})
                try:
                    kept[target] = appliers.get(target).apply(changes, release)
                except ApplyError:
                    raise
                except Exception as e:  # an engine's failure, reported as the target's
                    raise ApplyError(target, changes[0].path if len(changes) == 1 else None,
                                     f"{type(e).__name__}: {e}") from e
                applied[target] = sum(c.action != REMOVE for c in changes)
            deployed_targets = {a["target"] for a in (_read_json(previous / MANIFEST) or {}).get("artifacts", ())
                                if a.get("target")} if previous else set()
            for target in appliers.order(deployed_targets & set(manifest["targets"]) - set(the_plan.by_target())):
                try:  # unchanged targets bring along what they keep in a release, and their state
                    appliers.get(target).carry(release)
                except ApplyError as e:
                    raise ApplyError(target, None, f"carrying the unchanged target: {e.message}", e.help) from e
                except OSError as e:
                    raise ApplyError(target, None, f"carrying the unchanged target: {e}") from e
                if target in state:
                    kept[target] = state[target]
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            (staging / RELEASE_JSON).write_text(json.dumps(
                {"id": new_id, "previous": current, "env": config.env, "applied": kept,
                 "summary": the_plan.summary()}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(staging, root / RELEASES / new_id)
        except ApplyError as e:
            shutil.rmtree(staging, ignore_errors=True)
            raise DeployError(e.message, e.target, e.artifact, e.help) from e
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _write_env(config)
        _switch(root, new_id)
        return Outcome(the_plan, new_id, applied, _prune(root, config.keep))


def rollback(config: DeployConfig) -> tuple[str, str]:
    """Makes the release that was current before the current one current again; returns
    (from, to)."""
    root = config.root
    with _locked(root):
        current = current_release(root)
        if current is None:
            raise DeployError(f"nothing is deployed at {root}", help="deploy first: mlc deploy --env " + config.env)
        info = _read_json(root / RELEASES / current / RELEASE_JSON) or {}
        previous = info.get("previous")
        if not previous:
            raise DeployError(f"release {current} is the first one at {root}: there is no release to roll back to")
        folder = root / RELEASES / previous
        if not folder.is_dir():
            raise DeployError(f"release {previous} (before {current}) is no longer kept at {root}",
                              help="raise `keep` in [deploy." + config.env + "] to keep more releases")
        target_info = _read_json(folder / RELEASE_JSON) or {}
        manifest = _read_json(folder / MANIFEST) or {}
        release = Release(previous, folder, root / RELEASES / current, config, {})
        for target in appliers.order(manifest.get("targets", [])):
            release.state = target_info.get("applied", {}).get(target, {})
            try:
                appliers.get(target).rollback(release)
            except ApplyError as e:
                raise DeployError(e.message, e.target, e.artifact, e.help) from e
        _switch(root, previous)
        return current, previous
