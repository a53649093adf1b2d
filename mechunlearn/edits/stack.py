"""Edit stacks: what an output folder holds, and how ``--from`` / ``load_model`` continue from it.

Every ``prune``/``clamp`` output folder has ``edits.json``::

    {"base_model": "bundled" | folder | hub id, "edits": [edit dicts, in order],
     "plain_checkpoint": "model" | null, "live_edits": [edit dicts], "in_force": [edit dicts],
     "stages": [...], "known": {...}}

With ``plain_checkpoint`` set, ``DIR/model`` is a plain HF checkpoint with every weight edit
in it (baked, distilled or trained) and is what a later stage loads; ``live_edits`` (an SAE
clamp kept in force while an ``unlearn`` stage trained the weights under it) are re-applied
on it as hooks. Otherwise the edits are re-applied as hooks on the base model when the
folder is loaded (an SAE clamp, which has no exact weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.paths import BUNDLED_MODEL_NAME, home
from mechunlearn.models.hooked import HookedLM
from mechunlearn.models.loading import load_model

STACK_FILE = "edits.json"


def model_reference(model: HookedLM) -> str:
    """How to load ``model`` again: ``bundled``, a folder (relative to the checkout if inside), or a hub id."""
    from mechunlearn.models.registry import REAL_MODELS

    if model.name == BUNDLED_MODEL_NAME:
        return "bundled"
    if model.name in REAL_MODELS:
        return model.name  # fetched and converted from its packages wherever the folder is loaded
    p = Path(model.source_path)
    if not p.is_dir():
        return model.name
    try:
        return str(p.resolve().relative_to(home()))
    except ValueError:
        return str(p.resolve())


def root_base(stack: dict[str, Any]) -> str:
    """The unedited model a stack started from: for a stage that continued from an earlier run's exported
    checkpoint (``DIR/model``, e.g. ``unlearn --from`` a prune), that run's base, and so on back."""
    base = str(stack["base_model"])
    p = Path(base)
    while p.name == "model" and (p.parent / STACK_FILE).is_file():
        base = str(read_stack(p.parent)["base_model"])
        p = Path(base)
    return base


def is_stack(folder: str | Path) -> bool:
    return (Path(folder) / STACK_FILE).is_file()


def write_stack(
    folder: Path,
    base_model: str,
    edits: list[dict],
    plain_checkpoint: str | None,
    stages: list[dict],
    known: dict | None = None,
    live_edits: list[dict] | None = None,
    in_force: list[dict] | None = None,
) -> None:
    """Write ``edits.json``; ``known`` is the base model's known-fact subset, kept for later stages;
    ``live_edits`` are hook edits re-applied on top of ``plain_checkpoint``; ``in_force`` the edits
    baked into the checkpoint that later training stages keep in force as hooks (pruned neurons)."""
    write_json(
        folder / STACK_FILE,
        {
            "base_model": base_model,
            "edits": edits,
            "plain_checkpoint": plain_checkpoint,
            "live_edits": list(live_edits or []),
            "in_force": list(in_force or []),
            "stages": stages,
            "known": known,
        },
    )


def read_stack(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    if not folder.is_dir():
        raise MechUnlearnError(f"--from folder does not exist: {folder}")
    if not is_stack(folder):
        raise MechUnlearnError(
            f"{folder} is not a mechunlearn output (no {STACK_FILE}); "
            "give the folder a `prune`, `clamp` or `unlearn` run wrote"
        )
    try:
        stack = json.loads((folder / STACK_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MechUnlearnError(f"{folder / STACK_FILE}:{e.lineno}: malformed JSON ({e.msg})") from e
    for key in ("base_model", "edits", "plain_checkpoint"):
        if key not in stack:
            raise MechUnlearnError(f"{folder / STACK_FILE} has no '{key}'; it was not written by mechunlearn")
    return stack


def load_stack(folder: str | Path, *, device=None, dtype="float32") -> tuple[HookedLM, dict[str, Any]]:
    """The model an output folder describes, edits in force; and its stack record."""
    from mechunlearn.edits import edit_from_dict

    folder = Path(folder)
    stack = read_stack(folder)
    if stack["plain_checkpoint"]:
        model = load_model(folder / stack["plain_checkpoint"], device=device, dtype=dtype)
        model.edits = [edit_from_dict(e) for e in stack.get("live_edits") or []]  # the rest is in the weights
        for e in model.edits:
            e.hooks(model)
    else:
        base = stack["base_model"]
        if base != "bundled" and not Path(base).is_absolute() and (home() / base).is_dir():
            base = str(home() / base)
        model = load_model(base, device=device, dtype=dtype)
        model.edits = [edit_from_dict(e) for e in stack["edits"]]
        for e in model.edits:
            e.hooks(model)  # validates (SAE found and fits, indices in range) before any work
    return model, stack


def load_run(folder: str | Path, *, device=None, dtype="float32") -> HookedLM:
    """The model a ``prune`` / ``clamp`` / ``unlearn`` output folder describes, its edits in force."""
    return load_stack(folder, device=device, dtype=dtype)[0]


def load_model_or_run(name_or_path: str | Path | None, *, device=None, dtype="float32") -> HookedLM:
    """A model (checkpoint folder, .gguf, named real model, hub id, ``None`` for the bundled one) or an
    output folder with its edits re-applied: what ``--model`` accepts on the commands that read a model."""
    if name_or_path is not None and is_stack(name_or_path):
        return load_run(name_or_path, device=device, dtype=dtype)
    return load_model(name_or_path, device=device, dtype=dtype)
