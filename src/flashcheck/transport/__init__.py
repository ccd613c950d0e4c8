"""Transports: how SPI transactions reach a flash chip.

A :class:`Transport` does one thing: a chip-select-asserted transaction
(:meth:`Transport.exchange`).  :func:`open_transport` opens one from a URL:

=====================================  =====================================
``sim://MODEL?image=P&fail_after=N``   a simulated chip of a built-in model
``sim:PATH.yaml?...``                  a simulated chip a user describes
``ftdi://ftdi:232h/1?freq=4.5M``       an FT232H (pyftdi URL) in MPSSE SPI
=====================================  =====================================

Other modules add schemes with :func:`register_scheme` (``sim+ftdi://``,
``serprog://``, ``spidev://``).  The opener is imported only when its
scheme is used, so ``import flashcheck`` stays fast.

Errors: an unknown scheme, a malformed URL or a bad parameter value is an
:class:`~flashcheck.errors.InputError` naming it; a missing device or a
link that goes away is a :class:`~flashcheck.errors.TransportError` saying
what to check.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qsl

from flashcheck.errors import FlashcheckError, InputError


@runtime_checkable
class Transport(Protocol):
    """One SPI bus with one flash chip on it."""

    #: What is open, for messages ("sim W25Q128JV", "FT232H ftdi://...").
    description: str

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        """Assert chip select, clock out ``out``, then clock in ``readlen``
        bytes and return them; release chip select."""
        ...

    def close(self) -> None:
        """Release the device (and whatever it holds, such as a reset line)."""
        ...


#: An opener: ``(url, freq_hz=, mode=, wiring=) -> Transport``.
Opener = Callable[..., Transport]

_REGISTRY: dict[str, Opener | str] = {
    "sim": "flashcheck.transport.sim:open_sim",
    "ftdi": "flashcheck.transport.ftdi:open_ftdi",
    "sim+ftdi": "flashcheck.transport.vftdi:open_sim_ftdi",
    "serprog": "flashcheck.transport.serprog:open_serprog",
    "spidev": "flashcheck.transport.spidev:open_spidev",
}

#: Schemes whose transport drives FT232H pins, so a board's ``wiring``
#: (host reset, flash power on AD4..AC7) applies to them.
FTDI_SCHEMES = frozenset({"ftdi", "sim+ftdi"})


def register_scheme(scheme: str, opener: Opener | str) -> None:
    """Make :func:`open_transport` open ``scheme://`` URLs with ``opener``,
    a callable or a ``"package.module:function"`` string imported on first
    use."""
    scheme = scheme.lower()
    if not scheme or not all(c.isalnum() or c in "+-." for c in scheme):
        msg = f"not a URL scheme: {scheme!r}"
        raise ValueError(msg)
    _REGISTRY[scheme] = opener


def schemes() -> list[str]:
    """The schemes :func:`open_transport` knows."""
    return sorted(_REGISTRY)


def _resolve(scheme: str) -> Opener:
    opener = _REGISTRY[scheme]
    if isinstance(opener, str):
        module, _, name = opener.partition(":")
        opener = getattr(importlib.import_module(module), name)
        _REGISTRY[scheme] = opener
    return opener


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case; InputError when there is none."""
    if not isinstance(url, str) or ":" not in url:
        raise InputError(f"transport URL {url!r}: expected SCHEME://..., one of {', '.join(schemes())}")
    scheme = url.split(":", 1)[0].lower()
    if not scheme or not all(c.isalnum() or c in "+-." for c in scheme):
        raise InputError(f"transport URL {url!r}: malformed scheme {scheme!r}")
    return scheme


