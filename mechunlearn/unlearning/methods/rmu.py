"""``rmu``: Representation Misdirection for Unlearning, WMDP (Li et al. 2024, arXiv 2403.03218).

    L = MSE(h_l(forget), c * u) + alpha * MSE(h_l(retain), h_l^frozen(retain))

h_l is the residual stream after block l, u a fixed random unit vector (uniform entries,
normalised, as in the WMDP code), and only the MLP output projections of blocks l-2..l are
trained. WMDP used l = 7 of Zephyr-7B's 32 blocks, c = 6.5, alpha = 1200, lr 5e-5; here l
scales with depth (7/32 of the blocks) and, by default, c is relative: ``steering_coeff``
times the frozen model's mean forget-activation norm at l, because residual norms differ by
orders of magnitude between models (Gemma scales its embeddings by sqrt(d_model)), so an
absolute c tuned on Zephyr means nothing elsewhere. ``relative=False`` takes c as given.
Defaults chosen on gemma-3-270m's validation split (bench/RESULTS.md): lr 5e-4, alpha 100,
c = 2x the mean norm, 300 steps (WMDP's lr 5e-5 / alpha 1200 moved nothing there in 150 steps).
Both terms (and the mean norm) average over text positions only: padding and the BOS position,
whose residual stream on Llama/Gemma-style models is tens of times larger than any other
token's, do not count (counted, BOS alone made up nearly all of gemma-3-270m's forget loss).
"""

from dataclasses import dataclass

import torch

from mechunlearn.models.arch import arch_spec
from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import masked_mean


@dataclass
class RMUConfig(TrainDefaults):
    """Args:
    layer: block whose output is steered (``None``: round(7/32 of the depth)).
    layers_updated: how many blocks up to ``layer`` have their MLP output projection trained.
    steering_coeff: c (relative to the mean activation norm unless ``relative`` is false).
    relative: c in units of the frozen model's mean forget-activation norm at ``layer``.
    alpha: weight of the retain term.
    train_output_norm: also train the norm that scales the MLP output before it joins the
        residual stream, where the architecture has one (Gemma 2/3's ``post_feedforward_layernorm``):
        behind an RMSNorm the output projection can turn the MLP's contribution but not grow it,
        so c * u is out of reach (gemma-3-270m: the forget loss fell < 1% in 150 steps without it).
    seed: of the random direction u.
    """

    lr: float = 5e-4
    steps: int = 300
    layer: int | None = None
    layers_updated: int = 3
    steering_coeff: float = 2.0
    relative: bool = True
    alpha: float = 100.0
    train_output_norm: bool = True
    seed: int = 0


@register_method("rmu", RMUConfig)
class RMU(Method):
    forget_kind = "all"  # forget passages and facts: any concept text is steered

    def layer(self, model):
        n = model.n_layers
        layer = round(7 / 32 * n) if self.cfg.layer is None else self.cfg.layer
        if not 0 <= layer < n:
            from mechunlearn.core.errors import MechUnlearnError

            raise MechUnlearnError(f"rmu layer must be a block index in 0..{n - 1}, got {layer}")
        return layer

    def uses_reference(self):
        return True

    def hooks(self, model):
        return [model.resid_hook(self.layer(model))]

    def stop_at_layer(self, model):
        return self.layer(model) + 1

    def trainable(self, model):
        spec, top = arch_spec(model.model_type), self.layer(model)
        params = []
        for i in range(max(0, top - self.cfg.layers_updated + 1), top + 1):
            params.append(spec.mlp_weights(model.hf_model, i).output.param)
            norm = getattr(spec.blocks(model.hf_model)[i], "post_feedforward_layernorm", None)
            if self.cfg.train_output_norm and norm is not None:
                params.append(norm.weight)
        return params

    def setup(self, ctx):
        model, hook = ctx.model, self.hooks(ctx.model)[0]
        g = torch.Generator().manual_seed(self.cfg.seed)
        u = torch.rand(model.d_model, generator=g)
        scale = self.cfg.steering_coeff
        if self.cfg.relative:
            scale *= ctx.mean_forget_norm(hook)
        self.target = (u / u.norm() * scale).to(model.device)

    def loss(self, step):
        hook = self.hooks(step.ctx.model)[0]
        f_act = step.forget.acts[hook].float()
        f = masked_mean((f_act - self.target) ** 2, step.forget.batch.content)
        r_act = step.retain.acts[hook].float()
        frozen = step.ctx.reference_acts(step.retain.batch, hook).float()
        r = masked_mean((r_act - frozen) ** 2, step.retain.batch.content)
        return {"loss": f + self.cfg.alpha * r, "forget": f, "retain": r}
