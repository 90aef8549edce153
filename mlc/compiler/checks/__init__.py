"""The checks that run on the IR after names are resolved.

Each module holds the checks of one subject and exposes `check(ctx)`. A check
never reports what resolution already reported: a reference whose `target` is
None is skipped, so one mistake gives one diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mlc.compiler import ir
from mlc.compiler.resolve import Resolver
from mlc.diagnostics import Diagnostic

if TYPE_CHECKING:
    import networkx as nx


@dataclass
class Context:
    program: ir.Program
    resolver: Resolver
    graph: "nx.MultiDiGraph"
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def report(self, d: Diagnostic) -> None:
        self.diagnostics.append(d)

    def decl(self, key: str | None):
        """The declaration with this qualified key, whatever its kind."""
        if key is None:
            return None
        p = self.program
        for section in (p.sources, p.entities, p.feature_groups, p.models, p.feature_services, p.signals, p.flows,
                        p.slos, p.connectors, p.envs, p.artifacts):
            if key in section:
                return section[key]
        return None


def run_checks(program: ir.Program, resolver: Resolver) -> list[Diagnostic]:
    from mlc.compiler.checks import (artifacts, boundary, connectors, features, flow_dates, flow_expressions, flows,
                                     objectives, payloads, policy, schedules, settings, signals, types)
    from mlc.compiler.graph import build_graph

    ctx = Context(program, resolver, build_graph(program))
    for module in (connectors, features, types, settings, schedules, flow_dates, flow_expressions, flows, signals,
                   artifacts, payloads, policy, objectives, boundary):
        module.check(ctx)
    return ctx.diagnostics
