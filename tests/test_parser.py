"""The AST of each construct: every declaration and clause, with the spans that point back
at the text."""

from __future__ import annotations

import textwrap

import pytest

from mlc.diagnostics import Span
from mlc.dsl import ast as A
from mlc.dsl.parser import get_parser, parse_text


def parse(text: str, path: str = "t.flow") -> A.Module:
    module, diags = parse_text(textwrap.dedent(text), path)
    assert diags == [], diags
    return module


def decl(text: str):
    module = parse(text)
    assert len(module.decls) == 1
    return module.decls[0]


def at(span: Span) -> tuple[int, int, int, int]:
    return span.line, span.col, span.end_line, span.end_col


# ---------------------------------------------------------------- modules


def test_package_and_imports() -> None:
    m = parse("""\
        package netflix.recs
        import std.connectors.{kafka, hive, s3,}
        import std.slo
        import std.slo as slos
        """)
    pkg, members, plain, alias = m.decls
    assert isinstance(pkg, A.PackageDecl) and pkg.name.value == "netflix.recs"
    assert m.package == "netflix.recs"
    assert isinstance(members, A.ImportDecl)
    assert members.module.parts == ("std", "connectors")
    assert [n.value for n in members.members] == ["kafka", "hive", "s3"]
    assert members.alias is None
    assert plain.module.dotted == "std.slo" and plain.members == () and plain.alias is None
    assert alias.alias.value == "slos"
    assert at(members.span) == (2, 1, 2, 41)
    assert at(members.members[1].span) == (2, 31, 2, 35)


def test_env_bindings() -> None:
    d = decl("""\
        env prod {
          kafka = kafka(bootstrap = "broker:9092", credentials = secret("kafka-sasl"))
          hive  = hive("thrift://metastore:9083"), s3 = s3(bucket = "b")
        }
        """)
    assert isinstance(d, A.EnvDecl) and d.name.value == "prod"
    assert [b.name.value for b in d.bindings] == ["kafka", "hive", "s3"]
    kafka = d.bindings[0].call
    assert kafka.func.dotted == "kafka"
    assert kafka.kwargs()["bootstrap"].value == "broker:9092"
    secret = kafka.kwargs()["credentials"]
    assert isinstance(secret, A.Call) and secret.func.dotted == "secret"
    assert secret.positional()[0].value == "kafka-sasl"
    assert d.bindings[1].call.positional()[0].value == "thrift://metastore:9083"
    assert at(d.span) == (1, 1, 4, 2)


def test_connector_declaration() -> None:
    d = decl("""\
        connector kafka {
          kinds [stream, table]
          env { bootstrap: string, credentials: secret? }
          source { topic: string, format: enum(json, avro) = json, partitions: int = 1 }
          description "Apache Kafka"
        }
        """)
    assert isinstance(d, A.ConnectorDecl)
    assert [k.value for k in d.kinds] == ["stream", "table"]
    assert [(p.name.value, p.type.name, p.type.nullable) for p in d.env_params] == [
        ("bootstrap", "string", False), ("credentials", "secret", True)]
    fmt = d.source_params[1]
    assert fmt.type.name == "enum" and fmt.type.args == ("json", "avro")
    assert isinstance(fmt.default, A.Ref) and fmt.default.dotted == "json"
    assert d.source_params[2].default.value == 1
    assert d.env_params[0].default is None
    assert d.meta.description.value == "Apache Kafka"


# ---------------------------------------------------------------- sources and entities


