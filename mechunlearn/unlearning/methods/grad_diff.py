"""``grad_diff``: gradient difference — ascend on forget, descend on retain.

    L = -gamma * NLL_forget + alpha * R,   R = NLL_retain  (or KL(frozen || current) on retain)

Liu et al. 2022 (arXiv 2203.12817); open-unlearning's GradDiff (gamma 1, alpha 1, NLL retain).
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import Method, TrainDefaults, check_choice, register_method
from mechunlearn.unlearning.losses import nll, retain_term


@dataclass
class GradDiffConfig(TrainDefaults):
    """Args:
    gamma: weight of the forget (ascent) term.
    alpha: weight of the retain term.
    retain_loss: ``nll`` or ``kl``.
    """

    gamma: float = 1.0
    alpha: float = 1.0
    retain_loss: str = "nll"

    def __post_init__(self):
        check_choice("retain_loss", self.retain_loss, ("nll", "kl"))


@register_method("grad_diff", GradDiffConfig)
class GradDiff(Method):
    def uses_reference(self):
        return self.cfg.retain_loss == "kl"

    def loss(self, step):
        f, r = nll(step.forget), retain_term(self.cfg.retain_loss, step)
        return {"loss": -self.cfg.gamma * f + self.cfg.alpha * r, "forget": f, "retain": r}
