"""How a cluster runs a release's stream jobs: `jobs/streaming.json` of an S3 release.

For each Flink feature job: the command that starts it, the two that upgrade it through a
savepoint (stop with a savepoint, start the new release's job from it) and the one that
stops it, as argument lists of the Flink CLI; its name in `flink list` (how JOB_ID is
found), the environment variables its secrets come from, and its publisher, which is not a
Flink job but a Python script run every checkpoint interval next to it.

`flink run --python` runs its script as a local file (an s3:// path is opened as a file
name), so the commands read the release's `jobs/flink/` fetched into `flink/` of the
working folder (`fetch`); the job's state goes to `checkpoints/GROUP/` and
`savepoints/GROUP/` beside the releases, so that it outlives them. Words in capitals are
filled in by the operator (`placeholders`). tests/stream/test_cluster.py runs these
commands, as written, on a Flink session cluster.
"""

from __future__ import annotations

import ast
import json

FORMAT = "mlc-streaming/2"
JOBS = "flink/"  # where `fetch` puts the release's jobs/flink/, relative to the working folder
CLIENT = ("`flink` is the cluster's Flink 2.3 CLI, with a `python` on its PATH that has apache-flink "
          "(engines/flink.txt): it runs the job's script to plan it; `fetch` needs the AWS CLI")
PLACEHOLDERS = {
    "JOB_ID": "the running job's id: `flink list --running` shows it beside the job's `name`",
    "SAVEPOINT_PATH": "the path `flink stop` printed (\"Savepoint completed. Path: ...\")",
    "KAFKA_JARS": "file:// URLs of flink-connector-kafka.jar and kafka-clients.jar (engines/flink.jars), "
                  "separated by ';' (drop `--jars KAFKA_JARS` where the cluster's lib/ holds them)",
    "FEATURE_SERVER_URL": "the Feast feature server the publisher pushes the online rows to",
}


def spec(text: str) -> dict | None:
    """The literal `SPEC` of a generated Flink job or publisher, or None."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SPEC" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


def streaming(manifest: dict, texts: dict[str, str], release_uri: str, state_uri: str) -> str:
    """jobs/streaming.json of a release whose files are at `release_uri` (…/releases/ID/), the
    jobs' checkpoints and savepoints kept under `state_uri`."""
    flink = {a["path"]: a for a in manifest["artifacts"] if a.get("target") == "flink"}
    runtime = next((p for p, a in flink.items() if a["kind"].endswith("runtime")), None)
    publishers = {spec(texts[p])["group"]: p for p, a in flink.items() if a["kind"] == "flink-publisher"}
    jobs = []
    for path, a in sorted(flink.items()):
        if a["kind"] != "flink-feature-job":
            continue
        s = spec(texts[path])
        group, loc = s["group"], s["source"]["location"]
        savepoints = f"{state_uri}savepoints/{group}/"
        start = ["--python", path, *(["--pyFiles", runtime] if runtime else []),
                 "--checkpoint-dir", f"{state_uri}checkpoints/{group}/",
                 *(["--jars", "KAFKA_JARS"] if loc and loc.get("kind") == "kafka" else [])]
        stop = ["flink", "stop", "--savepointPath", savepoints, "JOB_ID"]
        job = {"path": path, "group": group, "source": (a.get("source") or {}).get("name"), "name": s["app_name"],
               "start": ["flink", "run", "--detached", *start],
               "upgrade": [stop, ["flink", "run", "--detached", "--fromSavepoint", "SAVEPOINT_PATH", *start]],
               "stop": stop,
               "secrets": sorted({(loc.get("credentials") or {}).get("env")} - {None}) if loc else []}
        if group in publishers:
            job["publisher"] = {
                "path": publishers[group], "every_ms": s["checkpoint_ms"],
                "run": ["python", publishers[group], "--feature-server", "FEATURE_SERVER_URL"],
                "needs": "a Python with pyarrow; idempotent (it records what it published), so an upgrade "
                         "is the next run reading the new release's file, and after `stop` one more run "
                         "publishes what the job committed last"}
        jobs.append(job)
    fetch = ["aws", "s3", "cp", "--recursive", f"{release_uri}jobs/{JOBS}", JOBS]
    return json.dumps({"format": FORMAT, "client": CLIENT if jobs else "", "fetch": fetch if jobs else [], "jobs": jobs,
                       "placeholders": PLACEHOLDERS if jobs else {}}, indent=2) + "\n"
