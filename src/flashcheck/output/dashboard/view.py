"""What the dashboard shows, as JSON: the report's own summary
(:func:`flashcheck.output.report.summarise`: yield, failures by cause,
per part, per fixture) plus what a live page needs on top of it: yield in
the last hour, yield over time, per station, and the last boards with their
reasons.  No verdict is computed here: the records carry the station's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flashcheck.data.results import iso_utc, parse_iso
from flashcheck.output import report

NOW_WINDOW = timedelta(hours=1)
#: (span of the records up to, bucket width) for "yield over time".
_BUCKETS = ((timedelta(hours=3), timedelta(minutes=10)), (timedelta(days=2), timedelta(hours=1)))
_DAY = timedelta(days=1)


def _yield_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    passed = sum(r["verdict"] == "pass" for r in records)
    return {"boards": n, "passed": passed, "not_passed": n - passed, "yield": round(passed / n, 4) if n else None}


def over_time(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Boards and yield per bucket (10 minutes, an hour or a day, by how long
    the records span), oldest first, empty buckets left out."""
    if not records:
        return {"bucket_s": None, "points": []}
    times = [parse_iso(r["time"]) for r in records]
    span = times[-1] - times[0]
    width = next((w for limit, w in _BUCKETS if span <= limit), _DAY)
    step = width.total_seconds()
    groups: dict[float, list[dict[str, Any]]] = {}
    for t, r in zip(times, records):
        groups.setdefault(t.timestamp() // step * step, []).append(r)
    points = [{"start": iso_utc(datetime.fromtimestamp(k, timezone.utc)), **_yield_of(v)}
              for k, v in sorted(groups.items())]
    return {"bucket_s": int(step), "points": points}


def per_station(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = report._group(records, lambda r: r.get("station") or "")
    for s in out:
        s["station"] = s.pop("key")
    return out


def latest(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The last ``n`` boards, newest first, each with its causes."""
    keep = ("time", "station", "fixture", "serial", "board", "part", "jedec_id", "verdict", "reason")
    return [{**{k: r.get(k) for k in keep}, "causes": report.causes(r)} for r in reversed(records[-n:])]


def view(records: list[dict[str, Any]], *, now: datetime, since: datetime | None, last: int) -> dict[str, Any]:
    """The page's data for the records since ``since`` (all when None)."""
    if since is not None:
        records = [r for r in records if parse_iso(r["time"]) >= since]
    recent_from = now - NOW_WINDOW
    recent = [r for r in records if parse_iso(r["time"]) >= recent_from]
    return {
        "generated": iso_utc(now),
        "since": iso_utc(since) if since else None,
        "summary": report.summarise(records),
        "now": {"window_s": int(NOW_WINDOW.total_seconds()), **_yield_of(recent)},
        "over_time": over_time(records),
        "per_station": per_station(records),
        "latest": latest(records, last),
    }
