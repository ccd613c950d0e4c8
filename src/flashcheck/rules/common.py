"""What every rule kind shares: citing the part and the board, the checks
for missing and disputed data, and judging each configuration a part can be
in."""

from __future__ import annotations

from flashcheck.data.boards import Rule
from flashcheck.data.parts import Layout, Part
from flashcheck.rules.verdict import Check

TYPE_CHECKING = False  # typing is not imported at run time: the offline check starts faster
if TYPE_CHECKING:
    from typing import Callable

    #: judge(layout) -> (ok, detail, evidence) or (ok, detail, evidence, headline)
    LayoutJudge = Callable[[Layout], "tuple[bool | None, str, list[str]] | tuple[bool | None, str, list[str], str]"]


def cite_part(part: Part) -> str:
    kind = "" if part.curated else "uncurated: "
    where = f" ({part.source.where})" if part.source.where else ""
    return f"{kind}{part.name}: {part.source}{where}"


def cite_board(rule: Rule) -> str:
    return f"board: {rule.source}"


def sources(rule: Rule, part: Part) -> list[str]:
    return [cite_board(rule), cite_part(part)]


def missing(rule: Rule, part: Part, name: str, what: str) -> Check:
    return Check(name, None, f"{part.name}: {what} not in the database", sources(rule, part),
                 headline=f"{what} not in the database")


def disputed(rule: Rule, part: Part, name: str, *facts: str) -> Check | None:
    """An unknown check naming every fact among ``facts`` that the part's
    sources disagree on, or None when they agree on all of them."""
    bad = [f"sources disagree on {f}: {part.disagreements[f]}" for f in facts if f in part.disagreements]
    short = "sources disagree on " + ", ".join(f for f in facts if f in part.disagreements)
    return Check(name, None, "; ".join(bad), sources(rule, part), headline=short) if bad else None


def per_layout(name: str, rule: Rule, part: Part, layouts: tuple[Layout, ...], judge: LayoutJudge) -> Check:
    """Run ``judge`` on each configuration; combine: all ok -> ok, all not
    ok -> not ok, anything else -> unknown (depends on configuration)."""
    results = []
    for lay in layouts:
        ok, detail, ev, *short = judge(lay)
        results.append((lay, ok, detail, ev, short[0] if short else detail))
    src = sources(rule, part)
    evidence = [e for *_, ev, _ in results for e in ev]
    oks = {ok for _, ok, *_ in results}
    if len(results) == 1:
        _, ok, detail, _, short = results[0]
        return Check(name, ok, detail, src, evidence, short)
    if oks == {True}:
        return Check(name, True, results[0][2] + f" (in all {len(results)} configurations)", src, evidence)
    if oks == {False}:
        details = "; ".join(f"[{lay.name}] {d}" for lay, _, d, _, _ in results)
        short = results[0][4] + (f" (all {len(results)} configurations)" if len({r[4] for r in results}) == 1
                                 else f"; {len(results) - 1} other configurations fail too")
        return Check(name, False, f"in every configuration: {details}", src, evidence, short)
    good = [lay.name for lay, ok, *_ in results if ok]
    bad = [(lay.name, d, s) for lay, ok, d, _, s in results if not ok]
    detail = (
        f"depends on configuration, which the order code does not fix: ok in {', '.join(good) or 'none'}; "
        + "; ".join(f"[{n}] {d}" for n, d, _ in bad)
    )
    return Check(name, None, detail, src, evidence, f"depends on configuration: {bad[0][2]} in {bad[0][0]}")
