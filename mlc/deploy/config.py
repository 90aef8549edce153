"""Where a deploy environment puts things, read from `mlc.toml` `[deploy.NAME]` and the
process environment — never from a path written into a compiled file.

```toml
[deploy.local]            # the embedded default: a release folder on this machine
root = "deploy/local"        # relative to the project root (not a hidden folder: bentoml
                             # refuses to build from one)
keep = 5                     # releases kept for --rollback
engines = "/path/.engines"   # the engine environments (else $MLC_ENGINES, else mlc's own .engines)
airflow_url = "http://127.0.0.1:8080"  # the Airflow API `mlc signal`/`mlc trigger` talk to (else
                             # $MLC_AIRFLOW_URL, else the server `mlc airflow up` recorded)
pushgateway = "127.0.0.1:9091"  # where jobs and flows push their metrics (else $MLC_PUSHGATEWAY; any env)
kafka_bootstrap = "127.0.0.1:9092"  # the Kafka broker stream runs read (any env; docs/run.md, Streaming):
                             # --bootstrap, else $MLC_KAFKA_BOOTSTRAP, else this, else the broker
                             # `mlc kafka up` runs, else the program's binding of the stream

[deploy.prod]             # an S3 release (MWAA-style layout)
bucket = "acme-airflow"
prefix = "recommendations"
endpoint_url = "http://127.0.0.1:9000"   # else $MLC_S3_ENDPOINT_URL, else the AWS chain's own
region = "eu-west-1"
```

An env with neither `root` nor `bucket` deploys locally when it is named `local`; any
other env needs `[deploy.NAME]` with a `bucket` (or `kind = "local"`). `--to` replaces
`root` (local) or `s3://bucket/prefix` (s3). Credentials are never read from here: boto3
takes them from the standard AWS chain.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import mlc

KINDS = ("local", "s3")


class ConfigError(Exception):
    """The deploy settings are wrong; the message says which key and what to write."""


@dataclass(frozen=True)
class DeployConfig:
    env: str
    kind: str  # "local" or "s3"
    project_root: Path  # where the jobs' relative table paths start ($MLC_PROJECT_ROOT)
    root: Path | None = None  # local: the deploy root
    keep: int = 5
    engines: Path | None = None
    airflow_url: str | None = None  # local: the Airflow API server of the deployment
    bucket: str | None = None  # s3
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    pushgateway: str | None = None  # the Prometheus Pushgateway the pipelines push to ($MLC_PUSHGATEWAY)
    kafka_bootstrap: str | None = None  # the broker of the env's stream sources (`host:port,...`)

    @property
    def where(self) -> str:
        return str(self.root) if self.kind == "local" else f"s3://{self.bucket}/{self.prefix}".rstrip("/")


def engines_root(settings: dict | None = None) -> Path:
    """The folder holding one virtual environment per engine (`.engines/NAME`)."""
    configured = (settings or {}).get("engines") or os.environ.get("MLC_ENGINES")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(mlc.__file__).resolve().parent.parent / ".engines"


def _parse_s3(url: str) -> tuple[str, str]:
    rest = url[len("s3://"):]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"--to {url}: no bucket (write s3://BUCKET/PREFIX)")
    return bucket, prefix.strip("/")


def load(project_root: Path, config: dict, env: str, to: str | None = None) -> DeployConfig:
    """The deploy settings of `env` (`[deploy.ENV]` of mlc.toml), with `--to` applied."""
    # absolute: deploy.env's MLC_PROJECT_ROOT is read from other folders (Feast's repository)
    project_root = project_root.resolve()
    section = config.get("deploy", {})
    if not isinstance(section, dict):
        raise ConfigError("`deploy` in mlc.toml must be a table of envs ([deploy.local], [deploy.prod])")
    settings = section.get(env, {})
    if not isinstance(settings, dict):
        raise ConfigError(f"`deploy.{env}` in mlc.toml must be a table")
    known = {"kind", "root", "keep", "engines", "airflow_url", "bucket", "prefix", "endpoint_url", "region",
             "pushgateway", "kafka_bootstrap"}
    unknown = sorted(set(settings) - known)
    if unknown:
        from mlc.diagnostics import did_you_mean

        hint = did_you_mean(unknown[0], sorted(known)) or ""
        raise ConfigError(f"unknown key `{unknown[0]}` in [deploy.{env}] of mlc.toml (keys: "
                          f"{', '.join(sorted(known))}) {hint}".strip())
    kind = settings.get("kind")
    if kind is None:
        if to is not None:
            kind = "s3" if to.startswith("s3://") else "local"
        elif "bucket" in settings:
            kind = "s3"
        elif env == "local" or "root" in settings:
            kind = "local"
        else:
            raise ConfigError(f"env `{env}` has no deploy settings: add [deploy.{env}] to mlc.toml with "
                              f"`bucket = \"...\"` (an S3 release) or `root = \"...\"` (a local one), or pass --to")
    if kind not in KINDS:
        raise ConfigError(f"`kind` of [deploy.{env}] must be one of {', '.join(KINDS)}, not `{kind}`")
    keep = settings.get("keep", 5)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 2:
        raise ConfigError(f"`keep` of [deploy.{env}] must be a whole number of at least 2 (the current "
                          "release and one to roll back to)")
    if kind == "local":
        if to is not None and to.startswith("s3://"):
            raise ConfigError(f"--to {to}: env `{env}` deploys locally; give a folder")
        root = Path(to) if to is not None else Path(settings.get("root", f"deploy/{env}"))
        if not root.is_absolute():
            root = (Path.cwd() if to is not None else project_root) / root
        airflow_url = settings.get("airflow_url")
        if airflow_url is not None and not (isinstance(airflow_url, str) and airflow_url.startswith(("http://", "https://"))):
            raise ConfigError(f"`airflow_url` of [deploy.{env}] must be an http(s) URL, such as \"http://127.0.0.1:8080\"")
        return DeployConfig(env, "local", project_root, root=root.resolve(), keep=keep, engines=engines_root(settings),
                            airflow_url=airflow_url, pushgateway=_pushgateway(settings),
                            kafka_bootstrap=_bootstrap(settings, env))
    if to is not None:
        if not to.startswith("s3://"):
            raise ConfigError(f"--to {to}: env `{env}` releases to S3; give s3://BUCKET/PREFIX")
        bucket, prefix = _parse_s3(to)
    else:
        bucket, prefix = settings.get("bucket"), str(settings.get("prefix", "")).strip("/")
        if not bucket:
            raise ConfigError(f"[deploy.{env}] of mlc.toml needs `bucket = \"...\"` for an S3 release")
    endpoint = settings.get("endpoint_url") or os.environ.get("MLC_S3_ENDPOINT_URL")
    return DeployConfig(env, "s3", project_root, keep=keep, engines=engines_root(settings), bucket=bucket, prefix=prefix,
                        endpoint_url=endpoint, region=settings.get("region"), pushgateway=_pushgateway(settings),
                        kafka_bootstrap=_bootstrap(settings, env))


def _pushgateway(settings: dict) -> str | None:
    """`host:port` (or a URL) of the Pushgateway that the env's jobs and flows push their freshness
    and success to (docs/targets/prometheus.md)."""
    value = settings.get("pushgateway") or os.environ.get("MLC_PUSHGATEWAY")
    if value is not None and not isinstance(value, str):
        raise ConfigError("`pushgateway` of a deploy env must be a string: \"host:port\" or a URL")
    return value or None


_BOOTSTRAP = re.compile(r"[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}(,[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5})*")


def _bootstrap(settings: dict, env: str) -> str | None:
    """`kafka_bootstrap` of [deploy.ENV]: Kafka's `host:port[,host:port...]`. Unlike
    `pushgateway`, $MLC_KAFKA_BOOTSTRAP is not folded in here: the variable overrides this key
    at run time (mlc.run.kafka.bootstrap), so the deploy writes the key alone into deploy.env."""
    value = settings.get("kafka_bootstrap")
    if value is not None and not (isinstance(value, str) and _BOOTSTRAP.fullmatch(value)):
        raise ConfigError(f"`kafka_bootstrap` of [deploy.{env}] must be a broker's \"host:port\" (several: "
                          "\"host1:9092,host2:9092\"), such as \"127.0.0.1:9092\"")
    return value
