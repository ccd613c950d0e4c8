"""Built-in chip models: one YAML file per chip in ``flashcheck/sim/chips/``,
in the format of ``docs/sim-format.md`` (the one a user writes for
``sim:PATH.yaml``), each citing the datasheet its figures come from.

They are defined independently of ``parts/``: where a model and the part
database disagree, :func:`flashcheck.sim.report.disagreements` lists it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from flashcheck.sim.model import ChipModel, load_yaml_model

CHIPS_DIR = Path(__file__).with_name("chips")


@cache
def builtin_models() -> dict[str, ChipModel]:
    """Every built-in model by upper-case name."""
    out = {}
    for path in sorted(CHIPS_DIR.glob("*.yaml")):
        m = load_yaml_model(str(path))
        out[m.name.upper()] = m
    return out


def get_model(name: str) -> ChipModel | None:
    return builtin_models().get(name.strip().upper())
