"""Where every editing stage starts: a fresh model, or an earlier output folder's stack."""

from __future__ import annotations

from typing import NamedTuple

from mechunlearn.edits.stack import load_stack, model_reference
from mechunlearn.models import HookedLM, load_model


class Start(NamedTuple):
    """The model to edit and what its stack says about it.

    ``edits``: the edits in force as hooks (their dicts); ``in_force``: the weight edits already
    baked into the start checkpoint (pruned neurons) that a training stage must keep in force
    as hooks, so training cannot bring them back.
    """

    model: HookedLM
    base_ref: str
    edits: list[dict]
    stages: list[dict]
    known: dict | None
    in_force: list[dict]


def load_start(cfg) -> Start:
    """The model to edit, its base reference, the edits in force, earlier stages, the known subset
    and the baked edits to keep in force.

    The known subset (facts the base model knew) is the one the first stage of a stack
    recorded, so every later stage reports on the same facts.
    """
    if cfg.from_dir:
        model, stack = load_stack(cfg.from_dir, device=cfg.device, dtype=cfg.dtype)
        if stack["plain_checkpoint"]:
            base, edits = model_reference(model), list(stack.get("live_edits") or [])
        else:
            base, edits = stack["base_model"], list(stack["edits"])
        return Start(
            model, base, edits, list(stack.get("stages", [])), stack.get("known"), list(stack.get("in_force") or [])
        )
    model = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    return Start(model, model_reference(model), [], [], None, [])
