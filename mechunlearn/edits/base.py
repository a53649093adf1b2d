"""Edits: interventions applied as forward hooks, and (where exact) baked into HF weights.

An edit has ``hooks(model)`` returning ``[(hook_name, fn)]``, ``bake(model)`` writing the
same intervention into ``model.hf_model``'s weights, and ``to_dict``/``from_dict``. Edit types
register by name so a saved edit can be re-applied from its JSON. ``exact`` says whether
``bake`` can write it into the weights exactly (pruned neurons); an edit that cannot (an SAE
clamp, a guardrail prompt) stays *live*: re-applied on load over an exported checkpoint, or
distilled into the weights by a ``--bake`` training stage. An edit with ``prefix_ids(model)``
puts tokens before every text the model reads (:meth:`HookedLM.special_prefix`).
"""

from __future__ import annotations

from typing import Any, Protocol

from mechunlearn.core.registry import Registry
from mechunlearn.models.hooked import FwdHook, HookedLM


class Edit(Protocol):
    kind: str
    exact: bool

    def hooks(self, model: HookedLM) -> list[FwdHook]: ...

    def bake(self, model: HookedLM) -> None: ...

    def to_dict(self) -> dict[str, Any]: ...


EDITS: Registry[type] = Registry("edit type")


def register_edit(kind: str):
    """Register an edit class (with a ``from_dict`` classmethod) under ``kind``."""

    def deco(cls):
        cls.kind = kind
        return EDITS.register(kind)(cls)

    return deco


def is_live(edit: Edit) -> bool:
    """An edit with no exact weight form, kept in force as it is (re-applied on load)."""
    return not getattr(edit, "exact", True)


def edit_from_dict(d: dict[str, Any]) -> Edit:
    return EDITS.get(d.get("kind")).from_dict(d)