def open_transport(
    url: str,
    *,
    freq_hz: float | None = None,
    mode: int = 0,
    wiring: dict | None = None,
) -> Transport:
    """Open the transport ``url`` names.

    ``freq_hz`` (SPI clock) and ``mode`` (SPI mode 0-3) apply to hardware
    transports; ``wiring`` names extra pins (``{"reset_gpio": "AD4",
    "reset_active": "low"}``)."""
    scheme = scheme_of(url)
    if scheme not in _REGISTRY:
        raise InputError(f"transport URL {url!r}: unknown scheme {scheme!r}; known: {', '.join(schemes())}")
    if mode not in (0, 1, 2, 3):
        raise InputError(f"SPI mode {mode!r}: must be 0, 1, 2 or 3")
    if freq_hz is not None and (isinstance(freq_hz, bool) or not isinstance(freq_hz, int | float) or freq_hz <= 0):
        raise InputError(f"SPI clock {freq_hz!r}: must be a positive number of Hz")
    if wiring is not None and not isinstance(wiring, dict):
        raise InputError(f"wiring {wiring!r}: must be a mapping")
    return _resolve(scheme)(url, freq_hz=freq_hz, mode=mode, wiring=wiring)


# -- helpers for openers ----------------------------------------------------


def split_url(url: str, allowed: set[str]) -> tuple[str, str, dict[str, str]]:
    """``(scheme, target, params)`` of ``scheme://target?k=v`` or
    ``scheme:target?k=v``; InputError for a parameter not in ``allowed``,
    a repeated one, or a malformed query."""
    scheme = scheme_of(url)
    rest = url.split(":", 1)[1]
    target, _, query = rest.partition("?")
    if target.startswith("//"):
        target = target[2:]
    if "#" in query or "#" in target:
        raise InputError(f"transport URL {url!r}: fragments (#) are not allowed")
    params: dict[str, str] = {}
    if query:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise InputError(f"transport URL {url!r}: malformed query {query!r}") from None
        for k, v in pairs:
            if k not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                raise InputError(f"transport URL {url!r}: unknown parameter {k!r} (known: {known})")
            if k in params:
                raise InputError(f"transport URL {url!r}: parameter {k!r} given twice")
            params[k] = v
    return scheme, target, params


def refuse_pins(url: str, wiring: dict | None, why: str) -> None:
    """InputError when ``wiring`` names a pin (``reset_gpio``, ``power_gpio``)
    that a transport without spare GPIOs could not drive: the host would be
    running while the chip is probed."""
    pins = sorted(k for k, v in (wiring or {}).items() if v and k.endswith(("_gpio", "_pin")))
    if pins:
        raise InputError(
            f"transport URL {url!r}: the wiring names {pins[0]}={wiring[pins[0]]}, but {why}; "
            "hold the host in reset by hand, or use an FT232H (ftdi://)")


def parse_freq(value: str, where: str) -> float:
    """``"4.5M"``, ``"4.5MHz"``, ``"4500000"``, ``"750k"`` -> Hz."""
    text = value.strip().lower().removesuffix("hz")
    mult = 1.0
    if text[-1:] in ("k", "m"):
        mult = 1e3 if text[-1] == "k" else 1e6
        text = text[:-1]
    try:
        hz = float(text) * mult
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a frequency (use e.g. 4.5M, 750k, 1000000)") from None
    if not hz > 0 or hz != hz:
        raise InputError(f"{where}: {value!r} must be positive")
    return hz


__all__ = [
    "Opener",
    "Transport",
    "open_transport",
    "parse_freq",
    "register_scheme",
    "schemes",
    "scheme_of",
    "split_url",
]


def open_for_board(url: str, board=None, *, freq_hz: float | None = None) -> Transport:
    """Open ``url`` as ``board`` needs it: its SPI clock (``freq_hz``
    overrides) and mode, and its ``wiring`` (host held in reset, flash power)
    on transports that drive FT232H pins only.  Other transports cannot
    drive those pins; hold the host in reset by other means there
    (``hw/wiring.md``).  Every command opens a board's chip through here."""
    spi = board.spi if board is not None else {}
    freq = freq_hz or (spi.get("freq_mhz", 0) * 1e6 or None)
    wiring = (board.wiring or None) if board is not None and scheme_of(url) in FTDI_SCHEMES else None
    return open_transport(url, freq_hz=freq, mode=spi.get("mode", 0), wiring=wiring)


def close_quietly(transport: Transport | None) -> None:
    """Close ``transport`` (if any), ignoring a device that is already gone:
    for clean-up paths that must not hide the error that led there."""
    if transport is None:
        return
    try:
        transport.close()
    except FlashcheckError:
        pass
