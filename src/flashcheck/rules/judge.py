"""Judging a part, or a resolved query, against a board: the command set
every board speaks, then each of the board's rules through its kind."""

from __future__ import annotations

from flashcheck.data.boards import Board
from flashcheck.data.database import Match
from flashcheck.data.parts import Part
from flashcheck.rules import kinds
from flashcheck.rules.common import cite_part
from flashcheck.rules.verdict import UNKNOWN, Check, Result, merge_candidates, verdict_of

_COMMAND_SETS = {
    "spi-nor": "the JEDEC 25-series SPI NOR command set (0x06 write enable, 0x05 status, 0x02 page program)",
    "dataflash": "the DataFlash command set (SRAM buffers, 0xD7 status, no write enable)",
}


def check_command_set(board: Board, part: Part) -> Check:
    """Every board speaks one command protocol (spi-nor unless it says
    otherwise); erase sizes only mean something within it."""
    src = [f"board: {board.title}" + (" (command_set)" if board.command_set != "spi-nor" else " (default: a host speaks spi-nor unless its profile says otherwise)"), cite_part(part)]
    ok = part.command_set == board.command_set
    detail = f"host speaks {_COMMAND_SETS[board.command_set]}"
    if not ok:
        detail += f"; {part.name} uses {_COMMAND_SETS[part.command_set]}"
    return Check("command set", ok, detail, src, headline="" if ok else f"{part.command_set} command set, host speaks {board.command_set}")


def judge_part(part: Part, board: Board, configurations: tuple[str, ...] = ()) -> list[Check]:
    layouts = part.layouts_for(configurations) or part.layouts
    checks: list[Check] = [check_command_set(board, part)]
    for rule in board.rules:
        checks += kinds.get(rule.kind).judge(rule, part, layouts, board)
    if not part.curated:
        for c in checks:
            c.detail += " [uncurated]"
    return checks


def judge(match: Match, board: Board) -> Result:
    """The verdict for a resolved query on a board."""
    if not match.parts:
        hint = f"; did you mean {', '.join(match.suggestions)}?" if match.suggestions else ""
        detail = f"{match.query!r} is not a known order code, family or JEDEC ID{hint}"
        if match.note:
            detail += f" ({match.note})"
        return Result(match.query, UNKNOWN, None, [Check("identify", None, detail)], match=match)
    curated = all(p.curated for p in match.parts)
    per_part = [(p, judge_part(p, board, match.configurations.get(p.name, ()))) for p in match.parts]
    if len(per_part) == 1:
        part, checks = per_part[0]
        if match.note:
            checks.insert(0, Check("identify", None, match.note, [cite_part(part)]))
        return Result(match.query, verdict_of(checks), part, checks, [part], match, curated)
    checks = merge_candidates(f"{match.how} {match.query} matches", per_part, match.note)
    return Result(match.query, verdict_of(checks), None, checks, [p for p, _ in per_part], match, curated)