def test_stream_source() -> None:
    d = decl("""\
        source member_events: stream kafka(topic = "member-interactions", format = json) {
          schema {
            member_id: string
            kind: enum(view, click, dwell), tags: [string], score: float?, history: [int]?
          }
          event_time ts
          watermark 30s
          owner "member-data", tags ["pii", "realtime"]
        }
        """)
    assert isinstance(d, A.SourceDecl) and d.source_kind == "stream"
    assert d.connector.func.dotted == "kafka"
    assert d.connector.kwargs()["format"].dotted == "json"
    names = [f.name.value for f in d.schema]
    assert names == ["member_id", "kind", "tags", "score", "history"]
    kind, tags, score, history = (f.type for f in d.schema[1:])
    assert (kind.name, kind.args) == ("enum", ("view", "click", "dwell"))
    assert (tags.name, tags.element.name, tags.nullable) == ("list", "string", False)
    assert (score.name, score.nullable) == ("float", True)
    assert (history.name, history.element.name, history.nullable) == ("list", "int", True)
    assert d.event_time.value == "ts"
    assert d.watermark.value == 30_000
    assert d.arrives_every is None
    assert d.meta.owner.value == "member-data"
    assert [t.value for t in d.meta.tags] == ["pii", "realtime"]
    assert at(d.schema[0].span) == (3, 5, 3, 22)


def test_table_source_without_and_with_delay() -> None:
    d = decl("""\
        source plays: table hive(table = "warehouse.plays") {
          schema { member_id: string, ds: date }
          event_time ds
          arrives every 1d delay 2h
        }
        """)
    assert d.source_kind == "table"
    assert (d.arrives_every.value, d.arrives_delay.value) == (86_400_000, 7_200_000)
    assert decl("source s: table files(\"x\") { arrives every 1h }").arrives_delay is None
    bare = decl('source s: table files("x")')
    assert bare.schema == () and bare.event_time is None


def test_entity_single_key() -> None:
    d = decl('entity member { key member_id: string, owner "identity" }')
    assert isinstance(d, A.EntityDecl)
    assert [(k.name.value, k.type.name) for k in d.keys] == [("member_id", "string")]
    assert d.composite is False
    assert d.meta.owner.value == "identity"


def test_entity_composite_key() -> None:
    d = decl("entity member_title { key (member_id: string, title_id: string,) }")
    assert d.composite is True
    assert [k.name.value for k in d.keys] == ["member_id", "title_id"]
    assert at(d.keys[1].span) == (1, 47, 1, 63)


# ---------------------------------------------------------------- features


def test_streaming_feature_group() -> None:
    d = decl("""\
        features member_activity on member {
          from member_events
          views_1h  = count(kind == view) over 1h every 5m
          avg_dwell = avg(dwell_ms) over 1h
          total: int = count(*) over 7d
          checkpoint every 1m
          online ttl 2d
          offline s3("features/member_activity")
          freshness <= 10m
        }
        """)
    assert isinstance(d, A.FeaturesDecl)
    assert d.entity.value == "member"
    assert [r.dotted for r in d.sources] == ["member_events"]
    views, avg, total = d.derived
    assert views.name.value == "views_1h" and views.type is None
    call = views.expr
    assert isinstance(call, A.Call) and call.func.dotted == "count"
    cond = call.args[0].value
    assert isinstance(cond, A.BinOp) and cond.op == "==" and cond.right.dotted == "view"
    assert (views.window.size.value, views.window.every.value) == (3_600_000, 300_000)
    assert avg.window.every is None
    assert total.type.name == "int"
    assert isinstance(total.expr.args[0].value, A.Star)
    assert d.checkpoint.value == 60_000
    assert d.online.ttl.value == 2 * 86_400_000
    assert d.offline.func.dotted == "s3"
    assert (d.freshness.op, d.freshness.value.value) == ("<=", 600_000)
    assert at(views.span) == (3, 3, 3, 51)
    assert at(views.window.span) == (3, 35, 3, 51)


