"""Where an MLP neuron ``(layer, index)`` lives in each supported architecture's HF weights.

An MLP neuron is coordinate ``index`` of the MLP hidden space (size ``d_mlp``) of block
``layer``: the value fed into the MLP's output projection. TransformerLens exposes it as
``blocks.{layer}.mlp.hook_post``. This module knows which HF parameters read from and write
to that coordinate, so an edit made with hooks can be baked into the weights exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from mechunlearn.core.errors import MechUnlearnError


@dataclass(frozen=True)
class Slice:
    """One parameter and the axis along which its entries belong to MLP neurons."""

    param: nn.Parameter
    neuron_axis: int  # axis of size d_mlp


@dataclass(frozen=True)
class MLPWeights:
    """The HF parameters around one block's MLP hidden space."""

    inputs: tuple[Slice, ...]  # weights/biases that compute the neuron (rows/columns)
    output: Slice  # weight that reads the neuron into the residual stream
    output_bias: nn.Parameter | None  # bias of the output projection (d_model), if any


@dataclass(frozen=True)
class ArchSpec:
    """How one HF model family lays out its blocks and MLPs."""

    family: str
    model_types: tuple[str, ...]
    blocks_attr: str  # dotted path from the *LMHeadModel to the list of blocks

    def blocks(self, hf_model: nn.Module) -> nn.ModuleList:
        obj = hf_model
        for part in self.blocks_attr.split("."):
            obj = getattr(obj, part)
        return obj

    def mlp_weights(self, hf_model: nn.Module, layer: int) -> MLPWeights:
        mlp = self.blocks(hf_model)[layer].mlp
        if self.family == "gpt2":  # Conv1D: weight is [in, out]
            return MLPWeights(
                inputs=(Slice(mlp.c_fc.weight, 1), Slice(mlp.c_fc.bias, 0)),
                output=Slice(mlp.c_proj.weight, 0),
                output_bias=mlp.c_proj.bias,
            )
        if self.family == "gpt_neox":  # nn.Linear: weight is [out, in]
            return MLPWeights(
                inputs=(Slice(mlp.dense_h_to_4h.weight, 0), Slice(mlp.dense_h_to_4h.bias, 0)),
                output=Slice(mlp.dense_4h_to_h.weight, 1),
                output_bias=mlp.dense_4h_to_h.bias,
            )
        if self.family == "llama":  # gated: gate_proj and up_proj rows, down_proj column
            inputs = [Slice(mlp.gate_proj.weight, 0), Slice(mlp.up_proj.weight, 0)]
            inputs += [Slice(p.bias, 0) for p in (mlp.gate_proj, mlp.up_proj) if p.bias is not None]
            return MLPWeights(
                inputs=tuple(inputs),
                output=Slice(mlp.down_proj.weight, 1),
                output_bias=mlp.down_proj.bias,
            )
        raise AssertionError(f"no MLP layout for family {self.family}")


ARCHITECTURES: tuple[ArchSpec, ...] = (
    ArchSpec("gpt2", ("gpt2",), "transformer.h"),
    ArchSpec("gpt_neox", ("gpt_neox",), "gpt_neox.layers"),
    # gated MLPs: Llama, Mistral, Qwen, SmolLM2 (llama) and Gemma 1-3 (GELU-tanh gate, same layout)
    ArchSpec("llama", ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text"), "model.layers"),
)


def arch_spec(model_type: str) -> ArchSpec:
    """Return the layout for an HF ``config.model_type``; an error lists the supported ones."""
    for spec in ARCHITECTURES:
        if model_type in spec.model_types:
            return spec
    supported = sorted(t for s in ARCHITECTURES for t in s.model_types)
    raise MechUnlearnError(f"model type '{model_type}' is not supported for neuron edits; supported: {supported}")
