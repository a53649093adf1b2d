"""``distill``: match a teacher's next-token distributions (knowledge distillation, Hinton et al. 2015).

    L = mean_{b, t real} KL(p_teacher(. | x_<=t) || p_theta(. | x_<=t))

over every real position of the retain rows (the text to imitate). The teacher is the model
as it is when training starts, with all its edits in force: a frozen copy, run on each step's
rows (a corpus' distributions held at once would not fit: gemma's vocabulary is 262,144
entries). Then the edits of the kinds in
``drop_edits`` are taken out, so the student, the same weights without them, learns to do
what the edits did. ``clamp --bake`` uses it to turn an SAE clamp, which has no exact weight
form, into plain weights (as UNDO distils an unlearned teacher into a student); ``guardrail
--bake`` to turn a prompt into weights (context distillation): the teacher reads each text after
the guardrail's prompt, the student the text alone, and position by position the student matches
the teacher's distribution over the text's next tokens. With ``noise``, the student starts from a
partly noised copy of the teacher (UNDO, Lee et al. 2025; ``mechunlearn distill RUN --noise``).
"""

from dataclasses import dataclass

from mechunlearn.unlearning.base import Method, TrainDefaults, register_method
from mechunlearn.unlearning.losses import masked_mean, token_kl


@dataclass
class DistillConfig(TrainDefaults):
    """Args:
    lr, steps, batch_size: the loop's (rows of retain text per step).
    drop_edits: kinds of the edits the student runs without (``sae_clamp``: clamps have no weight form).
    noise, noise_seed: UNDO's student: after the teacher's distributions are taken, the weight matrices
        are shrunk and perturbed by this fraction (:mod:`mechunlearn.training.noise`; 0: none).
    """

    lr: float = 1e-3
    steps: int = 40
    batch_size: int = 16
    drop_edits: tuple[str, ...] = ("sae_clamp",)
    noise: float = 0.0
    noise_seed: int = 0


@register_method("distill", DistillConfig)
class Distill(Method):
    uses_forget = False

    def setup(self, ctx):
        ctx.hold_teacher()  # the model as it is now, every edit in force
        head = len(ctx.model.special_prefix())
        ctx.model.edits = [e for e in ctx.model.edits if e.kind not in self.cfg.drop_edits]
        keep = len(ctx.model.special_prefix())
        if head > keep:  # a dropped prompt (guardrail): the student reads the texts without it
            ctx.drop_teacher_prompt(keep, head - keep)
        if self.cfg.noise:  # UNDO: the student starts from a partly noised copy of the teacher
            from mechunlearn.training.noise import shrink_and_perturb

            shrink_and_perturb(ctx.model.trainable_parameters(embeddings=False), self.cfg.noise, self.cfg.noise_seed)

    def loss(self, step):
        out = step.retain
        teacher = step.ctx.teacher_logprobs(out.batch).to(out.logits.device)
        kl = masked_mean(token_kl(teacher, out.logits), out.batch.attention_mask)
        return {"loss": kl, "kl": kl}