def test_batch_group_with_columns_and_schedules() -> None:
    d = decl("""\
        features affinity on member_title {
          from stats
          from more_stats
          conv_rate: float
          impressions: int?
          schedule cron("0 4 * * *")
          timeout 30m
          online
        }
        """)
    assert [r.dotted for r in d.sources] == ["stats", "more_stats"]
    assert [(c.name.value, c.type.name, c.type.nullable) for c in d.columns] == [
        ("conv_rate", "float", False), ("impressions", "int", True)]
    assert d.schedule.kind == "cron"
    assert d.timeout.value == 1_800_000
    assert d.online.ttl is None
    assert d.offline is None and d.freshness is None


def test_request_features() -> None:
    d = decl("""\
        features ranking_context on member_title {
          request { device: enum(tv, mobile, web), hour_of_day: int }
          on_big_screen = device == tv
          late_night = hour_of_day >= 22 or hour_of_day < 5
          click_through: float = member_activity.clicks_1h / (member_activity.views_1h + 1)
        }
        """)
    assert [f.name.value for f in d.request] == ["device", "hour_of_day"]
    assert d.request[0].type.args == ("tv", "mobile", "web")
    assert d.sources == ()
    late = d.derived[1].expr
    assert late.op == "or" and late.left.op == ">=" and late.right.op == "<"
    ctr = d.derived[2]
    assert ctr.type.name == "float" and ctr.window is None
    div = ctr.expr
    assert div.op == "/" and div.left.parts == ("member_activity", "clicks_1h")
    assert div.right.op == "+"


# ---------------------------------------------------------------- models and signals


def test_models() -> None:
    m = parse("""\
        model popular_titles deterministic {
          framework rule
          inputs [title_popularity.plays_7d]
          output score: float
        }
        model ranker nondeterministic {
          framework sklearn
          inputs [member_activity.*, title_popularity.plays_7d,]
          output score: float
          confidence in 0.0..1.0
          fallback popular_titles when confidence < 0.6 or unavailable
          serve { replicas 2, timeout 80ms, memory 4Gi }
        }
        model bare { }
        """)
    base, ranker, bare = m.decls
    assert base.determinism.value == "deterministic" and base.framework.value == "rule"
    assert ranker.determinism.value == "nondeterministic"
    star, ref = ranker.inputs
    assert (star.group.value, star.feature) == ("member_activity", None)
    assert (ref.group.value, ref.feature.value) == ("title_popularity", "plays_7d")
    assert (ranker.output.name.value, ranker.output.type.name) == ("score", "float")
    assert (ranker.confidence.low.value, ranker.confidence.high.value) == (0.0, 1.0)
    fb = ranker.fallback
    assert fb.model.value == "popular_titles"
    assert fb.when.op == "or" and fb.when.left.op == "<" and fb.when.right.dotted == "unavailable"
    assert [(s.name.value, s.value.kind) for s in ranker.serve] == [
        ("replicas", "int"), ("timeout", "duration"), ("memory", "size")]
    assert at(ranker.serve_span) == (12, 3, 12, 49)
    assert bare.determinism is None and bare.serve is None and bare.inputs == ()
    assert decl("model m { fallback n }").fallback.when is None


def test_signals() -> None:
    m = parse("""\
        signal catalog_refreshed external { region: string, ds: date }
        signal ranker_published { version: string, owner "personalization" }
        signal ping
        """)
    ext, pub, ping = m.decls
    assert isinstance(ext, A.SignalDecl) and ext.external is True
    assert [f.name.value for f in ext.fields] == ["region", "ds"]
    assert pub.external is False and pub.meta.owner.value == "personalization"
    assert [f.name.value for f in pub.fields] == ["version"]
    assert ping.fields == () and ping.external is False


# ---------------------------------------------------------------- flows


