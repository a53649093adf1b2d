"""Where the repository's data and artifact stores live.

The library is installed in editable mode from a checkout, so the stores are found next to
the package. ``MECHUNLEARN_HOME`` points them at another checkout or copy.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Root folder holding ``data/``, ``probes/``, ``saes/`` (the checkout, by default)."""
    env = os.environ.get("MECHUNLEARN_HOME")
    return Path(env).expanduser().resolve() if env else Path(__file__).resolve().parents[2]


def concepts_dir() -> Path:
    return home() / "data" / "concepts"


def corpus_dir() -> Path:
    return home() / "data" / "corpus"


BUNDLED_MODEL_NAME = "tiny-world-gpt2"


def bundled_model_dir() -> Path:
    """The small GPT-2 the project trains and ships (the default ``--model``)."""
    return home() / "data" / "models" / BUNDLED_MODEL_NAME


def probes_dir() -> Path:
    return home() / "probes"


def runs_dir() -> Path:
    return Path(os.environ.get("MECHUNLEARN_RUNS", Path.cwd() / "runs"))
