"""A simulated chip's image file filled with random data (shared by the
erase-test tests)."""

import os
from pathlib import Path

from flashcheck.transport import open_transport


def random_image(path: Path, model: str) -> bytes:
    """Create the sim's image file for ``model`` and fill it with random data."""
    t = open_transport(f"sim://{model}?image={path}")
    size = len(t.chip.data)
    t.close()
    data = os.urandom(size)
    path.write_bytes(data)
    return data
