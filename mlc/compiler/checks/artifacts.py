"""Artifacts: the data edges between steps (`writes X` / `reads X`), and whether they hold.

- E0421 a step reads an artifact that a step of its own flow writes, and does not run after it;
- E0422 a step reads an artifact written only in other flows, none of which starts its flow
  (through `on_finish` or a signal, directly or along a chain);
- E0423 an artifact that steps read and no step writes;
- W0424 an artifact that steps write and no step reads (not when an unknown `reads` most
  likely means it: its E0202 says so);
- E0425 the two ends of one location disagree: two artifacts (or an artifact and a table
  source) at one place with different schemas, or a `partition` that is not a schema column
  (or on an artifact that is not a dataset).

`data_edges(program)` is what the checks, the freshness calculus and the backends read: for
every artifact, the steps that write it and those that read it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import networkx as nx

from mlc.compiler import ir
from mlc.compiler.bindings import arguments
from mlc.compiler.checks import Context
from mlc.compiler.graph import flow_chain_graph, node_id
from mlc.diagnostics import Label, error, warning


@dataclass
class Ends:
    """The steps at the two ends of one artifact: (flow key, step, the `writes`/`reads` ref)."""

    writers: list[tuple[str, ir.Step, ir.Ref]] = field(default_factory=list)
    readers: list[tuple[str, ir.Step, ir.Ref]] = field(default_factory=list)


def data_edges(program: ir.Program) -> dict[str, Ends]:
    """Artifact key -> its writers and readers, in program order."""
    out: dict[str, Ends] = {key: Ends() for key in program.artifacts}
    for fkey, f in program.flows.items():
        for s in f.steps:
            for r in s.writes:
                if r.target in out:
                    out[r.target].writers.append((fkey, s, r))
            for r in s.reads:
                if r.target in out:
                    out[r.target].readers.append((fkey, s, r))
    return out


def check(ctx: Context) -> None:
    p = ctx.program
    edges = data_edges(p)
    chain = flow_chain_graph(ctx.graph)
    meant = _meant_by_misspelled_reads(p)
    for key, a in p.artifacts.items():
        ends = edges[key]
        _partition(ctx, a)
        if ends.readers and not ends.writers:
            _fkey, s, r = ends.readers[0]
            ctx.report(error(
                "E0423", f"artifact `{a.name}` is read by step `{s.name}`, and no step writes it", r.loc,
                labels=(Label(a.loc, "declared here"),),
                help=f"add `writes {a.name}` to the step that produces it; data that something outside the "
                     "program lands is a `source`"))
        if ends.writers and not ends.readers and a.name not in meant:
            _fkey, s, r = ends.writers[0]
            ctx.report(warning(
                "W0424", f"artifact `{a.name}` is written by step `{s.name}`, and no step reads it", a.loc,
                labels=(Label(r.loc, "written here"),),
                help=f"add `reads {a.name}` to the step that uses it, or stop writing it"))
        for rflow, reader, ref in ends.readers:
            _ordered(ctx, a, chain, rflow, reader, ref, ends.writers)
    _same_place(ctx)


def _meant_by_misspelled_reads(p: ir.Program) -> set[str]:
    """Artifacts that an unknown `reads NAME` most likely meant (the did-you-mean of its E0202):
    that step reads them, so "written and never read" (W0424) would report the one mistake twice."""
    names = sorted({a.name for a in p.artifacts.values()})
    unknown = {r.name for f in p.flows.values() for s in f.steps for r in s.reads
               if r.target not in p.artifacts and r.name}
    return {close[0] for n in unknown if (close := difflib.get_close_matches(n, names, n=1, cutoff=0.6))}


def _partition(ctx: Context, a: ir.Artifact) -> None:
    if a.partition is not None and a.kind != "dataset":
        ctx.report(error("E0425", f"artifact `{a.name}` is a {a.kind}, and only a dataset has partitions",
                         a.partition.loc, help=f"make it a dataset, or remove `partition {a.partition.name}`"))
        return
    if a.partition is None or not a.schema_:
        return
    names = [f.name for f in a.schema_]
    if a.partition.name not in names:
        ctx.report(error("E0425", f"artifact `{a.name}` is partitioned by `{a.partition.name}`, which is not a "
                                  "column of its schema", a.partition.loc,
                         notes=(f"its columns: {', '.join(names)}",)))


def _ancestors(flow: ir.Flow, name: str) -> set[str]:
    preds: dict[str, set[str]] = {}
    for e in flow.edges:
        preds.setdefault(e.downstream.name, set()).add(e.upstream.name)
    seen: set[str] = set()
    todo = [name]
    while todo:
        for u in preds.get(todo.pop(), ()):
            if u not in seen:
                seen.add(u)
                todo.append(u)
    return seen


def _ordered(ctx: Context, a: ir.Artifact, chain: nx.DiGraph, rflow: str, reader: ir.Step, ref: ir.Ref,
             writers: list[tuple[str, ir.Step, ir.Ref]]) -> None:
    """A reader runs after what it reads is written: after every writer in its own flow; else
    in a flow that a writer's flow starts."""
    flow = ctx.program.flows[rflow]
    own = [(s, r) for fkey, s, r in writers if fkey == rflow and s.name != reader.name]
    if own:
        before = _ancestors(flow, reader.name)
        for s, r in own:
            if s.name not in before:
                ctx.report(error(
                    "E0421", f"step `{reader.name}` reads artifact `{a.name}` without running after step "
                             f"`{s.name}`, which writes it", ref.loc,
                    labels=(Label(r.loc, "written here"),),
                    help=f"add the edge `{s.name} >> {reader.name}` to flow `{flow.name}`"))
        return
    others = [(fkey, s, r) for fkey, s, r in writers if fkey != rflow]
    if not others:
        return  # written only by the reader itself (E0423 covers none at all)
    target = node_id("flow", rflow)
    for fkey, _s, _r in others:
        source = node_id("flow", fkey)
        if source in chain and target in chain and nx.has_path(chain, source, target):
            return
    fkey, s, r = others[0]
    writer = ctx.program.flows[fkey]
    ctx.report(error(
        "E0422", f"step `{reader.name}` of flow `{flow.name}` reads artifact `{a.name}`, and no flow that writes "
                 f"it starts `{flow.name}`", ref.loc,
        labels=tuple(Label(r2.loc, f"written in flow `{ctx.program.flows[k].name}`") for k, _s2, r2 in others[:3]),
        notes=("nothing orders the runs: the reader may read the set before it is written, or one half-written",),
        help=f"trigger `{flow.name}` from the writer: `trigger on_finish({writer.name})`, or a signal that step "
             f"`{s.name}` emits"))


