"""The site's files: the map (index.html), a page per declaration, the SLO board, the data
(site.json, and data.js, the same document as a script, which a page read from file:// can load
where it could not fetch JSON), its schema, and the static files (ours and the vendored libraries).

Pages are Jinja templates (`mlc/docsite/templates/`) in an environment of their own: HTML,
so autoescaped (a doc comment or a name can hold `<`), and strict. Every link is relative, so
the site works from a folder, a file share or a bucket; nothing is fetched from the network.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from urllib.parse import quote

import networkx as nx

from mlc.compiler import ir
from mlc.compiler.freshness import fmt_ms
from mlc.compiler.infer import type_text
from mlc.docsite.model import Node, Site, SourceText, json_schema
from mlc.targets import Artifact

_STATIC = ("style.css", "core.js", "app.js", "live.js")
_COLUMNS_TITLE = {"source": "Schema", "entity": "Keys", "features": "Features", "model": "Inputs and output",
                  "signal": "Payload fields", "artifact": "Schema"}


@lru_cache(maxsize=None)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("mlc.docsite", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.globals.update(address=_address, path_address=lambda v: ",".join(_address(h.node) for h in v.path if h.node))
    return env


def _address(node_id: str) -> str:
    """A node id in a `#node=`/`#path=` address (core.js's parseAddress decodes it)."""
    return quote(node_id, safe="")


def _ms(value: int | None) -> str | None:
    return fmt_ms(value) if value is not None else None


def _facts(program: ir.Program, node: Node, text: SourceText) -> list[tuple[str, str]]:
    """What a page lists under the declaration's name, besides owner, tags and location."""
    kind, key = node.kind, node.key
    rows: list[tuple[str, str | None]] = []
    if kind == "source":
        s = program.sources[key]
        rows = [("kind", s.kind), ("connector", (text.span(s.connector.loc) or s.connector.connector.name) if s.connector else None),
                ("event time", s.event_time.name if s.event_time else None),
                ("watermark", _ms(s.watermark_ms)),
                ("arrives", text.span(s.arrives_loc))]
    elif kind == "features":
        g = program.feature_groups[key]
        rows = [("entity", g.entity.name if g.entity else None), ("mode", g.mode), ("sources", ", ".join(r.name for r in g.sources) or None),
                ("schedule", text.span(g.schedule.loc) if g.schedule else None), ("timeout", _ms(g.timeout_ms)),
                ("checkpoint", _ms(g.checkpoint_ms)),
                ("online store", ("yes" + (f", ttl {fmt_ms(g.online_ttl_ms)}" if g.online_ttl_ms else "")) if g.online else "no"),
                ("offline store", text.span(g.offline.loc) if g.offline else None),
                ("freshness", f"{g.freshness.op} {fmt_ms(g.freshness.value_ms)}" if g.freshness else None)]
    elif kind == "model":
        m = program.models[key]
        rows = [("framework", m.framework),
                ("confidence", f"{m.confidence[0]}..{m.confidence[1]}" if m.confidence else None),
                ("fallback", node.gate), ("serve", text.span(m.serve.loc) if m.serve else None)]
    elif kind == "signal":
        s = program.signals[key]
        rows = [("external", "yes: sent from outside the program" if s.external else "no"), ("uri", s.uri)]
    elif kind == "artifact":
        a = program.artifacts[key]
        rows = [("kind", a.kind), ("location", text.span(a.location.loc) or a.location.connector.name),
                ("partition", a.partition.name if a.partition is not None else None)]
    elif kind == "flow":
        f = program.flows[key]
        rows = [("schedule", text.span(f.schedule.loc) if f.schedule else None),
                ("trigger", text.span(f.trigger.loc) if f.trigger else None),
                ("params", ", ".join(f"{p.name}: {type_text(p.type)}" + (f" = {text(p.default)}" if p.default else "")
                                     for p in f.params) or None),
                ("start", f.start), ("end", f.end), ("catchup", "yes" if f.catchup else None)]
    if node.why:
        rows.append(("probabilistic", node.why))
    return [(k, v) for k, v in rows if v]


def _steps(program: ir.Program, flow_key: str, nodes: dict[str, Node], text: SourceText) -> list[dict]:
    flow = program.flows[flow_key]
    after: dict[str, list[str]] = {s.name: [] for s in flow.steps}
    for e in flow.edges:
        after.setdefault(e.downstream.name, []).append(e.upstream.name)
    out = []
    for s in flow.steps:
        n = nodes[f"step:{flow_key}/{s.name}"]
        details = [f"{s.kind}({', '.join(text(a) for a in s.args)})"]
        details += [f"{w} {v}" for w, v in (("retries", s.retries), ("timeout", _ms(s.timeout_ms)),
                                            ("owner", s.owner)) if v]
        details += [f"gate {text(s.gate)}"] if s.gate is not None else []
        details += [f"when {text(s.when)}"] if s.when is not None else []
        details += [f"foreach {s.foreach.var} in {text(s.foreach.items)}"] if s.foreach else []
        details += [f"produces {s.produces.name}"] if s.produces else []
        details += [f"uses {u.name}" for u in s.uses]
        details += [f"emits signal {e.signal.name}" for e in s.emits]
        details += [s.doc] if s.doc else []
        out.append({"id": n.id, "name": s.name, "anchor": n.page.rsplit("#step-", 1)[1], "action": s.kind,
                    "after": sorted(after.get(s.name, [])), "deterministic": n.deterministic, "why": n.why or "",
                    "details": details})
    return out


def _connections(node: Node, g: nx.MultiDiGraph, nodes: dict[str, Node]) -> list[dict]:
    rows = []
    for u, v, kind in sorted(list(g.in_edges(node.id, data="kind")) + list(g.out_edges(node.id, data="kind"))):
        if kind == "contains":
            continue
        a, b = nodes[u], nodes[v]
        rows.append({"from_name": f"{a.kind} {a.name}", "from_page": a.page if a.id != node.id else None,
                     "kind": kind, "to_name": f"{b.kind} {b.name}", "to_page": b.page if b.id != node.id else None})
    return rows


# what the map reads of each node (static/app.js, core.js); the pages hold the rest
MAP_FIELDS = ("id", "kind", "name", "key", "package", "owner", "tags", "mode", "action", "deterministic", "why",
              "gate", "external", "doc", "page", "parent")


def map_data(document: dict) -> dict:
    """The part of the site's document the map loads (data.js): a large program's site.json is
    tens of megabytes, most of it pages' content."""
    return {"format": document["format"], "project": document["project"], "env": document["env"],
            "nodes": [{k: n[k] for k in MAP_FIELDS} for n in document["nodes"]], "edges": document["edges"]}


def render(site: Site, program: ir.Program, g: nx.MultiDiGraph, text: SourceText) -> list[Artifact]:
    env = _environment()
    nodes = {n.id: n for n in site.nodes}
    pages = {n.id: n.page for n in site.nodes if n.page}
    names = {n.id: n.name for n in site.nodes}
    document = site.model_dump(mode="json")
    data = json.dumps(map_data(document), indent=None, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    files = [
        Artifact("site.json", json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n", kind="docs"),
        Artifact("site.schema.json", json.dumps(json_schema(), indent=1, sort_keys=True) + "\n", kind="docs"),
        Artifact("data.js", f"window.MLC_SITE = {data};\n", kind="docs"),
    ]
    kinds: dict[str, int] = {}
    for n in site.nodes:
        kinds[n.kind] = kinds.get(n.kind, 0) + 1
    counts = ", ".join(f"{kinds[k]} {k}" for k in sorted(kinds))
    common = {"site": site, "pages": pages, "names": names}
    files.append(Artifact("index.html", env.get_template("index.html.j2").render(
        title="Map", root="", counts=counts, **common), kind="docs"))
    tally = [(w, sum(1 for v in site.objectives if v.verdict == w)) for w in ("proven", "rejected", "unknown", "runtime")]
    region = [n for n in site.nodes if not n.deterministic]
    files.append(Artifact("slo.html", env.get_template("slo.html.j2").render(
        title="SLO board", root="", tally=[t for t in tally if t[1]], region=region, **common), kind="docs"))
    decl = env.get_template("decl.html.j2")
    about: dict[str, list] = {}  # a node's objectives; a flow's page has its steps' too
    for v in site.objectives:
        if v.subject is not None:
            about.setdefault(nodes[v.subject].parent or v.subject, []).append(v)
    for n in site.nodes:
        if n.kind == "step":
            continue  # a step is a row of its flow's page
        objectives = about.get(n.id, [])
        files.append(Artifact(n.page, decl.render(
            title=n.name, root="../../", node=n, facts=_facts(program, n, text), columns_title=_COLUMNS_TITLE.get(n.kind, ""),
            steps=_steps(program, n.key, nodes, text) if n.kind == "flow" else [],
            connections=_connections(n, g, nodes), objectives=objectives,
            explains=list(dict.fromkeys(v.explain for v in objectives if v.explain)), **common), kind="docs"))
    static = resources.files("mlc.docsite").joinpath("static")
    for name in _STATIC:
        files.append(Artifact(f"static/{name}", static.joinpath(name).read_text(encoding="utf-8"), kind="docs"))
    vendor = static.joinpath("vendor")
    for f in sorted(vendor.iterdir(), key=lambda f: f.name):
        if f.is_file():
            files.append(Artifact(f"static/vendor/{f.name}", f.read_text(encoding="utf-8"), kind="docs"))
    return files
