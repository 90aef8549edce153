"""The site's data: one JSON document (`site.json`, format `mlc-docs/1`, its JSON Schema in
`site.schema.json`) built from the IR, the program graph of `mlc graph`, the bundle manifest
and the objectives' verdicts. The map, the pages and any other tool (a service catalog) read
this document; nothing in the site is computed from anything else.

Nodes and edges are the program graph's (`mlc.compiler.graph.build_graph`), with its ids and
edge kinds, so the map's lineage is the graph's ancestors and descendants. Everything is
sorted and holds no time or absolute path: the same program gives the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict

from mlc import __version__
from mlc.compiler import ir
from mlc.compiler.infer import type_text
from mlc.docsite.verdicts import Crossing, Verdict, crossings, verdicts

FORMAT = "mlc-docs/1"
KINDS = ("source", "entity", "features", "store", "model", "flow", "step", "artifact", "signal")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Column(_Model):
    name: str
    type: str = ""
    note: str = ""


class Built(_Model):
    """One compiled artifact a declaration became (an entry of the bundle's manifest.json)."""

    path: str
    kind: str
    target: str
    sha256: str


class Bound(_Model):
    """Where a declaration is in one env: the connector its binding uses and its settings."""

    env: str
    connector: str
    settings: dict[str, str] = {}


class Node(_Model):
    id: str  # the program graph's id: `kind:key`, `step:flow_key/step`
    kind: str
    name: str
    key: str  # the qualified name (a step: `flow_key/step`)
    package: str | None = None
    owner: str | None = None
    tags: list[str] = []
    mode: str | None = None  # stream | batch | request (sources, feature groups)
    action: str | None = None  # a step's kind: python, spark, deploy...
    deterministic: bool = True
    why: str | None = None  # why a step is probabilistic
    gate: str | None = None  # what checks this node's output: a step's gate, a model's fallback
    external: bool = False
    doc: str | None = None
    loc: str | None = None  # file:line:col, relative to the project root
    page: str | None = None  # the node's page, relative to the site's root
    parent: str | None = None  # a step's flow
    columns: list[Column] = []  # schema, keys, features, fields, inputs and output, steps
    artifacts: list[Built] = []
    bindings: list[Bound] = []


class Edge(_Model):
    source: str
    target: str
    kind: str  # the program graph's edge kinds (mlc.compiler.graph)
    label: str | None = None


class Site(_Model):
    format: str = FORMAT
    mlc_version: str = __version__
    project: str
    env: str  # the env the artifacts were compiled for
    envs: list[str]
    nodes: list[Node]
    edges: list[Edge]
    objectives: list[Verdict]
    boundary: list[Crossing]


def json_schema() -> dict:
    schema = Site.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"mlc docs site {FORMAT}"
    return schema


class SourceText:
    """Expressions as written, cut from the project's files by their spans."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lines: dict[str, list[str]] = {}

    def __call__(self, e: ir.Expr | None) -> str:
        if e is None:
            return ""
        return self.span(e.loc) or str(e.text or e.value or e.name or e.op)

    def span(self, loc) -> str | None:
        """The text a span covers (lines after the first joined by one space), None if unread."""
        if loc is None:
            return None
        if loc.file not in self.lines:
            try:
                self.lines[loc.file] = (self.root / loc.file).read_text(encoding="utf-8").splitlines()
            except OSError:
                self.lines[loc.file] = []
        lines = self.lines[loc.file][loc.line - 1:loc.end_line]
        if not lines:
            return None
        if len(lines) == 1:
            return lines[0][loc.col - 1:loc.end_col - 1]
        return " ".join([lines[0][loc.col - 1:].strip()] + [s.strip() for s in lines[1:-1]]
                        + [lines[-1][:loc.end_col - 1].strip()])


def page_of(kind: str, key: str) -> str:
    """The page of node `kind:key` (a step's is its flow's page, at the step)."""
    if kind == "step":
        flow, _, step = key.partition("/")
        return f"{page_of('flow', flow)}#step-{_safe(step)}"
    return f"d/{kind}/{_safe(key)}.html"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def _loc(span) -> str | None:
    return f"{span.file}:{span.line}:{span.col}" if span is not None else None


def _setting(value: Any) -> str:
    if isinstance(value, ir.Secret):
        return f'secret("{value.name}") (env {value.env})'
    if isinstance(value, dict) and set(value) == {"name", "env"}:
        return f'secret("{value["name"]}") (env {value["env"]})'
    return str(value)


def _columns(program: ir.Program, kind: str, decl: Any, text: SourceText) -> list[Column]:
    if kind == "source":
        cols = [Column(name=f.name, type=type_text(f.type)) for f in decl.schema_]
        if decl.event_time is not None:
            cols = [c.model_copy(update={"note": "event time"}) if c.name == decl.event_time.name else c for c in cols]
        return cols
    if kind == "entity":
        return [Column(name=f.name, type=type_text(f.type), note="key") for f in decl.keys]
    if kind == "signal":
        return [Column(name=f.name, type=type_text(f.type)) for f in decl.fields]
    if kind == "artifact":
        part = decl.partition.name if decl.partition is not None else None
        return [Column(name=f.name, type=type_text(f.type), note="partition" if f.name == part else "")
                for f in decl.schema_]
    if kind == "features":
        cols = [Column(name=f.name, type=type_text(f.type), note="request field") for f in decl.request]
        for f in decl.features:
            note = f.kind
            if f.kind == "aggregation":
                note = f"{f.agg}({text(f.expr) if f.expr else '*'})"
            elif f.kind == "expression":
                note = text(f.expr)
            cols.append(Column(name=f.name, type=type_text(f.type) if f.type is not None else "", note=note))
        return cols
    if kind == "model":
        cols = [Column(name=f"{i.group}.{i.feature or '*'}", note="input") for i in decl.inputs]
        if decl.output is not None:
            cols.append(Column(name=decl.output.name, type=type_text(decl.output.type), note="output"))
        return cols
    return []


def _bindings(program: ir.Program, kind: str, key: str, decl: Any) -> list[Bound]:
    out = []
    for env_name, env in sorted(program.environments.items()):
        where = {"source": env.sources, "features": env.offline, "artifact": env.artifacts}.get(kind, {}).get(key)
        if where is None:
            continue
        settings = {k: _setting(v) for k, v in sorted(where.model_dump(exclude_none=True, exclude={"kind", "settings"}).items())}
        settings.update({k: _setting(v) for k, v in sorted(where.settings.items())})
        out.append(Bound(env=env_name, connector=where.kind, settings=settings))
    return out


_SECTIONS = {"source": "sources", "entity": "entities", "features": "feature_groups", "model": "models",
             "signal": "signals", "flow": "flows", "artifact": "artifacts"}


def build_site(program: ir.Program, g: nx.MultiDiGraph, text: SourceText, project: str, env: str,
               manifest: dict | None) -> Site:
    """The site's document for `program` (graph `g`, its files read by `text`), with the
    artifacts of `manifest` (the bundle compiled for `env`)."""
    built: dict[str, list[Built]] = {}
    for a in (manifest or {}).get("artifacts", ()):
        source = a.get("source")
        if source is not None:
            built.setdefault(source["name"], []).append(
                Built(path=a["path"], kind=a["kind"], target=a["target"], sha256=a["sha256"]))
    gates = {c.origin: c.via for c in crossings(program, g, text)}
    nodes = []
    for n, d in sorted(g.nodes(data=True)):
        kind = d["kind"]
        key = n.split(":", 1)[1]
        node = Node(id=n, kind=kind, name=d.get("label", key), key=key, owner=d.get("owner"), mode=d.get("mode"),
                    action=d.get("action"), deterministic=d.get("deterministic", True), why=d.get("why"),
                    external=bool(d.get("external")), loc=_loc(d.get("loc")), page=page_of(kind, key))
        if kind == "step":
            flow = program.flows[d["flow"]]
            step = next(s for s in flow.steps if s.name == d["label"])
            node.parent = f"flow:{d['flow']}"
            node.package, node.doc, node.tags = flow.package, step.doc, sorted(set(step.tags) | set(flow.tags))
            node.gate = f"gate {text(step.gate)}" if step.gate is not None else gates.get(n)
        elif kind in _SECTIONS:
            decl = getattr(program, _SECTIONS[kind])[key]
            node.package, node.doc, node.tags = decl.package, decl.doc or decl.description, sorted(decl.tags)
            node.columns = _columns(program, kind, decl, text)
            node.artifacts = built.get(key, [])
            node.bindings = _bindings(program, kind, key, decl)
            if kind == "model" and decl.fallback is not None:
                node.gate = (f"fallback {decl.fallback.model.name}"
                             + (f" when {text(decl.fallback.when)}" if decl.fallback.when is not None else ""))
        nodes.append(node)
    edges = sorted((Edge(source=u, target=v, kind=e["kind"], label=e.get("feature"))
                    for u, v, e in g.edges(data=True)),
                   key=lambda e: (e.source, e.target, e.kind, e.label or ""))
    return Site(project=project, env=env, envs=sorted(program.environments) or sorted(e.name for e in program.envs.values()),
                nodes=nodes, edges=edges, objectives=verdicts(program, g), boundary=crossings(program, g, text))
