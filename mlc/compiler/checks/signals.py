"""Signals: who emits them and who waits for them.

- W0410 a signal emitted but awaited by no flow;
- E0411 a flow whose trigger can never fire: evaluated as an and/or tree whose leaves
  are false for the signals no flow emits (nor anything outside, `external`);
- W0415 a branch of a trigger that can never fire, in a trigger that can (an `or` with
  another way in): the flow starts, that branch never starts it;
- W0412 a signal declared but neither emitted nor awaited;
- E0310 a signal's `uri` that is no asset address Airflow takes as it is (`scheme://...`,
  not the reserved `airflow` or `mlc` schemes, no whitespace, no password, ASCII, at most
  1500 characters), or that two signals share.

A signal with a `uri` may be waited for by DAGs not written in .flow: emitted and awaited
by no flow is not reported for it.
"""

from __future__ import annotations

import re
import urllib.parse

from mlc.compiler import ir
from mlc.compiler.checks import Context
from mlc.compiler.graph import node_id
from mlc.diagnostics import Label, error, warning

SHOWN = 3  # emit sites listed by W0410; the rest are counted


def check(ctx: Context) -> None:
    g = ctx.graph
    never: set[str] = set()  # signals awaited that nothing emits
    for key, signal in ctx.program.signals.items():
        n = node_id("signal", key)
        emitters = [u for u, _v, d in g.in_edges(n, data=True) if d["kind"] == "emits"]
        waiters = [(v, d) for _u, v, d in g.out_edges(n, data=True) if d["kind"] == "awaits"]
        _check_uri(ctx, signal)
        if signal.external:
            continue
        if emitters and not waiters and signal.uri is None:
            more = len(emitters) - SHOWN
            ctx.report(warning("W0410", f"signal `{signal.name}` is emitted but no flow waits for it",
                               signal.loc, labels=tuple(Label(g.nodes[u]["loc"], "emitted here")
                                                        for u in emitters[:SHOWN]),
                               notes=(f"and {more} more emit site{'s' * (more > 1)}",) if more > 0 else (),
                               help=f"add `trigger signal({signal.name})` to the flow that should run, "
                                    "or stop emitting it"))
        elif waiters and not emitters:
            never.add(key)
        elif not emitters and not waiters:
            ctx.report(warning("W0412", f"signal `{signal.name}` is neither emitted nor awaited", signal.loc,
                               help="remove it, or use it in a trigger"))
    _shared_uris(ctx)
    if never:
        for flow in ctx.program.flows.values():
            if flow.trigger is not None:
                _check_trigger(ctx, flow, never)


MAX_URI = 1500  # Airflow's limit on an asset's name and uri
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def uri_problem(uri: str) -> str | None:
    """Why `uri` is no asset address to bind a signal to, or None."""
    if any(c.isspace() for c in uri):
        return "it holds whitespace"
    if not uri.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in uri):
        return "it holds a character that is not printable ASCII (Airflow on MySQL stores ASCII only)"
    if len(uri) > MAX_URI:
        return f"it is longer than Airflow's {MAX_URI} characters"
    scheme, colon, rest = uri.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme) or not rest.strip("/"):
        return "it is not an address `scheme://...` (such as `s3://bucket/path`)"
    if scheme.lower() == "airflow":
        return "the scheme `airflow` is reserved by Airflow"
    if scheme.lower() == "mlc":
        return "the scheme `mlc` is the compiler's own (every signal without a `uri` has one)"
    if urllib.parse.urlsplit(uri).password:
        return "it holds a password (Airflow drops it; a credential has no place in a program)"
    return None


def normal_uri(uri: str) -> str:
    """The address as Airflow compares it: scheme in lower case, no trailing `/`, no fragment."""
    parts = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit(parts._replace(scheme=parts.scheme.lower(),
                                                  path=parts.path.rstrip("/") or "/", fragment=""))


def _check_uri(ctx: Context, signal: ir.Signal) -> None:
    if signal.uri is None:
        return
    why = uri_problem(signal.uri)
    if why is not None:
        ctx.report(error("E0310", f"the `uri` of signal `{signal.name}` cannot be an Airflow asset address: {why}",
                         signal.uri_loc or signal.loc,
                         help='write the address other DAGs use, such as `uri "s3://bucket/raw/"`'))


