"""Non-destructive erase/verify timing test, and recovery after a run that
stopped half way.

Modules: :mod:`.plan` (identify the chip, its geometry, the blocks to
try), :mod:`.run` (the test), :mod:`.sizecheck` (wrap-around),
:mod:`.protect` (write protection), :mod:`.restore` (putting data back,
always read back), :mod:`.recover`, :mod:`.journal` and :mod:`.lock`.

The guarantee: no byte is lost, whatever the chip does.

1. Before anything is written, the chip is identified as ``flashcheck
   probe`` does (ID, SFDP, ``--expect``): a chip that is not the part it
   claims fails and nothing is written.
2. The whole chip (up to 16 MiB with 3-byte addressing) is read and saved
   next to the journal, fsynced, with its SHA-256 in a durable journal
   record, before the first change.  A run holds a per-chip lock.
3. The array size is checked (:mod:`.sizecheck`): a counterfeit whose
   addresses wrap fails, naming where it wraps, and no block is erased.
4. Per block: the block's 256 KiB-aligned window (the largest erase any
   SPI NOR part does) is read; every blank 4 KiB sector in it gets a small
   marker, so every sector holds data; the erase (timed) must blank the
   block and change nothing else -- an erase that is ignored, too small,
   too large or misplaced shows, on a blank chip as on a full one; a
   pattern is programmed (timed) and erased again, checked the same way;
   the window is put back and read back equal.
5. At the end the whole chip is read and compared with the backup; any
   difference (an erase that reached beyond its window) is put back from
   the backup and read back equal, and only then is "data restored" said.
   The journal and its backup are deleted only after that.

If the run stops (power, USB, a crash), ``flashcheck recover`` puts the
chip back from the backup (:mod:`.recover`).
"""

from flashcheck.workflows.erasetest.plan import Limit, Plan, Target, make_plan
from flashcheck.workflows.erasetest.protect import Protection, current_protection, read_protection, relock, unlock
from flashcheck.workflows.erasetest.recover import RecoverReport, recover
from flashcheck.workflows.erasetest.report import SectorResult, Step, TestReport
from flashcheck.workflows.erasetest.restore import restore_image, restore_window
from flashcheck.workflows.erasetest.run import Abandoned, recover_command, run_test

__all__ = [
    "Abandoned", "Limit", "Plan", "Protection", "RecoverReport", "SectorResult", "Step", "Target", "TestReport",
    "current_protection", "make_plan", "read_protection", "recover", "recover_command", "relock", "restore_image",
    "restore_window", "run_test", "unlock",
]
