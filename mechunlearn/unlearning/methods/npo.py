"""``npo``: Negative Preference Optimization, Zhang et al. 2024 (arXiv 2404.05868).

    L = gamma * -(2/beta) * mean_x log sigmoid(beta * (NLL_theta(x) - NLL_ref(x))) + alpha * R

with NLL summed over each forget example's target tokens and the reference the starting
model (earlier edits in force; scored per step on the rows trained on, not on the whole corpus
up front: 120 steps see 480 of gemma's 1,346 synthetic passages); R is the retain NLL (or KL), as open-unlearning's NPO
(beta 0.1, gamma 1, alpha 1). Bounded where gradient ascent is not: the forget term's
gradient vanishes as an example's likelihood falls below the reference's.
"""

from dataclasses import dataclass

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
    def uses_reference(self):
        return True  # the reference NLL of each step's forget rows

    def loss(self, step):
        cur = sequence_nll(step.forget)
        ref = step.ctx.reference_nll(step.forget.batch).to(cur.device)
        b = self.cfg.beta
        f = -(2 / b) * F.logsigmoid(b * (cur - ref)).mean()
        r = retain_term(self.cfg.retain_loss, step)
        return {"loss": self.cfg.gamma * f + self.cfg.alpha * r, "forget": f, "retain": r}
