"""``sae_clamp``: clamp chosen SAE features at the SAE's hook, keeping the SAE's error term.

At the hook, ``x`` is encoded to features ``f``; the clamped features ``f'`` are decoded and
the activation becomes ``x + decode(f') - decode(f)``. The reconstruction error
``x - decode(f)`` is thus added back: with no feature changed the activation, and the
model's output, are unchanged (up to float rounding).

Modes (``value_kind`` says how ``value`` is read; its default depends on the mode):

* ``zero``: ``f'_i = 0`` (value unused).
* ``negative``: ``f'_i = -value * f_i`` (``multiplier``, default) or ``f'_i = -value`` at every
  position (``fixed``).
* ``conditional``: only where ``f_i > threshold``: ``f'_i = -value`` (``fixed``, default) or
  ``-value * f_i`` (``multiplier``); elsewhere ``f_i`` is left alone.

A clamp is not a weight edit: ``bake`` refuses, and ``mechunlearn clamp --bake`` distils the
clamped model into plain weights instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits.base import register_edit
from mechunlearn.models.hooked import FwdHook, HookedLM

ClampMode = Literal["zero", "negative", "conditional"]
ValueKind = Literal["multiplier", "fixed"]
DEFAULT_VALUE_KIND = {"zero": "fixed", "negative": "multiplier", "conditional": "fixed"}


def clamp_features(f: torch.Tensor, index: torch.Tensor, mode: str, value: float, kind: str, threshold: float):
    """``f`` with features ``index`` clamped (a new tensor)."""
    sel = f[..., index]
    if mode == "zero":
        new = torch.zeros_like(sel)
    else:
        target = -value * sel if kind == "multiplier" else torch.full_like(sel, -value)
        new = target if mode == "negative" else torch.where(sel > threshold, target, sel)
    out = f.clone()
    out[..., index] = new
    return out


@register_edit("sae_clamp")
@dataclass
class SAEClamp:
    """Clamp ``features`` of the SAE ``sae`` (``RELEASE:ID`` or folder) at its hook."""

    sae: str
    features: list[int]
    mode: ClampMode = "negative"
    value: float = 1.0
    value_kind: ValueKind | None = None
    threshold: float = 0.0
    hook: str | None = None  # filled from the SAE when first applied
    kind = "sae_clamp"
    exact = False

    def __post_init__(self) -> None:
        check_choices(self, "sae_clamp option")
        self.value_kind = self.value_kind or DEFAULT_VALUE_KIND[self.mode]
        self.features = [int(i) for i in self.features]
        if len(set(self.features)) != len(self.features):
            raise MechUnlearnError("the clamped feature list has duplicates")
        self._sae = None

    def load(self, model: HookedLM):
        """The SAE module on the model's device (loaded once), checked against the model."""
        if self._sae is None:
            from mechunlearn.saes.loading import check_sae_fits, load_sae

            sae = load_sae(self.sae, device=model.device)
            self.hook = check_sae_fits(sae, model, self.sae)
            bad = [i for i in self.features if not 0 <= i < sae.cfg.d_sae]
            if bad:
                raise MechUnlearnError(
                    f"feature indices {bad[:10]} are outside the SAE's {sae.cfg.d_sae} features "
                    f"(valid: 0..{sae.cfg.d_sae - 1})"
                )
            self._sae = sae
        return self._sae

    def hooks(self, model: HookedLM) -> list[FwdHook]:
        sae = self.load(model)
        index = torch.tensor(self.features, dtype=torch.long, device=model.device)

        def fn(act: torch.Tensor, hook) -> torch.Tensor:
            x = act.to(sae.dtype)
            f = sae.encode(x)
            f2 = clamp_features(f, index, self.mode, self.value, self.value_kind, self.threshold)
            return (x + sae.decode(f2) - sae.decode(f)).to(act.dtype)

        return [(self.hook, fn)]

    def bake(self, model: HookedLM) -> None:
        raise MechUnlearnError(
            "an SAE clamp is not a weight edit and cannot be written into the weights exactly; "
            "keep it as an edit (mechunlearn re-applies it on load) or distil it with `mechunlearn clamp --bake`"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "sae": self.sae,
            "hook": self.hook,
            "features": list(self.features),
            "mode": self.mode,
            "value": float(self.value),
            "value_kind": self.value_kind,
            "threshold": float(self.threshold),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SAEClamp:
        return cls(
            sae=d["sae"],
            features=list(d["features"]),
            mode=d.get("mode", "negative"),
            value=float(d.get("value", 1.0)),
            value_kind=d.get("value_kind"),
            threshold=float(d.get("threshold", 0.0)),
            hook=d.get("hook"),
        )
