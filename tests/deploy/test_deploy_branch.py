"""`mlc deploy --branch` of an S3 release (moto's server, as tests/deploy/test_deploy_s3.py):
a test branch's releases and pointer live below production's prefix, and deploying the branch
never touches production's current release."""

from __future__ import annotations

import json

from mlc.compiler.project import load_project
from mlc.deploy.release import deploy, plan, prepare
from tests.deploy.conftest import prepare as prepare_prod
from tests.deploy.test_deploy_s3 import _keys, _pointer, s3  # noqa: F401  (s3: the fixture)

BRANCH = "test.alice"


def test_a_branch_release_never_replaces_production_current_one(s3) -> None:  # noqa: F811
    project, client, bucket, _proxy = s3
    assert deploy(prepare_prod(project, env="prod")).release == "000001"
    production = _keys(client, bucket, "platform/recs/releases/")
    pointer = _pointer(client, bucket)

    branched = prepare(load_project([str(project)]).rooted(), "prod", None, use_cache=False, branch=BRANCH)
    assert branched.ok and branched.config.prefix == f"platform/recs/branches/{BRANCH}"
    assert plan(branched).count("add") == len(branched.texts)  # production's release is not its base
    assert deploy(branched).release == "000001"
    base = f"platform/recs/branches/{BRANCH}/"
    ours = json.loads(client.get_object(Bucket=bucket, Key=base + "current.json")["Body"].read())
    assert ours == {"release": "000001", "previous": None}
    manifest = _keys(client, bucket, base + "releases/000001/")[base + "releases/000001/manifest.json"]
    assert json.loads(manifest)["branch"] == BRANCH
    # production: the same pointer, the same objects, and nothing to deploy again
    assert _pointer(client, bucket) == pointer
    assert _keys(client, bucket, "platform/recs/releases/") == production
    assert plan(prepare_prod(project, env="prod")).empty
