"""`mlc graph`: the program graph drawn as Mermaid or Graphviz DOT (and SVG through `dot`).

It shows what a box-and-arrow picture cannot: ML (nondeterministic) versus
deterministic nodes, streaming versus batch, signal and `on_finish` edges
between flows, the feature store's online and offline sides, and each node's
owner. Output is deterministic: nodes and edges are emitted in sorted order.
"""

from __future__ import annotations

import json
import re

import networkx as nx

# classes a node can carry; the same names in Mermaid classDefs and DOT styles
STYLES = {
    "ml": {"fill": "#fde2e4", "stroke": "#c9184a"},
    "deterministic": {"fill": "#e9f5db", "stroke": "#4f772d"},
    "stream": {"fill": "#e0f2fe", "stroke": "#0369a1"},
    "batch": {"fill": "#fef3c7", "stroke": "#b45309"},
    "request": {"fill": "#f3e8ff", "stroke": "#7e22ce"},
    "signal": {"fill": "#fff7ed", "stroke": "#ea580c"},
    "store": {"fill": "#f1f5f9", "stroke": "#334155"},
    "flow": {"fill": "#ffffff", "stroke": "#1e293b"},
    "artifact": {"fill": "#ecfeff", "stroke": "#0e7490"},
}
_EDGE_LABELS = {
    "on_finish": "on_finish", "awaits": "awaits", "emits": "emits", "fallback": "fallback",
    "online": "online", "offline": "offline", "produces": "produces", "uses": "uses",
    "deploys": "deploys", "materializes": "materializes", "keys": "key",
    "writes": "writes", "reads": "reads",
}
_DASHED = {"on_finish", "awaits", "emits", "fallback"}
_KIND_WORD = {"features": "features", "source": "source", "model": "model", "signal": "signal",
              "flow": "flow", "step": "step", "entity": "entity", "store": "store", "artifact": "artifact"}


def node_classes(data: dict) -> list[str]:
    kind = data.get("kind")
    classes = []
    if kind in ("model", "step"):
        classes.append("deterministic" if data.get("deterministic", True) else "ml")
    if kind in ("source", "features") and data.get("mode"):
        classes.append(data["mode"])
    if kind == "signal":
        classes.append("signal")
    if kind == "store":
        classes.append("store")
    if kind == "flow":
        classes.append("flow")
    if kind == "artifact":
        classes.append("artifact")
    return classes


def _label(data: dict) -> str:
    kind = data.get("kind", "")
    title = data.get("label", "")
    bits = [f"{_KIND_WORD.get(kind, kind)} {title}" if kind not in ("store", "step") else title]
    if kind == "step" and data.get("action"):
        bits.append(data["action"])
    if kind in ("source", "features") and data.get("mode"):
        bits.append(data["mode"])
    if kind in ("model", "step"):
        bits.append("deterministic" if data.get("deterministic", True) else "ML")
    if kind == "signal" and data.get("external"):
        bits.append("external")
    if kind == "artifact" and data.get("artifact"):
        bits.append(data["artifact"])
    if data.get("owner"):
        bits.append(f"owner: {data['owner']}")
    return "\n".join(bits)


def _ids(g: nx.MultiDiGraph) -> dict[str, str]:
    """Short, safe identifiers for the drawing languages, stable for the same program."""
    out: dict[str, str] = {}
    for n in sorted(g.nodes):
        base = re.sub(r"[^A-Za-z0-9_]", "_", n)
        candidate, i = base, 1
        while candidate in out.values():
            i += 1
            candidate = f"{base}_{i}"
        out[n] = candidate
    return out


def _visible_edges(g: nx.MultiDiGraph):
    for u, v, data in sorted(g.edges(data=True), key=lambda e: (e[0], e[1], e[2]["kind"])):
        if data["kind"] == "contains":
            continue
        yield u, v, data


