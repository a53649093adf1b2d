"""``grad_diff``: gradient difference — ascend on forget, descend on retain.

    L = -gamma * NLL_forget + alpha * R,   R = NLL_retain  (or KL(frozen || current) on retain)

Liu et al. 2022 (arXiv 2203.12817); open-unlearning's GradDiff (gamma 1, alpha 1, NLL retain).
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import RetainTermDefaults, RetainTermMethod, register_method
from mechunlearn.unlearning.losses import nll, retain_term


@dataclass
class GradDiffConfig(RetainTermDefaults):
    """Args:
    gamma: weight of the forget (ascent) term.
    alpha: weight of the retain term.
    retain_loss: ``nll`` or ``kl``.
    """

    gamma: float = 1.0


@register_method("grad_diff", GradDiffConfig)
class GradDiff(RetainTermMethod):
    def loss(self, step):
        f, r = nll(step.forget), retain_term(self.cfg.retain_loss, step)
        return {"loss": -self.cfg.gamma * f + self.cfg.alpha * r, "forget": f, "retain": r}
