"""``ga``: gradient ascent on the forget data's next-token loss.

    L = -NLL_forget

The simplest unlearning objective (Jang et al. 2023, arXiv 2210.01504; open-unlearning's
GradAscent). Unbounded: with nothing holding the retain side it degrades the whole model,
which the retain budget (``--max-retain-drop``) catches.
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import nll


@dataclass
class GAConfig(TrainDefaults):
    """Args: lr, steps, batch_size (forget rows per step)."""

    lr: float = 1e-5
    steps: int = 20


@register_method("ga", GAConfig)
class GradientAscent(Method):
    uses_retain = False

    def loss(self, step):
        f = nll(step.forget)
        return {"loss": -f, "forget": f}
