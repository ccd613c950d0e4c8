"""The board-rule kinds, one module each, in one table.

A kind is a :class:`RuleKind`: ``parse`` turns a rule's YAML into its
parameters (raising ``doc.error`` naming the file and line), ``judge``
gives the checks for a part, ``describe`` one line for people.  Adding a
kind is one module here, its line in :data:`KINDS`, and its entry in
``hw/boards/schema.json``.
"""

from __future__ import annotations

from flashcheck.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable
    from flashcheck.data.boards import Board, Rule
    from flashcheck.data.parts import Layout, Part
    from flashcheck.data.yamlio import Located
    from flashcheck.rules.verdict import Check


def no_params(doc: Located, raw: dict[str, Any], keys: tuple) -> dict[str, Any]:
    return {}


@record(frozen=True)
class RuleKind:
    name: str
    judge: Callable[[Rule, Part, tuple[Layout, ...], Board], list[Check]]
    describe: Callable[[dict[str, Any]], str]
    parse: Callable[[Located, dict[str, Any], tuple], dict[str, Any]] = no_params
    what: str = ""  # the requirement in words, for a profile that does not state it


def _table() -> dict[str, RuleKind]:
    from flashcheck.rules.kinds import (address_mode, capacity, clock, erase, erase_time, opcodes, power_up,
                                        voltage)

    kinds = [erase.KIND, voltage.KIND, capacity.KIND, address_mode.KIND, opcodes.KIND, erase_time.KIND,
             power_up.KIND, clock.KIND]
    return {k.name: k for k in kinds}


_KINDS: dict[str, RuleKind] | None = None


def kinds() -> dict[str, RuleKind]:
    """Every rule kind by its YAML name (``rule: erase``)."""
    global _KINDS
    if _KINDS is None:
        _KINDS = _table()
    return _KINDS


def get(name: str) -> RuleKind:
    return kinds()[name]
