"""Localised updates: only the weights that carry ranked units may change.

* MLP neurons (``--localize K`` or a neuron ranking): the neuron's input rows/columns
  (gate/up or fc weights and biases) and its output column/row (per ``models.arch``); every
  other entry of those matrices, and every other parameter, stays bit-identical.
* SAE features (a feature ranking): the MLP output projections of the blocks that write into
  the SAE's hook point may change only within the span of the top-K features' decoder
  directions (the gradient and the update are projected onto it); nothing else changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.arch import arch_spec
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.base import Neuron, Ranking

Mask = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Localization:
    params: list[torch.nn.Parameter]
    masks: dict[int, Mask]
    record: dict[str, Any]  # for the report


def neuron_localization(model: HookedLM, neurons: list[Neuron]) -> Localization:
    """Updates restricted to the weights of ``neurons`` (their input and output slices)."""
    spec = arch_spec(model.model_type)
    entry: dict[int, tuple[torch.nn.Parameter, torch.Tensor]] = {}
    by_layer: dict[int, list[int]] = {}
    for n in neurons:
        by_layer.setdefault(n.layer, []).append(n.index)
    for layer, idx in sorted(by_layer.items()):
        w = spec.mlp_weights(model.hf_model, layer)
        for s in (*w.inputs, w.output):
            p = s.param
            if id(p) not in entry:
                entry[id(p)] = (p, torch.zeros_like(p, dtype=torch.bool))
            sel = [slice(None)] * p.dim()
            sel[s.neuron_axis] = torch.tensor(idx, device=p.device)
            entry[id(p)][1][tuple(sel)] = True
    masks = {k: _multiply(m) for k, (_, m) in entry.items()}
    record = {"kind": "mlp_neurons", "units": len(neurons), "layers": sorted(by_layer)}
    return Localization([p for p, _ in entry.values()], masks, record)


def _multiply(mask: torch.Tensor) -> Mask:
    return lambda g: g * mask.to(g.dtype)


def feature_localization(model: HookedLM, ranking: Ranking, k: int) -> Localization:
    """Updates of the MLP output projections before an SAE's hook point, within its top-``k`` decoder span."""
    from mechunlearn.saes.loading import load_sae

    hook = ranking.sae.get("hook", "")
    m = re.match(r"blocks\.(\d+)\.hook_resid_(pre|post)$", hook)
    if not m:
        raise MechUnlearnError(
            f"localising to SAE features needs an SAE on the residual stream; this one reads '{hook}'"
        )
    last = int(m.group(1)) - (1 if m.group(2) == "pre" else 0)
    if last < 0:
        raise MechUnlearnError(f"no MLP writes into '{hook}' (it is before the first block): nothing to localise to")
    sae = load_sae(ranking.sae["ref"], device=model.device)
    feats = ranking.top_features(k)
    dirs = sae.W_dec[feats].detach().to(torch.float32).T  # [d_model, k]
    q, _ = torch.linalg.qr(dirs)  # orthonormal basis of the span
    spec = arch_spec(model.model_type)
    params, masks = [], {}
    for layer in range(last + 1):
        out = spec.mlp_weights(model.hf_model, layer).output
        p = out.param
        model_axis = 1 - out.neuron_axis
        qq = (q @ q.T).to(p.device)
        masks[id(p)] = _project(qq, model_axis)
        params.append(p)
    record = {
        "kind": "sae_features",
        "units": len(feats),
        "hook": hook,
        "sae": ranking.sae.get("ref"),
        "span_rank": int(q.shape[1]),
        "layers": list(range(last + 1)),
    }
    return Localization(params, masks, record)


def _project(qq: torch.Tensor, model_axis: int) -> Mask:
    def f(g: torch.Tensor) -> torch.Tensor:
        p = qq.to(g.dtype)
        return p @ g if model_axis == 0 else g @ p

    return f


def localization(model: HookedLM, ranking: Ranking, k: int) -> Localization:
    """The localisation of ranking's top ``k`` units (neurons or SAE features)."""
    total = ranking.n_neurons
    if not 1 <= k <= total:
        what = "SAE features" if ranking.unit == "sae_feature" else "MLP neurons"
        raise MechUnlearnError(f"--localize {k} is outside 1..{total} (the ranking's {total} {what})")
    if ranking.unit == "sae_feature":
        return feature_localization(model, ranking, k)
    return neuron_localization(model, ranking.top(k))


def intersect(loc: Localization, allowed: list[torch.nn.Parameter] | None) -> Localization:
    """Keep only the localised parameters a method allows (e.g. RMU's few output projections)."""
    if allowed is None:
        return loc
    ok = {id(p) for p in allowed}
    params = [p for p in loc.params if id(p) in ok]
    if not params:
        raise MechUnlearnError(
            "the ranked units lie outside the parameters this method trains (e.g. RMU's layers); "
            "nothing would be updated: use a larger --localize or another method"
        )
    return Localization(params, {k: v for k, v in loc.masks.items() if k in {id(p) for p in params}}, loc.record)
