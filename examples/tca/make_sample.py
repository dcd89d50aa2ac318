"""Write the sample TCA data set (orders.csv, fills.csv, tape.csv) next to this script, the same every run (seeded).

One simulated New York trading day (14:30-21:00 UTC) of three symbols: a price path per symbol at one-second steps,
market prints on it, and parent orders from three clients worked by TWAP, VWAP, POV and a liquidation, filled in
child slices across two venues. Prices are decimal text at two decimals; times are integer ns since the epoch.
Run: ``python examples/tca/make_sample.py`` (then ``unwind tca examples/tca/*.csv --utc-offset-minutes -300``).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240301
NS = 1_000_000_000
OPEN_NS = 1_709_303_400 * NS  # 2024-03-01 14:30:00 UTC, 09:30 in New York
SESSION_SECONDS = 6 * 3600 + 1800
SYMBOLS = {"ACME": 4215, "BOLT": 1830, "CORE": 9760}  # previous close in cents
CLIENTS = ("alpha-fund", "beta-pension", "gamma-hedge")
STRATEGIES = ("TWAP", "VWAP", "POV")
VENUES = ("XNYS", "ARCX")


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def price_paths(rng: random.Random) -> dict[str, list[int]]:
    """Return each symbol's mid in cents for every second of the session."""
    paths = {}
    for symbol, start in SYMBOLS.items():
        mid, path = start + rng.randint(-20, 20), []
        for _ in range(SESSION_SECONDS + 1):
            if rng.random() < 0.2:
                mid = max(100, mid + rng.choice((-1, 1)))
            path.append(mid)
        paths[symbol] = path
    return paths


def main() -> None:
    rng = random.Random(SEED)
    paths = price_paths(rng)
    orders: list[dict[str, object]] = []
    fills: list[dict[str, object]] = []
    tape: list[dict[str, object]] = []
    for symbol, path in paths.items():
        for second in range(0, SESSION_SECONDS, 20):
            mid = path[second]
            tape.append(
                {
                    "symbol": symbol,
                    "ts": OPEN_NS + second * NS + rng.randint(0, NS - 1),
                    "price": money(mid + rng.choice((-1, 0, 0, 1))),
                    "quantity": rng.choice((100, 200, 300, 500)),
                    "own": "false",
                }
            )
    for number in range(48):
        symbol = rng.choice(list(SYMBOLS))
        path = paths[symbol]
        liquidation = number % 16 == 15
        client = rng.choice(CLIENTS)
        strategy = "LIQUIDATION" if liquidation else rng.choice(STRATEGIES)
        side = rng.choice(("BUY", "SELL")) if not liquidation else "SELL"
        sign = 1 if side == "BUY" else -1
        quantity = rng.choice((500, 1000, 2000, 5000))
        decision_s = rng.randint(0, SESSION_SECONDS - 3 * 3600)
        arrival_s = decision_s + rng.randint(1, 90)
        duration_s = rng.randint(600, 2 * 3600)
        end_s = min(arrival_s + duration_s, SESSION_SECONDS)
        fill_share = 1.0 if rng.random() < 0.6 else rng.choice((0.0, 0.4, 0.75))
        order_id = f"P{number + 1:04d}"
        remaining = int(quantity * fill_share) // 100 * 100
        slices = max(1, remaining // 100 // rng.choice((1, 2, 5)))
        fill_times = sorted(rng.randint(arrival_s, end_s - 1) for _ in range(slices)) if remaining else []
        for index, second in enumerate(fill_times):
            lot = remaining // (slices - index) // 100 * 100 or remaining
            remaining -= lot
            if lot <= 0:
                continue
            impact = rng.choice((0, 1, 1, 2)) + (3 if liquidation else 0)
            price = path[second] + sign * impact
            venue = rng.choice(VENUES)
            ts = OPEN_NS + second * NS + rng.randint(0, NS - 1)
            fills.append(
                {
                    "order_id": order_id,
                    "account": f"{client}-main",
                    "client": client,
                    "strategy": strategy,
                    "venue": venue,
                    "symbol": symbol,
                    "side": side,
                    "quantity": lot,
                    "price": money(price),
                    "fee": money(max(1, lot * 3 // 10)),
                    "ts": ts,
                }
            )
            tape.append({"symbol": symbol, "ts": ts, "price": money(price), "quantity": lot, "own": "true"})
        orders.append(
            {
                "order_id": order_id,
                "client": client,
                "account": f"{client}-main",
                "strategy": strategy,
                "symbol": symbol,
                "side": side,
                "quantity": quantity,
                # One order in twelve has no recorded decision price: arrival stands in and its delay is zero.
                "decision_price": "" if number % 12 == 5 else money(path[decision_s]),
                "decision_ts": OPEN_NS + decision_s * NS,
                "arrival_price": money(path[arrival_s]),
                "arrival_ts": OPEN_NS + arrival_s * NS,
                "end_price": money(path[end_s]),
                "end_ts": OPEN_NS + end_s * NS,
                "prev_close_price": money(SYMBOLS[symbol]),
                "liquidation": "true" if liquidation else "false",
            }
        )
    tape.sort(key=lambda row: (row["symbol"], row["ts"]))
    for name, rows in (("orders.csv", orders), ("fills.csv", fills), ("tape.csv", tape)):
        with (HERE / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {HERE / name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
