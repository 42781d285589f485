"""The `analyzer` world of wit/analyzer.wit in Python, built into a component with
componentize-py (CPython inside). `process` parses a JSON document of orders and returns a
JSON summary: totals, a Counter of items, per-customer spending, tag statistics and a few list
comprehensions. Invalid input gives a JSON error object instead of a trap."""

import json
from collections import Counter, defaultdict

import wit_world


def summarize(doc):
    orders = doc["orders"]
    rows = [
        {"customer": o[0], "item": o[1], "qty": int(o[2]), "cents": int(o[3]), "tags": o[4:]}
        for o in orders
    ]
    items = Counter()
    for r in rows:
        items[r["item"]] += r["qty"]
    spend = defaultdict(int)
    for r in rows:
        spend[r["customer"]] += r["qty"] * r["cents"]
    ranking = sorted(spend.items(), key=lambda kv: (-kv[1], kv[0]))
    tags = Counter(t for r in rows for t in r["tags"])
    big = [r["customer"] + ":" + r["item"] for r in rows if r["qty"] * r["cents"] >= 1000]
    total = sum(r["qty"] * r["cents"] for r in rows)
    return {
        "orders": len(rows),
        "total_cents": total,
        "total": "%d.%02d" % divmod(total, 100),
        # Counter.most_common(n) needs heapq, which is not among the bundled modules.
        "top_items": sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:3],
        "ranking": [[name, cents] for name, cents in ranking],
        "tags": dict(sorted(tags.items())),
        "big_orders": big,
        "odd_qty_squares": [r["qty"] ** 2 for r in rows if r["qty"] % 2 == 1],
        "mean_qty": round(sum(r["qty"] for r in rows) / len(rows), 3) if rows else None,
        "customers": sorted({r["customer"].upper() for r in rows}),
        "note": doc.get("note", "").strip().title(),
    }


class WitWorld(wit_world.WitWorld):
    def process(self, input: str) -> str:
        try:
            result = summarize(json.loads(input))
        except Exception as e:  # reported to the caller, not a trap
            result = {"error": type(e).__name__, "detail": str(e)}
        return json.dumps(result, sort_keys=True, separators=(",", ":"))
