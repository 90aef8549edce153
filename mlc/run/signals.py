"""`mlc signal NAME field=value ...` and `mlc trigger FLOW`: publish a signal or start a flow
through the Airflow REST API of the local deployment (docs/run.md).

Names come from the program's IR, as the Airflow backend wrote them: a signal's asset is
`signal_asset(key, uri)`, a flow's DAG id is the layout's (`dag_ids`). The payload is typed
against the signal's declared fields before anything is sent: a field the signal lacks
(E0302) or a value that does not fit its field (E0303) is a diagnostic pointing at the
declaration, and no request is made.

The signal is an asset event (`POST /api/v2/assets/events`, the payload as its `extra`);
every flow whose trigger waits on it gets an asset-triggered run, whose `trigger-match` task
lets the steps run only when the payload matches the trigger's `signal(S, field = value)`
(otherwise they are skipped).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from mlc.compiler import ir
from mlc.compiler.dates import parse_utc
from mlc.diagnostics import Diagnostic, did_you_mean, error
from mlc.run.airflow_api import Client
from mlc.run.deployed import Deployed, RunError

INTS = {"int": 2**63, "int64": 2**63, "int32": 2**31}
FLOATS = ("float", "float32", "float64")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w))+")


class Diagnosed(RunError):
    """Bad input reported as a diagnostic of the program (rendered with its sources)."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


# ------------------------------------------------------------------ names from the IR


def _find(kind: str, decls: dict[str, ir.Decl], name: str) -> str:
    """The key of the `kind` declaration `name` (its name or qualified key)."""
    if name in decls:
        return name
    found = sorted(k for k, d in decls.items() if d.name == name)
    if len(found) == 1:
        return found[0]
    if found:
        raise RunError(f"`{name}` names {len(found)} {kind}s: {', '.join(found)}", help="name it by its qualified name")
    names = sorted({d.name for d in decls.values()})
    raise RunError(f"no {kind} `{name}` in this program ({kind}s: {', '.join(names) or 'none'})",
                   help=did_you_mean(name, names))


def find_signal(program: ir.Program, name: str) -> tuple[str, ir.Signal]:
    """The signal `name` -> (key, declaration)."""
    key = _find("signal", program.signals, name)
    return key, program.signals[key]


def find_flow(program: ir.Program, name: str) -> str:
    return _find("flow", program.flows, name)


@dataclass(frozen=True)
class Dag:
    """What `mlc trigger NAME` starts: a flow's DAG, or a feature group's (`features.NAME`)."""

    name: str
    dag_id: str
    path: str                 # its file in the bundle
    flow: ir.Flow | None      # None: a feature group's DAG (no params)


def find_dag(program: ir.Program, name: str) -> Dag:
    from mlc.targets.airflow.target import dag_ids
    from mlc.targets.layout import Layout

    layout = Layout(program)
    ids = dag_ids(program, layout)
    if name.startswith("features."):
        key = _find("feature group", program.feature_groups, name.removeprefix("features."))
        if key not in ids:
            raise RunError(f"feature group `{program.feature_groups[key].name}` has no DAG (a stream group's job "
                           "runs continuously; a registered group is its source's table)",
                           help=f"backfill it on the embedded engines: mlc run {name}")
        return Dag(name, ids[key], layout.features_dag(key), None)
    key = find_flow(program, name)
    return Dag(program.flows[key].name, ids[key], layout.flow_dag(key), program.flows[key])


def waiting_flows(program: ir.Program, key: str) -> dict[str, dict[str, ir.Expr]]:
    """flow key -> the payload fields its trigger asks of signal `key` ({}: any payload)."""
    out: dict[str, dict[str, ir.Expr]] = {}
    for fk, f in program.flows.items():
        for leaf in (f.trigger.leaves() if f.trigger else ()):
            if leaf.kind == "signal" and leaf.target and leaf.target.target == key:
                out.setdefault(fk, {}).update(leaf.match)
    return out


