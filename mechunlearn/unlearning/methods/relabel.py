"""``relabel``: fine-tune on the concept's questions answered under the guardrail, keeping the retain side.

    L = NLL_relabelled + alpha * R,   R = NLL_retain  (or KL(frozen || current) on retain)

The synthetic-relabel recipe: the model asks itself questions about the concept, answers them with
the concept's guardrail prompt in force (``mechunlearn synth``: ``answers.jsonl``, answers that still
name the concept dropped), and is then fine-tuned without the prompt on those (question, answer)
pairs — *descending* on the relabelled answers, so it learns to answer as the guardrailed model did
(cf. "Learning to Refuse", Liu et al. 2024, arXiv 2407.10058; Eldan & Russinovich's generic
labels). Its forget rows are the synthetic corpus' answers unless ``--forget-data`` gives others.
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import RetainTermDefaults, RetainTermMethod, register_method
from mechunlearn.unlearning.losses import nll, retain_term


@dataclass
class RelabelConfig(RetainTermDefaults):
    """Args:
    alpha: weight of the retain term.
    retain_loss: ``nll`` or ``kl``.
    lr, steps, batch_size: relabelled rows per step.
    """

    lr: float = 1e-5
    steps: int = 40
    batch_size: int = 8


@register_method("relabel", RelabelConfig)
class Relabel(RetainTermMethod):
    forget_source = "synth_answers"  # the default forget rows: `mechunlearn synth`'s guardrailed answers

    def loss(self, step):
        f, r = nll(step.forget), retain_term(self.cfg.retain_loss, step)
        return {"loss": f + self.cfg.alpha * r, "relabelled": f, "retain": r}