FLOW = """\
flow train_ranker {
  schedule every 6h
  catchup false
  param lookback: duration = 28d
  param regions: [string] = ["us", "eu"]
  step train python("ranker.train:main") {
    produces ranker
    retries 2, retry_delay 5m, timeout 2h
    resources { cpu 4, memory 16Gi }
    env { MODE = "full", RUN = run.id }
    nondeterministic
  }
  step evaluate python("ranker.eval:main") { uses ranker, uses baseline, gate auc >= 0.80 and recall > 0.5 }
  step publish deploy(ranker) { emits signal ranker_published(version = run.id, region = "us"), emits signal done }
  step score spark("jobs/score.py") { foreach region in regions, when lookback > 1d }
  step a bash("true")
  train >> evaluate >> publish
  publish >> [score, a]
  [score, a] >> done_marker
  owner "personalization"
}
"""


def test_flow_header_items() -> None:
    d = decl(FLOW)
    assert isinstance(d, A.FlowDecl)
    assert (d.schedule.kind, d.schedule.value.value) == ("interval", 6 * 3_600_000)
    assert d.catchup.value is False
    lookback, regions = d.params
    assert (lookback.name.value, lookback.type.name, lookback.default.value) == ("lookback", "duration", 28 * 86_400_000)
    assert regions.type.element.name == "string"
    assert [i.value for i in regions.default.items] == ["us", "eu"]
    assert d.meta.owner.value == "personalization"
    assert [s.name.value for s in d.steps] == ["train", "evaluate", "publish", "score", "a"]


def test_step_items() -> None:
    train, evaluate, publish, score, plain = decl(FLOW).steps
    assert train.action.func.dotted == "python" and train.action.positional()[0].value == "ranker.train:main"
    assert train.produces.value == "ranker"
    assert (train.retries.value, train.retry_delay.value, train.timeout.value) == (2, 300_000, 7_200_000)
    assert [(s.name.value, s.value.text) for s in train.resources] == [("cpu", "4"), ("memory", "16Gi")]
    assert [(a.name.value, type(a.value).__name__) for a in train.env] == [("MODE", "Literal"), ("RUN", "Ref")]
    assert train.determinism.value == "nondeterministic"
    assert at(train.span) == (6, 3, 12, 4)

    assert [u.value for u in evaluate.uses] == ["ranker", "baseline"]
    gate = evaluate.gate
    assert gate.op == "and" and gate.left.op == ">=" and gate.left.left.dotted == "auc"

    first, second = publish.emits
    assert first.signal.value == "ranker_published"
    assert [(a.name.value, a.value.__class__.__name__) for a in first.payload] == [
        ("version", "Ref"), ("region", "Literal")]
    assert first.payload[0].value.dotted == "run.id"
    assert second.signal.value == "done" and second.payload == ()
    assert publish.action.positional()[0].dotted == "ranker"

    assert score.foreach.var.value == "region" and score.foreach.items.dotted == "regions"
    assert score.when.op == ">" and score.when.right.kind == "duration"

    assert plain.retries is None and plain.emits == () and plain.uses == () and plain.foreach is None


def test_edges_fan_out_and_fan_in() -> None:
    chain, fan_out, fan_in = decl(FLOW).edges
    assert [[n.value for n in hop] for hop in chain.hops] == [["train"], ["evaluate"], ["publish"]]
    assert [[n.value for n in hop] for hop in fan_out.hops] == [["publish"], ["score", "a"]]
    assert [[n.value for n in hop] for hop in fan_in.hops] == [["score", "a"], ["done_marker"]]
    assert at(chain.span) == (17, 3, 17, 31)
    assert at(fan_in.span) == (19, 3, 19, 28)


def _trigger(text: str):
    return decl(f"flow f {{ trigger {text} }}").trigger


def test_trigger_atoms() -> None:
    t = _trigger("on_finish(build)")
    assert isinstance(t, A.OnFinish) and t.flow.value == "build"
    s = _trigger('signal(catalog_refreshed, region = "us", ds = run.ds,)')
    assert isinstance(s, A.OnSignal) and s.signal.value == "catalog_refreshed"
    assert [(a.name.value, a.value.__class__.__name__) for a in s.match] == [("region", "Literal"), ("ds", "Ref")]
    assert _trigger("signal(published)").match == ()