def to_mermaid(g: nx.MultiDiGraph) -> str:
    ids = _ids(g)
    lines = ["flowchart LR"]
    flows = sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "flow")
    in_flow = {n for n, d in g.nodes(data=True) if d.get("kind") == "step"}
    for n, data in sorted(g.nodes(data=True)):
        if n in in_flow or data.get("kind") == "flow":
            continue
        lines.append(f"  {ids[n]}{_mermaid_shape(data)}")
    for f in flows:
        data = g.nodes[f]
        lines.append(f"  subgraph {ids[f]}[{_mermaid_text(_label(data))}]")
        lines.append("    direction LR")
        for _u, s, d in sorted(g.out_edges(f, data=True)):
            if d["kind"] == "contains":
                lines.append(f"    {ids[s]}{_mermaid_shape(g.nodes[s])}")
        lines.append("  end")
    for u, v, data in _visible_edges(g):
        label = _EDGE_LABELS.get(data["kind"])
        arrow = "-.->" if data["kind"] in _DASHED else "-->"
        text = f"|{_mermaid_text(label)}|" if label else ""
        lines.append(f"  {ids[u]} {arrow}{text} {ids[v]}")
    for name, style in STYLES.items():
        lines.append(f"  classDef {name} fill:{style['fill']},stroke:{style['stroke']}")
    by_class: dict[str, list[str]] = {}
    for n, data in sorted(g.nodes(data=True)):
        for c in node_classes(data):
            by_class.setdefault(c, []).append(ids[n])
    for c in sorted(by_class):
        lines.append(f"  class {','.join(by_class[c])} {c}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return json.dumps(text.replace("\n", "<br/>"))


def _mermaid_shape(data: dict) -> str:
    text = _mermaid_text(_label(data))
    kind = data.get("kind")
    if kind == "source":
        return f"[({text})]"
    if kind == "store":
        return f"[({text})]"
    if kind == "signal":
        return f">{text}]"
    if kind == "model":
        return f"{{{{{text}}}}}"
    if kind == "entity":
        return f"([{text}])"
    if kind == "artifact":
        return f"[/{text}/]"
    return f"[{text}]"


_DOT_SHAPES = {"source": "cylinder", "store": "cylinder", "signal": "cds", "model": "hexagon",
               "entity": "oval", "features": "box3d", "step": "box", "artifact": "note"}


def to_dot(g: nx.MultiDiGraph) -> str:
    ids = _ids(g)
    out = ["digraph mlc {", "  rankdir=LR;", "  compound=true;", '  node [fontname="Helvetica", fontsize=10, style="filled"];',
           '  edge [fontname="Helvetica", fontsize=9];']
    in_flow = {n for n, d in g.nodes(data=True) if d.get("kind") == "step"}
    for n, data in sorted(g.nodes(data=True)):
        if n in in_flow or data.get("kind") == "flow":
            continue
        out.append(f"  {ids[n]} {_dot_attrs(data)};")
    for f in sorted(n for n, d in g.nodes(data=True) if d.get("kind") == "flow"):
        data = g.nodes[f]
        out.append(f"  subgraph cluster_{ids[f]} {{")
        out.append(f"    label={_dot_str(_label(data))}; style=rounded; color=\"#1e293b\";")
        out.append(f"    {ids[f]} [shape=point, style=invis, label=\"\"];")
        for _u, s, d in sorted(g.out_edges(f, data=True)):
            if d["kind"] == "contains":
                out.append(f"    {ids[s]} {_dot_attrs(g.nodes[s])};")
        out.append("  }")
    for u, v, data in _visible_edges(g):
        attrs = []
        label = _EDGE_LABELS.get(data["kind"])
        if label:
            attrs.append(f"label={_dot_str(label)}")
        if data["kind"] in _DASHED:
            attrs.append("style=dashed")
        extra = []
        if g.nodes[u].get("kind") == "flow":
            extra.append(f"ltail=cluster_{ids[u]}")
        if g.nodes[v].get("kind") == "flow":
            extra.append(f"lhead=cluster_{ids[v]}")
        attrs.extend(extra)
        out.append(f"  {ids[u]} -> {ids[v]}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_attrs(data: dict) -> str:
    classes = node_classes(data)
    style = STYLES[classes[0]] if classes else STYLES["deterministic"]
    shape = _DOT_SHAPES.get(data.get("kind", ""), "box")
    cls = " ".join(classes)
    return (f"[label={_dot_str(_label(data))}, shape={shape}, fillcolor=\"{style['fill']}\", "
            f"color=\"{style['stroke']}\", class=\"{cls}\"]")