def _shared_uris(ctx: Context) -> None:
    seen: dict[str, ir.Signal] = {}
    for signal in ctx.program.signals.values():
        if signal.uri is None or uri_problem(signal.uri) is not None:
            continue
        key = normal_uri(signal.uri)
        first = seen.setdefault(key, signal)
        if first is not signal:
            ctx.report(error("E0310", f"signals `{first.name}` and `{signal.name}` are bound to one asset address "
                                      f"(`{key}`)", signal.uri_loc or signal.loc,
                             labels=(Label(first.uri_loc or first.loc, f"`{first.name}` is bound here"),),
                             notes=("Airflow would see one asset: an event of either would start the flows "
                                    "waiting for the other",),
                             help="give each signal its own address, or use one signal"))


def _dead(t: ir.Trigger, never: set[str]) -> bool:
    """Whether the trigger `t` can never fire, when no signal of `never` is ever sent."""
    if t.kind == "all":
        return any(_dead(i, never) for i in t.items)
    if t.kind == "any":
        return all(_dead(i, never) for i in t.items)
    return t.kind == "signal" and t.target is not None and t.target.target in never


def _causes(t: ir.Trigger, never: set[str]) -> list[ir.Trigger]:
    """The leaves that make the dead trigger `t` dead: every unsent signal it needs."""
    if t.kind in ("all", "any"):
        return [leaf for i in t.items if _dead(i, never) for leaf in _causes(i, never)]
    return [t]


def _dead_branches(t: ir.Trigger, never: set[str]) -> list[ir.Trigger]:
    """The largest dead parts of the live trigger `t`: the branches of an `or` that never fire."""
    if t.kind == "any":
        return [b for i in t.items for b in ([i] if _dead(i, never) else _dead_branches(i, never))]
    if t.kind == "all":
        return [b for i in t.items for b in _dead_branches(i, never)]
    return []


def _unsent(ctx: Context, leaves: list[ir.Trigger]) -> list[ir.Signal]:
    return list({leaf.target.target: ctx.program.signals[leaf.target.target] for leaf in leaves}.values())


def _names(signals: list[ir.Signal]) -> str:
    shown = [f"`{s.name}`" for s in signals]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _check_trigger(ctx: Context, flow: ir.Flow, never: set[str]) -> None:
    t = flow.trigger
    if _dead(t, never):
        leaves = _causes(t, never)
        signals = _unsent(ctx, leaves)
        first = signals[0]
        ctx.report(error(
            "E0411", f"flow `{flow.name}` can never start: its trigger waits for signal{'s' * (len(signals) > 1)} "
                     f"{_names(signals)}, which no flow emits", leaves[0].loc or t.loc or flow.loc,
            labels=tuple(Label(leaf.loc, f"no flow emits `{leaf.target.name}`") for leaf in leaves[1:] if leaf.loc)
            + tuple(Label(s.loc, f"signal `{s.name}` declared here") for s in signals if s.loc),
            help=(f"emit it from a step (`emits signal {first.name}(...)`), or declare it "
                  f"`signal {first.name} external` if something outside this program sends it"
                  if len(signals) == 1 else
                  f"emit each from a step (`emits signal {first.name}(...)`), or declare it `external` "
                  "if something outside this program sends it")))
        return
    for branch in _dead_branches(t, never):
        signals = _unsent(ctx, _causes(branch, never))
        leaves = _causes(branch, never)
        ctx.report(warning(
            "W0415", f"a branch of the trigger of flow `{flow.name}` can never fire: no flow emits "
                     f"{_names(signals)}", branch.loc or t.loc or flow.loc,
            labels=tuple(Label(leaf.loc, f"no flow emits `{leaf.target.name}`") for leaf in leaves
                         if leaf.loc and leaf.loc != branch.loc),
            notes=(f"`{flow.name}` still starts by the other branches of its `or`; this one never starts it",),
            help=f"emit {_names(signals)} from a step, declare {'it' if len(signals) == 1 else 'them'} "
                 "`external`, or remove the branch"))