def test_and_binds_tighter_than_or() -> None:
    t = _trigger("on_finish(a) and signal(b) or on_finish(c)")
    assert isinstance(t, A.TriggerAny)
    all_, c = t.items
    assert isinstance(all_, A.TriggerAll) and [i.__class__ for i in all_.items] == [A.OnFinish, A.OnSignal]
    assert c.flow.value == "c"
    t = _trigger("on_finish(c) or on_finish(a) and signal(b)")
    assert isinstance(t, A.TriggerAny) and isinstance(t.items[1], A.TriggerAll)


def test_parentheses_group_triggers() -> None:
    t = _trigger("on_finish(a) and (signal(b) or signal(c))")
    assert isinstance(t, A.TriggerAll)
    assert isinstance(t.items[1], A.TriggerAny)
    assert [i.signal.value for i in t.items[1].items] == ["b", "c"]


def test_chains_of_the_same_operator_are_flattened() -> None:
    t = _trigger("on_finish(a) and on_finish(b) and on_finish(c)")
    assert isinstance(t, A.TriggerAll) and [i.flow.value for i in t.items] == ["a", "b", "c"]
    t = _trigger("on_finish(a) or on_finish(b) or on_finish(c)")
    assert isinstance(t, A.TriggerAny) and len(t.items) == 3


def test_trigger_over_several_lines() -> None:
    d = decl("""\
        flow f {
          trigger on_finish(a)
              and signal(b)
          step s python("m:f")
        }
        """)
    assert isinstance(d.trigger, A.TriggerAll)
    assert at(d.trigger.span) == (2, 11, 3, 20)


# ---------------------------------------------------------------- SLOs


def test_slo_objectives() -> None:
    d = decl("""\
        slo ranker {
          freshness(ranker) <= 3d
          latency(ranker) p99 <= 50ms
          availability(ranker) >= 99.9% over 30d
          availability(scorer) > 99%
          quality(ranker) auc >= 0.80
          completion(build_training_set) by "06:00"
          freshness(train_ranker.train) < 1d
        }
        """)
    kinds = [(o.kind, o.target.dotted, o.metric.value if o.metric else None, o.op) for o in d.objectives]
    assert kinds == [("freshness", "ranker", None, "<="), ("latency", "ranker", "p99", "<="),
                     ("availability", "ranker", None, ">="), ("availability", "scorer", None, ">"),
                     ("quality", "ranker", "auc", ">="), ("completion", "build_training_set", None, "by"),
                     ("freshness", "train_ranker.train", None, "<")]
    assert d.objectives[2].window.value == 30 * 86_400_000
    assert d.objectives[3].window is None
    assert d.objectives[5].value.value == "06:00"
    assert d.template is None and d.params == ()


def test_slo_templates_and_uses() -> None:
    m = parse("""\
        slo fresh_within(target, bound) { freshness(target) <= bound }
        slo activity_fresh = fresh_within(member_activity, 10m)
        slo std_fresh = std.slo.fresh_within(ranker, 3d,)
        """)
    template, use, std = m.decls
    assert [p.value for p in template.params] == ["target", "bound"]
    assert template.objectives[0].value.dotted == "bound"
    assert use.template.dotted == "fresh_within"
    assert [a.__class__.__name__ for a in use.args] == ["Ref", "Literal"]
    assert std.template.parts == ("std", "slo", "fresh_within") and len(std.args) == 2
    assert use.objectives == ()


# ---------------------------------------------------------------- metadata and comments


