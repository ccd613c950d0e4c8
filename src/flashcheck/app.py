"""What every command shares: the data directories, loaded on first use,
and the look-up of queries with the spiflash fallback."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from flashcheck.data.boards import Board, BoardsDB
from flashcheck.data.database import Match, PartsDB


class App:
    def __init__(self, parts_dirs: tuple[Path, ...] = (), boards_dirs: tuple[Path, ...] = (), fallback: bool = True):
        self.parts_dirs = parts_dirs
        self.boards_dirs = boards_dirs
        self.fallback = fallback

    @cached_property
    def parts(self) -> PartsDB:
        return PartsDB.load(self.parts_dirs)

    @cached_property
    def boards(self) -> BoardsDB:
        return BoardsDB.load(self.boards_dirs)

    def board(self, name: str) -> Board:
        return self.boards.get(name)

    def resolve(self, query: str) -> Match:
        match = self.parts.resolve(query)
        if self.fallback and match.how == "JEDEC ID" and match.parts and not match.ext_id:
            from flashcheck.data import fallback as uncurated

            match = uncurated.others_with_id(match, self.parts)
        elif not match.parts and not match.undecoded and self.fallback:
            from flashcheck.data import fallback as uncurated

            match = uncurated.resolve(match)
        return match

    def check(self, query: str, board: Board):
        from flashcheck.rules import judge

        return judge(self.resolve(query), board)
