"""Where every editing stage starts: a fresh model, or an earlier output folder's stack."""

from __future__ import annotations

from mechunlearn.models import HookedLM, load_model
from mechunlearn.stack import load_stack, model_reference


def load_start(cfg) -> tuple[HookedLM, str, list[dict], list[dict], dict | None]:
    """The model to edit, its base reference, the edits already in force, earlier stages, and the known subset.

    The known subset (facts the base model knew) is the one the first stage of a stack
    recorded, so every later stage reports on the same facts.
    """
    if cfg.from_dir:
        model, stack = load_stack(cfg.from_dir, device=cfg.device, dtype=cfg.dtype)
        if stack["plain_checkpoint"]:
            base, edits = model_reference(model), []
        else:
            base, edits = stack["base_model"], list(stack["edits"])
        return model, base, edits, list(stack.get("stages", [])), stack.get("known")
    model = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    return model, model_reference(model), [], [], None
