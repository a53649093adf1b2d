"""``simnpo``: SimNPO, Fan et al. 2024, "Simplicity prevails" (arXiv 2410.07163).

    L = gamma * -(2/beta) * mean_x log sigmoid(beta * (NLL_theta(x) / |x| - delta)) + alpha * NLL_retain

NPO without the reference model, with each example's NLL normalised by its length |x|
(target tokens) and a reward margin delta; defaults as open-unlearning's SimNPO
(beta 4.5, gamma 0.125, delta 0, alpha 1).
"""

from dataclasses import dataclass

import torch.nn.functional as F

from mechunlearn.unlearning.base import RetainTermDefaults, RetainTermMethod, register_method
from mechunlearn.unlearning.losses import retain_term, sequence_nll


@dataclass
class SimNPOConfig(RetainTermDefaults):
    """Args:
    beta: inverse temperature.
    gamma: weight of the forget term.
    delta: reward margin subtracted from the length-normalised NLL.
    alpha: weight of the retain term.
    retain_loss: ``nll`` or ``kl``.
    """

    beta: float = 4.5
    gamma: float = 0.125
    delta: float = 0.0


@register_method("simnpo", SimNPOConfig)
class SimNPO(RetainTermMethod):
    def loss(self, step):
        c = self.cfg
        f = -(2 / c.beta) * F.logsigmoid(c.beta * (sequence_nll(step.forget, mean=True) - c.delta)).mean()
        r = retain_term(c.retain_loss, step)
        return {"loss": c.gamma * f + c.alpha * r, "forget": f, "retain": r}
