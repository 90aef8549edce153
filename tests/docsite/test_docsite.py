"""`mlc docs`: the site builds for every example and env, is closed (every link resolves, nothing
is fetched from the network), its data is the IR's graph (kinds, edges, lineage as the map's own
JS computes it, run under node), it is deterministic, its JSON validates against its schema, and
`mlc docs serve` answers on 127.0.0.1 and rebuilds after a `.flow` edit."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import jsonschema
import networkx as nx
import pytest

from mlc.compiler.graph import build_graph
from mlc.compiler.project import load_project
from mlc.deploy.bundle import env_names
from mlc.docsite.build import build

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "mlc.toml").is_file())
MLC = [sys.executable, "-m", "mlc"]
PROBE = Path(__file__).with_name("core_probe.js")
NODE = shutil.which("node")
# URLs the vendored libraries carry in their licence comments: text, never loaded
VENDOR_URLS = {"http://en.wikipedia.org/wiki/MIT_License", "http://engelschall.com", "http://opensource.org/licenses/MIT",
               "https://github.com/cytoscape/cytoscape.js-dagre"}


def _envs(example: Path) -> list[str]:
    docs = build(load_project([str(example)]), "local")
    return env_names(docs.compiled.result)


CASES = [(e, env) for e in EXAMPLES for env in _envs(e)]


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Every example's site for every env, written by the command line."""
    out = {}
    base = tmp_path_factory.mktemp("sites")
    for example, env in CASES:
        folder = base / f"{example.name}-{env}"
        done = subprocess.run([*MLC, "docs", "--env", env, "--out", str(folder), str(example)],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr
        out[(example.name, env)] = folder
    return out


def test_every_example_and_env_has_a_site(sites):
    assert len(sites) >= 6  # three examples, local and prod
    for folder in sites.values():
        for name in ("index.html", "slo.html", "site.json", "site.schema.json", "data.js", "static/app.js",
                     "static/vendor/cytoscape.min.js", "static/vendor/cytoscape-dagre.min.js"):
            assert (folder / name).is_file(), name
        site = json.loads((folder / "site.json").read_text())
        for n in site["nodes"]:
            if n["kind"] != "step":
                assert (folder / n["page"]).is_file(), n["page"]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v is not None:
                self.links.append(v)
            if k == "id" and v:
                self.ids.add(v)


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def test_every_internal_link_resolves(sites):
    for folder in sites.values():
        node_ids = {n["id"] for n in json.loads((folder / "site.json").read_text())["nodes"]}
        checked = 0
        for page in folder.rglob("*.html"):
            for link in _parse(page).links:
                assert not re.match(r"^[a-z]+:|^//", link), f"{page}: not a relative link: {link}"
                target, _, fragment = link.partition("#")
                path = (page.parent / target).resolve() if target else page
                assert path.is_file(), f"{page.relative_to(folder)}: {link} -> nothing"
                assert folder.resolve() in path.parents, f"{page}: {link} leaves the site"
                if fragment.startswith(("node=", "path=")):
                    for i in fragment.split("=", 1)[1].split(","):
                        assert unquote(i) in node_ids, f"{page}: {link}: no node {unquote(i)}"
                elif fragment:
                    assert fragment in _parse(path).ids, f"{page}: {link}: no anchor"
                checked += 1
        assert checked > 50


def test_no_file_names_an_external_url(sites):
    for folder in sites.values():
        for f in folder.rglob("*"):
            if not f.is_file() or f.name == ".mlc-output":
                continue
            text = f.read_text(encoding="utf-8")
            urls = set(re.findall(r"https?://[^\s\"'()<>]+", text))
            if f.parent.name == "vendor":
                assert urls <= VENDOR_URLS, f"{f.name}: {urls - VENDOR_URLS}"
            elif f.name == "site.schema.json":  # the JSON Schema dialect's identifier, never fetched
                assert urls == {"https://json-schema.org/draft/2020-12/schema"}
            else:
                assert not urls, f"{f.relative_to(folder)}: {urls}"
            if f.suffix in (".html", ".css"):
                assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), f
                assert "@import" not in text, f


