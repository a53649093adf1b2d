"""``max_entropy``: maximise the entropy of the next-token distribution on forget text.

    L = -mean_t H(p(. | forget_<t)) + retain_weight * NLL_retain

LLM360 Analysis360 (arXiv 2408.00761): the forget term is minus the mean entropy of the
predicted distributions (pushing them towards uniform, "I don't know" in distribution), the
retain term the usual LM loss. Positions are the forget batch's target positions.
"""

from dataclasses import dataclass

import torch.nn.functional as F

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import nll


@dataclass
class MaxEntropyConfig(TrainDefaults):
    """Args: forget_weight, retain_weight: weights of the two terms (Analysis360: 1 and 1)."""

    forget_weight: float = 1.0
    retain_weight: float = 1.0


@register_method("max_entropy", MaxEntropyConfig)
class MaxEntropy(Method):
    def loss(self, step):
        logits = step.forget.logits[:, :-1].float()
        logp = F.log_softmax(logits, -1)
        entropy = -(logp.exp() * logp).sum(-1)
        m = step.forget.batch.loss_mask[:, 1:].to(entropy.dtype)
        h = (entropy * m).sum() / m.sum().clamp(min=1)
        r = nll(step.retain)
        return {"loss": -self.cfg.forget_weight * h + self.cfg.retain_weight * r, "forget": h, "retain": r}
