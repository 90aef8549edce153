"""The S3 release (mlc/deploy/s3.py) against moto's S3 server on 127.0.0.1, reached
through a TCP proxy that logs each request and can drop the connection mid-upload."""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid

import boto3
import pytest

from mlc.deploy.local import DeployError
from mlc.deploy.release import deploy, plan, rollback
from tests.deploy.conftest import CHANGED, changed, copy_project, edit, prepare

REQUEST = re.compile(rb"(GET|PUT|HEAD|POST|DELETE) (/[^ ?]*)\S* HTTP/1\.1")


class Proxy:
    """Forwards 127.0.0.1:port to the S3 server. `requests` lists (method, path) as sent;
    with `drop_after` = N, the (N+1)th PUT and every one after it are cut part-way
    (its first bytes reach the server, then both connections close)."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.requests: list[tuple[str, str]] = []
        self.copies: list[str] = []  # PUTs that copy inside S3 (x-amz-copy-source), no body sent
        self.drop_after: int | None = None
        self.dropped = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, outbound: bool) -> None:
        try:
            while data := src.recv(65536):
                if outbound:
                    for m in REQUEST.finditer(data):
                        method, path = m.group(1).decode(), m.group(2).decode()
                        puts = sum(r[0] == "PUT" for r in self.requests)
                        if method == "PUT" and self.drop_after is not None and puts >= self.drop_after:
                            self.dropped += 1
                            dst.sendall(data[: m.start() + 200])  # part of the request, then the line drops
                            raise ConnectionResetError
                        self.requests.append((method, path))
                        head = data[m.start(): data.find(b"\r\n\r\n", m.start())].lower()
                        if method == "PUT" and b"x-amz-copy-source" in head:
                            self.copies.append(path)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def puts(self) -> list[str]:
        return [p for m, p in self.requests if m == "PUT"]

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def s3(moto_server, aws, tmp_path):
    """A fresh bucket, a proxy to the server, and a project whose [deploy.prod] releases there."""
    proxy = Proxy(moto_server)
    bucket = f"mlc-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_server)
    client.create_bucket(Bucket=bucket)
    project = copy_project(tmp_path / "project")
    (project / "mlc.toml").write_text((project / "mlc.toml").read_text() + (
        f'\n[deploy.prod]\nbucket = "{bucket}"\nprefix = "platform/recs"\nendpoint_url = "{proxy.url}"\n'))
    yield project, client, bucket, proxy
    proxy.close()


def _keys(client, bucket: str, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", ()):
            out[o["Key"]] = client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
    return out


def _pointer(client, bucket: str) -> dict:
    return json.loads(client.get_object(Bucket=bucket, Key="platform/recs/current.json")["Body"].read())


def test_a_release_has_the_mwaa_layout_and_its_pointer_is_written_last(s3) -> None:
    project, client, bucket, proxy = s3
    p = prepare(project, env="prod")
    assert plan(p).count("add") == len(p.texts)
    outcome = deploy(p)
    assert outcome.release == "000001"
    base = "platform/recs/releases/000001/"
    stored = _keys(client, bucket, base)
    names = {k[len(base):] for k in stored}
    for path, text in p.texts.items():
        key = path[len("airflow/"):] if path.startswith("airflow/") else \
            "jobs/" + path if path.startswith(("spark/", "flink/")) else path
        assert stored[base + key].decode() == text, key
    assert {n.split("/")[0] for n in names} == {"dags", "plugins", "requirements", "jobs", "feast", "bentoml",
                                                 "prometheus", "manifest.json", "release.json", "declarations.json"}
    assert "apache-airflow-providers-apache-spark==6.3.4" in stored[base + "requirements/requirements.txt"].decode()
    # how the cluster starts, upgrades and stops the stream job (tests/stream/test_cluster.py runs these):
    # from the release's jobs/flink/ fetched beside the CLI (`flink run --python` opens a local file),
    # its state beside the releases; its publisher is no Flink job but a script run next to it
    streaming = json.loads(stored[base + "jobs/streaming.json"])
    assert streaming["fetch"][-2:] == [f"s3://{bucket}/{base}jobs/flink/", "flink/"]
    [job] = streaming["jobs"]
    assert (job["path"], job["name"]) == ("flink/features/member_activity.py", "mlc.features.member_activity")
    assert job["start"][:5] == ["flink", "run", "--detached", "--python", "flink/features/member_activity.py"]
    assert job["start"][5:9] == ["--pyFiles", "flink/runtime/mlc_flink_runtime.py", "--checkpoint-dir",
                                f"s3://{bucket}/platform/recs/checkpoints/member_activity/"]
    assert job["stop"] == ["flink", "stop", "--savepointPath", f"s3://{bucket}/platform/recs/savepoints/member_activity/",
                           "JOB_ID"]
    assert job["upgrade"] == [job["stop"], [*job["start"][:3], "--fromSavepoint", "SAVEPOINT_PATH", *job["start"][3:]]]
    assert job["publisher"]["run"][:2] == ["python", "flink/publish/member_activity.py"]
    assert set(streaming["placeholders"]) >= {"JOB_ID", "SAVEPOINT_PATH"}
    assert _pointer(client, bucket) == {"release": "000001", "previous": None}
    # the pointer is the last object written, after every object of the release
    assert proxy.puts()[-1] == f"/{bucket}/platform/recs/current.json"
    assert len(proxy.puts()) == len(stored) + 1
    assert plan(prepare(project, env="prod")).empty  # and deploying it again changes nothing
    before = len(proxy.requests)
    assert deploy(prepare(project, env="prod")).plan.empty
    assert not [r for r in proxy.requests[before:] if r[0] == "PUT"]


def test_a_change_uploads_one_object_and_copies_the_rest_inside_s3(s3) -> None:
    project, client, bucket, proxy = s3
    deploy(prepare(project, env="prod"))
    edit(project, "spark")
    proxy.requests.clear()
    outcome = deploy(prepare(project, env="prod"))
    assert outcome.release == "000002" and outcome.applied == {"spark": 1}
    uploads = sorted(p.split("/releases/000002/")[-1] for p in proxy.puts() if p not in proxy.copies)
    assert uploads == sorted(["jobs/" + CHANGED["spark"], "requirements/requirements.txt", "jobs/streaming.json",
                              "manifest.json", "release.json", f"/{bucket}/platform/recs/current.json"])
    assert len(proxy.copies) == len(prepare(project, env="prod").texts) - 1
    # one artifact sent; the others are server-side copies (PUT with x-amz-copy-source, no body)
    stored = _keys(client, bucket, "platform/recs/releases/000002/")
    assert stored["platform/recs/releases/000002/jobs/" + CHANGED["spark"]].decode() == \
        prepare(project, env="prod").texts[CHANGED["spark"]]
    assert _pointer(client, bucket) == {"release": "000002", "previous": "000001"}
    assert rollback(prepare(project, env="prod").config) == ("000002", "000001")
    assert _pointer(client, bucket)["release"] == "000001"
    assert plan(prepare(project, env="prod")).count("change") == 1


def test_a_connection_dropped_mid_upload_leaves_the_previous_release_current_and_a_retry_completes_it(s3) -> None:
    project, client, bucket, proxy = s3
    deploy(prepare(project, env="prod"))
    edit(project, "airflow")
    edit(project, "feast")
    proxy.requests.clear()
    proxy.drop_after = 3  # the fourth PUT of the release, and its retries, are cut
    with pytest.raises(DeployError) as e:
        deploy(prepare(project, env="prod"))
    assert proxy.dropped >= 2  # botocore retried, and the line dropped again
    assert "s3://" in e.value.message and e.value.artifact is not None and e.value.target is not None
    assert _pointer(client, bucket) == {"release": "000001", "previous": None}
    # the change is still to deploy
    assert plan(prepare(project, env="prod")).count("change") == len(changed("airflow")) + len(changed("feast"))
    partial = _keys(client, bucket, "platform/recs/releases/000002/")
    assert partial and "platform/recs/releases/000002/release.json" not in partial
    proxy.drop_after = None
    proxy.requests.clear()
    outcome = deploy(prepare(project, env="prod"))  # the retry resumes release 000002
    assert outcome.release == "000002"
    assert _pointer(client, bucket) == {"release": "000002", "previous": "000001"}
    # what the dropped attempt stored whole is not sent again
    assert not {f"/{bucket}/{k}" for k in partial} & set(proxy.puts())
    total = len(_keys(client, bucket, "platform/recs/releases/000002/")) + 1  # and the pointer
    assert len(proxy.puts()) == total - len(partial)
    p = prepare(project, env="prod")
    stored = _keys(client, bucket, "platform/recs/releases/000002/")
    assert stored["platform/recs/releases/000002/feast/definitions.py"].decode() == p.texts["feast/definitions.py"]
    assert plan(p).empty


def test_no_credentials_is_a_diagnostic(s3, monkeypatch) -> None:
    project, *_ = s3
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(DeployError, match="no AWS credentials") as e:
        plan(prepare(project, env="prod"))
    assert "mlc.toml" in e.value.help
