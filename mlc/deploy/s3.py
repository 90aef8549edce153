"""The release to S3, in the layout Amazon MWAA reads, with a pointer object written last.

```
s3://BUCKET/PREFIX/
  releases/000002/dags/X.py              airflow/dags/X.py of the bundle
                  plugins/X.py           airflow/plugins/X.py
                  requirements/requirements.txt   what the DAGs import beyond Airflow
                  jobs/spark/...  jobs/flink/...  the jobs and their runtime
                  jobs/streaming.json    how each stream job is started, upgraded, stopped (mlc.deploy.streaming)
                  feast/...  bentoml/... the other targets' files, at their bundle paths
                  manifest.json  release.json
  current.json                           {"release": "000002", "previous": "000001", ...}
```

A release's objects go under its own prefix; `current.json` is written only after every
one of them is stored, so a reader (the sync into MWAA's dags path, or `mlc plan`) sees
the previous release until the new one is complete. Unchanged artifacts are copied inside
S3 from the current release, not uploaded again; an upload that dropped part-way leaves
the pointer alone, and deploying again resumes the same release, skipping the objects
already stored whole (their ETag is the MD5 of what would be sent).

Credentials come only from the standard AWS chain (environment, shared files, roles);
the endpoint may be overridden (`endpoint_url`, `$MLC_S3_ENDPOINT_URL`) for S3-compatible
stores and tests.
"""

from __future__ import annotations

import hashlib
import json
import re

from mlc.deploy.config import DeployConfig
from mlc.deploy.local import DeployError, Outcome
from mlc.deploy.plan import Plan, diff
from mlc.deploy.streaming import streaming

POINTER = "current.json"

# What a DAG may import beyond Airflow -> the pinned requirement MWAA installs for it
# (the versions of engines/airflow.in and engines/serving.in).
REQUIREMENTS = {
    "airflow.providers.apache.spark": "apache-airflow-providers-apache-spark==6.3.4",
    "kubernetes": "kubernetes==37.0.2",
    "feast": "feast==0.67.0",
    "bentoml": "bentoml==1.4.40",
}
_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_][\w.]*)", re.MULTILINE)


def key_of(path: str) -> str:
    """A bundle path's key inside a release (the MWAA folders)."""
    if path.startswith("airflow/"):
        return path[len("airflow/"):]
    if path.split("/", 1)[0] in ("spark", "flink"):
        return "jobs/" + path
    return path


def requirements(texts: dict[str, str]) -> str:
    found = set()
    for path, text in texts.items():
        if path.startswith("airflow/"):
            for module in _IMPORT.findall(text):
                found |= {req for prefix, req in REQUIREMENTS.items()
                          if module == prefix or module.startswith(prefix + ".")}
    return "".join(f"{r}\n" for r in sorted(found))


