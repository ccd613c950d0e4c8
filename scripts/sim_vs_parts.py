"""List where the simulator's built-in models and parts/ disagree (each line
is a question for the datasheet).  Exit 0 either way: this is a report."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from flashcheck.sim.report import disagreements  # noqa: E402


def main() -> None:
    found = disagreements()
    for d in found:
        print(d.line())
    print(f"{len(found)} disagreement(s)")


if __name__ == "__main__":
    main()
