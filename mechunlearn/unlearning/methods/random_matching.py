"""``random_matching``: map forget hidden states onto random per-token directions.

    L = mean_l mean_t (1 - |cos(h_l(t), r(x_t))|) on forget text + NLL_retain

LLM360 Analysis360 (arXiv 2408.00761): every token id x has a fixed random Gaussian vector
r(x) (here drawn from a generator seeded by ``seed`` and the id, so no vocabulary-sized
table is stored); the residual stream of every block at each forget position is pulled
onto (the line of) its token's vector, destroying what it carried. Analysis360 averages
over the embedding output and every block's output; here over every block's output
(``blocks.l.hook_resid_post``), real text positions only (no padding, no BOS).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import nll


@dataclass
class RandomMatchingConfig(TrainDefaults):
    """Args: forget_weight, retain_weight: weights of the terms; seed: of the random vectors."""

    forget_weight: float = 1.0
    retain_weight: float = 1.0
    seed: int = 42


@register_method("random_matching", RandomMatchingConfig)
class RandomMatching(Method):
    def hooks(self, model):
        return [model.resid_hook(i) for i in range(model.n_layers)]

    def vectors(self, ids: torch.Tensor, d: int) -> torch.Tensor:
        cache = self.__dict__.setdefault("_vec", {})
        for t in ids.unique().tolist():
            if t not in cache:
                cache[t] = torch.randn(d, generator=torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + t))
        return torch.stack([cache[t] for t in ids.reshape(-1).tolist()]).reshape(*ids.shape, d)

    def loss(self, step):
        b = step.forget.batch
        acts = [step.forget.acts[h] for h in self.hooks(step.ctx.model)]
        r = self.vectors(b.input_ids.cpu(), acts[0].shape[-1]).to(acts[0].device)
        m = b.content.to(torch.float32)
        per_layer = [((1 - F.cosine_similarity(a.float(), r, dim=-1).abs()) * m).sum() / m.sum() for a in acts]
        f = torch.stack(per_layer).mean()
        rt = nll(step.retain)
        return {"loss": self.cfg.forget_weight * f + self.cfg.retain_weight * rt, "forget": f, "retain": rt}
