"""``npo``: Negative Preference Optimization, Zhang et al. 2024 (arXiv 2404.05868).

    L = gamma * -(2/beta) * mean_x log sigmoid(beta * (NLL_theta(x) - NLL_ref(x))) + alpha * R

with NLL summed over each forget example's target tokens and the reference the starting
model (earlier edits in force); R is the retain NLL (or KL), as open-unlearning's NPO
(beta 0.1, gamma 1, alpha 1). Bounded where gradient ascent is not: the forget term's
gradient vanishes as an example's likelihood falls below the reference's.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mechunlearn.unlearning.base import RetainTermDefaults, RetainTermMethod, register_method
from mechunlearn.unlearning.losses import retain_term, sequence_nll


@dataclass
class NPOConfig(RetainTermDefaults):
    """Args:
    beta: inverse temperature of the preference loss.
    gamma: weight of the forget term.
    alpha: weight of the retain term.
    retain_loss: ``nll`` or ``kl``.
    """

    beta: float = 0.1
    gamma: float = 1.0


@register_method("npo", NPOConfig)
class NPO(RetainTermMethod):
    def setup(self, ctx):
        self.ref_nll = ctx.forget_reference_nll()  # one value per forget example, on the unchanged model

    def loss(self, step):
        cur = sequence_nll(step.forget)
        ref = torch.tensor([self.ref_nll[i] for i in step.forget.batch.index], device=cur.device)
        b = self.cfg.beta
        f = -(2 / b) * F.logsigmoid(b * (cur - ref)).mean()
        r = retain_term(self.cfg.retain_loss, step)
        return {"loss": self.cfg.gamma * f + self.cfg.alpha * r, "forget": f, "retain": r}
