"""``yao``: Yao, Xu, Liu 2023, "Large Language Model Unlearning" (arXiv 2310.10683).

    L = bad_weight * (-NLL_forget)                      gradient ascent on forget samples
      + random_weight * NLL(forget prompt -> random answer)   random mismatch
      + normal_weight * KL(p_frozen || p_current)_retain      stay close on normal data

The random answers are drawn from the retain (normal) data: each forget example's prompt
(a fact's question; a passage's first third) is followed by the continuation of a random
retain example, and only those answer tokens are trained on. Weights are the authors'
defaults (bad 0.5, random 1, normal 1; they ran lr 2e-6 for 1000 steps on OPT-1.3B).
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import kl_to, nll


@dataclass
class YaoConfig(TrainDefaults):
    """Args:
    bad_weight: weight of gradient ascent on forget samples.
    random_weight: weight of the random-mismatch term.
    normal_weight: weight of the KL term on retain data.
    """

    bad_weight: float = 0.5
    random_weight: float = 1.0
    normal_weight: float = 1.0


@register_method("yao", YaoConfig)
class Yao(Method):
    def uses_reference(self):
        return True

    def extra_batches(self, ctx, forget):
        return {"mismatch": ctx.data.mismatched(forget.index, ctx.rng)}

    def loss(self, step):
        f = nll(step.forget)
        mismatch = nll(step.extra["mismatch"])
        r = kl_to(step.ctx.reference_logits(step.retain.batch), step.retain)
        c = self.cfg
        total = -c.bad_weight * f + c.random_weight * mismatch + c.normal_weight * r
        return {"loss": total, "forget": f, "retain": r, "mismatch": mismatch}
