"""Where the simulator's built-in models (read from datasheets) and the part
database (``parts/``) disagree.

The two are written independently on purpose; a disagreement is not a test
failure but a question for the datasheet: one side is wrong.  This replaces
the old test that required them to be equal (which made probe's cross-checks
circular).  ``python scripts/sim_vs_parts.py`` prints the list.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Disagreement:
    model: str
    rule: str  # the probe cross-check that fired, or "identify"
    detail: str

    def line(self) -> str:
        return f"{self.model:14} {self.rule:24} {self.detail}"


def disagreements(app=None, names: list[str] | None = None) -> list[Disagreement]:
    """Probe every real built-in model (``--expect`` its own name) and list
    each cross-check that does not pass."""
    from flashcheck.app import App  # noqa: PLC0415
    from flashcheck.sim.models import builtin_models  # noqa: PLC0415
    from flashcheck.workflows.probe import probe  # noqa: PLC0415

    app = app or App()
    out: list[Disagreement] = []
    for model in builtin_models().values():
        if not model.real or (names and model.name not in names):
            continue
        res = probe(f"sim://{model.name}?time_scale=0", app, None, expect=model.name)
        for c in res.result.checks:
            if c.ok is not True:
                out.append(Disagreement(model.name, c.rule, c.detail))
    return out
