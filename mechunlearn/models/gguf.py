"""GGUF files: check them, and convert one once into a clean, plain Hugging Face checkpoint.

transformers reads GGUF (``from_pretrained(folder, gguf_file=name)``) and dequantizes the
weights to float. The model it returns keeps a GGUF quantizer attached (``save_pretrained``
refuses it) and a ``quantization_config`` in its config that later transformers releases
reject on load. :func:`convert_gguf` therefore builds a fresh model from the cleaned config,
loads the dequantized weights into it, and saves that: a checkpoint anyone loads with
``AutoModelForCausalLM.from_pretrained(folder)``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


def is_gguf(path: str | Path) -> bool:
    """Whether ``path`` is a file that starts with the GGUF magic bytes."""
    p = Path(path)
    if not p.is_file():
        return False
    with p.open("rb") as f:
        return f.read(4) == GGUF_MAGIC


def gguf_architecture(path: str | Path) -> str:
    """The ``general.architecture`` of a GGUF file; a clear error if it is not GGUF."""
    p = Path(path)
    if not p.is_file():
        raise MechUnlearnError(f"GGUF file not found: {p}")
    if not is_gguf(p):
        raise MechUnlearnError(f"{p} is not a GGUF file (it does not start with the bytes 'GGUF')")
    from gguf import GGUFReader

    try:
        field = GGUFReader(str(p)).fields["general.architecture"]
    except (KeyError, ValueError, IndexError) as e:
        raise MechUnlearnError(f"{p}: a damaged GGUF file (no readable general.architecture: {e})") from e
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def check_gguf(path: str | Path) -> str:
    """The GGUF's architecture if transformers can dequantize it, else an error listing those it can."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    arch = gguf_architecture(path)
    if arch not in GGUF_SUPPORTED_ARCHITECTURES:
        raise MechUnlearnError(
            f"{path}: GGUF architecture '{arch}' cannot be dequantized by the installed transformers; "
            f"supported: {sorted(GGUF_SUPPORTED_ARCHITECTURES)}"
        )
    return arch


def convert_gguf(gguf_path: str | Path, out: str | Path, *, dtype: str = "float32") -> None:
    """Dequantize ``gguf_path`` and save a plain HF checkpoint (weights, config, tokenizer) into ``out``.

    ``out`` must not exist yet; the caller stages it (see :mod:`mechunlearn.models.registry`).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = Path(gguf_path).resolve()
    check_gguf(src)
    torch_dtype = getattr(torch, dtype)
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    quantized = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch_dtype)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = ""
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = fresh.load_state_dict(quantized.state_dict(), assign=True, strict=False)
    tied = {k for k in missing if "lm_head" in k} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise MechUnlearnError(
            f"{src}: dequantized weights do not fit the model class (missing {sorted(set(missing) - tied)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )
    fresh.tie_weights()
    fresh.generation_config = quantized.generation_config
    Path(out).mkdir(parents=True)
    fresh.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    log.info("converted %s to a plain HF checkpoint in %s", src, out)
