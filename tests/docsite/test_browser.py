"""The site in a real headless Chromium (Debian's `chromium`), from file:// with no network: the map
loads with no console message, `#search=ranker` selects the ranker and highlights exactly its
lineage (against the IR's graph), filters hide what they should, and the model's page shows the
verdict and worst path `mlc explain` prints. Screenshots of the map and of the ranker's page are
saved in build/test-artifacts/docsite/.

Chromium's DOM after the scripts ran (`--dump-dom`) and its console (`--enable-logging=stderr`)
are read from the command line: no driver, no extra Python package."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from mlc.compiler.graph import build_graph
from mlc.compiler.project import load_project
from mlc.docsite.build import build

ROOT = Path(__file__).resolve().parents[2]
ARTEFACTS = ROOT / "build" / "test-artifacts" / "docsite"
EXAMPLE = ROOT / "examples" / "recommendations"
RANKER = "model:netflix.recs.ranker"


def _browser() -> str:
    found = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if found is None:
        # an engine that cannot start fails its tests, as every engine test does: never a skip
        pytest.fail("no chromium on PATH (scripts/setup.sh installs Debian's chromium, as root)")
    return found


def _run(url: str, *args: str) -> tuple[str, str]:
    """Chromium's DOM of `url` once its scripts ran, and what it logged (console messages included)."""
    done = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", "--disable-background-networking", "--enable-logging=stderr",
                           "--v=0", "--virtual-time-budget=5000", "--window-size=1400,900", *(args or ("--dump-dom",)), url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def _body(dom: str) -> dict[str, str]:
    tag = re.search(r"<body([^>]*)>", dom).group(1)
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z]+)="([^"]*)"', tag)}


def _console(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "site"
    subprocess.run([sys.executable, "-m", "mlc", "docs", "--env", "local", "--out", str(out), str(EXAMPLE)],
                   check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return nx.DiGraph(build_graph(build(load_project([str(EXAMPLE)]), "local").compiled.result.program))


def test_the_map_loads_without_a_console_message(site, graph):
    dom, log = _run((site / "index.html").as_uri())
    assert _console(log) == []
    body = _body(dom)
    assert body["ready"] == "1" and int(body["shown"]) == graph.number_of_nodes()


def test_searching_ranker_selects_it_and_highlights_exactly_its_lineage(site, graph):
    dom, log = _run((site / "index.html").as_uri() + "#search=ranker")
    assert _console(log) == []
    body = _body(dom)
    assert body["selected"] == RANKER
    up, down = sorted(nx.ancestors(graph, RANKER)), sorted(nx.descendants(graph, RANKER))
    # the cytoscape nodes the map marked upstream and downstream (a node in a cycle is both)
    assert (int(body["up"]), int(body["down"])) == (len(up), len(down))
    listed = {side: re.findall(r'<li data-id="([^"]+)"', re.search(rf'<ul class="lineage-{side}">(.*?)</ul>', dom).group(1))
              for side in ("up", "down")}
    assert listed == {"up": up, "down": down}


@pytest.mark.parametrize("address, kinds", [("#kind=model", {"model"}), ("#owner=analytics", None),
                                            ("#kind=step&owner=personalization", {"step", "flow"})])
def test_filters_hide_what_they_should(site, graph, address, kinds):
    dom, _log = _run((site / "index.html").as_uri() + address)
    shown = int(_body(dom)["shown"])
    data = json.loads((site / "site.json").read_text())
    owner = re.search(r"owner=([a-z]+)", address)
    expected = {n["id"] for n in data["nodes"]
                if (kinds is None or n["kind"] in kinds - {"flow"}) and (not owner or n["owner"] == owner.group(1))}
    expected |= {n["parent"] for n in data["nodes"] if n["id"] in expected and n["parent"]}
    assert shown == len(expected) < graph.number_of_nodes()


def test_the_models_page_shows_the_verdict_and_worst_path_explain_prints(site):
    page = site / "d/model/netflix.recs.ranker.html"
    dom, log = _run(page.as_uri())
    assert _console(log) == []
    explained = subprocess.run([sys.executable, "-m", "mlc", "explain", "freshness", "ranker"], cwd=EXAMPLE,
                               capture_output=True, text=True, check=True).stdout
    text = html.unescape(dom)
    assert explained in text
    assert "freshness(ranker) <= 3d" in text and "proven" in text and "margin 19h30m" in text
    hops = re.search(r'<ol class="path">(.*?)</ol>', dom).group(1)
    assert re.findall(r">(source [a-z_]+|features [a-z_]+)</a>", hops) == [
        "source member_title_stats", "features member_title_affinity", "features member_title_affinity"]


def test_screenshots_of_the_map_and_a_models_page(site):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for name, url in (("map.png", (site / "index.html").as_uri() + f"#node={RANKER.replace(':', '%3A')}"),
                      ("ranker.png", (site / "d/model/netflix.recs.ranker.html").as_uri())):
        shot = ARTEFACTS / name
        shot.unlink(missing_ok=True)
        _run(url, f"--screenshot={shot}")
        assert shot.stat().st_size > 10_000
