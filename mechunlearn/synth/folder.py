"""Where the synthetic corpus of a model and concept is kept, and the files ``--forget-data synth``,
``--retain-data synth`` and ``relabel`` read from it."""

from __future__ import annotations

from pathlib import Path

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.paths import home
from mechunlearn.models.hooked import HookedLM, model_slug


def synth_folder(model: HookedLM | str, concept: Concept) -> Path:
    """Where the synthetic corpus of ``model`` (or its slug) and ``concept`` is kept:
    ``data/synth/<model>/<concept>/``."""
    slug = model if isinstance(model, str) else model_slug(model)
    return home() / "data" / "synth" / slug / concept.name


def synth_data(model, concept, side: str) -> Path:
    """The file ``--forget-data synth`` (passages) / ``--retain-data synth`` (keep side) stands for, or
    (``answers``) the guardrailed answers ``relabel`` trains on."""
    name = {"forget": "passages.jsonl", "retain": "keep.jsonl", "answers": "answers.jsonl"}[side]
    path = synth_folder(model, concept) / name
    if not path.is_file():
        raise MechUnlearnError(
            f"no synthetic corpus of model '{model.name}' and concept '{concept.name}' at {path.parent}; "
            f"write it first: mechunlearn synth --concept {concept.name} --model {model.name}"
        )
    return path
