"""Station results, summarised: yield, failures by rule (Pareto), per part,
per fixture; as a text table, CSV, JSON or JUnit XML; and a picture.

Only ``pass`` passes: yield is passes over all boards, with ``unknown``
and ``error`` (hardware fault) boards counted as not passed.  A board's
*causes* are its rules that were not met; for an ``unknown`` board with
none, the rules that could not be decided ("clock (unknown)"); for an
``error`` board, "hardware fault".  One board may have several causes.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flashcheck.errors import InputError
from flashcheck.output.text import csv_cell, mark, printable, xml_text

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|wk|weeks?)\s*$", re.I)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400, "days": 86400,
           "w": 604800, "wk": 604800, "week": 604800, "weeks": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``24h``, ``7d``, ``90m``, ``2w``, ``30s`` ago, or an ISO date/time
    (UTC unless it says otherwise) -> an aware UTC datetime."""
    now = now or datetime.now(timezone.utc)
    m = _DURATION.match(text)
    if m:
        try:
            return now - timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2).lower()])
        except (OverflowError, ValueError):
            raise InputError(f"--since {text.strip()!r}: too far back (before year 1)") from None
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--since {text!r}: expected an ISO date (2026-01-31, 2026-01-31T08:00) or a duration (24h, 7d)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)


def causes(rec: dict[str, Any]) -> list[str]:
    if rec["verdict"] == "pass":
        return []
    checks = rec.get("checks") or []
    if rec["verdict"] == "error":
        named = {"hardware": "hardware fault", "erase test": "erase test refused"}
        return [named[c["rule"]] for c in checks if c.get("ok") is False and c["rule"] in named] or ["hardware fault"]
    bad = [c["rule"] for c in checks if c.get("ok") is False and c["rule"] != "hardware"]
    if bad:
        return bad
    unknown = [f"{c['rule']} (unknown)" for c in checks if c.get("ok") is None]
    return unknown or [rec["verdict"]]


