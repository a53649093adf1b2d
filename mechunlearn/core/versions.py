"""The versions of the libraries a figure was computed with, recorded beside it."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

LIBRARIES = (
    "mechunlearn",
    "torch",
    "transformers",
    "transformer-lens",
    "sae-lens",
    "peft",
    "accelerate",
    "numpy",
    "neurox",
)


def library_versions() -> dict[str, str]:
    """``{library: version}`` for Python and the libraries mechunlearn computes with (``missing`` if absent)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out