def asks(program: ir.Program, key: str) -> dict[str, str]:
    """flow name -> what its trigger asks of signal `key`'s payload, in words (`region = "us"`)."""
    from mlc.targets.airflow.expr import is_constant, literal_value

    def word(e: ir.Expr) -> str:
        return json.dumps(literal_value(e)) if is_constant(e) else (e.name or e.op)

    return {program.flows[fk].name: ", ".join(f"{k} = {word(v)}" for k, v in match.items())
            for fk, match in waiting_flows(program, key).items()}


def deployed_dag(deployed: Deployed, dag: Dag) -> None:
    """A DAG must be in the deployed release: the server runs what was deployed."""
    if not any(a["path"] == dag.path for a in deployed.artifacts("airflow-dag")):
        raise RunError(f"`{dag.name}` (DAG `{dag.dag_id}`) is not in release {deployed.release} of env "
                       f"`{deployed.config.env}`", help=f"deploy it first: mlc deploy --env {deployed.config.env}")


# ------------------------------------------------------------------ the payload


def describe(t: ir.TypeSpec) -> str:
    """A type as the program writes it (`enum(a, b)`, `list(int)`, `string?`)."""
    if t.name == "enum":
        return "enum(" + ", ".join(t.args) + ")"
    if t.name == "list" and t.element is not None:
        return f"list({describe(t.element)})"
    return t.name + ("?" if t.nullable else "")


def _value(t: ir.TypeSpec, raw: object, text: bool) -> tuple[object, str | None]:
    """(the value as the payload carries it, None) or (None, why it does not fit). `text`:
    the value was written key=text (else key:=JSON)."""
    if raw is None:
        return (None, None) if t.nullable else (None, "null, but the field is not nullable")
    name = t.name
    if name in ("string", "bytes"):
        return (raw, None) if isinstance(raw, str) else (None, f"{type(raw).__name__} {json.dumps(raw)}")
    if name == "bool":
        if text and isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true", None
        return (raw, None) if isinstance(raw, bool) else (None, f"{json.dumps(raw)}, not true or false")
    if name in INTS:
        try:
            value = int(raw, 10) if text and isinstance(raw, str) else raw
        except ValueError:
            value = None
        if not isinstance(value, int) or isinstance(value, bool):
            return None, f"{json.dumps(raw)}, not a whole number"
        if not -INTS[name] <= value < INTS[name]:
            return None, f"{value}, out of the range of {name}"
        return value, None
    if name in FLOATS:
        try:
            value = float(raw) if text and isinstance(raw, str) else raw
        except ValueError:
            value = None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None, f"{json.dumps(raw)}, not a number"
        return float(value), None
    if name in ("date", "timestamp"):
        if not isinstance(raw, str):
            return None, f"{json.dumps(raw)}, not a {name} text"
        when, why = parse_utc(raw)
        if when is None:
            return None, f"`{raw}`, not a {name}: {why}"
        if name == "date" and "T" in raw:
            return None, f"`{raw}`, a time: write the day alone (YYYY-MM-DD)"
        return raw, None
    if name == "duration":  # as the DAGs compare durations: in milliseconds
        if isinstance(raw, str) and _DURATION.fullmatch(raw):
            from mlc.dsl.build import duration_ms

            return duration_ms(raw), None
        if isinstance(raw, int) and not isinstance(raw, bool) and not text:
            return raw, None
        return None, f"{json.dumps(raw)}, not a duration such as 30m or 1h30m"
    if name == "enum":
        if isinstance(raw, str) and raw in t.args:
            return raw, None
        hint = did_you_mean(raw, t.args) if isinstance(raw, str) else None
        return None, f"{json.dumps(raw)}, not one of {', '.join(t.args)}" + (f" ({hint})" if hint else "")
    # list, map, struct, json: a JSON value (key:=JSON, or key=JSON text)
    if text and isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, f"`{raw}`, not JSON (write key:='...' with a JSON {name})"
    if name == "list":
        if not isinstance(raw, list):
            return None, f"{json.dumps(raw)}, not a JSON list"
        out = []
        for i, item in enumerate(raw):
            value, why = _value(t.element, item, False) if t.element is not None else (item, None)
            if why:
                return None, f"item {i}: {why}"
            out.append(value)
        return out, None
    if name == "map":
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            return None, f"{json.dumps(raw)}, not a JSON object of texts"
        return raw, None
    if name == "struct":
        if not isinstance(raw, dict):
            return None, f"{json.dumps(raw)}, not a JSON object"
        members = {f.name: f for f in t.fields}
        out2 = {}
        for k, v in raw.items():
            if k not in members:
                hint = did_you_mean(k, members)
                return None, f"a member `{k}` the struct lacks" + (f" ({hint})" if hint else "")
            value, why = _value(members[k].type, v, False)
            if why:
                return None, f"member `{k}`: {why}"
            out2[k] = value
        return out2, None
    return raw, None  # json: any JSON value


