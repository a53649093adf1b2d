"""Fact scoring: the KV-shared, teacher-forced scores equal whole-sequence scoring and greedy generation."""

import pytest
import torch

from mechunlearn.concepts import Fact
from mechunlearn.edits import NeuronAblation
from mechunlearn.evaluation import greedy_complete, option_logprobs, score_facts
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron

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


def test_kv_shared_scores_equal_whole_sequence_scores_with_edits_in_force(tiny_model_dir):
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
    for f, got in zip(FACTS[:2], s[:2], strict=True):  # against whole-sequence scores of every choice
        lps = [whole_sequence(m, m.encode(f.prompt), m.encode_continuation(c))[0] for c in f.choices]
        right = f.choices.index(f.answer)
        z = sum(torch.exp(torch.tensor(lps, dtype=torch.float64) - max(lps)).tolist())
        assert got.p_right == pytest.approx(float(torch.exp(torch.tensor(lps[right] - max(lps)))) / z, abs=1e-4)
        assert got.mc is (max(range(len(lps)), key=lps.__getitem__) == right)
