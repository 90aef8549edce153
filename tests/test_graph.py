"""`mlc graph`: the program graph and its drawings, tested by structure."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from mlc.compiler.draw import to_dot, to_mermaid
from mlc.compiler.driver import check
from mlc.compiler.graph import build_graph, flow_chain_graph
from mlc.compiler.project import load_project

ROOT = Path(__file__).resolve().parent.parent
REC = ROOT / "examples" / "recommendations"
P = "netflix.recs."


def _graph():
    result = check(load_project([str(REC)]), use_cache=False)
    assert result.errors == 0
    return build_graph(result.program)


def _edges(g, kind):
    return {(u, v) for u, v, d in g.edges(data=True) if d["kind"] == kind}


def test_nodes_carry_ml_stream_and_owner() -> None:
    g = _graph()
    ranker = g.nodes[f"model:{P}ranker"]
    assert ranker["deterministic"] is False and ranker["owner"] == "personalization"
    assert g.nodes[f"model:{P}popular_titles"]["deterministic"] is True
    assert g.nodes[f"features:{P}member_activity"]["mode"] == "stream"
    assert g.nodes[f"features:{P}title_popularity"]["mode"] == "batch"
    assert g.nodes[f"features:{P}ranking_context"]["mode"] == "request"
    assert g.nodes[f"source:{P}plays"]["mode"] == "batch"
    # the probabilistic region: training the ranker starts it; the gate on `evaluate` does not
    # stop `publish`, which ships the ranker; everything after it (the bash step, and the flow its
    # signal starts) inherits it; the snapshot flow before it stays deterministic
    assert g.nodes[f"step:{P}train_ranker/train"]["deterministic"] is False
    assert g.nodes[f"step:{P}train_ranker/publish"]["why"] == "deploys probabilistic model `ranker`"
    assert g.nodes[f"step:{P}train_ranker/announce"]["deterministic"] is False
    assert g.nodes[f"step:{P}refresh_recommendations/score"]["deterministic"] is False
    assert g.nodes[f"step:{P}build_training_set/snapshot"]["deterministic"] is True


def test_edges_between_flows_and_the_store() -> None:
    g = _graph()
    assert (f"flow:{P}build_training_set", f"flow:{P}train_ranker") in _edges(g, "on_finish")
    assert (f"signal:{P}catalog_refreshed", f"flow:{P}train_ranker") in _edges(g, "awaits")
    assert (f"step:{P}train_ranker/publish", f"signal:{P}ranker_published") in _edges(g, "emits")
    assert (f"signal:{P}ranker_published", f"flow:{P}refresh_recommendations") in _edges(g, "awaits")
    assert (f"features:{P}member_activity", "store:online") in _edges(g, "online")
    assert (f"features:{P}member_activity", "store:offline") in _edges(g, "offline")
    assert (f"model:{P}popular_titles", f"model:{P}ranker") in _edges(g, "fallback")
    assert (f"step:{P}train_ranker/train", f"step:{P}train_ranker/evaluate") in _edges(g, "step")
    assert (f"step:{P}train_ranker/publish", f"model:{P}ranker") in _edges(g, "deploys")
    chain = flow_chain_graph(g)
    assert chain.has_edge(f"flow:{P}train_ranker", f"flow:{P}refresh_recommendations")
    assert chain.edges[f"flow:{P}train_ranker", f"flow:{P}refresh_recommendations"]["via"] == "ranker_published"


def test_mermaid_structure() -> None:
    text = to_mermaid(_graph())
    assert text.startswith("flowchart LR\n")
    assert re.search(r"subgraph flow_netflix_recs_train_ranker\[", text)
    # dashed arrows for chaining between flows, labelled
    assert re.search(r"signal_netflix_recs_ranker_published -\.->\|\"awaits\"\| flow_netflix_recs_refresh_recommendations", text)
    assert re.search(r"flow_netflix_recs_build_training_set -\.->\|\"on_finish\"\| flow_netflix_recs_train_ranker", text)
    ml_line = next(line for line in text.splitlines() if line.strip().startswith("class ") and line.endswith(" ml"))
    assert "model_netflix_recs_ranker" in ml_line and "model_netflix_recs_popular_titles" not in ml_line
    stream_line = next(line for line in text.splitlines() if line.strip().startswith("class ") and line.endswith(" stream"))
    assert "features_netflix_recs_member_activity" in stream_line
    assert "owner: personalization" in text


def test_drawings_are_deterministic() -> None:
    assert to_mermaid(_graph()) == to_mermaid(_graph())
    assert to_dot(_graph()) == to_dot(_graph())


def test_svg_through_graphviz(tmp_path: Path) -> None:
    assert shutil.which("dot"), "Graphviz is installed by scripts/setup.sh"
    out = tmp_path / "g.svg"
    done = subprocess.run([sys.executable, "-m", "mlc", "graph", "--format", "svg", "--out", str(out), str(REC)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert "model_netflix_recs_ranker" in titles
    assert "cluster_flow_netflix_recs_train_ranker" in titles
    # node classes survive into the SVG, so the ML region can be styled
    classes = " ".join(el.get("class", "") for el in root.iter())
    assert " ml" in f" {classes}" and "stream" in classes


def test_graph_refuses_a_broken_program(tmp_path: Path) -> None:
    (tmp_path / "mlc.toml").write_text("")
    (tmp_path / "a.flow").write_text("entity e { key k: string }\nfeatures f on nope { }\n")
    done = subprocess.run([sys.executable, "-m", "mlc", "graph", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "unknown entity `nope`" in done.stderr and done.stdout == ""
