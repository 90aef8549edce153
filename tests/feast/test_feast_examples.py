"""The Feast target against real Feast 0.67 (one worker process in .engines/serving) and the
tables real Spark jobs compute.

- every example's generated repository applies, and the registry holds what the program
  says (entities and join keys, views with their schema, ttl and online flag, one feature
  service per model holding exactly its inputs);
- recommendations: the generated Spark jobs compute the offline tables from small input
  data; after materialisation, `get_online_features` returns the newest row Spark
  computed for each entity, and the bundle runtime's `training_set` (Feast's
  `get_historical_features`) returns, for each labelled row, the row Spark computed that
  was newest at the label time within the view's ttl — never a later one;
- the on-demand view `ranking_context` returns what Spark SQL computes from the same
  expressions compiled by the SQL targets (one meaning everywhere).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from sf_support import ROOT, compile_project, copy_project, write_jsonl
from test_sf_targets import program_of

from mlc.compiler.infer import walk
from mlc.targets import sql as S
from mlc.targets.layout import Layout

EXAMPLES = ROOT / "examples"
UTC = dt.UTC
FIGURES: dict[str, float] = {}


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def applied(feast, root: Path, name: str, project: Path, data: Path | None = None) -> tuple[Path, dict]:
    """Compiles `project` for env local, applies its repository (relative tables under
    `data`, default the project) and returns (repo, the registry's objects)."""
    build = compile_project(project, "local", root / f"build-{name}", targets=("feast",))
    repo = build / "feast"
    env = {"MLC_PROJECT_ROOT": str(data or project)}
    got = feast.call(cmd="apply", repo=str(repo), env=env)
    FIGURES[f"apply {name}"] = got["seconds"]
    return repo, feast.call(cmd="objects", repo=str(repo), env=env)["objects"]


@pytest.mark.parametrize("example", ["fraud", "nightly_batch", "recommendations"])
def test_every_example_applies_and_the_registry_holds_the_program(feast, tmp_path, example):
    project = copy_project(EXAMPLES / example, tmp_path / "project")
    program = program_of(project)
    layout = Layout(program)
    _repo, objects = applied(feast, tmp_path, example, project)
    views, services = objects["feature_views"], objects["feature_services"]
    for key, group in program.feature_groups.items():
        name = layout.feature_view_id(key)
        if group.mode == "request":
            assert name in objects["on_demand_feature_views"]
            schema = dict(objects["on_demand_feature_views"][name]["schema"])
            assert sorted(schema) == sorted(f.name for f in group.features)
            continue
        view = views[name]
        entity = program.entities[group.entity.target]
        assert view["join_keys"] == sorted(k.name for k in entity.keys)
        assert [n for n, _t in view["schema"]] == [f.name for f in group.features]
        ttl = group.ttl_ms if group.ttl_ms is not None else group.online_ttl_ms
        assert view["ttl_s"] == (ttl or 0) / 1000
        assert view["online"] == group.online
        assert view["owner"] == (group.owner or "")
        assert view["source"] == ("PushSource" if group.mode == "stream" else "FileSource")
    for e_key, entity in program.entities.items():
        for k in entity.keys:
            name = layout.entity_id(e_key) if len(entity.keys) == 1 else f"{layout.entity_id(e_key)}__{k.name}"
            assert objects["entities"][name]["join_key"] == k.name
    assert sorted(services) == sorted(layout.model_service(k) for k in program.models)
    for m_key, model in program.models.items():
        want: dict[str, list[str]] = {}
        for r in model.inputs:
            group = program.feature_groups[r.target]
            names = [f.name for f in group.features] if r.feature is None else [r.feature]
            want.setdefault(layout.feature_view_id(r.target), []).extend(names)
        assert services[layout.model_service(m_key)] == {k: sorted(v) for k, v in want.items()}


def test_two_packages_with_one_group_name_apply(feast, tmp_path):
    """The bundle golden of two packages that both declare `account_health`: qualified names
    reach Feast as `acme_a__account_health` (a dot breaks its SQLite online store's tables)."""
    import shutil

    repo = tmp_path / "feast"
    shutil.copytree(ROOT / "tests/golden/bundle/feast", repo)
    feast.call(cmd="apply", repo=str(repo), env={"MLC_PROJECT_ROOT": str(tmp_path)})
    views = feast.call(cmd="objects", repo=str(repo))["objects"]["feature_views"]
    assert sorted(views) == ["acme_a__account_health", "acme_b__account_health"]


# ------------------------------------------------------------------ recommendations end to end
PLAYS = [  # member, title, seconds, day
    ("m1", "t1", 100, "2024-01-01"), ("m2", "t1", 50, "2024-01-01"), ("m1", "t1", 30, "2024-01-03"),
    ("m3", "t2", 10, "2024-01-02"), ("m3", "t2", 20, "2024-01-06"),
]
STATS = [  # member, title, impressions, conv_rate, completion_rate, day
    ("m1", "t1", 10, 0.25, 0.5, "2024-01-01"), ("m1", "t1", 20, 0.5, 0.75, "2024-01-03"),
    ("m2", "t1", 4, 0.125, 0.0, "2024-01-02"),
]
EVENTS = [  # member, title, kind, dwell, time
    ("m1", "t1", "view", 10, "2024-01-03T10:00:00Z"), ("m1", "t2", "click", 20, "2024-01-03T10:02:00Z"),
    ("m1", "t1", "view", 30, "2024-01-03T10:20:00Z"), ("m2", "t1", "click", 5, "2024-01-03T10:07:00Z"),
]


@pytest.fixture(scope="module")
def recs(feast, spark, tmp_path_factory):
    """The recommendations example with input data; its Spark jobs run; its repo applied and
    materialised. Returns (project, repo, spark tables by group)."""
    root = tmp_path_factory.mktemp("feast-recs")
    project = copy_project(EXAMPLES / "recommendations", root / "project")
    spark.call(cmd="write_parquet", path=str(project / "data/warehouse/plays/part-0.parquet"),
               schema=[["member_id", "string"], ["title_id", "string"], ["seconds", "int"], ["ds", "date"]],
               rows=[{"member_id": m, "title_id": t, "seconds": s, "ds": d} for m, t, s, d in PLAYS])
    spark.call(cmd="write_parquet", path=str(project / "data/warehouse/member_title_daily/part-0.parquet"),
               schema=[["member_id", "string"], ["title_id", "string"], ["impressions", "int"],
                       ["conv_rate", "float"], ["completion_rate", "float"], ["ds", "date"]],
               rows=[{"member_id": m, "title_id": t, "impressions": i, "conv_rate": c, "completion_rate": r,
                      "ds": d} for m, t, i, c, r, d in STATS])
    write_jsonl(project / "data/events/member-interactions/part-0.jsonl", [
        {"member_id": m, "title_id": t, "kind": k, "dwell_ms": d, "device": "tv", "ts": w} for m, t, k, d, w in EVENTS])
    build = compile_project(project, "local", root / "build", targets=("spark", "flink", "feast", "airflow"))
    tables = {}
    for group in ("title_popularity", "member_title_affinity", "member_activity"):
        spark.call(cmd="job", file=str(build / "spark/features" / f"{group}.py"), argv=[], cwd=str(project))
        got = spark.call(cmd="read", path=str(project / "build/s3/features" / group))
        tables[group] = [{k: v for k, v in r.items() if k != "event_date"} for r in got["rows"]]
    repo = build / "feast"
    env = {"MLC_PROJECT_ROOT": str(project)}
    FIGURES["apply recommendations (with data)"] = feast.call(cmd="apply", repo=str(repo), env=env)["seconds"]
    FIGURES["materialize recommendations"] = feast.call(
        cmd="materialize", repo=str(repo), env=env, start="2023-12-01T00:00:00+00:00",
        end="2024-01-20T00:00:00+00:00")["seconds"]
    return project, repo, build, tables, env


def newest(rows: list[dict], keys: dict, at: dt.datetime | None = None, ttl_s: float | None = None):
    """The row of `keys` with the latest event_timestamp (at or before `at`, within ttl)."""
    found = None
    for r in rows:
        if any(r[k] != v for k, v in keys.items()):
            continue
        t = ts(r["event_timestamp"])
        if at is not None and (t > at or (ttl_s and t < at - dt.timedelta(seconds=ttl_s))):
            continue
        if found is None or t > ts(found["event_timestamp"]):
            found = r
    return found


def test_online_features_are_the_newest_rows_spark_computed(feast, recs):
    _project, repo, _build, tables, env = recs
    assert tables["title_popularity"] and tables["member_title_affinity"] and tables["member_activity"]
    got = feast.call(cmd="online", repo=str(repo), env=env, features=[
        "title_popularity:plays_7d", "title_popularity:seconds_7d", "title_popularity:viewers_7d"],
        rows=[{"title_id": "t1"}, {"title_id": "t2"}, {"title_id": "nope"}])["values"]
    for i, title in enumerate(["t1", "t2"]):
        want = newest(tables["title_popularity"], {"title_id": title})
        for f in ("plays_7d", "seconds_7d", "viewers_7d"):
            assert got[f"title_popularity__{f}"][i] == want[f], (title, f)
    assert got["title_popularity__plays_7d"][2] is None  # an entity Spark never saw
    got = feast.call(cmd="online", repo=str(repo), env=env,
                     features=["member_title_affinity:conv_rate", "member_title_affinity:impressions"],
                     rows=[{"member_id": "m1", "title_id": "t1"}, {"member_id": "m2", "title_id": "t1"}])["values"]
    assert got["member_title_affinity__conv_rate"] == [0.5, 0.125]  # the newest of each pair
    assert got["member_title_affinity__impressions"] == [20, 4]
    got = feast.call(cmd="online", repo=str(repo), env=env, features=["member_activity:views_1h",
                                                                      "member_activity:avg_dwell"],
                     rows=[{"member_id": "m1"}])["values"]
    want = newest(tables["member_activity"], {"member_id": "m1"})
    assert got["member_activity__views_1h"] == [want["views_1h"]]
    assert got["member_activity__avg_dwell"] == [want["avg_dwell"]]


def test_training_set_is_point_in_time_correct(feast, recs):
    """Labels at times between the rows Spark computed: each row gets the value that was
    newest at its label time (within the 3d ttl), never one stamped after it; rows keep
    their order, and a row with nothing in reach keeps missing values."""
    _project, repo, build, tables, env = recs
    rows, times = [], []
    for title in ("t1", "t2"):
        for r in sorted(tables["title_popularity"], key=lambda r: r["event_timestamp"]):
            if r["title_id"] != title:
                continue
            t = ts(r["event_timestamp"])
            # just before, at, and just after each row's stamp
            times += [(title, t - dt.timedelta(seconds=1)), (title, t), (title, t + dt.timedelta(hours=5))]
    times.append(("t1", ts("2023-12-01T00:00:00Z")))  # before any row: nothing in reach
    times.append(("t2", ts("2024-01-30T00:00:00Z")))  # after the ttl of the last row
    for title, t in times:
        rows.append({"title_id": title, "member_id": "m1", "label": 1.0, "event_timestamp": t.isoformat()})
    service_rows = feast.call(cmd="training_set", repo=str(repo), env=env, runtime=str(build / "feast/runtime"
                              / "mlc_feast_runtime.py"), rows=rows, step_env={
                                  "MLC_FEAST_REPO": str(repo), "MLC_FEATURE_SERVICE": "popular_titles"})["rows"]
    assert len(service_rows) == len(rows)
    later = 0
    for row, (title, t) in zip(service_rows, times):
        assert row["title_id"] == title and ts(row["event_timestamp"]) == t  # order kept
        want = newest(tables["title_popularity"], {"title_id": title}, at=t, ttl_s=3 * 86400)
        assert row["title_popularity__plays_7d"] == (want["plays_7d"] if want else None), (title, t)
        # no value stamped after the label: the next row's value differs, and it was not taken
        after = [r for r in tables["title_popularity"] if r["title_id"] == title and ts(r["event_timestamp"]) > t]
        if want and after:
            nxt = min(after, key=lambda r: r["event_timestamp"])
            if nxt["plays_7d"] != want["plays_7d"]:
                later += 1
    assert later >= 2  # the check above had rows that a later value would have failed


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_flink_publisher_pushes_into_the_stream_groups_push_source(feast, recs, tmp_path):
    """The generated publisher of member_activity, given committed rows as its Flink job
    writes them, pushes them to `feast serve` (the real feature server, on 127.0.0.1) through
    the push source the repository defines; the online store then answers them."""
    import subprocess
    import urllib.request

    _project, repo, build, _tables, env = recs
    offline = tmp_path / "member_activity"
    stamp = dt.datetime.now(UTC).replace(microsecond=0)
    write_jsonl(offline / "_mlc_stream" / "part-0.jsonl", [
        {"member_id": "m9", "event_timestamp": stamp.isoformat(), "views_1h": 7, "clicks_1h": 3, "avg_dwell": 2.5,
         "titles_1h": 4}])
    port = free_port()
    server = subprocess.Popen([str(ROOT / ".engines/serving/bin/feast"), "-c", str(repo), "serve", "-h", "127.0.0.1",
                               "-p", str(port), "--no-access-log"], env={**os.environ, **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:  # not listening yet, or a timeout
                pass
            assert server.poll() is None and time.monotonic() - started < 90, "feast serve did not start"
            time.sleep(0.5)
        FIGURES["feast serve ready (s)"] = time.monotonic() - started
        done = subprocess.run([str(ROOT / ".engines/serving/bin/python"), str(build / "flink/publish/member_activity.py"),
                               "--offline", str(offline), "--feature-server", f"http://127.0.0.1:{port}"],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert "pushed 1 online" in done.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
    got = feast.call(cmd="online", repo=str(repo), env=env, features=[
        "member_activity:views_1h", "member_activity:clicks_1h", "member_activity:avg_dwell"],
        rows=[{"member_id": "m9"}])["values"]
    assert got["member_activity__views_1h"] == [7] and got["member_activity__clicks_1h"] == [3]
    assert got["member_activity__avg_dwell"] == [2.5]


def test_airflow_materialize_runs_feast_from_the_serving_environment(feast, recs, tmp_path, monkeypatch):
    """The generated DAGs' `_mlc_materialize` (the Airflow environment has no Feast) runs the
    serving environment's `feast` CLI, named by $MLC_FEAST, on the repository: Feast records the
    materialisation of the view, and of that view only."""
    import ast
    import shutil

    project, repo, build, _tables, env = recs
    fresh = tmp_path / "feast"
    shutil.copytree(repo, fresh, ignore=shutil.ignore_patterns("data"))
    feast.call(cmd="apply", repo=str(fresh), env=env)
    assert "_mlc_materialize" in (build / "airflow/dags/features.title_popularity.py").read_text(encoding="utf-8")
    # the DAG imports it from the helpers its bundle's DAGs share
    module = next((build / "airflow/dags").glob("mlc_airflow_runtime_*.py")).read_text(encoding="utf-8")
    helper = next(n for n in ast.parse(module).body if isinstance(n, ast.FunctionDef) and n.name == "_mlc_materialize")
    scope: dict = {}
    exec(compile(ast.Module(body=[helper], type_ignores=[]), "dag", "exec"), scope)  # noqa: S102  (generated code)
    monkeypatch.setenv("MLC_FEAST", str(ROOT / ".engines/serving/bin/feast"))
    monkeypatch.setenv("MLC_PROJECT_ROOT", str(project))
    started = time.monotonic()
    scope["_mlc_materialize"]("title_popularity", str(fresh))
    FIGURES["airflow materialize through the feast CLI (s)"] = time.monotonic() - started
    views = feast.call(cmd="objects", repo=str(fresh), env=env)["objects"]["feature_views"]
    assert len(views["title_popularity"]["materialized"]) == 1
    assert views["member_title_affinity"]["materialized"] == []


def spark_sql_values(spark, tmp: Path, group, inputs: dict[str, tuple[object, str]]) -> dict:
    """What Spark SQL computes for a request-time group's features from `inputs` (name ->
    (value, column type)): each expression compiled by the SQL targets' Spark dialect, its refs
    read as the columns of the same names."""
    d = S.DIALECTS["spark"]
    refs = (r for f in group.features for r in walk(f.expr) if r.op == "ref" and r.name in inputs)
    scope = S.Scope({r.target: r.name for r in refs})
    cols = ", ".join(d.quote(n) for n in inputs)
    values = ", ".join(d.cast(d.string(v) if t == "string" else repr(v), t) for v, t in inputs.values())
    select = ", ".join(f"{d.expr(f.expr, scope)} AS {d.quote(f.name)}" for f in group.features)
    query = f"SELECT {select} FROM VALUES ({values}) AS t({cols})"
    script = tmp / "sql_values.py"
    out = tmp / "sql_values.json"
    script.write_text(
        "import json, sys\nfrom pyspark.sql import SparkSession\n"
        "row = SparkSession.builder.getOrCreate().sql(sys.argv[1]).collect()[0].asDict()\n"
        "json.dump(row, open(sys.argv[2], 'w'))\n", encoding="utf-8")
    spark.call(cmd="script", file=str(script), argv=[query, str(out)])
    return json.loads(out.read_text(encoding="utf-8"))


def test_on_demand_view_computes_what_spark_sql_computes(feast, spark, recs, tmp_path):
    project, repo, _build, _tables, env = recs
    program = program_of(project)
    group = program.feature_groups["netflix.recs.ranking_context"]
    features = [f"ranking_context:{f.name}" for f in group.features] + [
        "member_activity:clicks_1h", "member_activity:views_1h", "member_title_affinity:conv_rate"]
    cases = [{"device": "tv", "hour_of_day": 23, "row_position": 3},
             {"device": "web", "hour_of_day": 4, "row_position": 40},
             {"device": "mobile", "hour_of_day": 12, "row_position": 0}]
    for request in cases:
        got = feast.call(cmd="online", repo=str(repo), env=env, features=features,
                         rows=[{"member_id": "m1", "title_id": "t1", **request}])["values"]
        inputs = {"device": (request["device"], "string"), "hour_of_day": (request["hour_of_day"], "int"),
                  "row_position": (request["row_position"], "int"),
                  "member_activity.clicks_1h": (got["member_activity__clicks_1h"][0], "int"),
                  "member_activity.views_1h": (got["member_activity__views_1h"][0], "int"),
                  "member_title_affinity.conv_rate": (got["member_title_affinity__conv_rate"][0], "float")}
        want = spark_sql_values(spark, tmp_path, group, inputs)
        for f in group.features:
            assert got[f"ranking_context__{f.name}"][0] == pytest.approx(want[f.name]), (request, f.name)
    # a division by zero is missing on both sides (SQL NULL): the view's own transformation
    frame = feast.call(cmd="odfv", repo=str(repo), env=env, view="ranking_context", inputs={
        "device": ["tv"], "hour_of_day": [1], "row_position": [0], "member_activity__clicks_1h": [3],
        "member_activity__views_1h": [-1], "member_title_affinity__conv_rate": [0.5]})["values"]
    assert frame["click_through"] == [None]
    assert spark_sql_values(spark, tmp_path, group, {
        "device": ("tv", "string"), "hour_of_day": (1, "int"), "row_position": (0, "int"),
        "member_activity.clicks_1h": (3, "int"), "member_activity.views_1h": (-1, "int"),
        "member_title_affinity.conv_rate": (0.5, "float")})["click_through"] is None


# ------------------------------------------------------------------ Feast's own `local` template
# The template rewritten in .flow (issue 20): examples/feast_local; and this test's own
# rewrite, tests/feast/projects/driver (the same data, plus a view in python mode), which
# proves the values.
FEAST_LOCAL = EXAMPLES / "feast_local"
DRIVER = Path(__file__).resolve().parent / "projects" / "driver"


def comparable(objects: dict) -> dict:
    """What the comparison is about: the project's description, entities (join keys; the template
    leaves their value type UNKNOWN, mlc says INT64), views (schema names, types and descriptions,
    ttl, online, entities and join keys, schema validation, version, tags, owner, description, the
    kind of source), on-demand views (schema, version, sources, mode), services (views and their
    features; logging: destination kind, sample rate), label views (schema, entities, labeler,
    conflict policy, tags)."""
    return {
        "project": objects["project"],
        "entities": {n: e["join_key"] for n, e in objects["entities"].items()},
        "feature_views": {n: {k: v[k] for k in ("schema", "descriptions", "ttl_s", "online", "join_keys",
                                                "entities", "enable_validation", "version", "tags", "owner",
                                                "description", "source")}
                          for n, v in objects["feature_views"].items()},
        "on_demand_feature_views": {n: {k: v[k] for k in ("schema", "version", "sources", "mode")}
                                    for n, v in objects["on_demand_feature_views"].items()},
        "feature_services": objects["feature_services"],
        "service_logging": objects["service_logging"],
        "label_views": objects["label_views"],
    }


@pytest.fixture(scope="module")
def template(feast, tmp_path_factory):
    """`feast init -t local` (data included), applied: (repo, its registry's objects)."""
    root = tmp_path_factory.mktemp("feast-template")
    feast.call(cmd="init", name="template", template="local", path=str(root / "template"))
    repo = root / "template" / "feature_repo"
    FIGURES["apply feast's local template"] = feast.call(cmd="apply", repo=str(repo))["seconds"]
    return repo, feast.call(cmd="objects", repo=str(repo))["objects"]


def test_feast_local_applies_to_the_objects_of_feasts_own_template(feast, template, tmp_path):
    original_repo, original = template
    project = copy_project(FEAST_LOCAL, tmp_path / "project")
    # the .flow rewrite reads the template's own data: its tables are under the template's repo
    _repo, mine = applied(feast, tmp_path, "feast_local", project, data=original_repo)
    want, got = comparable(original), comparable(mine)
    for kind in want:
        assert sorted(got[kind]) == sorted(want[kind]), kind
    differ = {(kind, obj, field): (got[kind][obj][field], value)
              for kind in want for obj in want[kind] if isinstance(want[kind][obj], dict)
              for field, value in want[kind][obj].items() if got[kind][obj].get(field) != value}
    assert differ == {}
    assert got == want


def test_the_template_in_flow_serves_the_templates_values(feast, template, tmp_path):
    """Materialised from the same data, the rewrite answers what the template answers: stored
    features, push-source views, on-demand views in pandas and in python mode."""
    original_repo, _objects = template
    project = copy_project(DRIVER, tmp_path / "project")
    repo, _objects = applied(feast, tmp_path, "driver (values)", project, data=original_repo)
    env = {"MLC_PROJECT_ROOT": str(original_repo)}
    start, end = "2000-01-01T00:00:00+00:00", dt.datetime.now(UTC).isoformat()
    for r in (original_repo, repo):
        feast.call(cmd="materialize", repo=str(r), env=env, start=start, end=end,
                   views=["driver_hourly_stats"])
    rows = [{"driver_id": d, "val_to_add": 10, "val_to_add_2": 20} for d in (1001, 1002, 1003)]
    features = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips",
                "transformed_conv_rate:conv_rate_plus_val1", "transformed_conv_rate:conv_rate_plus_val2"]
    want = feast.call(cmd="online", repo=str(original_repo), features=features, rows=rows)["values"]
    got = feast.call(cmd="online", repo=str(repo), env=env, features=features, rows=rows)["values"]
    assert want["driver_hourly_stats__conv_rate"][0] is not None
    assert got == want
    python = feast.call(cmd="online", repo=str(repo), env=env, features=["conv_rate_python:conv_rate_plus_val1"],
                        rows=rows)["values"]
    assert python.get("conv_rate_python__conv_rate_plus_val1") == want["transformed_conv_rate__conv_rate_plus_val1"], python


def test_figures(feast):
    """Not a check: the figures of this session (apply, materialise), printed with -s."""
    ready = feast.wait_ready()
    print(json.dumps({"feast worker start (s)": round(ready["wall"], 2),
                      **{k: round(v, 3) for k, v in FIGURES.items()}}, indent=1))
    assert ready["ok"]
