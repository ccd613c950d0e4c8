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


def check_program(board: Board, part: Part) -> Check | None:
    """A spi-nor host page-programs (``program_bytes``, default 256); a part
    whose program command writes fewer bytes (SST25VF's one-byte 0x02)
    writes only the first of them.  None for other command sets."""
    if board.command_set != "spi-nor" or part.command_set != "spi-nor":
        return None
    src = [f"board: {board.title} (program_bytes {board.program_bytes}"
           + ("" if board.program_bytes != 256 else ", the default: a spi-nor host page-programs") + ")", cite_part(part)]
    program = part.program or {}
    op = program.get("opcode", 0x02)
    most = program.get("bytes")
    if most is None:
        page = f"up to its {part.page_size}-byte page" if part.page_size else "a page (spi-nor command set)"
        return Check("page program", True, f"host writes up to {board.program_bytes} bytes per 0x02; {part.name} 0x{op:02X} programs {page}", src)
    ok = most >= board.program_bytes
    detail = f"host writes up to {board.program_bytes} bytes per 0x02; {part.name} 0x{op:02X} writes {most} byte{'s' if most > 1 else ''}"
    return Check("page program", ok, detail + ("" if ok else ", so the rest of each write is lost"), src,
                 headline="" if ok else f"0x{op:02X} writes {most} byte{'s' if most > 1 else ''}, the host up to {board.program_bytes}")


def unstated(board: Board) -> list[Check]:
    """One check per requirement kind the board has no rule for: ok where
    the profile says why it does not apply, unknown where it says it is not
    known or says nothing (missing board data never passes)."""
    ruled = {r.kind for r in board.rules}
    out = []
    for name, kind in kinds.kinds().items():
        if name in ruled:
            continue
        label = name.replace("_", " ")
        where = f"board: {board.title}"
        if name in board.not_applicable:
            why, src = board.not_applicable[name]
            out.append(Check(label, True, f"not applicable to {board.name}: {why}", [f"board: {src}" if src else where]))
        elif name in board.not_known:
            out.append(Check(label, None, f"{board.name} requirement not known ({kind.what}): {board.not_known[name]}", [where],
                             headline=f"{board.name} does not know {kind.what}"))
        else:
            out.append(Check(label, None, f"board profile {board.name} does not state {kind.what} (rule {name}, "
                             "not_applicable or not_known)", [where + (f" ({board.where})" if board.where else "")],
                             headline=f"{board.name} does not state {kind.what}"))
    return out


def judge_part(part: Part, board: Board, configurations: tuple[str, ...] = ()) -> list[Check]:
    layouts = part.layouts_for(configurations) or part.layouts
    checks: list[Check] = [check_command_set(board, part)]
    program = check_program(board, part)
    if program is not None:
        checks.append(program)
    for rule in board.rules:
        checks += kinds.get(rule.kind).judge(rule, part, layouts, board)
    checks += unstated(board)
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
    read_as = ([Check("identify", True, f"read {match.query!r} as {match.stripped} (removed {', '.join(match.removed)})")]
               if match.removed else [])
    if len(per_part) == 1:
        part, checks = per_part[0]
        if match.note:
            checks.insert(0, Check("identify", None, match.note, [cite_part(part)]))
        checks = read_as + checks
        return Result(match.query, verdict_of(checks), part, checks, [part], match, curated)
    checks = read_as + merge_candidates(f"{match.how} {match.query} matches", per_part, match.note)
    return Result(match.query, verdict_of(checks), None, checks, [p for p, _ in per_part], match, curated)
