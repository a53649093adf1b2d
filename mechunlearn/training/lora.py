"""LoRA adapters (peft) on the hooked model, merged into the weights on export.

The TransformerBridge wraps every HF ``nn.Linear`` / ``Conv1D`` in a ``LinearBridge`` that
calls it as ``<name>._original_component``; peft injects its LoRA layer there (a
``target_modules`` regex on those inner modules), so every hook point and edit stays where
it was and the adapters sit inside them. ``merge_and_unload`` folds them into the base
weights before the export. Targets that the bridge never calls (e.g. GPT-2's fused
``c_attn``, which the bridge splits into q/k/v views) are refused: an adapter there would
not train.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.hooked import HookedLM

DEFAULT_TARGETS = {
    "gpt2": ["c_fc", "c_proj"],
    "gpt_neox": ["dense_h_to_4h", "dense_4h_to_h"],
    "llama": ["gate_proj", "up_proj", "down_proj"],
}


@dataclass
class LoraSpec:
    """``--lora r=8,alpha=16,dropout=0,targets=gate_proj+up_proj+down_proj`` (targets: module names)."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=list)  # empty: the MLP projections of the architecture

    @classmethod
    def parse(cls, text: str | None) -> LoraSpec:
        spec = cls()
        for part in filter(None, (text or "").split(",")):
            key, eq, value = part.partition("=")
            key = key.strip()
            if not eq or key not in ("r", "alpha", "dropout", "targets"):
                raise MechUnlearnError(f"--lora takes r=INT,alpha=FLOAT,dropout=FLOAT,targets=A+B; got '{part}'")
            try:
                if key == "r":
                    spec.r = int(value)
                elif key == "targets":
                    spec.targets = [t for t in re.split(r"[+ ]", value) if t]
                else:
                    setattr(spec, key, float(value))
            except ValueError:
                raise MechUnlearnError(f"--lora {key} must be a number, got '{value}'") from None
        if spec.r < 1:
            raise MechUnlearnError(f"--lora r must be a positive rank, got {spec.r}")
        return spec


def _inner_linears(model: HookedLM) -> dict[str, list[str]]:
    """Short module name -> full names of the HF linear layers the bridge wraps."""
    out: dict[str, list[str]] = {}
    for name, mod in model.hf_model.named_modules():
        if (
            name.endswith("._original_component")
            and hasattr(mod, "weight")
            and mod.weight is not None
            and mod.weight.dim() == 2
        ):
            short = name.removesuffix("._original_component").rsplit(".", 1)[-1]
            out.setdefault(short, []).append(name)
    return out


def lora_targets(model: HookedLM, spec: LoraSpec) -> list[str]:
    """The module names ``spec`` adapts in ``model`` (the architecture's MLP projections by default);
    a name the model does not have is one error listing the valid ones."""
    from mechunlearn.models.arch import arch_spec

    targets = spec.targets or DEFAULT_TARGETS[arch_spec(model.model_type).family]
    linears = _inner_linears(model)
    missing = [t for t in targets if t not in linears or t == "lm_head"]
    if missing:
        valid = sorted(k for k in linears if k != "lm_head")
        raise MechUnlearnError(f"LoRA target module(s) {missing} do not exist in this model; valid: {valid}")
    return targets


def add_lora(model: HookedLM, spec: LoraSpec):
    """Inject LoRA adapters into ``model`` in place; returns the peft model (for merging and disabling)."""
    from peft import LoraConfig, get_peft_model

    from mechunlearn.models.arch import arch_spec

    family = arch_spec(model.model_type).family
    targets = lora_targets(model, spec)
    regex = r".*\.(" + "|".join(map(re.escape, targets)) + r")\._original_component"
    cfg = LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
        lora_dropout=spec.dropout,
        target_modules=regex,
        bias="none",
        fan_in_fan_out=family == "gpt2",  # GPT-2's Conv1D stores weights as [in, out]
    )
    peft_model = get_peft_model(model.hf_model, cfg)
    _check_called(model, targets)
    return peft_model


def _check_called(model: HookedLM, targets: list[str]) -> None:
    """Every injected adapter must run in the bridge's forward pass."""
    from peft.tuners.lora import LoraLayer

    called: set[str] = set()
    handles = [
        mod.register_forward_hook(lambda m, i, o, n=name: called.add(n))
        for name, mod in model.hf_model.named_modules()
        if isinstance(mod, LoraLayer)
    ]
    try:
        ids, mask = model.pad([model.encode("a b c")])
        with torch.no_grad():
            model.logits(ids, mask)
    finally:
        for h in handles:
            h.remove()
    injected = [n for n, m in model.hf_model.named_modules() if isinstance(m, LoraLayer)]
    idle = sorted({n.removesuffix("._original_component").rsplit(".", 1)[-1] for n in injected if n not in called})
    if idle:
        raise MechUnlearnError(
            f"LoRA target module(s) {idle} are not on the bridge's forward path (the bridge computes them "
            f"from split views), so adapters there would never train; choose among the MLP projections {targets}"
        )


def lora_parameters(peft_model, allowed: list[torch.nn.Parameter] | None = None) -> list[torch.nn.Parameter]:
    """The adapters' parameters; with ``allowed`` (a method's own parameter choice, e.g. RMU's
    output projections) only those of adapters on those weights."""
    from peft.tuners.lora import LoraLayer

    ok = None if allowed is None else {id(p) for p in allowed}
    out = []
    for mod in peft_model.modules():
        if isinstance(mod, LoraLayer) and (ok is None or id(mod.get_base_layer().weight) in ok):
            out += [p for n, p in mod.named_parameters() if "lora_" in n]
    if not out:
        raise MechUnlearnError("no LoRA adapter sits on the weights this method trains; add its modules to targets=")
    return out


def merge_lora(model: HookedLM, peft_model) -> None:
    """Fold the adapters into the base weights (``merge_and_unload``); the model is plain again."""
    base = peft_model.merge_and_unload()
    if base is not model.hf_model:
        raise RuntimeError("peft returned another module than the one the bridge wraps")
    for p in model.hf_model.parameters():
        p.requires_grad_(True)