def _probe(site_json: Path, request: dict) -> dict:
    assert NODE is not None, "node is needed to run the map's JS (core.js)"
    done = subprocess.run([NODE, str(PROBE), str(site_json), json.dumps(request)], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("example", [e.name for e in EXAMPLES])
def test_the_data_is_the_ir_graph_and_the_js_lineage_is_the_graphs(sites, example):
    folder = sites[(example, "local")]
    site = json.loads((folder / "site.json").read_text())
    result = build(load_project([str(ROOT / "examples" / example)]), "local").compiled.result
    g = build_graph(result.program)
    assert {n["id"]: n["kind"] for n in site["nodes"]} == {n: d["kind"] for n, d in g.nodes(data=True)}
    assert sorted((e["source"], e["target"], e["kind"]) for e in site["edges"]) == \
        sorted((u, v, d["kind"]) for u, v, d in g.edges(data=True))
    for n in site["nodes"]:
        assert n["deterministic"] == g.nodes[n["id"]].get("deterministic", True), n["id"]
    program = result.program
    assert {n["key"] for n in site["nodes"] if n["kind"] == "model"} == set(program.models)
    assert {n["key"] for n in site["nodes"] if n["kind"] == "source"} == set(program.sources)
    # the map's lineage, computed by the browser's own code, is the graph's ancestors and descendants
    answers = _probe(folder / "site.json", {"lineage": "all"})["lineage"]
    simple = nx.DiGraph(g)
    for n in g.nodes:
        assert answers[n]["up"] == sorted(nx.ancestors(simple, n)), n
        assert answers[n]["down"] == sorted(nx.descendants(simple, n)), n
    # data.js is site.json's nodes and edges, for the map read from file:// (which cannot fetch JSON)
    data = json.loads((folder / "data.js").read_text().removeprefix("window.MLC_SITE = ").removesuffix(";\n"))
    assert data["edges"] == site["edges"]
    assert data["nodes"] == [{k: n[k] for k in data["nodes"][0]} for n in site["nodes"]]
    assert {"id", "kind", "name", "owner", "tags", "package", "parent", "deterministic"} <= set(data["nodes"][0])


def test_search_filters_and_addresses_in_the_maps_js(sites):
    folder = sites[("recommendations", "local")]
    site = json.loads((folder / "site.json").read_text())
    by_id = {n["id"]: n for n in site["nodes"]}
    got = _probe(folder / "site.json", {
        "search": ["ranker", "RANKER", "popular", "no such thing", ""],
        "visible": [{"kind": "model"}, {"owner": "analytics"}, {"tag": "tier1"}, {"package": "netflix.recs"},
                    {"kind": "step", "owner": "personalization"}, {}],
        "address": ["#node=model%3Anetflix.recs.ranker", "#path=source%3Aa,step%3Af%2Fs", "",
                    "#search=rank%20er&kind=model&owner=a%26b&color=red"]})
    assert got["search"]["ranker"][0] == "model:netflix.recs.ranker"
    assert got["search"]["RANKER"] == got["search"]["ranker"]
    assert set(got["search"]["ranker"]) == {n["id"] for n in site["nodes"]
                                           if "ranker" in n["name"] or "ranker" in n["key"]}
    assert got["search"]["popular"][0] == "model:netflix.recs.popular_titles"
    assert got["search"]["no such thing"] == [] and got["search"][""] == []
    models, analytics, tier1, package, steps, every = got["visible"]
    assert models == sorted(i for i, n in by_id.items() if n["kind"] == "model")
    assert analytics == sorted(i for i, n in by_id.items() if n["owner"] == "analytics")
    # a step shown keeps its flow (it is drawn inside it)
    expected = {i for i, n in by_id.items() if "tier1" in n["tags"]}
    assert set(tier1) == expected | {by_id[i]["parent"] for i in expected if by_id[i]["parent"]}
    assert every == sorted(by_id)
    assert package == sorted(i for i, n in by_id.items() if n["package"] == "netflix.recs")  # stores have none
    assert {by_id[i]["kind"] for i in steps} == {"step", "flow"}
    assert all(by_id[i]["owner"] == "personalization" for i in steps if by_id[i]["kind"] == "step")
    assert got["facets"]["kind"][0] == "source" and "personalization" in got["facets"]["owner"]
    # the parts a large map is laid out in: every node in one; the feature store's edges set apart
    joined, apart = _probe(folder / "site.json", {"parts": [False, True]})["parts"]
    for parts in (joined, apart):
        assert sorted(i for part in parts for i in part) == sorted(by_id)
    simple = nx.Graph([(e["source"], e["target"]) for e in site["edges"]])
    simple.add_nodes_from(by_id)
    assert sorted(map(sorted, nx.connected_components(simple))) == sorted(joined)
    simple.remove_nodes_from([i for i, n in by_id.items() if n["kind"] == "store"])
    assert sorted([*map(sorted, nx.connected_components(simple)), ["store:offline", "store:online"]]) == sorted(apart)
    nothing = {"node": None, "path": [], "search": None, "filters": {}}
    assert got["address"] == [{**nothing, "node": "model:netflix.recs.ranker"},
                              {**nothing, "path": ["source:a", "step:f/s"]}, nothing,
                              {**nothing, "search": "rank er", "filters": {"kind": "model", "owner": "a&b"}}]


def test_pages_show_what_explain_and_the_manifest_say(sites):
    folder = sites[("recommendations", "local")]
    page = (folder / "d/model/netflix.recs.ranker.html").read_text()
    explained = subprocess.run([*MLC, "explain", "freshness", "ranker"], capture_output=True, text=True,
                               cwd=ROOT / "examples/recommendations", check=True).stdout
    import html

    assert html.escape(explained, quote=False) in page or explained in html.unescape(page)
    assert "slo ranker_fresh: freshness(ranker) &lt;= 3d" in page and "proven" in page
    assert 'class="path-link" href="../../index.html#path=source%3Anetflix.recs.member_title_stats,' in page
    assert "Personalised ranking of titles" in page and "personalization" in page
    assert "models.flow:15:1" in page
    flow = (folder / "d/flow/netflix.recs.build_training_set.html").read_text()
    assert "airflow/dags/build_training_set.py" in flow and "spark/steps/build_training_set/snapshot.py" in flow
    assert 'id="step-snapshot"' in flow
    source = (folder / "d/source/netflix.recs.member_events.html").read_text()
    assert "data/events/member-interactions" in source and "kafka" in source  # local and prod bindings
    artifact = (folder / "d/artifact/netflix.recs.training_set.html").read_text()
    assert "Schema" in artifact and "partition" in artifact and "member_id" in artifact
    assert 's3(&#34;datasets/training_set&#34;)' in artifact or 's3("datasets/training_set")' in artifact
    assert "datasets/training_set" in artifact and "local" in artifact and "prod" in artifact  # located per env
    board = (folder / "slo.html").read_text()
    assert "training_set_on_time" in board and "1h50m" in board and "runtime" in board
    site = json.loads((folder / "site.json").read_text())
    fresh = next(v for v in site["objectives"] if v["slo"] == "ranker_fresh")
    assert (fresh["verdict"], fresh["bound"], fresh["margin"]) == ("proven", "2d4h30m", "19h30m")
    assert [h["node"] for h in fresh["path"]] == ["source:netflix.recs.member_title_stats"] + \
        ["features:netflix.recs.member_title_affinity"] * 2


def test_text_is_escaped(tmp_path):
    project = tmp_path / "p"
    shutil.copytree(ROOT / "examples/recommendations", project)
    models = project / "models.flow"
    models.write_text(models.read_text().replace("## The non-ML baseline", "## <script>alert(1)</script> baseline"))
    docs = build(load_project([str(project)]), "local")
    assert docs.ok
    page = next(f.text for f in docs.files if f.path == "d/model/netflix.recs.popular_titles.html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_site_json_validates_against_its_schema(sites):
    for folder in sites.values():
        schema = json.loads((folder / "site.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(json.loads((folder / "site.json").read_text()), schema)
        assert json.loads((folder / "site.json").read_text())["format"] == "mlc-docs/1"


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def test_the_same_program_gives_a_byte_identical_site(sites, tmp_path):
    example = ROOT / "examples/recommendations"
    again = tmp_path / "again"
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    subprocess.run([*MLC, "docs", "--env", "local", "--out", str(again), "--no-cache", str(example)],
                   check=True, capture_output=True, cwd=elsewhere, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert _tree(again) == _tree(sites[("recommendations", "local")])


def test_docs_refuses_what_compile_refuses(tmp_path):
    example = ROOT / "examples/recommendations"
    done = subprocess.run([*MLC, "docs", "--env", "local", "--out", str(example), str(example)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "would replace the project" in done.stderr
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    done = subprocess.run([*MLC, "docs", "--env", "local", "--out", str(keep), str(example)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and (keep / "notes.txt").read_text() == "mine"
    done = subprocess.run([*MLC, "docs", "--env", "lcoal", "--out", str(tmp_path / "x"), str(example)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "did you mean `local`" in done.stderr.replace("'", "`")
    done = subprocess.run([*MLC, "docs", "--env", "local", str(example)], capture_output=True, text=True)
    assert done.returncode == 2 and "--out is required" in done.stderr


def test_vendored_libraries_match_their_pinned_hashes():
    done = subprocess.run(["bash", str(ROOT / "scripts/vendor_docsite.sh"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    lock = json.loads((ROOT / "mlc/docsite/vendor/package-lock.json").read_text())
    assert lock["packages"]["node_modules/cytoscape"]["version"] == "3.34.4"


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 (a local server of the test's)
        return r.status, r.read().decode("utf-8")


def test_serve_answers_on_localhost_and_rebuilds_after_an_edit(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(ROOT / "examples/recommendations", project)
    proc = subprocess.Popen([*MLC, "docs", "serve", "--env", "local", "--port", "0", str(project)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
            assert line or proc.poll() is None, "mlc docs serve ended"
        assert url is not None
        status, index = _get(url)
        assert status == 200 and 'data-live="1"' in index and "static/app.js" in index
        _status, first = _get(url + "__mlc_live")
        assert re.fullmatch(r"[0-9a-f]{16}", first)
        models = project / "models.flow"
        models.write_text(models.read_text().replace("The non-ML baseline", "The rebuilt baseline"))
        deadline = time.monotonic() + 60
        now = first
        while now == first and time.monotonic() < deadline:
            time.sleep(0.3)
            now = _get(url + "__mlc_live")[1]
        assert now != first, "no rebuild after the edit"
        _status, page = _get(url + "d/model/netflix.recs.popular_titles.html")
        assert "The rebuilt baseline" in page
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
