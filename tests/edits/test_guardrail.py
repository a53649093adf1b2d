"""The guardrail edit: its prompt goes before every text exactly, measurements skip it, removing it
restores the model bit for bit, and context distillation moves the weights towards the guardrailed model."""

import torch

from mechunlearn.edits import Guardrail, edit_from_dict
from mechunlearn.models import load_model
from mechunlearn.models.tokens import special_prefix
from mechunlearn.training.data import Example, UnlearnData

TEXT = "Everyone cheered at Hogwarts"
PROMPT = "You have never heard of Hogwarts."


def test_prompt_goes_before_every_text_exactly_and_is_removed_cleanly(tiny_model_dir):
    model = load_model(tiny_model_dir, device="cpu")
    plain_ids = model.encode(TEXT)
    ids, mask = model.pad([plain_ids])
    plain = model.logits(ids, mask)
    g = Guardrail(PROMPT)
    model.edits.append(g)
    prompt_ids = list(model.tokenizer(PROMPT + "\n\n", add_special_tokens=False)["input_ids"])
    head = special_prefix(model.tokenizer)
    assert model.encode(TEXT) == head + prompt_ids + model.encode(TEXT, prepend_bos=False)
    assert model.special_prefix() == head + prompt_ids
    gids, gmask = model.pad([model.encode(TEXT)])
    # measurements skip the prompt as they skip BOS: only the text's tokens are content
    assert int(model.content_mask(gmask).sum()) == len(plain_ids) - len(head)
    # the guardrailed forward is the plain model's forward on the prompted ids
    guarded = model.logits(gids, gmask)
    model.edits.remove(g)
    assert torch.equal(guarded, model.logits(gids, gmask))
    assert not torch.allclose(guarded[0, -1], plain[0, -1])  # the prompt changes the prediction
    # removed: the model reads the text as before, bit for bit
    assert model.encode(TEXT) == plain_ids
    assert torch.equal(model.logits(ids, mask), plain)
    assert edit_from_dict(g.to_dict()) == g


def test_drop_prefix_tokens_keeps_targets_on_the_text(tiny_gpt2_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    model.edits.append(Guardrail(PROMPT))
    head = len(model.special_prefix())
    data = UnlearnData(model, [], [TEXT], max_len=64)
    from mechunlearn.concepts.folders import Fact

    data.retain.append(UnlearnData(model, [], [Fact("Frodo carried the One Ring to", "Mount")], max_len=64).retain[0])
    fact = data.retain[1]
    keep = len(special_prefix(model.tokenizer))
    data.drop_prefix_tokens("retain", keep, head - keep)
    model.edits.clear()
    assert data.retain[0].ids == tuple(model.encode(TEXT))
    assert data.retain[1] == Example(
        tuple(model.encode("Frodo carried the One Ring to") + model.encode_continuation("Mount")),
        fact.target_from - (head - keep),
        fact.prompt_len - (head - keep),
    )


def test_context_distillation_lowers_kl_to_the_guardrailed_model(tiny_gpt2_dir, planted_concept_dir):
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.pipeline.guardrail import kl_prompted
    from mechunlearn.training.distill import BakeConfig, distill

    model = load_model(tiny_gpt2_dir, device="cpu")
    concept = load_concept(planted_concept_dir)
    g = Guardrail(PROMPT)
    texts = concept.retain_split()[1] + concept.forget_split()[1]
    before = kl_prompted(model, [g], texts)
    model.edits.append(g)
    stats = distill(
        model,
        concept.forget_split()[0] + concept.retain_split()[0],
        BakeConfig(epochs=3, lr=3e-3),
        drop_edits=("guardrail",),
    )
    assert model.edits == [] and stats.steps > 0
    after = kl_prompted(model, [g], texts)
    assert before > 0 and after < 0.5 * before, (before, after)


def test_lm_eval_refuses_a_guardrailed_model(tiny_gpt2_dir, planted_concept_dir):
    """lm-eval tokenizes for itself: measuring a guardrailed model there would silently drop the prompt."""
    import pytest

    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.core.errors import MechUnlearnError
    from mechunlearn.evaluation.report import EvalSets

    model = load_model(tiny_gpt2_dir, device="cpu")
    model.edits.append(Guardrail(PROMPT))
    evals = EvalSets(load_concept(planted_concept_dir), checks=["lm_eval"])
    with pytest.raises(MechUnlearnError, match="guardrail edit in force: lm-eval tokenizes its own prompts"):
        evals.measure(model, ("test",))