def _group(records: list[dict[str, Any]], key) -> list[dict[str, Any]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[key(r)].append(r)
    out = []
    for k, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), str(kv[0]))):
        passed = sum(r["verdict"] == "pass" for r in rs)
        out.append({"key": k, "boards": len(rs), "passed": passed, "not_passed": len(rs) - passed,
                    "yield": round(passed / len(rs), 4)})
    return out


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(records)
    passed = sum(r["verdict"] == "pass" for r in records)
    counts = Counter(c for r in records for c in causes(r))
    total_causes = sum(counts.values())
    pareto, cum = [], 0
    for cause, k in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        cum += k
        pareto.append({"cause": cause, "boards": k, "percent": round(100 * k / total_causes, 1),
                       "cumulative_percent": round(100 * cum / total_causes, 1)})
    per_part = _group(records, lambda r: r.get("part") or "not identified")
    per_fixture = _group(records, lambda r: f"{r.get('station')} {r.get('fixture')}")
    for p in per_part:
        p["part"] = p.pop("key")
    for f in per_fixture:
        station, _, fixture = f.pop("key").partition(" ")
        f["station"], f["fixture"] = station, fixture
    return {
        "boards": n,
        "passed": passed,
        "not_passed": n - passed,
        "by_verdict": dict(sorted(Counter(r["verdict"] for r in records).items())),
        "yield": round(passed / n, 4) if n else None,
        "first": records[0]["time"] if records else None,
        "last": records[-1]["time"] if records else None,
        "failures_by_cause": pareto,
        "per_part": per_part,
        "per_fixture": per_fixture,
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _cols(rows: list[list[Any]], head: list[str]) -> str:
    rows = [[printable(x) for x in r] for r in rows]  # station names, parts, causes come from the database
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    return "\n".join("  " + x.rstrip() for x in lines)


def table(summary: dict[str, Any], records: list[dict[str, Any]]) -> str:
    s = summary
    if not s["boards"]:
        return "no results in this period\n"
    out = [f"{s['boards']} boards from {s['first']} to {s['last']}: {s['passed']} passed, "
           f"{s['not_passed']} not passed; yield {_pct(s['yield'])}",
           "  (" + ", ".join(f"{v} {k}" for k, v in s["by_verdict"].items()) + "; only pass counts as passed)", ""]
    if s["failures_by_cause"]:
        out.append("Failures by cause (Pareto):")
        out.append(_cols([[p["cause"], p["boards"], f"{p['percent']}%", f"{p['cumulative_percent']}%"]
                          for p in s["failures_by_cause"]], ["cause", "boards", "share", "cumulative"]))
        out.append("")
    out.append("Per part:")
    out.append(_cols([[p["part"], p["boards"], p["passed"], _pct(p["yield"])] for p in s["per_part"]],
                     ["part", "boards", "passed", "yield"]))
    out.append("")
    out.append("Per fixture:")
    out.append(_cols([[f"{f['station']} {f['fixture']}", f["boards"], f["passed"], _pct(f["yield"])]
                      for f in s["per_fixture"]], ["station fixture", "boards", "passed", "yield"]))
    return "\n".join(out) + "\n"


CSV_FIELDS = ["time", "station", "fixture", "serial", "serial_source", "board", "expect", "part", "jedec_id",
              "unique_id", "verdict", "reason", "causes", "probe_s", "test_s", "flashcheck_version",
              "parts_db_version", "uuid"]


def to_csv(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_FIELDS)
    for r in records:
        row = dict(r)
        row["causes"] = "; ".join(causes(r))
        row["test_s"] = (r.get("timings") or {}).get("test_s")
        w.writerow([csv_cell("" if row.get(f) is None else row.get(f)) for f in CSV_FIELDS])
    return buf.getvalue()


def to_junit(records: list[dict[str, Any]]) -> str:
    """JUnit XML: a testsuite per station, a testcase per board; boards that
    failed or were unknown are <failure>s, hardware faults <error>s."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="flashcheck station")
    by_station: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_station[r.get("station") or "station"].append(r)
    tot = Counter()
    for station, rs in sorted(by_station.items()):
        fails = sum(r["verdict"] in ("fail", "unknown") for r in rs)
        errors = sum(r["verdict"] == "error" for r in rs)
        total_s = sum(_duration(r) for r in rs)
        suite = ET.SubElement(root, "testsuite", name=station, tests=str(len(rs)), failures=str(fails),
                              errors=str(errors), skipped="0", time=f"{total_s:.3f}", timestamp=rs[0]["time"])
        tot.update(tests=len(rs), failures=fails, errors=errors)
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname=f"{r.get('board')}.{_safe(r.get('part') or 'unidentified')}",
                                 name=f"{r.get('serial')} [{r.get('fixture')}]", time=f"{_duration(r):.3f}")
            detail = "\n".join(f"{mark(c.get('ok'))} {c['rule']}: {c.get('detail')}"
                               for c in r.get("checks") or [])
            if r["verdict"] in ("fail", "unknown"):
                el = ET.SubElement(case, "failure", message=r.get("reason") or r["verdict"], type=r["verdict"])
                el.text = detail
            elif r["verdict"] == "error":
                el = ET.SubElement(case, "error", message=r.get("reason") or "hardware fault", type="hardware fault")
                el.text = detail
            out = ET.SubElement(case, "system-out")
            out.text = (f"time {r['time']}  part {r.get('part')}  jedec {r.get('jedec_id')}  unique id {r.get('unique_id')}\n"
                        f"flashcheck {r.get('flashcheck_version')}  parts database {r.get('parts_db_version')}")
    root.set("tests", str(tot["tests"]))
    root.set("failures", str(tot["failures"]))
    root.set("errors", str(tot["errors"]))
    for el in root.iter():  # any stored string (a scanned serial with GS 0x1D ...) stays valid XML
        el.text = None if el.text is None else xml_text(el.text)
        for k, v in el.attrib.items():
            el.attrib[k] = xml_text(v)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


def _duration(r: dict[str, Any]) -> float:
    t = r.get("timings") or {}
    return float(t.get("probe_s") or r.get("probe_s") or 0) + float(t.get("test_s") or 0)


def plot(records: list[dict[str, Any]], summary: dict[str, Any], out: Path) -> None:
    """Yield over time (per hour, or per day when the results span more
    than two days) and failures by cause, as PNG or SVG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install matplotlib") from None
    from flashcheck.data.results import parse_iso

    fmt = out.suffix.lower().lstrip(".")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7), constrained_layout=True)
    if records:
        times = [parse_iso(r["time"]) for r in records]
        daily = (times[-1] - times[0]) > timedelta(days=2)
        bucket = (lambda t: t.replace(hour=0, minute=0, second=0, microsecond=0)) if daily else \
            (lambda t: t.replace(minute=0, second=0, microsecond=0))
        groups: dict[datetime, list[bool]] = defaultdict(list)
        for t, r in zip(times, records):
            groups[bucket(t)].append(r["verdict"] == "pass")
        xs = sorted(groups)
        ys = [100 * sum(groups[x]) / len(groups[x]) for x in xs]
        ax1.plot(xs, ys, marker="o", color="tab:green")
        for x, y in zip(xs, ys):
            ax1.annotate(str(len(groups[x])), (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax1.set_ylim(0, 105)
        import matplotlib.dates as mdates

        ax1.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d" if daily else "%m-%d %H:00"))
        ax1.tick_params(axis="x", labelrotation=20)
    ax1.set_title(f"Yield per {'day' if records and daily else 'hour'} (UTC; labels: boards)  -  overall {_pct(summary['yield'])}")
    ax1.set_ylabel("passed %")
    ax1.grid(True, alpha=0.3)
    pareto = summary["failures_by_cause"][:12]
    if pareto:
        names = [p["cause"] for p in pareto]
        ax2.bar(range(len(names)), [p["boards"] for p in pareto], color="tab:red")
        ax2.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        from matplotlib.ticker import MaxNLocator

        ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax2b = ax2.twinx()
        ax2b.plot(range(len(names)), [p["cumulative_percent"] for p in pareto], color="black", marker=".")
        ax2b.set_ylim(0, 105)
        ax2b.set_ylabel("cumulative %")
    else:
        ax2.text(0.5, 0.5, "no failures", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_title("Failures by cause (Pareto)")
    ax2.set_ylabel("boards")
    fig.savefig(out, format=fmt)
    plt.close(fig)
