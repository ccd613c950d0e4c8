"""Rules: judging a part against a board, each check with its evidence and
sources.  ``verdict`` holds checks and verdicts, ``kinds/`` one module per
board-rule kind, ``judge`` puts them together, ``erasemap`` computes where
each erase size works."""

from flashcheck.rules.judge import check_command_set, judge, judge_part
from flashcheck.rules.verdict import FAIL, PASS, UNKNOWN, Check, Result, exit_code, merge_candidates, reason_of, verdict_of

__all__ = ["FAIL", "PASS", "UNKNOWN", "Check", "Result", "check_command_set", "exit_code", "judge", "judge_part",
           "merge_candidates", "reason_of", "verdict_of"]
