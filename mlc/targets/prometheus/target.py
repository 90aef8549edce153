"""Lowers the program's objectives to Prometheus rules and its models and flows to Grafana
dashboards (docs/targets/prometheus.md).

- `prometheus/rules/{models,features,flows}/NAME.yml` (`layout.prometheus_rules`): the recording and
  alerting rules of each watched declaration: error-budget burn rates of its availability and latency
  objectives, its freshness and completion objectives, a served model's fallback rate and confidence
  drift;
- `prometheus/dashboards/{models,flows}/NAME.json` (`layout.grafana_dashboard`): a dashboard per
  served model and per flow.

What to watch is decided once (`watch.plan`); `validate` reports what cannot be watched (W1301:
nothing exports the series an objective is about; E1302: an objective that leaves no error budget).
"""

from __future__ import annotations

from mlc.compiler import ir
from mlc.diagnostics import Diagnostic
from mlc.targets import Artifact
from mlc.targets.layout import Layout
from mlc.targets.prometheus import dashboards as G
from mlc.targets.prometheus.rules import dump, rule_files
from mlc.targets.prometheus.watch import plan
from mlc.targets.templating import TargetError


def validate(program: ir.Program, env: str, layout: Layout) -> list[Diagnostic]:
    return list(plan(program, layout).findings)


def lower(program: ir.Program, env: str, layout: Layout) -> list[Artifact]:
    watched = plan(program, layout)
    problems = [d for d in watched.findings if d.is_error]
    if problems:
        raise TargetError(problems)
    owners = {k: d.owner for section in (program.models, program.feature_groups, program.flows)
              for k, d in section.items()}
    out = [Artifact(layout.prometheus_rules(kind, key), dump(doc), kind="prometheus-rules", source=key)
           for (kind, key), doc in rule_files(watched, owners).items()]
    for m in watched.models:
        decl = program.models[m.model_key]
        board = G.build(f"mlc model {m.model}", _uid("model", m.model), ["mlc", "model", *decl.tags],
                        G.model_panels(program, watched, m.model_key), decl.description or "")
        out.append(Artifact(layout.grafana_dashboard("models", m.model_key), G.text(board), kind="grafana-dashboard",
                            source=m.model_key))
    for key, flow in sorted(program.flows.items()):
        fid = layout.label("flows", key)  # a branch's dashboard uid is its own
        board = G.build(f"mlc flow {fid}", _uid("flow", fid), ["mlc", "flow", *flow.tags],
                        G.flow_panels(watched, key, layout), flow.description or "")
        out.append(Artifact(layout.grafana_dashboard("flows", key), G.text(board), kind="grafana-dashboard",
                            source=key))
    return out


def _uid(kind: str, name: str) -> str:
    """A dashboard uid Grafana takes (at most 40 characters) that stays the same across compiles."""
    import hashlib

    uid = f"mlc-{kind}-{name}".replace(".", "-")
    return uid if len(uid) <= 40 else uid[:29] + "-" + hashlib.sha1(uid.encode()).hexdigest()[:10]
