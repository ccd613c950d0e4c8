"""What a test found: per-block results, and the checks behind the verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck.rules import Check, reason_of, verdict_of
from flashcheck.units import format_addr, format_size
from flashcheck.workflows.erasetest.plan import Plan, Target

SRC = ["measured on the chip"]


@dataclass
class Step:
    name: str
    ok: bool | None
    ms: float | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "ms": None if self.ms is None else round(self.ms, 4), "detail": self.detail}


@dataclass
class SectorResult:
    target: Target
    status: str  # tested, skipped, interrupted, untestable
    steps: list[Step] = field(default_factory=list)
    erase_ok: bool | None = None
    detail: str = ""
    erase_ms: list[float] = field(default_factory=list)
    program_ms: float | None = None  # the longest page program
    program_times: list[float] = field(default_factory=list)
    restored: bool = False

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "address": t.address, "address_hex": format_addr(t.address), "size": t.size,
            "opcode": None if t.opcode < 0 else f"0x{t.opcode:02X}", "region": [t.region[0], t.region[1]],
            "why": t.why, "expected": t.expected, "status": self.status, "erase_ok": self.erase_ok,
            "detail": self.detail, "erase_ms": [round(x, 4) for x in self.erase_ms],
            "program_ms_max": None if self.program_ms is None else round(self.program_ms, 4),
            "limit": t.limit.to_json() if t.limit else None, "restored": self.restored, "note": t.note,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass
class TestReport:
    url: str
    board: str
    plan: Plan
    sectors: list[SectorResult]
    checks: list[Check]
    journal: Path | None
    interrupted: bool = False
    protection: str | None = None
    unlocked: bool = False
    journal_removed: bool = False
    figures: dict[str, Any] = field(default_factory=dict)  # backup/verify seconds and bytes

    @property
    def verdict(self) -> str:
        return verdict_of(self.checks)

    @property
    def reason(self) -> str:
        return reason_of(self.checks, "all checks met")

    def to_json(self) -> dict[str, Any]:
        f = self.plan.facts
        return {
            "url": self.url, "board": self.board, "verdict": self.verdict, "reason": self.reason,
            "interrupted": self.interrupted,
            "chip": {
                "jedec_id": f.raw_id.hex(), "unique_id": self.plan.uid_hex, "identified_as": self.plan.identity,
                "configuration": [{"part": p.name, "layout": lay.name, "how": how} for p, lay, how in self.plan.layouts],
                "capacity": self.plan.capacity,
            },
            "protection": self.protection, "unlocked": self.unlocked, "notes": self.plan.notes,
            "sampling": self.plan.sampling, "figures": self.figures,
            "checks": [c.to_json() for c in self.checks], "sectors": [s.to_json() for s in self.sectors],
            "journal": str(self.journal) if self.journal else None, "journal_removed": self.journal_removed,
        }


def _erase_check(size: int, mine: list[SectorResult]) -> Check:
    name = f"erase {format_size(size)}"
    if not mine:
        return Check(name, None, f"no {format_size(size)} block tested", SRC)
    ev = [f"{r.target.label()} ({r.target.why}): {r.detail}" + (f" [{r.target.note}]" if r.target.note else "")
          for r in mine]
    bad = [r for r in mine if r.erase_ok is False]
    if bad:
        more = f" (also at {', '.join(format_addr(r.target.address) for r in bad[1:4])}" + \
            (f" and {len(bad) - 4} more" if len(bad) > 4 else "") + ")" if len(bad) > 1 else ""
        return Check(name, False, bad[0].detail + more, SRC, ev)
    skipped = [r for r in mine if r.status != "tested" or r.erase_ok is None]
    if skipped:
        r = skipped[0]
        more = f" (and {len(skipped) - 1} more not conclusive)" if len(skipped) > 1 else ""
        return Check(name, None, f"{r.target.label()}: {r.detail}{more}", SRC, ev)
    where = ", ".join(format_addr(r.target.address) for r in mine[:6]) + (" ..." if len(mine) > 6 else "")
    return Check(name, True, f"0x{mine[0].target.opcode:02X} erased exactly its {format_size(size)} block at "
                 f"{len(mine)} place(s) ({where}), every neighbouring 4 KiB sector holding data", SRC, ev)


def _time_check(op: int, size: int, rs: list[SectorResult]) -> Check:
    name = f"erase time 0x{op:02X} {format_size(size)}"
    worst_r = max(rs, key=lambda r: max(r.erase_ms))
    worst = max(worst_r.erase_ms)
    lims = [r.target.limit for r in rs if r.target.limit and r.target.limit.max_ms]
    if not lims:
        return Check(name, None, f"measured up to {worst:.3f} ms at {format_addr(worst_r.target.address)}; "
                     "no datasheet maximum known (database or SFDP), so the time is not judged", SRC)
    over = [(max(r.erase_ms), r) for r in rs if r.target.limit and r.target.limit.max_ms
            and max(r.erase_ms) > r.target.limit.max_ms]
    if over:
        ms, r = max(over, key=lambda x: x[0])
        lim = r.target.limit
        return Check(name, False, f"measured {ms:.3f} ms at {format_addr(r.target.address)}, above the maximum "
                     f"{lim.max_ms:g} ms ({lim.source}): slow, worn or counterfeit part", SRC + [lim.source])
    lim = worst_r.target.limit or lims[0]
    typ = f", typical {lim.typ_ms:g} ms" if lim.typ_ms else ""
    return Check(name, True, f"longest {worst:.3f} ms, within the maximum {lim.max_ms:g} ms{typ} ({lim.source})",
                 SRC + [lim.source])


def _program_check(plan: Plan, results: list[SectorResult]) -> Check | None:
    times = sorted(x for r in results for x in r.program_times)
    if not times:
        return None
    worst = times[-1]
    # One slow reading in ten is the host (USB latency, a scheduler tick);
    # a slow part is slow on most pages.
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    lim = plan.program_limit
    figures = f"{len(times)} pages, 90th percentile {p90:.3f} ms, longest {worst:.3f} ms"
    if lim is None or not lim.max_ms:
        return Check("program time", None, f"page program measured ({figures}); no datasheet maximum "
                     "known (database or SFDP), so the time is not judged", SRC)
    if p90 > lim.max_ms:
        return Check("program time", False, f"page program above the maximum {lim.max_ms:g} ms ({lim.source}) on "
                     f"more than one page in ten ({figures}): slow, worn or counterfeit part", SRC + [lim.source])
    typ = f", typical {lim.typ_ms:g} ms" if lim.typ_ms else ""
    return Check("program time", True, f"page program within the maximum {lim.max_ms:g} ms{typ} ({figures}; "
                 f"{lim.source})", SRC + [lim.source])


def checks_of(plan: Plan, results: list[SectorResult], prot_detail: str) -> list[Check]:
    """The erase, timing and protection checks of a finished run (the
    identity, size and whole-chip verify checks are added by the run)."""
    checks = [_erase_check(size, [r for r in results if r.target.size == size])
              for size in sorted(set(plan.sizes) | {r.target.size for r in results})]
    groups: dict[tuple[int, int], list[SectorResult]] = {}
    for r in results:
        if r.erase_ms:
            groups.setdefault((r.target.opcode, r.target.size), []).append(r)
    checks += [_time_check(op, size, rs) for (op, size), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0]))]
    prog = _program_check(plan, results)
    if prog is not None:
        checks.append(prog)
    skipped = [r for r in results if r.status == "skipped"]
    if skipped:
        checks.append(Check("protection", None, f"{len(skipped)} block(s) skipped: write-protected ({prot_detail}); "
                            "run with --unlock to test them (protection is put back afterwards)",
                            ["the chip (0x05/0x72)"]))
    if not any(r.status in ("tested", "interrupted") for r in results):
        checks.append(Check("tested", None, "no block was tested, so nothing is proven", SRC))
    return checks
