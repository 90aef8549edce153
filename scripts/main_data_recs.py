"""The recommendations example's input for the README's main command, written into the local
env's bindings (`kafka = files("data/events")`, `hive = files("data/warehouse")`):

- `member_events` (topic member-interactions): the last hour of interactions, JSON lines;
- `plays` (warehouse.plays): the last week of completed plays, Parquet;
- `member_title_stats` (warehouse.member_title_daily): yesterday's conversion per member and
  title, Parquet.

    SERVING_PYTHON scripts/main_data_recs.py PROJECT_ROOT

Member `m-regular` watched and clicked a lot in the last hour and converts well on title
`t-hit`, the week's most played title: the ranker answers for them. A member never seen
(any other id) has no features: the `popular_titles` baseline answers, from the title's
plays. Members m-0 .. m-29 and titles t-0 .. t-19 are the traffic around them. Parquet is
written with pyarrow, so it runs with the serving engine's Python.
"""

import json
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def events(now: datetime, rng: random.Random) -> list[dict]:
    rows = []

    def event(member: str, title: str, kind: str, minutes_ago: float, device: str = "tv") -> None:
        ts = now - timedelta(minutes=minutes_ago)
        rows.append({"member_id": member, "title_id": title, "kind": kind,
                     "dwell_ms": rng.randint(1_000, 60_000) if kind == "dwell" else 0, "device": device,
                     "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})

    for i in range(12):  # m-regular: views, most of them clicked
        event("m-regular", f"t-{i % 5}", "view", 55 - i * 4)
        if i % 3:
            event("m-regular", f"t-{i % 5}", "click", 54 - i * 4)
    for m in range(30):
        for _ in range(rng.randint(1, 6)):
            event(f"m-{m}", f"t-{rng.randint(0, 19)}", rng.choice(["view", "view", "click", "dwell"]),
                  rng.uniform(1, 59), rng.choice(["tv", "mobile", "web"]))
    return sorted(rows, key=lambda r: r["ts"])


def plays(today: date, rng: random.Random) -> list[dict]:
    rows = []
    for day in range(1, 8):
        ds = today - timedelta(days=day)
        for _ in range(400):  # t-hit: the week's hit
            rows.append({"member_id": f"m-{rng.randint(0, 29)}", "title_id": "t-hit",
                         "seconds": rng.randint(600, 7200), "ds": ds})
        for t in range(20):
            for _ in range(rng.randint(0, 15)):
                rows.append({"member_id": f"m-{rng.randint(0, 29)}", "title_id": f"t-{t}",
                             "seconds": rng.randint(60, 7200), "ds": ds})
    return rows


def member_title_stats(today: date, rng: random.Random) -> list[dict]:
    ds = today - timedelta(days=1)
    rows = [{"member_id": "m-regular", "title_id": "t-hit", "impressions": 40, "conv_rate": 0.9,
             "completion_rate": 0.8, "ds": ds}]
    for m in range(30):
        for t in rng.sample(range(20), 5):
            rows.append({"member_id": f"m-{m}", "title_id": f"t-{t}", "impressions": rng.randint(1, 50),
                         "conv_rate": rng.random(), "completion_rate": rng.random(), "ds": ds})
    return rows


def write_parquet(folder: Path, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")


def main() -> None:
    root = Path(sys.argv[1])
    now = datetime.now(UTC)
    rng = random.Random(11)
    topic = root / "data" / "events" / "member-interactions"
    topic.mkdir(parents=True, exist_ok=True)
    for old in topic.glob("*.json"):
        old.unlink()
    rows = events(now, rng)
    (topic / "events.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    played = plays(now.date(), rng)
    write_parquet(root / "data" / "warehouse" / "plays", played)
    stats = member_title_stats(now.date(), rng)
    write_parquet(root / "data" / "warehouse" / "member_title_daily", stats)
    print(f"wrote {len(rows)} interactions of the last hour, {len(played)} plays of the last week and "
          f"{len(stats)} member-title rows of yesterday under {root / 'data'}")


if __name__ == "__main__":
    main()
