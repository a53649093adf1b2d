"""Load a Hugging Face causal LM as a TransformerLens ``TransformerBridge``, offline first.

The bridge wraps the HF module itself and keeps its raw weights (no folding or centring),
so an edit applied through hooks and the same edit baked into the HF weights agree exactly,
and ``save_pretrained`` on the HF module exports a plain checkpoint.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.paths import BUNDLED_MODEL_NAME, bundled_model_dir
from mechunlearn.models.device import check_device
from mechunlearn.models.gguf import is_gguf
from mechunlearn.models.hooked import HookedLM
from mechunlearn.models.registry import REAL_MODELS, ensure_model, gguf_folder

HUB_HOST = ("huggingface.co", 443)


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a local folder, or a hub id found in the local HF cache."""

    name: str  # what the user asked for
    path: str  # what from_pretrained receives
    local_files_only: bool


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or os.sep in name.rstrip(os.sep) and Path(name).parent.exists()


def _hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def resolve_model(name_or_path: str | os.PathLike | None) -> ModelSource:
    """Decide where ``name_or_path`` loads from, failing fast with a clear message.

    ``None`` and ``"bundled"`` mean the project's bundled model. A name from
    :data:`~mechunlearn.models.registry.REAL_MODELS` is fetched and converted once into the
    cache; a ``.gguf`` file is converted once (cached by its sha256). A folder must hold a
    ``config.json``. A hub id is used from the local HF cache if present; otherwise the hub
    must be reachable within a few seconds, or the error says how to use a local copy.
    """
    if name_or_path is None or str(name_or_path) in ("bundled", BUNDLED_MODEL_NAME):
        path = bundled_model_dir()
        if not (path / "config.json").is_file():
            raise MechUnlearnError(
                f"the bundled model is missing at {path}; rebuild it with `python -m mechunlearn.bundled.train`"
            )
        return ModelSource(BUNDLED_MODEL_NAME, str(path), True)
    name = str(name_or_path)
    path = Path(name).expanduser()
    if name in REAL_MODELS:
        return ModelSource(name, str(ensure_model(name)), True)
    if path.suffix.lower() == ".gguf" or (path.is_file() and is_gguf(path)):
        return ModelSource(path.stem, str(gguf_folder(path)), True)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise MechUnlearnError(
                f"model folder {path} has no config.json; give a Hugging Face checkpoint folder "
                "(config.json, *.safetensors, tokenizer files) or a hub id"
            )
        return ModelSource(name, str(path.resolve()), True)
    if path.exists() or _looks_like_path(name) or name.count("/") > 1:
        raise MechUnlearnError(
            f"model path does not exist: {name}; give a local checkpoint folder, a .gguf file, a hub id "
            f"(e.g. gpt2), a known real model {sorted(REAL_MODELS)}, or omit --model for the bundled model"
        )
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    if isinstance(cached, str):
        return ModelSource(name, name, True)
    if not _hub_reachable():
        raise MechUnlearnError(
            f"model '{name}' is not a known real model {sorted(REAL_MODELS)}, not a local folder, not in the "
            "Hugging Face cache, and the hub cannot be reached. On a machine with network run "
            f"`huggingface-cli download {name} --local-dir DIR`, copy DIR here and pass it as the "
            "model path (e.g. --model DIR)"
        )
    return ModelSource(name, name, False)


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str = torch.float32,
    device_map: str | dict | None = None,
) -> HookedLM:
    """Load a causal LM and wrap it as a hooked model.

    Args:
        name_or_path: local checkpoint folder, .gguf file, named real model, hub id or ``None``/``"bundled"``.
            An output folder of ``prune``/``clamp``/``unlearn`` is loaded by :func:`mechunlearn.edits.stack.load_run`.
        device: ``"cpu"``, ``"cuda"``, ...; defaults to CUDA when available. Exclusive with
            ``device_map``.
        dtype: parameter dtype (``torch.float32`` default; ``"bfloat16"`` for large models).
        device_map: accelerate device map (``"auto"`` spreads a large model over GPUs).

    Returns:
        A :class:`HookedLM` whose ``bridge`` is a TransformerBridge over the HF module.
    """
    check_device(device, dtype)  # --device cuda on a CPU-only torch, bad dtype: one clear line, early
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path is not None and (Path(name_or_path) / "edits.json").is_file():
        raise MechUnlearnError(
            f"{name_or_path} is a mechunlearn output folder, not a checkpoint: load it with "
            "mechunlearn.edits.stack.load_run (its edits re-applied), or load its model/ folder"
        )
    if isinstance(dtype, str):
        try:
            dtype = getattr(torch, dtype)
        except AttributeError:
            raise MechUnlearnError(f"unknown dtype '{dtype}'; use float32, float16 or bfloat16") from None
    if device is not None and device_map is not None:
        raise MechUnlearnError("give either device or device_map, not both")
    src = resolve_model(name_or_path)
    if device is None and device_map is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        tokenizer = AutoTokenizer.from_pretrained(src.path, local_files_only=src.local_files_only)
        hf_model = AutoModelForCausalLM.from_pretrained(
            src.path,
            dtype=dtype,
            device_map=device_map,
            attn_implementation="eager",
            local_files_only=src.local_files_only,
        )
    except (OSError, ValueError, KeyError) as e:  # a folder that is not a loadable checkpoint: one line
        why = " ".join(str(e).split())[:300] or type(e).__name__
        raise MechUnlearnError(f"could not load model '{src.name}' from {src.path}: {why}") from e
    if device_map is None:
        hf_model.to(device)
    hf_model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    bridge = TransformerBridge.boot_transformers(
        src.path,
        hf_model=hf_model,
        tokenizer=tokenizer,
        dtype=dtype,
        device=None if device_map is not None else device,
    )
    return HookedLM(bridge=bridge, tokenizer=tokenizer, name=src.name, source_path=src.path)