def test_doc_comments_attach_to_the_next_declaration() -> None:
    m = parse("""\
        # a plain comment is not a doc
        ## What a member did.
        ##   Refreshed every five minutes.
        features member_activity on member {
          from events
        }

        ## Not attached: a blank line follows.

        model m { }
        ## Attached to the flow
        flow f {
          ## The training step.
          step train python("m:f")
          # plain
          step other python("m:g")
        }
        """)
    feats, model, flow = m.decls
    assert feats.meta.doc == "What a member did.\nRefreshed every five minutes."
    assert model.meta.doc is None
    assert flow.meta.doc == "Attached to the flow"
    assert flow.steps[0].meta.doc == "The training step."
    assert flow.steps[1].meta.doc is None
    docs = [c for c in m.comments if c.is_doc]
    assert len(docs) == 5 and len(m.comments) == 7
    assert at(m.comments[0].span) == (1, 1, 1, 31)


def test_doc_comments_attach_after_an_error_elsewhere_in_the_file() -> None:
    """Recovery parses the file in pieces; comments keep their lines in the whole file."""
    text = '## doc of a\nflow a { }\n\n## doc of b\nmodel b { framework rule }\n\n## doc of c\nmodel c { oops }\n'
    module, diags = parse_text(text, "t.flow")
    assert [d.code for d in diags] == ["E0001"]
    assert [(d.name.value, d.meta.doc) for d in module.decls] == [
        ("a", "doc of a"), ("b", "doc of b"), ("c", "doc of c")]
    assert [c.span.line for c in module.comments] == [1, 4, 7]


def test_metadata_on_every_declaration() -> None:
    meta = 'owner "o", tags ["t1", "t2",], description "d"'
    texts = [f"env e {{ {meta} }}", f"connector c {{ {meta} }}", f"source s: table t() {{ {meta} }}",
             f"entity e {{ {meta} }}", f"features g on e {{ {meta} }}", f"model m {{ {meta} }}",
             f"signal s {{ {meta} }}", f"flow f {{ {meta} }}", f"slo s {{ {meta} }}",
             f'flow f {{ step s python("m:f") {{ {meta} }} }}']
    for text in texts:
        d = decl(text)
        m = d.steps[0].meta if isinstance(d, A.FlowDecl) and d.steps else d.meta
        assert (m.owner.value, [t.value for t in m.tags], m.description.value) == ("o", ["t1", "t2"], "d"), text


def test_items_separated_by_newlines_or_commas() -> None:
    a = decl("model m { framework rule, output s: float, owner \"x\" }")
    b = decl("model m {\n  framework rule\n  output s: float\n  owner \"x\"\n}")
    assert (a.framework.value, a.output.name.value, a.meta.owner.value) == \
           (b.framework.value, b.output.name.value, b.meta.owner.value)


# ---------------------------------------------------------------- expressions


def test_expression_precedence() -> None:
    e = decl("features g on e { x = a or b and not c == d + e * -f }").derived[0].expr
    assert e.op == "or"
    assert e.right.op == "and"
    neg = e.right.right
    assert isinstance(neg, A.UnaryOp) and neg.op == "not"
    cmp = neg.operand
    assert cmp.op == "==" and cmp.right.op == "+"
    mul = cmp.right.right
    assert mul.op == "*" and isinstance(mul.right, A.UnaryOp) and mul.right.op == "-"


def test_left_associative_arithmetic_and_membership() -> None:
    e = decl("features g on e { x = a - b - c / d / e }").derived[0].expr
    # a row of one operator is one node, applied left to right: (a - b) - (c / d / e)
    assert e.op == "-" and [o.dotted for o in e.operands[:2]] == ["a", "b"] and len(e.operands) == 3
    assert e.right.op == "/" and [o.dotted for o in e.right.operands] == ["c", "d", "e"]
    m = decl('features g on e { x = kind in ["a", "b"] }').derived[0].expr
    assert m.op == "in" and isinstance(m.right, A.ListExpr) and len(m.right.items) == 2
    p = decl("features g on e { x = (a + b) * c }").derived[0].expr
    assert p.op == "*" and p.left.op == "+"


