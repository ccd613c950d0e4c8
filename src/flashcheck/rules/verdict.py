"""Checks and verdicts: each rule gives ok / not ok / unknown with the
evidence behind it, and the verdict follows from the checks.

- Any check not ok -> ``fail``.
- Else any check unknown (missing data, sources that disagree, a result that
  depends on which of several candidate parts or configurations is fitted)
  -> ``unknown``.
- Else ``pass``.  Missing or disagreeing data never passes.
"""

from __future__ import annotations


from flashcheck import record as records
from flashcheck.record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from flashcheck.data.database import Match
    from flashcheck.data.parts import Part

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@record
class Check:
    rule: str
    ok: bool | None
    detail: str
    sources: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    headline: str = ""  # the one fact that decides, short, for one-line outputs; the detail when empty

    @property
    def short(self) -> str:
        return self.headline or self.detail

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "ok": self.ok, "detail": self.detail, "headline": self.short,
                "sources": self.sources, "evidence": self.evidence}


@record
class Result:
    query: str
    verdict: str
    part: Part | None
    checks: list[Check]
    candidates: list[Part] = field(default_factory=list)
    match: Match | None = None
    curated: bool = True

    @property
    def reason(self) -> str:
        return reason_of(self.checks, "all rules met")

    @property
    def headline(self) -> str:
        """The reason in a few words: the fact that decides the verdict."""
        return headline_of(self.checks)

    def who(self, sep: str = "/") -> str:
        """The part as people name it: manufacturer and family, or the
        candidates joined by ``sep``, or "not identified"."""
        if self.part:
            return f"{self.part.manufacturer} {self.part.name}"
        return sep.join(p.name for p in self.candidates) or "not identified"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "verdict": self.verdict,
            "part": self.part.summary_json() if self.part else None,
            "checks": [c.to_json() for c in self.checks],
            "curated": self.curated,
        }
        if self.match is not None:
            out["matched_by"] = self.match.how
            if self.match.fields:
                out["order_code_fields"] = self.match.fields
            if self.match.removed:
                out["read_as"] = {"order_code": self.match.stripped, "removed": self.match.removed}
        if len(self.candidates) > 1:
            out["candidates"] = [p.summary_json() for p in self.candidates]
        return out


def reason_of(checks: list[Check], all_ok: str) -> str:
    """The one-line reason: the first failing check, else the first unknown,
    else ``all_ok`` and the checks' names."""
    for want in (False, None):
        for c in checks:
            if c.ok is want:
                return f"{c.rule}: {c.detail}"
    return f"{all_ok}: " + ", ".join(c.rule for c in checks)


def headline_of(checks: list[Check]) -> str:
    """The first failing check's headline (else the first unknown's), with
    how many more there are; "all N rules met" when every check passes."""
    for want in (False, None):
        hits = [c for c in checks if c.ok is want]
        if hits:
            return hits[0].short + (f" (+{len(hits) - 1} more)" if len(hits) > 1 else "")
    return f"all {len(checks)} rules met"


def verdict_of(checks: list[Check]) -> str:
    if any(c.ok is False for c in checks):
        return FAIL
    if any(c.ok is None for c in checks):
        return UNKNOWN
    return PASS


def exit_code(verdicts: list[str]) -> int:
    from flashcheck.errors import EXIT_FAIL, EXIT_PASS, EXIT_UNKNOWN

    if FAIL in verdicts:
        return EXIT_FAIL
    if UNKNOWN in verdicts:
        return EXIT_UNKNOWN
    return EXIT_PASS


def merge_candidates(what: str, per_part: list[tuple[Part, list[Check]]], note: str | None = None,
                     hint: str = "") -> list[Check]:
    """Checks for a query that several parts answer (``what`` says how:
    "JEDEC ID ef4018 matches"): one answer only where every candidate gives
    the same verdict; otherwise one unknown ``identify`` check naming each
    candidate's verdict and why (``hint`` says how to tell them apart)."""
    names = ", ".join(p.name for p, _ in per_part)
    verdicts = {verdict_of(c) for _, c in per_part}
    ident = Check("identify", True, f"{what} {len(per_part)} parts: {names}")
    if len(verdicts) == 1:
        first = per_part[0][1]
        checks = [ident] + [records.replace(c, detail=c.detail + f" (same for {names})") for c in first]
        if note:
            checks.insert(1, Check("identify", None, note))
        return checks
    ident.ok = None
    ident.headline = f"{what} {len(per_part)} parts with different verdicts{hint}"
    if note:
        ident.detail += f" ({note})"
    ident.detail += " with different verdicts: " + "; ".join(
        f"{p.name} {verdict_of(c)}" + (f" ({reason_of(c, '')})" if verdict_of(c) != PASS else "")
        for p, c in per_part
    ) + hint
    return [ident]
