"""The fraud example's input for the README's main command: the last hour of card
transactions, as the payment switch would publish them, written as JSON lines into the local
env's `card_transactions` binding: files("data/transactions"), a folder per topic.

    python scripts/main_data.py PROJECT_ROOT

Card `c-quiet` pays twice at one merchant (a normal card); cards c-0 .. c-39 make the traffic
around it. A card that never paid (any other id) has no features: the scorer's fallback
answers for it. Standard library only: it runs with any Python 3.11.
"""

import json
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path


def transactions(now: datetime) -> list[dict]:
    rng = random.Random(7)
    rows = []

    def txn(card: str, minutes_ago: float, amount: int, merchant: str, country: str = "FR",
            channel: str = "pos", status: str = "approved") -> None:
        ts = now - timedelta(minutes=minutes_ago)
        rows.append({"txn_id": f"t-{len(rows):05d}", "card_id": card, "merchant_id": merchant,
                     "amount_cents": amount, "country": country, "channel": channel, "status": status,
                     "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})

    txn("c-quiet", 50, 120, "m-bakery")
    txn("c-quiet", 20, 430, "m-bakery")
    for i in range(40):
        for _ in range(rng.randint(1, 4)):
            txn(f"c-{i}", rng.uniform(1, 59), rng.randint(100, 20_000), f"m-{rng.randint(0, 30)}",
                rng.choice(["FR", "FR", "FR", "DE"]), rng.choice(["pos", "online", "atm"]))
    return sorted(rows, key=lambda r: r["ts"])


def main() -> None:
    root = Path(sys.argv[1])
    folder = root / "data" / "transactions" / "card-transactions"  # the binding's folder / the topic
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    rows = transactions(now)
    (folder / "transactions.json").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} card transactions of the last hour to {folder}")


if __name__ == "__main__":
    main()