class _Store:
    """The S3 calls of a release, each failure turned into a DeployError naming the object."""

    def __init__(self, config: DeployConfig) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = config.bucket
        self.base = f"{config.prefix}/" if config.prefix else ""
        session = boto3.session.Session(region_name=config.region)
        self.client = session.client("s3", endpoint_url=config.endpoint_url, config=Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=60))

    def _fail(self, what: str, key: str, e: Exception, artifact: str | None = None) -> DeployError:
        from botocore.exceptions import NoCredentialsError

        if isinstance(e, NoCredentialsError):
            return DeployError("no AWS credentials were found in the standard chain",
                               help="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role "
                                    "is attached; mlc never reads credentials from mlc.toml")
        return DeployError(f"{what} s3://{self.bucket}/{key} failed: {type(e).__name__}: {e}",
                           target=artifact.split("/", 1)[0] if artifact and "/" in artifact else None,
                           artifact=artifact)

    def get_json(self, key: str) -> dict | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.base + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as e:
            raise self._fail("reading", self.base + key, e) from e
        try:
            return json.loads(body)
        except ValueError as e:
            raise DeployError(f"s3://{self.bucket}/{self.base}{key} is not JSON: {e}") from e

    def etags(self, prefix: str) -> dict[str, str]:
        out = {}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                               Prefix=self.base + prefix):
                out |= {o["Key"]: o["ETag"].strip('"') for o in page.get("Contents", ())}
        except Exception as e:
            raise self._fail("listing", self.base + prefix, e) from e
        return out

    def releases(self) -> list[str]:
        """The ids under releases/, complete or not."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.base + "releases/", Delimiter="/")
            found = [p["Prefix"].rstrip("/").rsplit("/", 1)[-1] for page in pages for p in page.get("CommonPrefixes", ())]
        except Exception as e:
            raise self._fail("listing", self.base + "releases/", e) from e
        return sorted(r for r in found if r.isdigit())

    def delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
            except Exception as e:
                raise self._fail("deleting from", keys[i], e) from e

    def put(self, key: str, text: str, artifact: str | None = None) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.base + key, Body=text.encode("utf-8"))
        except Exception as e:
            raise self._fail("uploading", self.base + key, e, artifact) from e

    def copy(self, src: str, key: str, artifact: str) -> None:
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self.base + key,
                                    CopySource={"Bucket": self.bucket, "Key": self.base + src})
        except Exception as e:
            raise self._fail("copying into", self.base + key, e, artifact) from e


def _current(store: _Store) -> tuple[dict | None, dict | None]:
    pointer = store.get_json(POINTER)
    if pointer is None:
        return None, None
    manifest = store.get_json(f"releases/{pointer['release']}/manifest.json")
    if manifest is None:
        raise DeployError(f"{POINTER} names release {pointer['release']}, which has no manifest.json",
                          help="the bucket was changed by hand; restore the release or the pointer")
    return pointer, manifest


def plan(manifest: dict, config: DeployConfig) -> Plan:
    pointer, deployed = _current(_Store(config))
    return diff(manifest, deployed, config.env, config.where, pointer["release"] if pointer else None)


def deploy(manifest: dict, texts: dict[str, str], config: DeployConfig) -> Outcome:
    store = _Store(config)
    pointer, deployed = _current(store)
    current = pointer["release"] if pointer else None
    the_plan = diff(manifest, deployed, config.env, config.where, current)
    if the_plan.empty:
        return Outcome(the_plan, current)
    ids = store.releases()
    last = ids[-1] if ids else None
    # The newest release folder without its release.json is an attempt that dropped: resume it.
    resume = last is not None and last != current and store.get_json(f"releases/{last}/release.json") is None
    new_id = last if resume else f"{int(last or 0) + 1:06d}"
    prefix = f"releases/{new_id}/"
    stored = store.etags(prefix) if resume else {}
    written: set[str] = set()
    changed = {c.path for c in the_plan.changes}
    applied: dict[str, int] = {}

    def fresh(key: str, text: str) -> bool:
        """Whether the object is still to be stored (it is not, whole, from a dropped attempt)."""
        written.add(store.base + prefix + key)
        return stored.get(store.base + prefix + key) != hashlib.md5(text.encode("utf-8")).hexdigest()

    def put(key: str, text: str, artifact: str | None = None) -> None:
        if fresh(key, text):
            store.put(prefix + key, text, artifact)

    for a in manifest["artifacts"]:
        if not a.get("target"):
            continue
        key = key_of(a["path"])
        if a["path"] in changed:
            put(key, texts[a["path"]], a["path"])
            applied[a["target"]] = applied.get(a["target"], 0) + 1
        elif fresh(key, texts[a["path"]]):
            store.copy(f"releases/{current}/{key}", prefix + key, a["path"])
    put("requirements/requirements.txt", requirements(texts))
    bucket_uri = f"s3://{config.bucket}/{store.base}"
    put("jobs/streaming.json", streaming(manifest, texts, bucket_uri + prefix, bucket_uri))
    put("manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    store.delete(sorted(stored.keys() - written))  # what the dropped attempt had and this one has not
    put("release.json", json.dumps({"id": new_id, "previous": current, "env": config.env,
                                    "summary": the_plan.summary()}, indent=2, sort_keys=True) + "\n")
    # last: until this object is written, every reader sees the previous release
    store.put(POINTER, json.dumps({"release": new_id, "previous": current}, indent=2, sort_keys=True) + "\n")
    return Outcome(the_plan, new_id, {t: n for t, n in applied.items() if n})


def rollback(config: DeployConfig) -> tuple[str, str]:
    store = _Store(config)
    pointer = store.get_json(POINTER)
    if pointer is None:
        raise DeployError(f"nothing is released at {config.where}")
    previous = pointer.get("previous")
    if not previous:
        raise DeployError(f"release {pointer['release']} is the first one at {config.where}: "
                          "there is no release to roll back to")
    info = store.get_json(f"releases/{previous}/release.json")
    if info is None:
        raise DeployError(f"release {previous} is not complete at {config.where}")
    store.put(POINTER, json.dumps({"release": previous, "previous": info.get("previous")},
                                  indent=2, sort_keys=True) + "\n")
    return pointer["release"], previous
