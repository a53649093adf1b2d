"""Edits: interventions applied as forward hooks, and (where exact) baked into HF weights.

An edit has ``hooks(model)`` returning ``[(hook_name, fn)]``, ``bake(model)`` writing the
same intervention into ``model.hf_model``'s weights, and ``to_dict``/``from_dict``. Edit types
register by name so a saved edit can be re-applied from its JSON.
"""

from __future__ import annotations

from typing import Any, Protocol

from mechunlearn.core.registry import Registry
from mechunlearn.models.hooked import FwdHook, HookedLM


class Edit(Protocol):
    kind: str

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


def edit_from_dict(d: dict[str, Any]) -> Edit:
    return EDITS.get(d.get("kind")).from_dict(d)
