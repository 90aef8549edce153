"""Every name of every expression is resolved once, into the IR (`mlc.compiler.references`):
each `ref` node carries its target and its type, and the backends read them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlc.compiler import driver, ir
from mlc.compiler.infer import walk
from mlc.compiler.project import load_project

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROJECTS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "mlc.toml").is_file())
# steps whose arguments name a declaration (resolved as the step's `uses`/`produces` Refs)
DECLARATION_ARGS = {"materialize", "deploy"}


def _program(name: str) -> ir.Program:
    result = driver.check(load_project([str(EXAMPLES / name)]), use_cache=False)
    assert result.program is not None
    return result.program


def _expressions(p: ir.Program):
    """Every expression whose names mean something: those of feature groups, models' fallbacks
    and flows. Not: a connector's arguments (`format parquet`: a bare word is a value) and an
    SLO template's (its parameters are substituted where it is used)."""
    for g in p.feature_groups.values():
        yield from (f.expr for f in g.features if f.expr is not None)
    for m in p.models.values():
        if m.fallback is not None and m.fallback.when is not None:
            yield m.fallback.when
    for flow in p.flows.values():
        for t in (flow.trigger.leaves() if flow.trigger else ()):
            yield from t.match.values()
        for s in flow.steps:
            if s.kind not in DECLARATION_ARGS:
                yield from (s.args[1:] if s.kind == "subflow" else s.args)   # a subflow's flow, then its params
            yield from (*s.env.values(), *s.resources.values())
            yield from (e for e in (s.when, s.gate, s.foreach.items if s.foreach else None) if e is not None)
            for emit in s.emits:
                yield from emit.payload.values()


@pytest.mark.parametrize("name", PROJECTS)
def test_every_ref_of_every_example_has_a_target_and_a_type(name: str) -> None:
    # the envs bind sources and stores, not names: one program serves every env
    refs = [n for e in _expressions(_program(name)) for n in walk(e) if n.op == "ref"]
    assert refs
    assert [(n.name, n.loc) for n in refs if n.target is None or n.type is None] == []


def test_a_request_time_group_reads_a_stored_groups_feature() -> None:
    p = _program("recommendations")
    refs = {n.name: n for f in p.feature_groups["netflix.recs.ranking_context"].features if f.expr is not None
            for n in walk(f.expr) if n.op == "ref"}
    clicks = refs["member_activity.clicks_1h"]
    assert (clicks.target, clicks.type) == ("feature:netflix.recs.member_activity.clicks_1h", "int")


def test_expressions_without_refs_are_not_rebuilt() -> None:
    from mlc.compiler.references import annotated

    e = ir.build(ir.Expr, op="binop", name="+", args=(ir.build(ir.Expr, op="lit", kind="int", value=1),
                                                      ir.build(ir.Expr, op="lit", kind="int", value=2)))
    assert annotated(e, lambda name, loc: ("param:x", "int")) is e
