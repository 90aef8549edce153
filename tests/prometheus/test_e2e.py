"""The generated rules in a real Prometheus server (Debian's 2.42, from scripts/setup.sh) on
127.0.0.1, scraping the served fraud scorer (the BentoML tests' session fixture `serving`, the
generated service in real `bentoml serve`) and a real Pushgateway that the generated Flink and
Spark runtimes push a feature group's freshness to, as a publisher or job does after writing:

- unsure cards answered by the fallback make the fallback-rate alert pending (or firing) in
  Prometheus's HTTP API;
- a group pushed as older than its bound makes its freshness alert active: a stream group pushed by
  the Flink publishers' runtime, a batch group (nightly_batch's) by the Spark jobs' runtime;
- the generated Airflow listener (in the Airflow engine) pushes a flow's success;
- every series a rule or a dashboard panel reads is present, each latency objective's histogram
  bucket included (a rule selects `le="0.03"` by its exact text).

Each server has a free port and its own data folder, and is stopped at the end. A server that
cannot start fails the test, never skips it."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlc.compiler.project import load_project
from mlc.deploy.bundle import compile as compile_bundle
from mlc.targets.prometheus.dashboards import queries
from tests.bentoml.serving_support import EXAMPLE, free_port

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = {"spark": ROOT / "mlc/targets/spark/templates/runtime/mlc_spark_runtime.py",
            "flink": ROOT / "mlc/targets/flink/templates/runtime/mlc_flink_runtime.py"}
BATCH = ROOT / "examples" / "nightly_batch"  # its batch group account_health, whose Spark job pushes
READY_WITHIN = 60
ALERT_WITHIN = 90
# a selector of the series a rule or a panel reads: name{matchers}
SELECTOR = re.compile(r"\b((?:mlc_|slo:|model:)[A-Za-z0-9_:]*)\{([^{}]*)\}")


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


class Daemon:
    """A server process on 127.0.0.1 with its output in a log; stopped by `stop`."""

    def __init__(self, args: list[str], log: Path, ready: str) -> None:
        self.log, self.ready = log, ready
        self.proc = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def wait(self) -> None:
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"{self.log.name}: exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.ready, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"{self.log.name}: not ready in {READY_WITHIN}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def program_binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run `bash scripts/setup.sh` (Debian's prometheus, prometheus-pushgateway)")
    return found


@pytest.fixture(scope="module")
def stack(serving, tmp_path_factory):
    """The fraud example's rules loaded in Prometheus, which scrapes the good scorer's /metrics and a
    Pushgateway every second. Yields {"prometheus": URL, "pushgateway": URL, "files": {path: text}}."""
    base = tmp_path_factory.mktemp("prometheus")
    done = compile_bundle(load_project([str(EXAMPLE)]).rooted(), "local", ["prometheus", "airflow"], use_cache=False)
    assert done.ok, [str(d) for d in done.result.diagnostics]
    for a in done.artifacts:
        (base / a.path).parent.mkdir(parents=True, exist_ok=True)
        (base / a.path).write_text(a.text)
    files = {a.path: a.text for a in done.artifacts if a.path.startswith("prometheus/")}
    # and the rules of a batch feature group (nightly_batch's account_health), beside the stream group's
    batch = compile_bundle(load_project([str(BATCH)]).rooted(), "local", ["prometheus"], use_cache=False)
    assert batch.ok, [str(d) for d in batch.result.diagnostics]
    batch_rules = next(a for a in batch.artifacts if a.path == "prometheus/rules/features/account_health.yml")
    (base / "batch.yml").write_text(batch_rules.text)
    gateway_port, prom_port = free_port(), free_port()
    model = serving["servers"]["good"]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(base / p) for p in sorted(files) if p.endswith(".yml")] + [str(base / "batch.yml")],
        "scrape_configs": [
            {"job_name": "fraud_scorer", "static_configs": [{"targets": [f"127.0.0.1:{model.port}"]}]},
            # the pushed series keep their own `job` and grouping labels
            {"job_name": "pushgateway", "honor_labels": True,
             "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}]},
        ],
    }
    (base / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    gateway = Daemon([program_binary("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{gateway_port}",
                     # in memory: Debian's default file keeps earlier runs' series (and is root-only)
                     "--persistence.file="],
                     base / "pushgateway.log", f"http://127.0.0.1:{gateway_port}/-/ready")
    prom = Daemon([program_binary("prometheus"), f"--config.file={base / 'prometheus.yml'}",
                   f"--storage.tsdb.path={base / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                  base / "prometheus.log", f"http://127.0.0.1:{prom_port}/-/ready")
    try:
        gateway.wait()
        prom.wait()
        yield {"prometheus": f"http://127.0.0.1:{prom_port}", "pushgateway": f"127.0.0.1:{gateway_port}",
               "files": files, "model": model, "cards": serving["cards"], "plugins": base / "airflow" / "plugins"}
    finally:
        prom.stop()
        gateway.stop()


def runtime(engine: str):
    """The generated Spark jobs' or Flink publishers' runtime module, as a bundle ships it (stdlib
    only at import)."""
    spec = importlib.util.spec_from_file_location(f"mlc_{engine}_runtime", RUNTIMES[engine])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alerts(stack, name: str) -> list[dict]:
    return [a for a in get(stack["prometheus"] + "/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == name]


def test_unsure_predictions_raise_the_fallback_rate_alert(stack) -> None:
    model, unsure = stack["model"], stack["cards"]["unsure"]["request"]
    deadline = time.monotonic() + ALERT_WITHIN
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        for _ in range(5):
            status, body = model.predict(unsure)
            # answered by the fallback: unsure, or (on a busy machine) past the scorer's 25ms timeout
            assert status == 200 and body["path"] == "fallback", body
        found = [a for a in alerts(stack, "MlcFallbackRate")
                 if a["labels"].get("model") == "fraud_scorer" and a["labels"].get("reason") == "low_confidence"]
        time.sleep(0.5)
    assert found, f"no MlcFallbackRate alert in {ALERT_WITHIN}s: {get(stack['prometheus'] + '/api/v1/alerts')}"
    assert found[0]["state"] in ("pending", "firing")
    assert found[0]["labels"]["severity"] == "ticket" and found[0]["labels"]["owner"] == "risk"
    assert found[0]["annotations"]["source"].startswith("fraud.flow:")


@pytest.mark.parametrize("engine, group, slo, age", [
    ("flink", "card_velocity", "velocity_fresh", 10 * 60),  # a stream group's publisher; its bound is 2m
    ("spark", "account_health", "health_fresh", 4 * 86_400),  # a batch group's Spark job; its bound is 3d
])
def test_a_pushed_stale_group_raises_its_freshness_alert(stack, engine: str, group: str, slo: str, age: int) -> None:
    import datetime as dt

    from mlc.compiler.metrics import feature_metrics

    newest = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=age)
    assert runtime(engine).push_freshness(feature_metrics(group), newest, {"MLC_PUSHGATEWAY": stack["pushgateway"]})
    deadline = time.monotonic() + ALERT_WITHIN
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        found = [a for a in alerts(stack, "MlcStale") if a["labels"].get("slo") == slo]
        time.sleep(0.5)
    assert found and found[0]["state"] in ("pending", "firing"), get(stack["prometheus"] + "/api/v1/alerts")
    assert found[0]["annotations"]["explain"] == f"mlc explain freshness {group}"


def test_the_generated_airflow_listener_pushes_a_flows_success(stack) -> None:
    """The plugin as Airflow loads it, its hook called as the scheduler calls it for a run that succeeded."""
    python = ROOT / ".engines" / "airflow" / "bin" / "python"
    if not python.exists():
        pytest.fail("the Airflow engine environment is missing: run `bash scripts/engines.sh airflow`")
    code = ("import sys, types, datetime as dt; sys.path.insert(0, sys.argv[1]); import mlc_metrics as m; "
            "m.on_dag_run_success(types.SimpleNamespace(dag_id='retrain_fraud', "
            "end_date=dt.datetime.now(dt.timezone.utc)), 'success'); "
            "m.on_task_instance_success(None, types.SimpleNamespace(dag_id='retrain_fraud', task_id='train'))")
    before = time.time()
    done = subprocess.run([str(python), "-c", code, str(stack["plugins"])], capture_output=True, text=True,
                          env={"MLC_PUSHGATEWAY": stack["pushgateway"], "PATH": "/usr/bin:/bin",
                               "AIRFLOW_HOME": str(stack["plugins"].parent / "home")}, timeout=120)
    after = time.time()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "could not push" not in done.stderr, done.stderr[-3000:]
    for series in ('mlc_flow_last_success_timestamp_seconds{flow="retrain_fraud"}',
                   'mlc_step_last_success_timestamp_seconds{flow="retrain_fraud",step="train"}'):
        query = urllib.parse.urlencode({"query": series})
        deadline = time.monotonic() + 90  # a scrape every second; a loaded machine delays it

        def pushed_by_this_run(result: list) -> bool:
            # the pushed time itself, bracketed by the run's own clock readings: a wall-clock step
            # between the push and Prometheus's evaluation cannot fake or hide it
            return bool(result) and before - 1 <= float(result[0]["value"][1]) <= after + 1

        result: list = []
        while time.monotonic() < deadline and not pushed_by_this_run(result):
            result = get(stack["prometheus"] + "/api/v1/query?" + query)["data"]["result"]
            time.sleep(0.5)
        assert pushed_by_this_run(result), (series, before, after, result, done.stderr[-2000:])


def test_every_series_a_rule_or_panel_reads_is_present(stack) -> None:
    # after the tests above: the model has answered, the group and the flow have been pushed, the rules have run
    texts = [r["expr"] for p, t in stack["files"].items() if p.endswith(".yml")
             for g in yaml.safe_load(t)["groups"] for r in g["rules"]]
    texts += [q for p, t in stack["files"].items() if p.endswith(".json") for q in queries(json.loads(t))]
    selectors = sorted({f"{m.group(1)}{{{m.group(2)}}}" for t in texts for m in SELECTOR.finditer(t)})
    assert any('le="0.03"' in s for s in selectors), "the scorer's 30ms objective is read at its bucket"
    missing = []
    deadline = time.monotonic() + 90  # the recording rules of the longest windows need two evaluations
    while time.monotonic() < deadline:
        missing = [s for s in selectors if not get(stack["prometheus"] + "/api/v1/series?"
                                                   + urllib.parse.urlencode({"match[]": s}))["data"]]
        if not missing:
            break
        time.sleep(1)
    assert missing == [], f"series no one exports: {missing}"
