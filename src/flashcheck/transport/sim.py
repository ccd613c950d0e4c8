"""The simulator transport: ``sim://MODEL`` and ``sim:PATH.yaml``.

Parameters (query string):

``image=PATH``
    keep the array in a file across runs (created erased, 0xFF, when
    missing; written through after each completed program/erase, so a
    process killed mid-run leaves it consistent up to the last completed
    operation).  Nonvolatile registers go to ``PATH.regs.json``.
``fail_after=N``
    the transport raises :class:`~flashcheck.errors.TransportError`
    ("device vanished") on transaction N+1 and every one after; an erase or
    program still in progress then is left half done (power loss).
``time_scale=F``
    busy times are the datasheet typical times times F (default 0.001;
    1.0 is real time).

``sim://none`` is an empty bus: every bit reads 1, as with no chip fitted.
"""

from __future__ import annotations

import math

from flashcheck.errors import InputError, TransportError
from flashcheck.transport import split_url

DEFAULT_TIME_SCALE = 0.001
_PARAMS = {"image", "fail_after", "time_scale", "seed", "worn", "asleep"}


class SimTransport:
    """A :class:`~flashcheck.transport.Transport` onto a :class:`~flashcheck.sim.SimChip`."""

    def __init__(self, chip, *, fail_after: int | None = None, description: str = "sim") -> None:
        self.chip = chip  # None: nothing on the bus
        self.fail_after = fail_after
        self.transactions = 0
        self.description = description
        self.closed = False

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        if self.closed:
            raise TransportError(f"{self.description}: transport is closed")
        if readlen < 0:
            msg = f"readlen must not be negative: {readlen}"
            raise ValueError(msg)
        self.transactions += 1
        if self.fail_after is not None and self.transactions > self.fail_after:
            if self.chip is not None and not self.chip.dead:
                self.chip.power_loss()
            raise TransportError(
                f"{self.description}: device vanished (simulated failure after "
                f"{self.fail_after} transactions): check the USB cable and the programmer's power"
            )
        if self.chip is None:
            return b"\xff" * readlen
        return self.chip.transact(bytes(out), readlen)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.chip is not None:
                self.chip.close()

    def __enter__(self) -> SimTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_params(url: str, params: dict[str, str]) -> tuple[str | None, int | None, float]:
    image = params.get("image")
    if image is not None and not image:
        raise InputError(f"transport URL {url!r}: image= needs a file path")
    fail_after = None
    if "fail_after" in params:
        raw = params["fail_after"]
        try:
            fail_after = int(raw, 10)
        except ValueError:
            raise InputError(f"transport URL {url!r}: fail_after={raw!r} is not a whole number") from None
        if fail_after < 0:
            raise InputError(f"transport URL {url!r}: fail_after={raw!r} must not be negative")
    time_scale = DEFAULT_TIME_SCALE
    if "time_scale" in params:
        raw = params["time_scale"]
        try:
            time_scale = float(raw)
        except ValueError:
            raise InputError(f"transport URL {url!r}: time_scale={raw!r} is not a number") from None
        if not math.isfinite(time_scale) or time_scale < 0:
            raise InputError(f"transport URL {url!r}: time_scale={raw!r} must be a finite number >= 0")
    return image, fail_after, time_scale


def _behaviour_params(url: str, params: dict[str, str]) -> dict:
    """seed=N (busy times drawn between typical and maximum), worn=F (busy
    times are the maximum x F), asleep=1 (the chip starts in deep power-down)."""
    out: dict = {}
    try:
        if "seed" in params:
            out["seed"] = int(params["seed"], 10)
        if "worn" in params:
            out["worn"] = float(params["worn"])
            if not math.isfinite(out["worn"]) or out["worn"] < 1:
                raise ValueError
    except ValueError:
        bad = "seed" if "seed" in params and "seed" not in out else "worn"
        raise InputError(f"transport URL {url!r}: {bad}={params[bad]!r}: seed is a whole number, worn a factor >= 1") from None
    if "asleep" in params:
        if params["asleep"] not in ("0", "1"):
            raise InputError(f"transport URL {url!r}: asleep={params['asleep']!r}: use 0 or 1")
        out["asleep"] = params["asleep"] == "1"
    return out


def open_sim(url: str, *, freq_hz: float | None = None, mode: int = 0, wiring: dict | None = None,
             shown_url: str | None = None) -> SimTransport:
    """Open ``sim://MODEL?...`` or ``sim:PATH.yaml?...``; messages name
    ``shown_url`` when given (the ``sim+ftdi://`` URL the user wrote)."""
    from flashcheck.sim import SimChip, builtin_models, get_model, load_yaml_model  # noqa: PLC0415

    _scheme, target, params = split_url(url, _PARAMS)
    yaml_name = target.endswith((".yaml", ".yml"))
    is_file = yaml_name or (not url.split(":", 1)[1].startswith("//") and get_model(target) is None)
    url = shown_url or url
    image, fail_after, time_scale = _parse_params(url, params)
    if not target:
        raise InputError(f"transport URL {url!r}: name a model (sim://W25Q128JV) or a file (sim:chip.yaml)")
    if target.lower() == "none" and not yaml_name:
        if image is not None:
            raise InputError(f"transport URL {url!r}: sim://none has no array for image=")
        return SimTransport(None, fail_after=fail_after, description="sim (no chip)")
    if is_file:
        model = load_yaml_model(target)
    else:
        model = get_model(target)
        if model is None:
            known = ", ".join(m.name for m in builtin_models().values())
            raise InputError(f"transport URL {url!r}: unknown sim model {target!r}; built in: {known}")
    chip = SimChip(model, image=image, time_scale=time_scale, **_behaviour_params(url, params))
    return SimTransport(chip, fail_after=fail_after, description=f"sim {model.name}")
