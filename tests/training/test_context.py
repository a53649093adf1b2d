"""The run's context: the distillation teacher is computed per batch from a frozen copy, lined up
with the student's positions when the student reads the texts without the guardrail's prompt, and
untouched by what training (or UNDO's noise) does to the student; NPO's reference is the frozen
copy's summed NLL of the batch's rows."""

import random

import torch

from mechunlearn.edits import Guardrail
from mechunlearn.models import load_model
from mechunlearn.models.tokens import special_prefix
from mechunlearn.training.context import Context
from mechunlearn.training.data import UnlearnData
from mechunlearn.unlearning.base import Outputs
from mechunlearn.unlearning.losses import sequence_nll

PROMPT = "You have never heard of Hogwarts."
TEXTS = ["Everyone cheered at Hogwarts", "The owl flew over the castle at night", "Tea"]


@torch.no_grad()
def _single_logprobs(model, ids: list[int]) -> torch.Tensor:
    i, m = model.pad([ids])
    return torch.log_softmax(model.logits(i, m)[0].float(), -1)


def test_teacher_reads_the_prompt_and_lines_up_with_the_student(tiny_gpt2_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    model.edits.append(Guardrail(PROMPT))
    data = UnlearnData(model, [], TEXTS, max_len=64)
    ctx = Context(model, data, random.Random(0))
    ctx.hold_teacher()
    head = len(model.special_prefix())
    # the guardrailed reading of each text, one at a time (no padding), before anything changes
    want = [_single_logprobs(model, model.encode(t)) for t in TEXTS]
    model.edits.clear()
    keep = len(special_prefix(model.tokenizer))
    cut = head - keep
    ctx.drop_teacher_prompt(keep, cut)
    with torch.no_grad():  # the student moves; the teacher must not
        for p in model.hf_model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    batch = data.batch("retain", [2, 0, 1])
    got = ctx.teacher_logprobs(batch)
    assert got.shape[:2] == batch.input_ids.shape
    for row, i in enumerate(batch.index):
        n = int(batch.attention_mask[row].sum())
        assert n == len(model.encode(TEXTS[i]))  # the student reads the text without the prompt
        # the student's position j predicts what the teacher predicts at j + cut: BOS <-> the prompt's last token
        assert torch.allclose(got[row, :n], want[i][cut : cut + n], atol=1e-5)


def test_reference_nll_is_the_frozen_copys_summed_nll(tiny_gpt2_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    data = UnlearnData(model, TEXTS, [], max_len=64)
    ctx = Context(model, data, random.Random(0))
    batch = data.batch("forget", [1, 2, 0])
    with torch.no_grad():
        want = sequence_nll(Outputs(batch, model.logits(batch.input_ids, batch.attention_mask), {}))
    ctx.frozen()
    with torch.no_grad():
        for p in model.hf_model.parameters():
            p.mul_(0.0)
    got = ctx.reference_nll(batch)
    assert torch.allclose(got, want, atol=1e-5) and (got > 0).all()
