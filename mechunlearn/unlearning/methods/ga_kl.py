"""``ga_kl``: gradient ascent on forget data, KL to the frozen starting model on retain data.

    L = -NLL_forget + alpha * KL(p_frozen || p_current)_retain

The "GA + KL" baseline of TOFU (Maini et al. 2024, arXiv 2401.06121). The frozen model
carries the earlier edits too, so the KL keeps the edited model's retain behaviour.
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import kl_to, nll


@dataclass
class GAKLConfig(TrainDefaults):
    """Args: alpha: weight of the retain KL term."""

    alpha: float = 1.0


@register_method("ga_kl", GAKLConfig)
class GAKL(Method):
    def uses_reference(self):
        return True

    def loss(self, step):
        f = nll(step.forget)
        r = kl_to(step.ctx.reference_logits(step.retain.batch), step.retain)
        return {"loss": -f + self.cfg.alpha * r, "forget": f, "retain": r}