def _pairs(pairs: list[str], what: str) -> list[tuple[str, str, object, bool]]:
    """(name, pair, value, written as text) of `name=text` / `name:=JSON` pairs; a name given
    twice or a value that is not JSON is an error."""
    out: list[tuple[str, str, object, bool]] = []
    for pair in pairs:
        name, eq, raw = pair.partition("=")
        as_json = name.endswith(":")
        name = name.removesuffix(":")
        if not eq or not name:
            raise RunError(f"`{pair}`: write {what}=text or {what}:=JSON")
        if any(name == seen for seen, *_ in out):
            raise RunError(f"`{name}` is given twice")
        try:
            out.append((name, pair, json.loads(raw) if as_json else raw, not as_json))
        except ValueError as e:
            raise RunError(f"`{pair}`: {raw!r} is not JSON", help=f"write {name}={raw} for text") from e
    return out


def conf(dag: Dag, pairs: list[str]) -> dict:
    """`--conf param=text` / `param:=JSON` typed against the flow's params (a duration
    param stays text: its Param checks the text's form)."""
    declared = dag.flow.params if dag.flow is not None else ()
    params = {p.name: p for p in declared}
    out: dict = {}
    for name, pair, value, text in _pairs(pairs, "param"):
        p = params.get(name)
        if p is None:
            known = ", ".join(f"{q.name}: {describe(q.type)}" for q in declared) or "none"
            raise RunError(f"`{dag.name}` has no param `{name}` (params: {known})", help=did_you_mean(name, params))
        typed, why = _value(p.type, value, text)
        if why is not None:
            raise RunError(f"param `{name}` of flow `{dag.name}` is {describe(p.type)}; `{pair}` gives {why}")
        out[name] = value if p.type.name == "duration" and text else typed
    return out


def payload(signal: ir.Signal, pairs: list[str]) -> dict:
    """`field=text` / `field:=JSON` pairs typed against the signal's fields; a field it lacks
    (E0302) or a value that does not fit (E0303) is a diagnostic at its declaration."""
    fields = {f.name: f for f in signal.fields}
    out: dict = {}
    for name, pair, value, text in _pairs(pairs, "field"):
        fld = fields.get(name)
        if fld is None:
            raise Diagnosed(error("E0302", f"signal `{signal.name}` has no field `{name}` (given `{pair}`)", signal.loc,
                                  help=did_you_mean(name, fields), notes=(f"its fields: {_fields(signal)}",)))
        typed, why = _value(fld.type, value, text)
        if why is not None:
            raise Diagnosed(error("E0303", f"`{name}` of signal `{signal.name}` is {describe(fld.type)}; "
                                           f"`{pair}` gives {why}", fld.loc or signal.loc))
        out[name] = typed
    return out


def _fields(signal: ir.Signal) -> str:
    return ", ".join(f"{f.name}: {describe(f.type)}" for f in signal.fields) or "none"


# ------------------------------------------------------------------ sending


@dataclass
class Started:
    """A DAG run a signal or a trigger started, and how it ended (when waited for)."""

    flow: str
    dag_id: str
    run_id: str
    state: str = "queued"
    tasks: dict[str, str | None] = field(default_factory=dict)


@dataclass
class Published:
    signal: str
    asset: str
    event: dict
    waiting: dict[str, str]        # dag id -> flow name, the flows waiting on the signal
    paused: list[str] = field(default_factory=list)
    started: list[Started] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # dag ids with no run after --wait


