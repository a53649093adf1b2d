"""``sft``: fine-tune on concept-free retain data only (the "retrain on filtered data" recipe).

    L = NLL_retain

The earlier NeuroX tool's last step: after pruning, retrain on data with no mention of the
concept, so the rest of the model adapts around the edit. Feed it a corpus filtered by
``mechunlearn filter`` with ``--retain-data``; forget data are not read.
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import nll


@dataclass
class SFTConfig(TrainDefaults):
    """Args: lr, steps, batch_size (retain rows per step)."""

    lr: float = 3e-5
    steps: int = 40


@register_method("sft", SFTConfig)
class SFT(Method):
    uses_forget = False

    def loss(self, step):
        r = nll(step.retain)
        return {"loss": r, "retain": r}
