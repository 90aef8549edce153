"""Generate a deterministic synthetic `.flow` project for benchmarking `mlc check`.

    python bench/gen_project.py OUT_DIR [--files 1000] [--seed 0] [--verify]

Writes OUT_DIR/mlc.toml, OUT_DIR/envs.flow and N-1 files OUT_DIR/fNNNN.flow of
about 100 lines each. Every file is a small, self-contained and valid platform
(sources, entity, streaming + batch feature groups, a deterministic and a
nondeterministic model with fallback, a signal emitted by one flow and awaited
by another, SLOs). All names are prefixed with the file's index, so the files
never clash. A file depends only on (seed, index), not on how many files there
are. `--verify` parses every written file with the raw Lark grammar.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lark import Lark

GRAMMAR = Path(__file__).resolve().parent.parent / "mlc" / "dsl" / "flow.lark"

MLC_TOML = '[project]\nname = "bench"\nsources = ["."]\n'

ENVS_FLOW = """\
## Environments of the benchmark project: every logical connector is bound to
## local files, so the whole project runs on one machine.
package bench
import std.connectors.{kafka, hive, s3, files}

env local {
  kafka = files("data/events")      # streams are replayed from files
  hive  = files("data/warehouse")
  s3    = files("build/s3")
}
"""

# Extra schema columns a stream may carry: (name, type).
STREAM_EXTRA = [
    ("country", "string"), ("device", "string"), ("price", "float"),
    ("quantity", "int"), ("session_id", "string"), ("latency_ms", "int"),
    ("score", "float"), ("page", "string"),
]
TABLE_EXTRA = [
    ("region", "string"), ("revenue", "float"), ("visits", "int"),
    ("returns", "int"), ("rating", "float"), ("segment", "string"),
]
# Streaming aggregations: (feature suffix, expression). Every kind is used.
STREAM_AGGS = [
    ("events", "count(*)"),
    ("clicks", "count(kind == click)"),
    ("spend", "sum(amount)"),
    ("avg_dwell", "avg(dwell_ms)"),
    ("min_amount", "min(amount)"),
    ("max_amount", "max(amount)"),
    ("last_item", "last(item_id)"),
    ("items", "distinct_count(item_id)"),
]
WINDOWS = ["30m", "1h", "6h", "1d"]
SLIDES = ["1m", "5m", "10m"]
CRONS = ['"0 */6 * * *"', '"30 */4 * * *"', '"15 * * * *"', '"0 */2 * * *"', '"45 */3 * * *"']
# Step names of the two flows of a file, in DAG order.
TRAIN_STEPS = ["extract", "clean", "validate", "featurize", "sample", "train",
               "evaluate", "export", "report", "publish"]
SCORE_STEPS = ["load", "join", "filter", "score", "rank", "export", "notify", "archive"]
OWNERS = ["growth", "discovery", "payments", "search", "ads", "trust"]


@dataclass(frozen=True)
class Step:
    name: str
    kind: str  # python | spark | bash


def _step_call(p: str, flow: str, step: Step) -> str:
    if step.kind == "python":
        return f'python("{p}.{flow}:{step.name}")'
    if step.kind == "spark":
        return f'spark("jobs/{p}/{flow}_{step.name}.py")'
    return f'bash("scripts/{p}/{step.name}.sh")'


def _layers(rng: random.Random, names: list[str], alone: set[str]) -> list[list[str]]:
    """Split step names (in order) into layers of one or two steps; the first
    and last layer and the steps in `alone` get a layer of their own."""
    layers: list[list[str]] = []
    i = 0
    while i < len(names):
        pair = names[i : i + 2]
        width = 2 if (i > 0 and i + 1 < len(names) - 1 and not alone & set(pair)
                      and rng.random() < 0.4) else 1
        layers.append(names[i : i + width])
        i += width
    return layers


def _edges(layers: list[list[str]]) -> list[str]:
    """`a >> b >> [c, d]` chains over the layers, at most four nodes a line."""
    nodes = [ls[0] if len(ls) == 1 else "[" + ", ".join(ls) + "]" for ls in layers]
    lines: list[str] = []
    start = 0
    while start < len(nodes) - 1:
        end = min(start + 4, len(nodes))
        lines.append("  " + " >> ".join(nodes[start:end]))
        start = end - 1
    return lines


def _flow(
    rng: random.Random,
    p: str,
    name: str,
    pool: list[str],
    head: list[str],
    n_steps: int,
    special: dict[str, list[str]],
    last_items: list[str],
) -> list[str]:
    """A flow with `n_steps` steps; `special` adds items to named steps and
    `last_items` to the last step."""
    picked = rng.sample([s for s in pool if s not in special], n_steps - len(special))
    ordered = [s for s in pool if s in picked or s in special]
    steps = [Step(s, rng.choice(["python", "spark", "bash"])) for s in ordered]
    out = [f"flow {name} {{", *head]
    for i, st in enumerate(steps):
        items = [f"timeout {rng.choice(['10m', '20m', '30m'])}"]
        if rng.random() < 0.5:
            items.append(f"retries {rng.randint(1, 3)}")
        items += special.get(st.name, [])
        if i == len(steps) - 1:
            items += last_items
        env = f'env {{ RUN_ID = run.id, MODE = "{rng.choice(["full", "incremental"])}" }}'
        head_ = f"  step {st.name} {_step_call(p, name, st)} {{"
        if rng.random() < 0.9:  # one line
            out.append(f"{head_} {', '.join([*items, env])} }}")
        else:
            out += [head_, "    " + ", ".join(items), f"    {env}", "  }"]
    out += _edges(_layers(rng, [s.name for s in steps], set(special)))
    out.append("}")
    return out


def gen_file(index: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + index)
    p = f"f{index:04d}"
    owner = rng.choice(OWNERS)
    L: list[str] = [f"package bench                    # generated file {index}, seed {seed}"]
    L.append("import std.connectors.{kafka, hive, s3}")
    L.append("")

    # ---- sources
    s_extra = rng.sample(STREAM_EXTRA, rng.randint(2, 5))
    s_fields = [("user_id", "string"), ("item_id", "string"), ("kind", "enum(view, click, buy)"),
                ("amount", "float"), ("dwell_ms", "int"), *s_extra, ("ts", "timestamp")]
    L += [f"## Interaction events of shard {index}.",
          f'source {p}_events: stream kafka(topic = "{p}-events", format = json) {{',
          "  schema {",
          "    " + ", ".join(f"{n}: {t}" for n, t in s_fields[:5]),
          "    " + ", ".join(f"{n}: {t}" for n, t in s_fields[5:]),
          "  }", "  event_time ts", f"  watermark {rng.choice(['10s', '30s', '1m'])}",
          f'  owner "{owner}"', "}", ""]

    t_extra = rng.sample(TABLE_EXTRA, rng.randint(2, 4))
    t_fields = [("user_id", "string"), ("plays", "int"), ("seconds", "int"),
                ("conv_rate", "float"), *t_extra, ("ds", "date")]
    L += [f'source {p}_daily: table hive(table = "warehouse.{p}_daily") {{',
          "  schema { " + ", ".join(f"{n}: {t}" for n, t in t_fields) + " }",
          "  event_time ds                  # a daily partition",
          "  arrives every 1d delay 2h      # lands two hours after the day ends",
          "}", ""]

    L += [f"entity {p}_user {{ key user_id: string }}", ""]

    # ---- streaming feature group
    window, slide = rng.choice(WINDOWS), rng.choice(SLIDES)
    aggs = STREAM_AGGS[:3] + rng.sample(STREAM_AGGS[3:], rng.randint(3, 5))
    aggs = [a for a in STREAM_AGGS if a in aggs]
    width = max(len(n) for n, _ in aggs)
    L += [f"## What a user of shard {index} did recently, refreshed every {slide}.",
          f"features {p}_activity on {p}_user {{",
          f"  from {p}_events                # a stream: this group is streaming"]
    L += [f"  {n.ljust(width)} = {e} over {window} every {slide}" for n, e in aggs]
    L += ["  checkpoint every 1m", f"  online ttl {rng.choice(['1d', '2d', '7d'])}",
          f'  offline s3("features/{p}_activity")', "  freshness <= 1h",
          f'  tags ["shard-{index % 10}", "{owner}"]', "}", ""]

    # ---- batch feature group
    L += [f"features {p}_history on {p}_user {{",
          f"  from {p}_daily                 # a table: this group is batch",
          "  conv_rate: float",
          "  plays_7d   = count(*) over 7d",
          "  seconds_7d = sum(seconds) over 7d",
          "  schedule daily", "  timeout 1h", "  online ttl 3d",
          f'  offline s3("features/{p}_history")', f'  owner "{owner}"', "}", ""]

    # ---- models
    stream_feats = ", ".join(f"{p}_activity.{n}" for n, _ in aggs[:2])
    L += [f"model {p}_baseline deterministic {{", "  framework rule",
          f"  inputs [{p}_history.plays_7d, {p}_history.conv_rate]",
          "  output score: float", "}", "",
          f"## The learned ranker of shard {index}; falls back to the rule when unsure.",
          f"model {p}_ranker nondeterministic {{",
          f"  framework {rng.choice(['sklearn', 'xgboost', 'pytorch'])}",
          f"  inputs [{p}_activity.*, {p}_history.plays_7d, {stream_feats}]"
          if rng.random() < 0.3 else f"  inputs [{p}_activity.*, {p}_history.plays_7d]",
          "  output score: float", "  confidence in 0.0..1.0",
          f"  fallback {p}_baseline when confidence < 0.5 or unavailable",
          "  serve { replicas 2, timeout 80ms }", "}", ""]

    # ---- signal + flows
    L += [f"signal {p}_published {{ version: string }}", ""]
    train, score = f"{p}_train", f"{p}_score"
    L.append(f"## Trains {p}_ranker and announces each new version.")
    L += _flow(
        rng, p, train, TRAIN_STEPS,
        [f"  schedule cron({rng.choice(CRONS)})",
         f"  param lookback: duration = {rng.choice(['7d', '14d', '28d'])}",
         f"  param sample_rate: float = {rng.choice(['0.1', '0.25', '0.5'])}",
         f'  owner "{owner}"'],
        rng.randint(4, 8),
        {"train": [f"produces {p}_ranker"], "evaluate": ["gate auc >= 0.80"]},
        [f"emits signal {p}_published(version = run.id)"],
    )
    L.append("")
    L += _flow(
        rng, p, score, SCORE_STEPS,
        [f"  trigger signal({p}_published)", "  param batch_size: int = 1000"],
        rng.randint(4, 6),
        {"score": [f"uses {p}_ranker"]},
        [],
    )
    L.append("")

    # ---- SLOs
    L += [f"slo {p}_fresh   {{ freshness({p}_ranker) <= 3d }}",
          f"slo {p}_latency {{ latency({p}_ranker) p99 <= 100ms }}", ""]
    return "\n".join(L)


def generate(out: Path, files: int, seed: int) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "mlc.toml").write_text(MLC_TOML)
    paths = [out / "envs.flow"]
    paths[0].write_text(ENVS_FLOW)
    for i in range(1, files):
        path = out / f"f{i:04d}.flow"
        path.write_text(gen_file(i, seed))
        paths.append(path)
    return paths


def make_parser() -> Lark:
    return Lark(GRAMMAR.read_text(), parser="lalr", lexer="contextual",
                propagate_positions=True, maybe_placeholders=True)


def verify(paths: list[Path]) -> float:
    """Parse every file; raise on the first failure. Returns the parse seconds."""
    parser = make_parser()
    total = 0.0
    for path in paths:
        text = path.read_text()
        t0 = time.perf_counter()
        parser.parse(text)
        total += time.perf_counter() - t0
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--files", type=int, default=1000, help="number of .flow files, envs.flow included")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true", help="parse every file with the raw Lark grammar")
    args = ap.parse_args(argv)
    if args.files < 1:
        ap.error("--files must be at least 1")
    paths = generate(args.out_dir, args.files, args.seed)
    texts = [p.read_text() for p in paths]
    lines = sum(t.count("\n") + (not t.endswith("\n")) for t in texts)
    size = sum(len(t.encode()) for t in texts)
    print(f"{len(paths)} files, {lines} lines, {size} bytes -> {args.out_dir}")
    if args.verify:
        secs = verify(paths)
        print(f"verified: all {len(paths)} files parse (raw Lark, {secs:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