def publish(client: Client, program: ir.Program, dag_ids: dict[str, str], key: str, asset: str,
            extra: dict, wait: float = 0.0, keyed: tuple[tuple[str, str | None], ...] = ()) -> Published:
    """Creates the asset event, and one on each keyed sibling (`keyed`: its name, the partition
    key of this payload) that a `match` flow joins on; with `wait`, waits up to `wait` seconds
    for the runs it starts to finish."""
    signal = program.signals[key]
    waiting = {dag_ids[fk]: program.flows[fk].name for fk in waiting_flows(program, key)}
    found = client.asset(asset)
    # a sibling without a key (the payload lacks a key field) would start nothing: not sent
    siblings = [(a, pk) for a, pk in ((client.asset(name), pk) for name, pk in keyed if pk) if a is not None]
    if found is None and not siblings:
        raise RunError(f"the Airflow at {client.url} does not know signal `{signal.name}` (asset `{asset}`): no "
                       "parsed DAG waits on it or emits it",
                       help="is the deploy's DAG folder the one this Airflow reads, and parsed? "
                            "(mlc airflow up runs Airflow on the deploy's folder)")
    scheduled = {d["dag_id"] for a in ([found] if found else []) + [a for a, _ in siblings]
                 for d in a.get("scheduled_dags", ())}
    events = [client.create_asset_event(a["id"], extra, pk) for a, pk in siblings]
    event = client.create_asset_event(found["id"], extra) if found else events[0]
    out = Published(signal.name, asset, event, {d: waiting.get(d, d) for d in sorted(scheduled | set(waiting))})
    for dag_id in out.waiting:
        dag = client.dag(dag_id)
        if dag is not None and dag.get("is_paused"):
            out.paused.append(dag_id)
    if wait <= 0:
        return out
    deadline = time.monotonic() + wait
    expect = set(scheduled) - set(out.paused)
    seen: dict[str, str] = {}
    while True:
        for dag_id in sorted(expect - set(seen)):
            runs = client.asset_runs(dag_id, event["timestamp"])
            if runs:
                seen[dag_id] = runs[0]["dag_run_id"]
        if expect <= set(seen) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    for dag_id, run_id in sorted(seen.items()):
        started = Started(out.waiting.get(dag_id, dag_id), dag_id, run_id)
        _finish(client, started, max(1.0, deadline - time.monotonic()))
        out.started.append(started)
    out.not_started = sorted(expect - set(seen))
    return out


def trigger(client: Client, flow: str, dag_id: str, conf: dict, wait: float = 0.0) -> tuple[Started, bool]:
    """Starts a run of `dag_id`; (the run, whether the DAG is paused). With `wait`, waits up
    to `wait` seconds for it to finish."""
    dag = client.dag(dag_id)
    if dag is None:
        raise RunError(f"the Airflow at {client.url} has no DAG `{dag_id}` (flow `{flow}`)",
                       help="is the deploy's DAG folder the one this Airflow reads, and parsed? "
                            "(mlc airflow up runs Airflow on the deploy's folder)")
    run = client.trigger(dag_id, conf, note="started by mlc trigger")
    started = Started(flow, dag_id, run["dag_run_id"], run["state"])
    if wait > 0 and not dag.get("is_paused"):
        _finish(client, started, wait)
    return started, bool(dag.get("is_paused"))


def _finish(client: Client, started: Started, within: float) -> None:
    try:
        started.state = client.wait_run(started.dag_id, started.run_id, within)["state"]
    except RunError:
        started.state = client.run(started.dag_id, started.run_id)["state"]
    started.tasks = client.task_states(started.dag_id, started.run_id)


def render_started(s: Started) -> list[str]:
    """The run's line, and one line per task once it finished (`--` skipped: a payload that
    does not match skips every step after `trigger-match`)."""
    from mlc.run.display import MARK

    lines = [f"  run {s.run_id} of {s.flow}: {s.state}"]
    for task, state in s.tasks.items():
        lines.append(f"    {MARK.get(state or '', '..')} {task:<28} {state or 'none'}")
    others = [st for t, st in s.tasks.items() if t != "trigger-match"]
    if s.tasks.get("trigger-match") == "success" and others and all(st == "skipped" for st in others):
        lines.append("    the payload does not match the flow's trigger: its steps were skipped")
    return lines
