"""Hypothesis generator of whole mlc programs, for the engine property test (issue 12:
"a program that `mlc check` accepts compiles and loads in every engine") and its bench.

`programs()` draws a `Program`: one package in one to three files, written in `.flow`,
in `.flow.yaml` (converted with `mlc.dsl.yaml_emit.module_to_yaml`, what `mlc fmt --to
yaml` writes), or both mixed. A program may hold:

- envs: `local` (every connector bound to files) and optionally `prod` (Kafka with
  credentials and a security protocol, Hive, S3 with endpoint/region/credentials) and
  `staging` (a mix of both);
- stream sources (Kafka, json/csv) and table sources (Hive, S3 parquet/json/csv) with
  scalar, enum and optional columns, arrival periods and watermarks;
- entities with one key or a composite key; batch and stream feature groups with every
  aggregation, windows and slides, plain columns, checkpoints, online/offline stores,
  schedules, timeouts, metadata;
- models (a deterministic rule model, a probabilistic one with a fallback);
- signals (external or emitted, with payloads);
- flows with no steps beyond the one required, odd schedules (every preset, `every N`
  from 1m to 3650d, cron strings at their edges), triggers (on_finish, signal matches,
  and/or), params of every type, steps of every kind with boundary numbers (retries 0
  and 100, timeouts and delays up to 3650d, resources at their limits), env, foreach,
  when, gate, emits; names up to Airflow's id limit.

It aims at valid programs: most draws are accepted by `mlc check`; the rest (a name
past a limit, a cron string that never fires, a freshness bound the path cannot meet)
are the edges the check must reject, and the property test discards them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

MLC_TOML = '[project]\nname = "{name}"\nsources = ["."]\n'

PRESETS = ["hourly", "daily", "weekly", "monthly", "yearly", "annually"]
# cron strings at their edges: extremes of every field, names, steps, lists, ranges, L and #,
# Sunday as 0 and 7, the leap day; and a few that never fire or do not parse (rejected).
CRONS = [
    "0 1 * * *", "* * * * *", "*/1 * * * *", "59 23 31 12 *", "0 0 1 1 *", "0 0 29 2 *",
    "0 0 * * 0", "0 0 * * 7", "0 0 L * *", "0 12 * * FRI#3", "0 0 1 JAN,JUL *", "15 3 * * MON-FRI",
    "0-59/15 0-23 1-31 1-12 0-7", "0 */6 * * *", "5,10,55 1,13 * * *", "0 0 31 * *", "30 5 15 6 SUN",
]
BAD_CRONS = ["0 0 30 2 *", "0 0 31 4 *", "61 * * * *", "0 24 * * *", "* * *"]  # rejected (E0414)
DURATION_UNITS = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]
MAX_MS = 3650 * 86_400_000
MAX_ID = 250

# names the engines' SQL or the generated code might trip on: SQL keywords, the window
# columns of Spark (`window`, `w`) and Flink (`window_start`, ...), the output's partition column
ODD_NAMES = ["select", "order", "group", "window", "value", "rowtime", "user", "table", "from_", "proctime",
             "mlc_source", "event_date"]
# Column names that once passed `mlc check` and failed in an engine (found by this generator):
# `w` (Spark named its window struct so; now `__mlc_w`) and Flink's window columns (now refused
# for stream groups by the Flink target's validation, E1011: such programs are discarded).
ODD_NAMES += ["w", "window_start", "window_end", "window_time"]
SCALARS = ["string", "int", "float", "bool", "date", "timestamp"]


@dataclass
class Program:
    """A generated project: files (relative path -> .flow text), how each is written, facts."""
    package: str
    files: dict[str, str]
    front: str                                     # "flow", "yaml" or "mixed"
    envs: list[str]
    facts: dict[str, int] = field(default_factory=dict)

    def write(self, root: Path) -> Path:
        """Writes the project under `root` (.flow files converted to YAML as `front` says)."""
        from mlc.dsl.parser import parse_text
        from mlc.dsl.yaml_emit import module_to_yaml

        root.mkdir(parents=True, exist_ok=True)
        (root / "mlc.toml").write_text(MLC_TOML.format(name=self.package.replace(".", "_")), encoding="utf-8")
        for i, (name, text) in enumerate(sorted(self.files.items())):
            yaml = self.front == "yaml" or (self.front == "mixed" and i % 2 == 1)
            if yaml:
                module, diags = parse_text(text, name)
                errors = [d.message for d in diags if d.is_error]
                assert not errors, f"the generator wrote text that does not parse: {errors}\n{text}"
                (root / (name[: -len(".flow")] + ".flow.yaml")).write_text(module_to_yaml(module), encoding="utf-8")
            else:
                (root / name).write_text(text, encoding="utf-8")
        jobs = root / "jobs"
        jobs.mkdir(exist_ok=True)
        for path in self.facts.get("_spark_scripts", []):  # type: ignore[union-attr]
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(USER_SPARK_JOB, encoding="utf-8")
        return root

    def describe(self) -> str:
        return "\n".join(f"# ---- {n} ({self.front})\n{t}" for n, t in sorted(self.files.items()))


# A user's Spark job of a `spark("jobs/x.py")` step: plans a query on the launcher's session.
USER_SPARK_JOB = '''\
import os
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
assert os.environ["MLC_ENV"]
spark.range(3).selectExpr("id * 2 AS x").where("x > 1").explain()
'''


# ------------------------------------------------------------------ small pieces
def rare(draw, n: int) -> bool:
    """True about once in `n` draws (the middle value: hypothesis favours the ends)."""
    return draw(st.integers(0, n - 1)) == n // 2


def q(s: str) -> str:
    return json.dumps(s)


@st.composite
def durations(draw, lo_ms: int = 1, hi_ms: int = MAX_MS, units=("s", "m", "h", "d")) -> tuple[str, int]:
    """(text, milliseconds) of a duration in [lo_ms, hi_ms], in one of `units`."""
    unit, size = draw(st.sampled_from([u for u in DURATION_UNITS if u[0] in units and u[1] <= hi_ms]))
    lo = max(1, -(-lo_ms // size))
    hi = hi_ms // size
    if lo > hi:
        return f"{lo_ms}ms", lo_ms
    n = draw(st.one_of(st.sampled_from([lo, hi]), st.integers(lo, min(hi, lo + 90))))
    return f"{n}{unit}", n * size


def ident(prefix: str, draw, limit: int = 24) -> str:
    """A name starting with `prefix`; one time in ten exactly `limit` characters long, or
    one more than that (the check must reject it), or a little less."""
    if limit > 40 and rare(draw, 10):
        n = draw(st.sampled_from([limit, limit - 1, limit - 20, limit + 1]))
        return prefix + "_" + "x" * (n - len(prefix) - 1)
    return prefix


def schedule(draw) -> tuple[str, int]:
    """(schedule text, its longest gap in ms or 0 when unknown)."""
    kind = draw(st.sampled_from(["preset", "every", "cron"]))
    if kind == "preset":
        return draw(st.sampled_from(PRESETS)), 0
    if kind == "every":
        text, _ms = draw(durations(60_000, MAX_MS, units=("m", "h", "d", "w")))
        return f"every {text}", 0
    return f"cron({q(draw(st.sampled_from(BAD_CRONS if rare(draw, 12) else CRONS)))})", 0


def metadata(draw, indent: str = "  ") -> list[str]:
    out = []
    if draw(st.booleans()):
        out.append(f"{indent}owner {q(draw(st.sampled_from(['ml-platform', 'data', 'a' * 60])))}")
    if draw(st.booleans()):
        tags = draw(st.lists(st.sampled_from(["tier1", "ranking", "batch", "t" * 100]), max_size=3, unique=True))
        if rare(draw, 20):
            tags.append("t" * 101)  # past Airflow's tag length: rejected
        out.append(f"{indent}tags [{', '.join(map(q, tags))}]")
    if rare(draw, 4):
        out.append(f"{indent}description {q(DESCRIPTION)}")
    return out


DESCRIPTION = 'Generated; quotes " and \\ and # are kept.'


def doc(draw) -> list[str]:
    return ["## Generated. It has `code`, a \"quote\" and a # sign."] if rare(draw, 4) else []


# ------------------------------------------------------------------ declarations
def envs_text(draw, kinds: set[str]) -> tuple[list[str], list[str]]:
    """(lines, env names): local always, prod and staging sometimes."""
    names = ["local"] + [e for e in ("prod", "staging") if draw(st.booleans())]
    lines = []
    for env in names:
        lines.append(f"env {env} {{")
        for c in sorted(kinds):
            local = env == "local" or (env == "staging" and draw(st.booleans()))
            if local:
                root = {"kafka": "data/events", "hive": "data/warehouse", "s3": "build/s3"}[c]
                lines.append(f"  {c} = files({q(root)})")
            elif c == "kafka":
                args = [f"bootstrap = {q('broker-1:9092,broker-2:9092')}"]
                if draw(st.booleans()):
                    args.append(f"credentials = secret({q('kafka-sasl')})")
                proto = draw(st.sampled_from([None, "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]))
                if proto:
                    args.append(f"security_protocol = {proto}")
                lines.append(f"  kafka = kafka({', '.join(args)})")
            elif c == "hive":
                lines.append(f"  hive = hive(metastore = {q('thrift://metastore:9083')})")
            else:
                args = [f"bucket = {q('ml-' + env)}"]
                if draw(st.booleans()):
                    args.append(f"endpoint = {q('http://127.0.0.1:9000')}")
                if draw(st.booleans()):
                    args.append(f"region = {q('eu-west-1')}")
                if draw(st.booleans()):
                    args.append(f"credentials = secret({q('s3-keys')})")
                lines.append(f"  s3 = s3({', '.join(args)})")
        lines.append("}")
    return lines, names


@dataclass
class Source:
    name: str
    kind: str                      # stream | table
    columns: dict[str, str]        # name -> type text
    time: str
    period_ms: int = 0


def source_text(draw, name: str, kind: str, key: str, key_type: str) -> tuple[list[str], Source]:
    cols = {key: key_type}
    extra = draw(st.lists(st.sampled_from(["amount", "qty", "flag", "label", "kind", "note", "score", "day"]),
                          min_size=1, max_size=5, unique=True))
    types = {"amount": "float", "qty": "int", "flag": "bool", "label": "string", "kind": "enum(view, click, buy)",
             "note": "string?", "score": "float?", "day": "date"}
    for c in extra:
        cols[c] = types[c]
    for c in draw(st.lists(st.sampled_from(ODD_NAMES), max_size=3, unique=True)) if rare(draw, 3) else []:
        cols.setdefault(c, draw(st.sampled_from(["int", "float", "string", "timestamp"])))
    lines = []
    if kind == "stream":
        fmt = draw(st.sampled_from(["json", "csv", None]))
        fmt_arg = f", format = {fmt}" if fmt else ""
        cols["ts"] = "timestamp"
        call = f"kafka(topic = {q(name.replace('_', '-'))}{fmt_arg})"
        lines.append(f"source {name}: stream {call} {{")
        lines.append("  schema { " + ", ".join(f"{c}: {t}" for c, t in cols.items()) + " }")
        lines.append("  event_time ts")
        wm, _ = draw(durations(1000, 86_400_000, units=("s", "m", "h")))
        lines.append(f"  watermark {wm}")
        period = 0
    else:
        time_col = draw(st.sampled_from(["ds", "ts"]))
        cols[time_col] = "date" if time_col == "ds" else "timestamp"
        if draw(st.booleans()):
            call = f"hive(table = {q('warehouse.' + name)})"
        else:
            fmt = draw(st.sampled_from(["parquet", "json", "csv", None]))
            call = f"s3(path = {q('tables/' + name)}{', format = ' + fmt if fmt else ''})"
        lines.append(f"source {name}: table {call} {{")
        lines.append("  schema { " + ", ".join(f"{c}: {t}" for c, t in cols.items()) + " }")
        lines.append(f"  event_time {time_col}")
        every, period = draw(st.sampled_from([("1d", 86_400_000), ("1h", 3_600_000), ("6h", 21_600_000),
                                              ("7d", 604_800_000)]))
        delay = draw(st.sampled_from(["", " delay 0s", " delay 2h", " delay 30m"]))
        lines.append(f"  arrives every {every}{delay}")
    lines += metadata(draw)
    lines.append("}")
    return lines, Source(name, kind, cols, "ts", period)


AGGS = ["count(*)", "count(COND)", "sum(NUM)", "avg(NUM)", "min(NUM)", "max(NUM)", "last(ANY)", "distinct_count(ANY)"]


def feature_exprs(draw, src: Source, key: str) -> list[str]:
    nums = [c for c, t in src.columns.items() if t.rstrip("?") in ("int", "float")]
    anys = [c for c, t in src.columns.items() if c != key and not t.startswith("enum")]
    conds = []
    if "kind" in src.columns:
        conds.append("kind == view")
    if "flag" in src.columns:
        conds.append("flag")
    if "qty" in src.columns:
        conds.append("qty > 3 and qty <= 100")
    if "amount" in src.columns:
        conds.append("amount * 2.0 >= 10.5")
    out = []
    for agg in draw(st.lists(st.sampled_from(AGGS), min_size=1, max_size=4)):
        if "COND" in agg:
            if not conds:
                continue
            agg = agg.replace("COND", draw(st.sampled_from(conds)))
        if "NUM" in agg:
            if not nums:
                continue
            agg = agg.replace("NUM", draw(st.sampled_from(nums)))
        if "ANY" in agg:
            if not anys:
                continue
            agg = agg.replace("ANY", draw(st.sampled_from(anys)))
        out.append(agg)
    return out or ["count(*)"]


def group_text(draw, name: str, src: Source, entity: str, key: str, index: int) -> tuple[list[str], dict]:
    lines = doc(draw) + [f"features {name} on {entity} {{", f"  from {src.name}"]
    exprs = feature_exprs(draw, src, key)
    info = {"mode": "stream" if src.kind == "stream" else "batch", "features": []}
    if src.kind == "stream":
        over, over_ms = draw(st.sampled_from([("1m", 60_000), ("5m", 300_000), ("1h", 3_600_000), ("1d", 86_400_000)]))
        slides = [s for s in [("", 0), ("30s", 30_000), ("1m", 60_000), ("5m", 300_000)] if s[1] <= over_ms and
                  (s[1] == 0 or over_ms % s[1] == 0)]
        slide = draw(st.sampled_from(slides))[0]
        window = f" over {over}" + (f" every {slide}" if slide else "")
    else:
        over = draw(st.sampled_from(["1d", "7d", "30d"]))
        window = f" over {over}"
    for i, e in enumerate(exprs):
        fname = f"f{i}_{e.split('(')[0]}"
        if rare(draw, 4):
            fname = draw(st.sampled_from([n for n in ODD_NAMES if n not in src.columns and n != "event_date"] or [fname]))
        if fname in info["features"]:
            continue
        lines.append(f"  {fname} = {e}{window}")
        info["features"].append(fname)
    if src.kind == "table" and draw(st.booleans()):
        plain = [c for c, t in src.columns.items() if c != key and t in ("int", "float", "string")]
        plain = [c for c in plain if c not in info["features"]]
        if plain:
            c = draw(st.sampled_from(plain))
            # a plain column next to aggregations is the check's to judge
            lines.append(f"  {c}: {src.columns[c]}")
            info["features"].append(c)
    if src.kind == "stream":
        if draw(st.integers(0, 5)):
            cp, _ = draw(durations(1000, 600_000, units=("s", "m")))
            lines.append(f"  checkpoint every {cp}")
    else:
        # a window is a whole number of schedule periods; now and then any schedule at all
        sched = draw(st.sampled_from(["daily", "hourly", "every 1d", "every 6h", 'cron("0 2 * * *")',
                                      'cron("15 * * * *")', "every 12h"]))
        if rare(draw, 10):
            sched = schedule(draw)[0]
        if draw(st.integers(0, 4)):
            lines.append(f"  schedule {sched}")
        if draw(st.booleans()):
            t, _ = draw(durations(60_000, MAX_MS, units=("m", "h", "d")))
            lines.append(f"  timeout {t}")
    online = draw(st.sampled_from(["", "online", "online ttl 1d", "online ttl 3650d"]))
    if online:
        lines.append(f"  {online}")
    info["online"] = bool(online)
    if draw(st.integers(0, 4)):
        lines.append(f"  offline s3({q('features/' + name)})")
    if rare(draw, 5):
        lines.append(f"  freshness <= {draw(st.sampled_from(['10m', '3d', '3650d', '3650d', '3650d']))}")
    lines += metadata(draw)
    lines.append("}")
    return lines, info


COMMANDS = ["echo done", 'echo "$X" > /dev/null', "true && echo {{ ds }}"]
PARAMS = [
    ("string", ['"us"', '""', '"quote \\" and \\\\ and {{ jinja }} and $HOME"']),
    ("int", ["0", "-1", "9223372036854775807", "100"]),
    ("float", ["0.5", "-2.5e-3", "1.0"]),
    ("bool", ["true", "false"]),
    ("date", ['"2024-02-29"']),
    ("timestamp", ['"2024-01-01T00:00:00Z"']),
    ("duration", ["28d", "0s", "1h30m", "3650d"]),
    ("enum(eu, us, apac)", ["eu", "apac"]),
    ("[string]", ['["us", "eu", "apac"]', "[]"]),
    ("[int]", ["[1, 2, 3]"]),
    ("string?", ['"x"']),
    ("int?", ["7"]),
]


def flow_text(draw, name: str, ctx: dict) -> tuple[list[str], dict]:
    """A flow; `ctx` holds what it may refer to (earlier flows, signals, groups, models)."""
    lines = doc(draw) + [f"flow {name} {{"]
    info = {"steps": 0, "spark_scripts": [], "emits": [], "awaits": []}
    start = draw(st.sampled_from(["schedule", "trigger", "both", "none"]))
    if start in ("schedule", "both"):
        lines.append(f"  schedule {schedule(draw)[0]}")
    if start in ("trigger", "both"):
        atoms = [f"on_finish({f})" for f in ctx["flows"]]
        for sig, fields in ctx["signals"].items():
            atoms.append(f"signal({sig})")
            if "region" in fields:
                atoms.append(f"signal({sig}, region = {q(draw(st.sampled_from(['us', 'eu'])))})")
        if atoms:
            chosen = draw(st.lists(st.sampled_from(atoms), min_size=1, max_size=3, unique=True))
            op = draw(st.sampled_from([" and ", " or "]))
            text = op.join(chosen)
            if len(chosen) == 3 and draw(st.booleans()):
                text = f"({chosen[0]} or {chosen[1]}) and {chosen[2]}"
            lines.append(f"  trigger {text}")
            info["awaits"] = [a[len("signal("):].split(")")[0].split(",")[0] for a in chosen if a.startswith("signal(")]
    if draw(st.booleans()):
        lines.append(f"  catchup {'true' if rare(draw, 20) else 'false'}")
    params = draw(st.lists(st.sampled_from(PARAMS), max_size=5, unique_by=lambda p: p[0]))
    pnames = {}
    for i, (typ, defaults) in enumerate(params):
        pname = f"p{i}_{typ.split('(')[0].strip('[]?')}"
        pnames[pname] = typ
        lines.append(f"  param {pname}: {typ} = {draw(st.sampled_from(defaults))}")
    lists = [p for p, t in pnames.items() if t.startswith("[")]
    bools = [p for p, t in pnames.items() if t == "bool"]
    ints = [p for p, t in pnames.items() if t == "int"]
    durs = [p for p, t in pnames.items() if t == "duration"]
    nsteps = draw(st.integers(1, 5))
    steps = []
    for i in range(nsteps):
        sname = f"s{i}" if not rare(draw, 4) else ident(f"s{i}", draw, limit=ctx["step_limit"])
        kinds = ["python", "bash", "spark"]
        if ctx["groups_online"]:
            kinds.append("materialize")
        if ctx["models"]:
            kinds.append("deploy")
        kind = draw(st.sampled_from(kinds))
        if kind == "python":
            call = f'python("jobs.{name[:20]}_mod:step_{i}")'
        elif kind == "bash":
            call = f"bash({q(draw(st.sampled_from(COMMANDS)))})"
        elif kind == "spark":
            path = f"jobs/{name[:20]}/s{i}.py"
            info["spark_scripts"].append(path)
            call = f"spark({q(path)})"
        elif kind == "materialize":
            call = f"materialize({draw(st.sampled_from(ctx['groups_online']))})"
        else:
            call = f"deploy({draw(st.sampled_from(ctx['models']))})"
        items = []
        if draw(st.booleans()):
            items.append(f"retries {draw(st.sampled_from([0, 1, 3, 100]))}")
        if draw(st.booleans()):
            items.append(f"retry_delay {draw(st.sampled_from(['0s', '5m', '3650d', '1s']))}")
        if draw(st.booleans()):
            items.append(f"timeout {draw(durations(1000, MAX_MS))[0]}")
        if rare(draw, 4):
            cpu = draw(st.sampled_from(["0.5", "1", "1024", "4"]))
            mem = draw(st.sampled_from(["512Mi", "64Ti", "16Gi", "1G"]))
            gpu = draw(st.sampled_from(["", ", gpu 0", ", gpu 64", ", gpu 1"]))
            items.append(f"resources {{ cpu {cpu}, memory {mem}{gpu} }}")
        if kind in ("bash", "python", "spark") and draw(st.booleans()):
            env = {"X": "run.id", "MODE": q("full")}
            if pnames and draw(st.booleans()):
                p = draw(st.sampled_from(sorted(pnames)))
                env["P"] = p
            items.append("env { " + ", ".join(f"{k} = {v}" for k, v in env.items()) + " }")
        if lists and rare(draw, 3):
            items.append(f"foreach item in {draw(st.sampled_from(lists))}")
        if rare(draw, 4):
            conds = ["run.id != \"\""] + bools + [f"{p} > 3" for p in ints] + [f"{p} >= 1h" for p in durs]
            items.append(f"when {draw(st.sampled_from(conds))}")
        if kind == "python" and rare(draw, 3):
            items.append(f"gate {draw(st.sampled_from(['auc >= 0.80', 'rows > 0 and loss < 0.5']))}")
        sig = None
        if ctx["own_signals"] and rare(draw, 3):
            sig = draw(st.sampled_from(sorted(ctx["own_signals"])))
            if sig in info["awaits"]:  # a flow that wakes itself: a cycle
                sig = None
        if ctx["own_signals"] and sig is not None:
            fields = ctx["own_signals"][sig]
            args = ", ".join(f"{f} = {'run.id' if t == 'string' else q('2024-01-01')}" for f, t in fields.items()
                             if f != "region")
            if "region" in fields:
                args = ", ".join(filter(None, [args, 'region = "us"']))
            items.append(f"emits signal {sig}" + (f"({args})" if args else ""))
            info["emits"].append(sig)
        if rare(draw, 6):
            items.append(draw(st.sampled_from(["deterministic", "nondeterministic"])))
        if rare(draw, 6):
            items += [m.strip() for m in metadata(draw, "")]
        step = f"  step {sname} {call}"
        if items:
            step += " {\n" + "".join(f"    {it}\n" for it in items) + "  }"
        steps.append(sname)
        lines.append(step)
    if len(steps) > 1:
        shape = draw(st.sampled_from(["chain", "fan", "none"]))
        if shape == "chain":
            lines.append("  " + " >> ".join(steps))
        elif shape == "fan":
            lines.append(f"  {steps[0]} >> [{', '.join(steps[1:])}]")
    lines += metadata(draw)
    lines.append("}")
    info["steps"] = nsteps
    return lines, info


@st.composite
def programs(draw) -> Program:
    index = draw(st.integers(0, 9999))
    package = draw(st.sampled_from(["gen", "acme.gen", "a.b.c"]))
    facts: dict = {"stream_groups": 0, "batch_groups": 0, "flows": 0, "steps": 0}
    entity_lines = []
    key_type = draw(st.sampled_from(["string", "int"]))
    key = "account_id" if not rare(draw, 4) else draw(st.sampled_from(ODD_NAMES))
    entity_lines.append(f"entity account {{ key {key}: {key_type} }}")
    composite = draw(st.booleans())
    if composite:
        entity_lines.append(f"entity pair {{ key ({key}: {key_type}, label: string) }}")
    # sources
    decl: list[list[str]] = []
    sources = []
    kinds = set()
    for i in range(draw(st.integers(0, 2))):
        lines, src = source_text(draw, f"events{i}", "stream", key, key_type)
        decl.append(lines)
        sources.append(src)
        kinds.add("kafka")
    for i in range(draw(st.integers(0, 2))):
        lines, src = source_text(draw, f"table{i}", "table", key, key_type)
        decl.append(lines)
        sources.append(src)
        kinds.add("hive" if "hive(" in lines[0] else "s3")
    groups_online, groups = [], []
    for i, src in enumerate(sources):
        if rare(draw, 5):
            continue
        name = ident(f"g{i}_{src.kind}", draw, limit=MAX_ID - len("features.") - len(package) - 1)
        lines, info = group_text(draw, name, src, "account", key, i)
        decl.append(lines)
        groups.append((name, info))
        if "offline s3" in "\n".join(lines):
            kinds.add("s3")
        facts[f"{info['mode']}_groups"] += 1
        if info["online"]:
            groups_online.append(name)
    # models
    models = []
    # over an online group: the ranker is served, and a served model (and its fallback) reads
    # its features from the online store (E1204 otherwise)
    served = [(name, info) for name, info in groups if info["online"]]
    if served and draw(st.booleans()):
        g, info = served[0]
        decl.append(["model popular deterministic {", "  framework rule", f"  inputs [{g}.*]",
                     "  output score: float", "}"])
        models.append("popular")
        if draw(st.booleans()):
            decl.append(["model ranker nondeterministic {", "  framework sklearn",
                         f"  inputs [{g}.{info['features'][0]}]", "  output score: float",
                         "  confidence in 0.0..1.0", "  fallback popular when confidence < 0.6 or unavailable",
                         "  serve { replicas 2, timeout 80ms }", "}"])
            models.append("ranker")
    # signals
    signals = {}
    for i in range(draw(st.integers(0, 3))):
        fields = draw(st.sampled_from([{}, {"region": "string"}, {"version": "string", "ds": "date"}]))
        external = draw(st.booleans())
        body = ", ".join(f"{f}: {t}" for f, t in fields.items())
        decl.append([f"signal sig{i}{' external' if external else ''}" + (f" {{ {body} }}" if body else "")])
        signals[f"sig{i}"] = (fields, external)
    # flows
    flows: list[str] = []
    emitted: set[str] = set()
    awaited: set[str] = set()  # a flow emits only signals no flow so far waits for: no cycles
    spark_scripts: list[str] = []
    nflows = draw(st.integers(0, 4))
    for i in range(nflows):
        name = ident(f"flow{i}", draw, limit=MAX_ID - len(package) - 1)
        ctx = {"flows": list(flows), "groups_online": groups_online, "models": models,
               "signals": {s: f for s, (f, ext) in signals.items() if ext or s in emitted},
               "own_signals": {s: f for s, (f, ext) in signals.items() if not ext and s not in awaited},
               "step_limit": MAX_ID - len("-foreach")}
        lines, info = flow_text(draw, name, ctx)
        decl.append(lines)
        flows.append(name)
        emitted |= set(info["emits"])
        awaited |= set(info["awaits"])
        spark_scripts += info["spark_scripts"]
        facts["flows"] += 1
        facts["steps"] += info["steps"]
    # SLOs
    if flows and rare(draw, 3):
        decl.append([f"slo on_time {{ completion({flows[0]}) by {q(draw(st.sampled_from(['06:00', '00:00', '23:59'])))} }}"])
    if models and rare(draw, 3):
        decl.append(["slo model_fresh { freshness(popular) <= 30d }"])
    kinds |= {"s3"} if not kinds else set()
    env_lines, env_names = envs_text(draw, kinds)
    imports = "import std.connectors.{" + ", ".join(sorted(kinds | {"files"})) + "}"
    # spread declarations over 1-3 files of the package
    nfiles = draw(st.integers(1, 3))
    bodies: list[list[str]] = [[] for _ in range(nfiles)]
    bodies[0] += env_lines + entity_lines
    for d in decl:
        bodies[draw(st.integers(0, nfiles - 1))] += d
    files = {}
    for i, body in enumerate(bodies):
        header = [f"package {package}", imports, ""]
        files[f"part{i}.flow"] = "\n".join(header + body) + "\n"
    front = draw(st.sampled_from(["yaml", "mixed", "flow"]))
    facts["_spark_scripts"] = spark_scripts  # type: ignore[assignment]
    facts["index"] = index
    return Program(package, files, front, env_names, facts)


# ------------------------------------------------------------------ the corpus
@dataclass
class Corpus:
    """Programs drawn, checked and compiled for every env and every target."""
    generated: int = 0
    accepted: int = 0
    discarded: dict[str, int] = field(default_factory=dict)    # error code -> programs it discarded
    fronts: dict[str, int] = field(default_factory=dict)       # front end -> accepted programs
    bundles: list[dict] = field(default_factory=list)          # one per (program, env)
    failures: list[str] = field(default_factory=list)          # accepted, but compiling failed
    seconds: float = 0.0

    @property
    def discard_rate(self) -> float:
        return 1 - self.accepted / self.generated if self.generated else 0.0

    def artifacts(self, kind: str) -> list[tuple[dict, str]]:
        return [(b, p) for b in self.bundles for p in b["kinds"].get(kind, [])]

    def summary(self) -> str:
        kinds = {k: len(self.artifacts(k)) for k in ("airflow-dag", "spark-feature-job", "spark-step-launcher",
                                                     "flink-feature-job")}
        return (f"{self.generated} programs generated, {self.accepted} accepted "
                f"({100 * (1 - self.discard_rate):.0f}%), {self.generated - self.accepted} discarded "
                f"{dict(sorted(self.discarded.items()))}; fronts {dict(sorted(self.fronts.items()))}; "
                f"{len(self.bundles)} bundles: {kinds}; check+compile {self.seconds:.1f}s")


def build_corpus(count: int, base: Path, seed: int = 0) -> Corpus:
    """Draws `count` programs (the same ones for the same count and seed), writes each under
    `base/pNNN/src`, runs the real check (`mlc.deploy.bundle.check`: the language's checks and
    every backend's validation for every env); an accepted program is compiled for every env
    with every target into `base/pNNN/ENV/` and its bundle proved closed."""
    import time

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed

    from mlc.compiler.project import load_project
    from mlc.deploy.bundle import check
    from mlc.deploy.bundle import compile as compile_bundle
    from mlc.targets import TARGETS
    from mlc.targets import manifest as M

    corpus = Corpus()
    t0 = time.perf_counter()

    @hseed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def draw_all(program: Program) -> None:
        n = corpus.generated
        corpus.generated += 1
        home = base / f"p{n:03d}"
        root = program.write(home / "src")
        project = load_project([str(root)]).rooted()
        result = check(project, use_cache=False)
        errors = sorted({d.code for d in result.diagnostics if d.is_error})
        if errors:
            for code in errors:
                corpus.discarded[code] = corpus.discarded.get(code, 0) + 1
            return
        corpus.accepted += 1
        corpus.fronts[program.front] = corpus.fronts.get(program.front, 0) + 1
        for env in program.envs:
            compiled = compile_bundle(project, env, sorted(TARGETS), use_cache=False)
            problems = [f"{d.code} {d.message}" for d in compiled.result.diagnostics if d.is_error]
            if not compiled.ok or problems:
                corpus.failures.append(f"{home.name} env {env}: {problems or 'no artifacts'}\n{program.describe()}")
                continue
            files = {a.path: a.text for a in compiled.artifacts}
            manifest = json.loads(files[M.MANIFEST])
            broken = M.dangling(manifest)
            if broken or {e["path"] for e in manifest["artifacts"]} != set(files) - {M.MANIFEST}:
                corpus.failures.append(f"{home.name} env {env}: the bundle is not closed: {broken}")
                continue
            out = home / env
            for path, text in files.items():
                (out / path).parent.mkdir(parents=True, exist_ok=True)
                (out / path).write_text(text, encoding="utf-8")
            kinds: dict[str, list[str]] = {}
            for e in manifest["artifacts"]:
                kinds.setdefault(e["kind"], []).append(e["path"])
            corpus.bundles.append({"name": f"{home.name}-{env}", "program": program, "env": env, "src": root,
                                   "out": out, "kinds": kinds})

    draw_all()
    corpus.seconds = time.perf_counter() - t0
    return corpus
