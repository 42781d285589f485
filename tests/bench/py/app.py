"""The benchmark's Python component: `summarize` of world `bench` (wit/bench.wit)."""
import json

import wit_world


class WitWorld(wit_world.WitWorld):
    """Implements the exports of world `bench`."""

    def summarize(self, n: int) -> str:
        squares = [i * i for i in range(n)]
        return json.dumps({"n": n, "sum": sum(squares), "even": [s for s in squares if s % 2 == 0][:5]})
