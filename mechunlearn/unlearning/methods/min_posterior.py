"""``min_posterior``: minimise the probability of each forget token, via log(1 - p).

    L = -(1/N) sum_t [log p(x_t | x_<t) >= threshold] log(1 - p(x_t | x_<t)) + NLL_retain

over the N forget target tokens. LLM360 Analysis360 (arXiv 2408.00761): unlike gradient ascent
(-log p, unbounded) the forget term vanishes once a token is improbable; tokens whose
log-probability is already below ``threshold`` (-15) are left out of the sum (still counted in
N, as in Analysis360's code). log(1 - p) is computed as the log-sum-exp of every
other token's logit minus that of all logits, which stays finite as p -> 1.
"""

from dataclasses import dataclass

import torch

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import nll


@dataclass
class MinPosteriorConfig(TrainDefaults):
    """Args:
    threshold: forget tokens with log p below this no longer count.
    forget_weight, retain_weight: weights of the two terms.
    """

    threshold: float = -15.0
    forget_weight: float = 1.0
    retain_weight: float = 1.0


@register_method("min_posterior", MinPosteriorConfig)
class MinPosterior(Method):
    def loss(self, step):
        logits = step.forget.logits[:, :-1].float()
        tgt = step.forget.batch.input_ids[:, 1:]
        lse_all = torch.logsumexp(logits, -1)
        log_p = logits.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) - lse_all
        others = logits.scatter(-1, tgt.unsqueeze(-1), float("-inf"))
        log_1mp = torch.logsumexp(others, -1) - lse_all
        m = step.forget.batch.loss_mask[:, 1:].bool() & (log_p >= self.cfg.threshold)
        f = -(log_1mp * m).sum() / step.forget.batch.loss_mask[:, 1:].sum().clamp(min=1)
        r = nll(step.retain)
        return {"loss": self.cfg.forget_weight * f + self.cfg.retain_weight * r, "forget": f, "retain": r}
