"""Benchmark: the dashboard's JSON endpoint over a large results store.

Fills a SQLite store with N station records (about 5% failing, each with
its per-rule checks, over a week, four stations of four fixtures), then
times through Starlette's test client: the first request (reads every
row), a request with nothing new (one count/max query), a request after
10 new records (reads those only), and a request for the last 24 hours.
Prints the median of each.  Not a test: nothing here fails on time.

    python benchmarks/bench_dashboard.py [--records 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

RULES = ["expected part", "density", "erase types", "erase 4 KiB", "erase 64 KiB", "capacity", "voltage", "clock"]


def record(t: datetime, rnd: random.Random) -> dict:
    from flashcheck.data.results import iso_utc

    bad = rnd.random() < 0.05
    checks = [{"rule": r, "ok": not (bad and r == rnd.choice(RULES)), "detail": "..."} for r in RULES]
    verdict = "fail" if any(c["ok"] is False for c in checks) else "pass"
    st = rnd.randrange(4)
    return {"uuid": str(uuid.uuid4()), "time": iso_utc(t), "station": f"line-{st}", "fixture": f"sim://F{st}{rnd.randrange(4)}",
            "serial": uuid.uuid4().hex[:16], "board": "imp003", "part": "W25Q128JV", "verdict": verdict,
            "reason": "all rules met" if verdict == "pass" else "erase 4 KiB: ...", "checks": checks,
            "timings": {"probe_s": 0.05}}


def fill(url: str, n: int, start: datetime, rnd: random.Random) -> None:
    import sqlalchemy as sa

    from flashcheck.data import results as r

    engine = r.open_engine(url)
    r.migrate(engine)
    tables = r._tables(sa, sa.MetaData())
    step = timedelta(days=7) / max(n, 1)
    with engine.begin() as conn:
        for i in range(n):
            r._insert(conn, *tables, record(start + i * step, rnd))
    engine.dispose()


def timed(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from starlette.testclient import TestClient

    from flashcheck.output.dashboard import create_app
    from flashcheck.output.dashboard.reader import ReadOnlyResults

    rnd = random.Random(1)
    now = datetime.now(timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'r.db'}"
        t0 = time.perf_counter()
        fill(url, args.records, now - timedelta(days=7), rnd)
        print(f"{args.records} records written in {time.perf_counter() - t0:.1f} s")

        def first() -> None:
            reader = ReadOnlyResults(url)
            with TestClient(create_app(reader)) as c:
                assert c.get("/api/summary").json()["summary"]["boards"] >= args.records
            reader.close()

        reader = ReadOnlyResults(url)
        client = TestClient(create_app(reader))
        client.get("/api/summary")
        rows = [("first request (every row read)", timed(first, args.runs)),
                ("nothing new", timed(lambda: client.get("/api/summary"), args.runs)),
                ("last 24 hours, nothing new", timed(lambda: client.get("/api/summary?since=24h"), args.runs))]

        def ten_new() -> None:
            fill_more = [record(datetime.now(timezone.utc), rnd) for _ in range(10)]
            import sqlalchemy as sa

            from flashcheck.data import results as r

            engine = r.open_engine(url)
            with engine.begin() as conn:
                for rec in fill_more:
                    r._insert(conn, *r._tables(sa, sa.MetaData()), rec)
            engine.dispose()
            t = time.perf_counter()
            client.get("/api/summary")
            ten_new.times.append(time.perf_counter() - t)

        ten_new.times = []
        for _ in range(args.runs):
            ten_new()
        rows.append(("10 new records since the last request", statistics.median(ten_new.times)))
        reader.close()
    for what, s in rows:
        print(f"  {what:<42} {1000 * s:8.1f} ms")


if __name__ == "__main__":
    main()
