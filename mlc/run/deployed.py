"""The deployed local release a run starts from: the deploy folder of an env, its current
release's manifest and `deploy.env`, the engine environment to run in."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mlc.deploy import engines
from mlc.deploy.config import ConfigError, DeployConfig, load
from mlc.deploy.local import CURRENT, DEPLOY_ENV, MANIFEST, current_release


class RunError(Exception):
    """A run that cannot start or failed; `help` says what to do."""

    def __init__(self, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.message, self.help = message, help

    def __str__(self) -> str:
        return f"error: {self.message}" + (f"\n  help: {self.help}" if self.help else "")


@dataclass(frozen=True)
class Deployed:
    config: DeployConfig
    release: str
    manifest: dict
    env: dict[str, str]  # deploy.env's variables

    @property
    def bundle(self) -> Path:
        return self.config.root / CURRENT

    def engine(self, name: str, program: str = "python") -> Path:
        """A program of an engine environment, found through deploy.env's MLC_ENGINES."""
        path = engines.program(Path(self.env.get("MLC_ENGINES", str(self.config.engines))), name, program)
        if not path.is_file():
            raise RunError(f"the {name} engine environment is missing ({path})",
                           help=f"install it: bash scripts/engines.sh {name} (see `mlc doctor`)")
        return path

    def process_env(self) -> dict[str, str]:
        """The environment engines run with: this process's, deploy.env's variables, the
        project root on PYTHONPATH (the steps' packages live there)."""
        root = str(self.config.project_root)
        path = os.pathsep.join(p for p in [root, os.environ.get("PYTHONPATH", "")] if p)
        env = {**os.environ, **self.env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "FEAST_USAGE": "False"}
        spark = Path(env.get("MLC_ENGINES", str(self.config.engines))) / "spark" / "bin"
        if (spark / "spark-submit").is_file():
            # a DAG's Spark task calls `spark-submit` (last on PATH: it must not shadow python),
            # which runs the job with the Spark engine's python
            env["PATH"] = os.pathsep.join([env.get("PATH", ""), str(spark)])
            env.setdefault("PYSPARK_PYTHON", str(spark / "python"))
            # the embedded Spark: a local master (the operator's own default is yarn)
            env.setdefault("AIRFLOW_CONN_SPARK_DEFAULT", '{"conn_type": "spark", "host": "local[2]"}')
        return env

    def artifacts(self, kind: str) -> list[dict]:
        return [a for a in self.manifest.get("artifacts", []) if a.get("kind") == kind]


def find(project_root: Path, config: dict, env: str, to: str | None = None) -> Deployed:
    """The current local release of `env`; a RunError telling to deploy when there is none."""
    try:
        settings = load(project_root, config, env, to)
    except ConfigError as e:
        raise RunError(str(e)) from e
    deploy_cmd = f"mlc deploy --env {env}" + (f" --to {to}" if to else "")
    if settings.kind != "local":
        raise RunError(f"env `{env}` deploys to {settings.where}: `mlc run` runs local deploys only",
                       help="run a flow of the embedded engines: mlc run FLOW --env local")
    release = current_release(settings.root)
    if release is None:
        raise RunError(f"env `{env}` is not deployed at {settings.root}", help=f"deploy it first: {deploy_cmd}")
    try:
        manifest = json.loads((settings.root / CURRENT / MANIFEST).read_text(encoding="utf-8"))
        lines = (settings.root / DEPLOY_ENV).read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as e:
        raise RunError(f"the deploy folder {settings.root} is damaged: {e}", help=f"deploy again: {deploy_cmd}") from e
    env_vars = dict(line.split("=", 1) for line in lines if "=" in line)
    return Deployed(settings, release, manifest, env_vars)
