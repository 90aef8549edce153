"""Generate a deterministic platform-sized `.flow` program (issue 18).

    python bench/gen_platform.py OUT_DIR [--scale 1.0] [--seed 0] [--verify]

At `--scale 1` (about 10^6 lines): 200 packages `platform.pNNN`, each in its own
folder, holding 75 streaming feature groups (15,000), 25 batch groups (5,000),
10 flows (2,000), 2 or 3 served models with a rules fallback (500), entities,
stream and table sources, signals and objectives; plus `platform.core` with the
envs. Packages import entities, groups and flows of earlier packages: a model
reads a group of another package, a chain's head waits for another package's
scheduled flow. The flows of a package form chains linked by `on_finish` and by
signals whose payload the next flow matches (`signal(s, region = "us")`) and
reads (`trigger.version`); with the cross-package link a chain is at most 10
flows deep. Steps carry gates, retries, timeouts, `produces`/`uses`.

`--scale F` keeps every package as it is and writes round(200 * F) of them (at
least one), so a package's text depends only on (seed, package index): a
scaled-down platform is a prefix of the full one and cost curves over scale
compare like with like. The program checks clean (0 errors, 0 warnings).
The per-file helpers (flows, layers, edges, the aggregation kinds) are
`gen_project`'s.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_project as G  # noqa: E402

PACKAGES = 200
STREAM_GROUPS = 75  # per package
BATCH_GROUPS = 25
FLOWS = 10
GROUPS_PER_FILE = 15
GROUPS_PER_SOURCE = 3
MAX_CHAIN = 9  # flows of a package chained after its head; one more with the cross-package link

MLC_TOML = '[project]\nname = "platform"\nsources = ["."]\n'

ENVS_FLOW = """\
## Where the platform runs. Every logical connector is bound to local files
## in `local`, to the real systems in `prod`.
package platform.core
import std.connectors.{kafka, hive, s3, files}

env local {
  kafka = files("data/events")
  hive  = files("data/warehouse")
  s3    = files("build/s3")
}