def test_function_calls_in_expressions() -> None:
    e = decl("features g on e { x = coalesce(a, lower(b), *) }").derived[0].expr
    assert isinstance(e, A.Call) and e.func.dotted == "coalesce"
    assert [a.value.__class__.__name__ for a in e.args] == ["Ref", "Call", "Star"]
    assert all(a.name is None for a in e.args)


def test_comparisons_do_not_chain() -> None:
    _, diags = parse_text("features g on e { x = a < b < c }", "t.flow")
    assert [d.code for d in diags] == ["E0001"]


# ---------------------------------------------------------------- spans


def test_spans_of_names_and_declarations() -> None:
    m = parse("""\
        package p

        ## doc
        flow train {
          step a python("m:f") { timeout 1h }
        }
        """)
    flow = m.decls[1]
    assert at(flow.span) == (4, 1, 6, 2)
    assert at(flow.name.span) == (4, 6, 4, 11)
    step = flow.steps[0]
    assert at(step.name.span) == (5, 8, 5, 9)
    assert at(step.action.span) == (5, 10, 5, 23)
    assert at(step.timeout.span) == (5, 34, 5, 36)
    assert all(s.file == "t.flow" for s in (flow.span, step.span, step.timeout.span))


def test_parse_declaration_puts_spans_at_absolute_lines() -> None:
    """The language server re-parses one top-level declaration alone."""
    text = "## the flow\nflow train {\n  step a python(\"m:f\") { timeout 1h }\n}\n"
    decls, diags = get_parser().parse_declaration(text, "big.flow", 40)
    assert diags == []
    (flow,) = decls
    assert flow.meta.doc == "the flow"
    assert at(flow.span) == (42, 1, 44, 2)
    assert flow.span.file == "big.flow"
    assert at(flow.steps[0].timeout.span) == (43, 34, 43, 36)
    whole, _ = parse_text("\n" * 40 + text, "big.flow")
    assert at(whole.decls[0].span) == at(flow.span)
    assert at(whole.decls[0].steps[0].span) == at(flow.steps[0].span)


def test_parse_declaration_reports_errors_at_absolute_lines() -> None:
    decls, diags = get_parser().parse_declaration('model m {\n  framework\n  owner "x"\n}\n', "big.flow", 99)
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("E0001", 101, 3)]
    assert [d.name.value for d in decls] == ["m"]
    decls, diags = get_parser().parse_declaration("flow f {\n  step a python(\"x\")\n", "big.flow", 9)
    assert [(d.code, d.span.line) for d in diags] == [("E0002", 11)]
    assert diags[0].labels[0].span.line == 10


def test_empty_and_comment_only_files() -> None:
    for text in ("", "\n\n", "# only a comment\n", "## a doc with nothing after it"):
        module, diags = parse_text(text, "e.flow")
        assert module.decls == [] and diags == []


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_line_endings(newline: str) -> None:
    text = newline.join(["package p", "model m {  # the model", "  framework rule", "}", ""])
    module, diags = parse_text(text, "t.flow")
    assert diags == []
    assert at(module.decls[1].span)[:3] == (2, 1, 4)
    assert [(c.text, at(c.span)) for c in module.comments] == [("# the model", (2, 12, 2, 23))]


@pytest.mark.parametrize("word", ["start", "end", "defaults", "trigger", "step", "param", "signal", "flow", "env"])
def test_a_feature_right_after_from_may_have_a_flow_keyword_as_its_name(word: str) -> None:
    """The source of `from` is a dotted name whose parser states are not shared with other dotted
    names: flow keywords that may follow those (`trigger`, `start`...) are names here."""
    from mlc.dsl.parser import get_parser

    text = f"package demo\nfeatures g on account {{\n  from events\n  {word} = count(*) over 1d\n}}\n"
    module, diags = get_parser().parse(text, "a.flow")
    assert diags == []
    (features,) = [d for d in module.decls if isinstance(d, A.FeaturesDecl)]
    assert [f.name.value for f in features.derived] == [word]
