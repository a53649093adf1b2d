"""Bake edits into weights and export a plain Hugging Face checkpoint, checking parity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from mechunlearn.models.hooked import HookedLM, hf_name


@torch.no_grad()
def bake_edits(model: HookedLM) -> None:
    """Write every edit in force into the HF weights and clear the edit stack."""
    for e in model.edits:
        e.bake(model)
    model.edits = []


def plain_hf_view(model: HookedLM) -> torch.nn.Module:
    """A plain HF module of the model's class that shares (does not copy) the model's weights."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        clean = AutoModelForCausalLM.from_config(model.hf_model.config, attn_implementation="eager")
    clean.load_state_dict(model.hf_state_dict(), assign=True, strict=True)
    # non-persistent buffers (e.g. rotary inv_freq) are not in the state dict: share them too
    source = {}
    for name, buf in model.hf_model.named_buffers():
        source.setdefault(hf_name(name), buf)
    for name, buf in list(clean.named_buffers()):
        if buf.is_meta:
            owner, _, attr = name.rpartition(".")
            clean.get_submodule(owner)._buffers[attr] = source[name]
    clean.tie_weights()
    clean.generation_config = model.hf_model.generation_config
    return clean.eval()


@torch.no_grad()
def bridge_float_noise(model: HookedLM, texts: Sequence[str]) -> float:
    """Max |logit difference| between the bridge and plain HF on the same (unedited) weights.

    The bridge computes some things differently (e.g. q, k, v from split views of a fused
    matrix), so fp32 results differ by rounding; this is the floor for export parity.
    """
    if model.edits:
        raise ValueError("measure the bridge's float noise before adding edits")
    ids, mask = model.pad([model.encode(t)[: model.n_ctx] for t in texts])
    a = model.logits(ids, mask).float()
    b = plain_hf_view(model)(ids, attention_mask=mask).logits.float()
    real = mask.bool()
    return float((a[real] - b[real]).abs().max())


@torch.no_grad()
def edit_effect(model: HookedLM, texts: Sequence[str]) -> float:
    """Max |logit difference| the edits in force make on ``texts``: what export parity is compared against.

    An export parity of 0.0 means something only if the edits change the logits at all.
    """
    ids, mask = model.pad([model.encode(t)[: model.n_ctx] for t in texts])
    edited = model.logits(ids, mask).float()
    saved, model.edits = model.edits, []
    try:
        plain = model.logits(ids, mask).float()
    finally:
        model.edits = saved
    real = mask.bool()
    return float((edited[real] - plain[real]).abs().max())


def save_plain_checkpoint(model: HookedLM, out: Path) -> None:
    """Save the weights as a standard HF checkpoint of the model's own class (no bridge wrappers)."""
    plain_hf_view(model).save_pretrained(out, safe_serialization=True)


@torch.no_grad()
def export_checkpoint(model: HookedLM, out: Path, texts: Sequence[str], card: str = "") -> float:
    """Bake the edits, save to ``out`` (safetensors + tokenizer), reload it as plain HF.

    Returns the max |logit difference| between the hooked (edited) model and the reloaded
    checkpoint on ``texts``: the proof that the export reproduces the edited model.
    """
    from transformers import AutoModelForCausalLM

    seqs = [model.encode(t)[: model.n_ctx] for t in texts]
    ids, mask = model.pad(seqs)
    before = model.logits(ids, mask).float()
    bake_edits(model)
    save_plain_checkpoint(model, out)
    model.tokenizer.save_pretrained(out)
    if card:
        (out / "README.md").write_text(card, encoding="utf-8")
    plain = AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager", dtype=model.hf_model.dtype)
    plain.to(model.device).eval()
    after = plain(ids, attention_mask=mask).logits.float()
    real = mask.bool()
    return float((before[real] - after[real]).abs().max())
