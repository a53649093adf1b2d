"""``neuron_ablation``: set chosen MLP neurons to zero or to their mean activation.

As hooks: the neuron's value at ``blocks.{layer}.mlp.hook_post`` is replaced. Baked: the
neuron's row/column of the MLP output projection is zeroed and, for mean ablation,
``mean * W_out[neuron]`` is folded into the output bias. Both give the same logits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits.base import register_edit
from mechunlearn.models.arch import arch_spec
from mechunlearn.models.hooked import FwdHook, HookedLM
from mechunlearn.ranking.base import Neuron

AblationMode = Literal["zero", "mean"]


@register_edit("neuron_ablation")
@dataclass
class NeuronAblation:
    """Ablate ``neurons`` (MLP hidden space). ``mode`` is ``zero`` or ``mean``.

    ``values`` holds, per neuron, the value it is set to (0 for zero ablation, its mean
    activation over the probing corpus for mean ablation).
    """

    neurons: list[Neuron]
    mode: AblationMode = "zero"
    values: list[float] = field(default_factory=list)
    kind = "neuron_ablation"
    exact = True

    def __post_init__(self) -> None:
        check_choices(self, "neuron_ablation option")
        self.neurons = [Neuron(int(n[0]), int(n[1])) for n in self.neurons]
        if not self.values:
            self.values = [0.0] * len(self.neurons)
        if len(self.values) != len(self.neurons):
            raise MechUnlearnError(f"{len(self.values)} values for {len(self.neurons)} neurons")

    def by_layer(self) -> dict[int, tuple[list[int], list[float]]]:
        out: dict[int, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for n, v in zip(self.neurons, self.values, strict=True):
            out[n.layer][0].append(n.index)
            out[n.layer][1].append(v)
        return dict(out)

    def validate(self, model: HookedLM) -> None:
        bad = [n for n in self.neurons if not (0 <= n.layer < model.n_layers and 0 <= n.index < model.d_mlp)]
        if bad:
            raise MechUnlearnError(
                f"neurons {bad[:5]} are outside this model's MLP space "
                f"(layers 0..{model.n_layers - 1}, indices 0..{model.d_mlp - 1})"
            )

    def hooks(self, model: HookedLM) -> list[FwdHook]:
        self.validate(model)
        hooks = []
        for layer, (idx, vals) in self.by_layer().items():
            index = torch.tensor(idx, device=model.device)
            value = torch.tensor(vals, device=model.device)

            def fn(act, hook, index=index, value=value):
                act = act.clone()
                act[..., index] = value.to(act.dtype)
                return act

            hooks.append((model.mlp_hook(layer), fn))
        return hooks

    @torch.no_grad()
    def bake(self, model: HookedLM) -> None:
        """Write the ablation into the HF weights (exact for zero and mean ablation)."""
        self.validate(model)
        spec = arch_spec(model.model_type)
        for layer, (idx, vals) in self.by_layer().items():
            w = spec.mlp_weights(model.hf_model, layer)
            out = w.output.param
            index = torch.tensor(idx, device=out.device)
            rows = out.index_select(w.output.neuron_axis, index)  # neuron vectors into the residual
            if self.mode == "mean" and any(vals):
                if w.output_bias is None:
                    raise MechUnlearnError(
                        f"mean ablation cannot be baked into a '{model.model_type}' model: its MLP output has no "
                        "bias to hold the mean; use --ablation zero, or keep the edit as hooks"
                    )
                v = torch.tensor(vals, device=out.device, dtype=torch.float32)
                contrib = (v[:, None] * rows.float()) if w.output.neuron_axis == 0 else (rows.float() * v[None, :])
                w.output_bias.add_(contrib.sum(w.output.neuron_axis).to(w.output_bias.dtype))
            out.index_fill_(w.output.neuron_axis, index, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "mode": self.mode,
            "neurons": [list(n) for n in self.neurons],
            "values": [float(v) for v in self.values],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NeuronAblation:
        return cls([Neuron(*n) for n in d["neurons"]], d.get("mode", "zero"), list(d.get("values", [])))


def mean_values(neurons: Sequence[Neuron], means) -> list[float]:
    """Per-neuron mean activations from a ``[n_layers, d_mlp]`` array."""
    return [float(means[n.layer, n.index]) for n in neurons]