def _place(ctx: Context, use: ir.ConnectorUse) -> tuple[str, str] | None:
    _kind, args = arguments(ctx.program, use, "source")
    path = args.get("path") or args.get("table")
    return (use.connector.name, str(path).strip("/")) if path is not None else None


def _shape(fields: tuple[ir.Field, ...]) -> dict[str, str]:
    return {f.name: f.type.name + ("?" if f.type.nullable else "") for f in fields}


def _same_place(ctx: Context) -> None:
    """Two declarations of one place (a producer's artifact and a consumer's, in two packages; an
    artifact that a later program reads as a table source) must say the same schema."""
    first: dict[tuple[str, str], tuple[str, ir.Decl, dict[str, str]]] = {}
    decls: list[tuple[str, ir.Decl, ir.ConnectorUse, tuple[ir.Field, ...]]] = [
        ("artifact", a, a.location, a.schema_) for a in ctx.program.artifacts.values() if a.schema_]
    decls += [("source", s, s.connector, s.schema_) for s in ctx.program.sources.values()
              if s.kind == "table" and s.connector is not None and s.schema_]
    for what, d, use, fields in decls:
        place = _place(ctx, use)
        if place is None:
            continue
        shape = _shape(fields)
        if place not in first:
            first[place] = (what, d, shape)
            continue
        other_what, other, other_shape = first[place]
        if shape == other_shape:
            continue
        diff = sorted(set(shape.items()) ^ set(other_shape.items()))
        name = diff[0][0]
        ctx.report(error(
            "E0425", f"{what} `{d.name}` and {other_what} `{other.name}` are one place "
                     f"(`{place[0]}` `{place[1]}`) with different schemas", use.loc,
            labels=(Label(other.loc, f"{other_what} `{other.name}` declared here"),),
            notes=(f"`{name}`: {shape.get(name, 'absent')} here, {other_shape.get(name, 'absent')} there",),
            help="the writer's and the reader's schemas must agree: change one, or point it at another place"))
