"""Fact scoring: the batched, teacher-forced scores equal whole-sequence scoring and greedy generation,
and both fast paths (batched scoring, KV-cached generation) refuse to return numbers that disagree."""

import pytest
import torch

from mechunlearn.concepts import Fact
from mechunlearn.edits import NeuronAblation
from mechunlearn.evaluation import SelfCheckFailed, greedy_complete, option_logprobs, score_facts
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics

FACTS = [
    Fact("The capital of France is", "Paris", ("Rome", "Paris", "New York City", "Berlin")),
    Fact("Harry Potter went to", "Hogwarts", ("Hogwarts", "Mordor", "Baker Street", "the Seine")),
    Fact("Frodo carried the One Ring to", "Mount Doom"),
]


def whole_sequence(model, prompt, option):
    ids, mask = model.pad([prompt + option])
    with torch.no_grad():
        lp = torch.log_softmax(model.logits(ids, mask)[0].float(), -1)
    rows = lp[len(prompt) - 1 : len(prompt) - 1 + len(option)]
    return float(rows.gather(-1, torch.tensor(option)[:, None]).sum()), bool(
        (rows.argmax(-1) == torch.tensor(option)).all()
    )


def test_batched_scores_equal_whole_sequence_scores_with_edits_in_force(tiny_model_dir):
    m = load_model(tiny_model_dir, device="cpu")
    m.edits.append(NeuronAblation([Neuron(0, i) for i in range(0, m.d_mlp, 3)]))
    prompts = [m.encode(f.prompt) for f in FACTS]
    options = [[m.encode_continuation(o) for o in (f.choices or (f.answer,))] for f in FACTS]
    got = option_logprobs(m, prompts, options, batch_size=2)
    for p, opts, res in zip(prompts, options, got, strict=True):
        for o, (lp, greedy) in zip(opts, res, strict=True):
            ref_lp, ref_greedy = whole_sequence(m, p, o)
            assert lp == pytest.approx(ref_lp, abs=1e-4) and greedy == ref_greedy


def test_teacher_forced_greedy_agrees_with_generation_on_the_bundled_model():
    from mechunlearn.concepts import load_concept

    m = load_model(device="cpu")
    facts = load_concept("harry_potter").facts_forget[:24]
    scores = score_facts(m, facts)
    gens = greedy_complete(m, [f.prompt for f in facts], 6)
    assert [s.greedy for s in scores] == [g.lstrip().startswith(f.answer) for g, f in zip(gens, facts, strict=True)]


def test_multiple_choice_fields():
    m = load_model(device="cpu")
    s = score_facts(m, FACTS)
    assert s[2].mc is None and s[2].p_right is None
    assert all(0 <= x.p_right <= 1 and isinstance(x.mc, bool) for x in s[:2])


def test_scoring_refuses_when_batched_scores_disagree_with_one_sequence_scores(tiny_gpt2_dir, monkeypatch):
    """A padding mask that lets rows attend to their padding (what a changed dependency could do) is caught."""
    from importlib.metadata import version

    from mechunlearn.models.hooked import HookedLM

    m = load_model(tiny_gpt2_dir, device="cpu")
    short, long = m.encode("Paris"), m.encode("Frodo carried the One Ring to the top of")
    options = [[m.encode_continuation("Rome"), m.encode_continuation("Paris")]] * 2
    assert len(option_logprobs(m, [short, long], options)) == 2  # agrees as it is
    real_pad = HookedLM.pad

    def attends_to_padding(self, seqs, side="right"):
        ids, mask = real_pad(self, seqs, side)
        return ids, torch.ones_like(mask)

    monkeypatch.setattr(HookedLM, "pad", attends_to_padding)
    with pytest.raises(SelfCheckFailed, match=f"transformers {version('transformers')}"):
        option_logprobs(m, [short, long], options)


def test_generation_refuses_a_continuation_an_uncached_pass_would_not_choose(tiny_gpt2_dir, monkeypatch):
    m = load_model(tiny_gpt2_dir, device="cpu")
    assert len(greedy_complete(m, ["Harry Potter went to"], 4)) == 1  # agrees as it is
    real_generate = m.hf_model.generate

    def generate_with_a_wrong_last_token(**kwargs):
        out = real_generate(**kwargs)
        out[:, -1] = (out[:, -1] + 1) % m.tokenizer.vocab_size
        return out

    monkeypatch.setattr(m.hf_model, "generate", generate_with_a_wrong_last_token)
    with pytest.raises(SelfCheckFailed, match="generation disagrees"):
        greedy_complete(m, ["Harry Potter went to"], 4)
