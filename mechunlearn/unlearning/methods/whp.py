"""``whp``: Who's Harry Potter (Eldan & Russinovich 2023, arXiv 2310.02238) — fine-tune towards generic labels.

    L = mean_{forget rows, labelled positions t} -log p_theta(y_t | x_<=t),
    y_t = argmax [ v_base(translated)_t - alpha * ReLU(v_reinforced_t - v_base_t) ]

In ``setup``, on the unchanged model: a *reinforced* copy is fine-tuned further on the forget text
(``reinforce_epochs`` at ``reinforce_lr``, every weight); the concept's anchored terms
(``anchors.tsv``) translate each forget text into a generic one; the generic label of every token
combines the base model's prediction on the translation with the reinforced model's boost, as
:mod:`mechunlearn.training.generic_labels` defines. The model is then trained on the *original*
text towards those labels: it keeps predicting fluent text, only not the concept's. The paper
ran this on Llama-2-7b with a ~1,500-entry dictionary; its familiarity went 0.29 -> 0.007 with
benchmarks at ~0.97-0.99x. Its forget rows are passages (``forget_kind`` ``passages``).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method


@dataclass
class WHPConfig(TrainDefaults):
    """Args:
    alpha: how hard the reinforced model's boost is pushed down in the generic logits.
    reinforce_epochs, reinforce_lr: the reinforced copy's fine-tuning on the forget text.
    lr, steps, batch_size: the fine-tuning towards the generic labels (forget rows per step).
    """

    alpha: float = 5.0
    reinforce_epochs: int = 2
    reinforce_lr: float = 3e-5
    lr: float = 1e-5
    steps: int = 40
    batch_size: int = 8


@register_method("whp", WHPConfig)
class WHP(Method):
    uses_retain = False
    forget_kind = "passages"

    @classmethod
    def check_concept(cls, concept) -> None:
        from mechunlearn.training.anchors import read_anchors

        read_anchors(concept)

    def setup(self, ctx):
        self.labels = ctx.generic_labels(self.cfg.alpha, self.cfg.reinforce_epochs, self.cfg.reinforce_lr)

    def loss(self, step):
        out = step.forget
        b = out.batch
        labels = torch.full(b.input_ids.shape, -100, dtype=torch.long)
        for row, i in enumerate(b.index):
            lab = self.labels[i][: b.input_ids.shape[1]]
            labels[row, : len(lab)] = lab
        labels = labels.to(out.logits.device)
        ce = F.cross_entropy(out.logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        return {"loss": ce, "generic": ce}
