"""A behavioural simulator of SPI NOR flash chips.

``sim://W25Q128JV`` (a built-in model, :mod:`flashcheck.sim.models`) or
``sim:mychip.yaml`` (a user's definition, :mod:`flashcheck.sim.model`)
opens one through :func:`flashcheck.transport.open_transport`; the chip
behaviour is in :mod:`flashcheck.sim.chip`.  Models are defined from the
datasheets, independently of the part database in ``parts/``.
"""

from __future__ import annotations

from flashcheck.sim.chip import OpRecord, SimChip
from flashcheck.sim.model import ChipModel, load_yaml_model, model_from_dict
from flashcheck.sim.models import builtin_models, get_model

__all__ = [
    "ChipModel",
    "OpRecord",
    "SimChip",
    "builtin_models",
    "get_model",
    "load_yaml_model",
    "model_from_dict",
]
