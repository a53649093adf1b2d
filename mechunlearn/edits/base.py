"""Edits: interventions applied as forward hooks, and (where exact) baked into HF weights.

An edit has ``hooks(model)`` returning ``[(hook_name, fn)]``, ``bake(model)`` writing the
same intervention into ``model.hf_model``'s weights, and ``to_dict``/``from_dict``. Edit types
register by name so a saved edit can be re-applied from its JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.hooked import FwdHook, HookedLM


class Edit(Protocol):
    kind: str

    def hooks(self, model: HookedLM) -> list[FwdHook]: ...

    def bake(self, model: HookedLM) -> None: ...

    def to_dict(self) -> dict[str, Any]: ...


EDITS: dict[str, Callable[[dict[str, Any]], Edit]] = {}


def register_edit(kind: str):
    """Register an edit class (with a ``from_dict`` classmethod) under ``kind``."""

    def deco(cls):
        if kind in EDITS:
            raise ValueError(f"edit type '{kind}' is already registered")
        EDITS[kind] = cls.from_dict
        cls.kind = kind
        return cls

    return deco


def edit_from_dict(d: dict[str, Any]) -> Edit:
    kind = d.get("kind")
    if kind not in EDITS:
        raise MechUnlearnError(f"unknown edit type '{kind}'; known: {sorted(EDITS)}")
    return EDITS[kind](d)