env prod {
  kafka = kafka(bootstrap = "kafka.platform:9092", credentials = secret("platform-kafka"))
  hive  = hive(metastore = "thrift://metastore.platform:9083")
  s3    = s3(bucket = "platform-features")
}
"""

ENTITIES = [("user", "user_id"), ("item", "item_id"), ("account", "account_id"), ("device", "device_id")]
# every window of every aggregation kind: a group picks some of these features
AGGS = [*G.STREAM_AGGS, ("spend_avg", "avg(amount)"), ("dwell", "sum(dwell_ms)"), ("max_dwell", "max(dwell_ms)")]
AGG_FEATURES = [(f"{name}_{w}", f"{e} over {w}") for name, e in AGGS for w in G.WINDOWS]


def pkg(i: int) -> str:
    return f"p{i:03d}"


def package_count(scale: float) -> int:
    return max(1, round(PACKAGES * scale))


def _header(i: int, imports: list[str]) -> list[str]:
    return [f"package platform.{pkg(i)}", "import std.connectors.{kafka, hive, s3}", *imports, ""]


def _deps(i: int) -> list[int]:
    """The earlier packages package `i` imports from: the one before, and one further back."""
    if i == 0:
        return []
    far = random.Random(i * 7919).randrange(i)
    return sorted({i - 1, far})


def stream_group(p: str, g: int) -> str:
    return f"{p}_s{g:03d}"


def batch_group(p: str, g: int) -> str:
    return f"{p}_b{g:03d}"


def sources_file(i: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + i * 31 + 1)
    p = pkg(i)
    out = _header(i, [])
    for name, key in ENTITIES:
        out += [f"## A {name} as package {p} sees it.", f"entity {p}_{name} {{ key {key}: string }}", ""]
    owner = rng.choice(G.OWNERS)
    for s in range(STREAM_GROUPS // GROUPS_PER_SOURCE):
        extra = rng.sample(G.STREAM_EXTRA, rng.randint(3, 6))
        fields = [("user_id", "string"), ("item_id", "string"), ("account_id", "string"),
                  ("device_id", "string"), ("kind", "enum(view, click, buy)"), ("amount", "float"),
                  ("dwell_ms", "int"), *extra, ("ts", "timestamp")]
        out += [f"## Events of stream {s} of package {p}.",
                f'source {p}_events{s:02d}: stream kafka(topic = "{p}-events-{s:02d}", format = json) {{',
                "  schema {"]
        out += [f"    {n}: {t}" for n, t in fields]
        out += ["  }", "  event_time ts", f"  watermark {rng.choice(['10s', '30s', '1m'])}",
                f'  owner "{owner}"', f'  tags ["{p}", "stream"]', "}", ""]
    for t in range(BATCH_GROUPS // 5):
        extra = rng.sample(G.TABLE_EXTRA, rng.randint(2, 4))
        fields = [("user_id", "string"), ("account_id", "string"), ("plays", "int"), ("seconds", "int"),
                  ("conv_rate", "float"), *extra, ("ds", "date")]
        out += [f'source {p}_daily{t}: table hive(table = "warehouse.{p}_daily{t}") {{',
                "  schema {"]
        out += [f"    {n}: {ty}" for n, ty in fields]
        out += ["  }", "  event_time ds", "  arrives every 1d delay 2h", f'  owner "{owner}"', "}", ""]
    return "\n".join(out)


def streams_file(i: int, part: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + i * 31 + 2 + part)
    p = pkg(i)
    out = _header(i, [])
    for g in range(part * GROUPS_PER_FILE, (part + 1) * GROUPS_PER_FILE):
        entity, _key = ENTITIES[g % len(ENTITIES)]
        slide = rng.choice(G.SLIDES)
        feats = rng.sample(AGG_FEATURES, rng.randint(28, 44))
        feats = [f for f in AGG_FEATURES if f in feats]
        width = max(len(n) for n, _ in feats)
        out += [f"## Recent {entity} activity from stream {g // GROUPS_PER_SOURCE}, refreshed every {slide}.",
                f"features {stream_group(p, g)} on {p}_{entity} {{",
                f"  from {p}_events{g // GROUPS_PER_SOURCE:02d}"]
        out += [f"  {n.ljust(width)} = {e} every {slide}" for n, e in feats]
        out += ["  checkpoint every 1m", f"  online ttl {rng.choice(['1d', '2d', '7d'])}",
                f'  offline s3("features/{p}/s{g:03d}")', "  freshness <= 1h",
                f'  owner "{rng.choice(G.OWNERS)}"', f'  tags ["{p}", "tier{g % 3}"]', "}", ""]
    return "\n".join(out)


def batch_file(i: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + i * 31 + 10)
    p = pkg(i)
    out = _header(i, [])
    for g in range(BATCH_GROUPS):
        entity = "user" if g % 2 == 0 else "account"
        out += [f"## Daily {entity} history, table {g % 5}.",
                f"features {batch_group(p, g)} on {p}_{entity} {{",
                f"  from {p}_daily{g % 5}",
                "  conv_rate: float",
                f"  plays_{g}d   = count(*) over {g % 7 + 1}d",
                f"  seconds_{g}d = sum(seconds) over {g % 7 + 1}d",
                f"  plays_sum    = sum(plays) over {rng.choice(['7d', '14d', '28d'])}",
                f"  plays_max    = max(plays) over {rng.choice(['7d', '14d', '28d'])}",
                f"  seconds_avg  = avg(seconds) over {rng.choice(['7d', '14d', '28d'])}",
                f"  active_days  = count(plays > 0) over 28d",
                "  conv_avg     = avg(conv_rate) over 7d",
                f"  schedule {rng.choice(['daily', 'cron(' + rng.choice(G.CRONS) + ')'])}",
                f"  timeout {rng.choice(['30m', '1h'])}",
                f"  online ttl {rng.choice(['3d', '7d'])}",
                f'  offline s3("features/{p}/b{g:03d}")',
                f'  owner "{rng.choice(G.OWNERS)}"', "}", ""]
    return "\n".join(out)


def models_in(i: int) -> int:
    return 3 if i % 2 == 0 else 2


def models_file(i: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + i * 31 + 11)
    p = pkg(i)
    deps = _deps(i)
    imports = [f"import platform.{pkg(d)}.{{{stream_group(pkg(d), 0)}}}" for d in deps]
    out = _header(i, imports)
    for m in range(models_in(i)):
        groups = [stream_group(p, (m * 7 + k) % STREAM_GROUPS) for k in range(2)]
        groups = [g for g in groups if int(g[-3:]) % len(ENTITIES) == 0] or groups[:1]
        batch = batch_group(p, (m * 2) % BATCH_GROUPS)  # a user group
        inputs = [f"{g}.*" for g in groups] + [f"{batch}.conv_rate"]
        if deps:
            inputs.append(f"{stream_group(pkg(deps[-1]), 0)}.*")
        out += [f"## The rules model {m} falls back to: always available, never unsure.",
                f"model {p}_rules{m} deterministic {{", "  framework rule",
                f"  inputs [{batch}.conv_rate]", "  output score: float", "}", "",
                f"## The learned model {m} of package {p}; the rules decide when it is unsure or down.",
                f"model {p}_model{m} nondeterministic {{",
                f"  framework {rng.choice(['sklearn', 'xgboost', 'pytorch'])}",
                f"  inputs [{', '.join(inputs)}]",
                "  output score: float", "  confidence in 0.0..1.0",
                f"  fallback {p}_rules{m} when confidence < {rng.choice(['0.5', '0.6', '0.7'])} or unavailable",
                f"  serve {{ replicas {rng.randint(2, 6)}, timeout {rng.randint(40, 90)}ms }}",
                f'  owner "{rng.choice(G.OWNERS)}"', "}", ""]
    return "\n".join(out)


def _chains(rng: random.Random) -> list[int]:
    """The lengths of the package's flow chains, flow 0's first."""
    lengths, left = [], FLOWS
    while left:
        n = min(left, rng.randint(1, MAX_CHAIN))
        lengths.append(n)
        left -= n
    return lengths


def flows_file(i: int, seed: int) -> str:
    rng = random.Random(seed * 1_000_003 + i * 31 + 12)
    p = pkg(i)
    prev = pkg(i - 1) if i else None
    imports = [f"import platform.{prev}.{{{prev}_flow00}}"] if prev else []
    out = _header(i, imports)
    lengths = _chains(rng)
    n_models = models_in(i)
    signals, flows = [], []
    f = 0
    for c, n in enumerate(lengths):
        for k in range(n):
            name = f"{p}_flow{f:02d}"
            head: list[str] = []
            if k == 0:
                if c > 0 and prev is not None and rng.random() < 0.5:
                    head.append(f"  trigger on_finish({prev}_flow00)")
                else:
                    head += [f"  schedule cron({rng.choice(G.CRONS)})", "  catchup false"]
            elif k % 2 == 1:
                sig = f"{p}_sig{f - 1:02d}"
                head.append(f'  trigger signal({sig}, region = "{rng.choice(["us", "eu"])}")')
            else:
                head.append(f"  trigger on_finish({p}_flow{f - 1:02d})")
            head += [f"  param lookback: duration = {rng.choice(['7d', '14d', '28d'])}",
                     f"  defaults {{ retries 1, retry_delay 5m, timeout 30m, owner \"{rng.choice(G.OWNERS)}\" }}",
                     f'  owner "{rng.choice(G.OWNERS)}"', f'  tags ["{p}", "chain{c}"]']
            special: dict[str, list[str]] = {}
            model = f"{p}_model{f % n_models}"
            if k % 2 == 1:  # started by a signal: its payload reaches the steps
                special["clean"] = ['when trigger.region == "us" and trigger.version != ""']
            if f < n_models:
                special["train"] = [f"produces {model}"]
                special["evaluate"] = [f"uses {model}", f"gate auc >= 0.{rng.randint(70, 90)}"]
            else:
                special["evaluate"] = [f"gate auc >= 0.{rng.randint(70, 90)}"]
            last: list[str] = []
            emits = k + 1 < n and (k + 1) % 2 == 1
            if emits:
                sig = f"{p}_sig{f:02d}"
                last.append(f'emits signal {sig}(version = run.id, region = "{rng.choice(["us", "eu"])}")')
                signals.append(sig)
            flows.append([f"## Flow {k + 1} of chain {c} of package {p}."] + G._flow(rng, p, name, G.TRAIN_STEPS, head, rng.randint(5, 9), special, last))
            f += 1
    for sig in signals:
        out += [f"## Published when flow {sig[-2:]} of package {p} is done.",
                f"signal {sig} {{ version: string, region: string }}", ""]
    for fl in flows:
        out += [*fl, ""]
    return "\n".join(out)


def slos_file(i: int, seed: int) -> str:
    p = pkg(i)
    out = _header(i, [])
    for m in range(models_in(i)):
        out += [f"slo {p}_model{m}_latency {{ latency({p}_model{m}) p99 <= 100ms }}"]
        if m == 0:  # trained by the package's scheduled flow 0: its age is bounded
            out += [f"slo {p}_model{m}_fresh {{ freshness({p}_model{m}) <= 3d }}"]
    out += [f"slo {p}_s000_fresh {{ freshness({stream_group(p, 0)}) <= 1h }}", ""]
    return "\n".join(out)


def package_files(i: int, seed: int) -> dict[str, str]:
    p = pkg(i)
    files = {f"{p}/sources.flow": sources_file(i, seed), f"{p}/batch.flow": batch_file(i, seed),
             f"{p}/models.flow": models_file(i, seed), f"{p}/flows.flow": flows_file(i, seed),
             f"{p}/slos.flow": slos_file(i, seed)}
    for part in range(STREAM_GROUPS // GROUPS_PER_FILE):
        files[f"{p}/streams{part}.flow"] = streams_file(i, part, seed)
    return files


def generate(out: Path, scale: float = 1.0, seed: int = 0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "mlc.toml").write_text(MLC_TOML)
    written = {"core/envs.flow": ENVS_FLOW}
    for i in range(package_count(scale)):
        written.update(package_files(i, seed))
    paths = []
    for rel, text in written.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.endswith("\n") else text + "\n")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the 200 packages to write")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true", help="parse every file with the raw Lark grammar")
    args = ap.parse_args(argv)
    if args.scale <= 0:
        ap.error("--scale must be above 0")
    paths = generate(args.out_dir, args.scale, args.seed)
    texts = [p.read_text() for p in paths]
    print(f"{package_count(args.scale)} packages, {len(paths)} files, {sum(t.count(chr(10)) for t in texts)} lines, "
          f"{sum(len(t.encode()) for t in texts)} bytes -> {args.out_dir}")
    if args.verify:
        print(f"verified: all {len(paths)} files parse (raw Lark, {G.verify(paths):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
