"""Fact scoring: the batched, teacher-forced scores equal whole-sequence scoring and greedy generation,
and both fast paths (batched scoring, KV-cached generation) refuse to return numbers that disagree."""

import pytest
import torch

from mechunlearn.concepts.folders import Fact
from mechunlearn.edits import NeuronAblation
from mechunlearn.evaluation.scoring import SelfCheckFailed, greedy_complete, option_logprobs, score_facts
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
    from mechunlearn.concepts.folders import load_concept

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


def test_scoring_refuses_when_padding_is_attended(monkeypatch):
    """One-option facts run as plain padded rows; a mask that lets them attend to padding is caught.

    On the bundled model: a random tiny model's attention is too flat for the error to show.
    """
    from importlib.metadata import version

    from mechunlearn.models.hooked import HookedLM

    m = load_model(device="cpu")
    prompts = [m.encode("Paris"), m.encode("Frodo carried the One Ring to the top of")]
    options = [[m.encode_continuation("the big Rome gate at Hogwarts")]] * 2
    assert len(option_logprobs(m, prompts, options)) == 2  # agrees as it is
    real_pad = HookedLM.pad

    def attends_to_padding(self, seqs, side="right"):
        ids, mask = real_pad(self, seqs, side)
        return ids, torch.ones_like(mask)

    monkeypatch.setattr(HookedLM, "pad", attends_to_padding)
    with pytest.raises(SelfCheckFailed, match=f"transformers {version('transformers')}"):
        option_logprobs(m, prompts, options)


def test_scoring_refuses_when_the_packed_rows_mask_is_ignored(monkeypatch):
    """A release that dropped custom 4D masks would let each choice see the others: caught."""
    m = load_model(device="cpu")
    prompts = [m.encode(f.prompt) for f in FACTS[:2]]
    options = [[m.encode_continuation(o + " at Hogwarts by the gate") for o in f.choices] for f in FACTS[:2]]
    assert len(option_logprobs(m, prompts, options)) == 2
    real_forward = m.hf_model.forward

    def drops_4d_masks(*args, attention_mask=None, **kwargs):
        if attention_mask is not None and attention_mask.dim() == 4:
            attention_mask = None
        return real_forward(*args, attention_mask=attention_mask, **kwargs)

    monkeypatch.setattr(m.hf_model, "forward", drops_4d_masks)
    with pytest.raises(SelfCheckFailed, match="batched fact scoring disagrees"):
        option_logprobs(m, prompts, options)


def test_gemma3_packs_choices_within_its_sliding_window_and_scores_them_exactly(tiny_tokenizer_dir, tmp_path):
    """Packed rows carry one mask for every layer, so they are used only where no window cuts them."""
    from mechunlearn.evaluation.scoring import _rows
    from tests.helpers import build_tiny_model_dir

    m = load_model(build_tiny_model_dir("gemma3_text", tiny_tokenizer_dir, tmp_path / "g"), device="cpu")
    prompts = [m.encode(f.prompt) for f in FACTS[:2]]
    options = [[m.encode_continuation(o) for o in f.choices] for f in FACTS[:2]]
    assert _rows(m, prompts, options)[1]  # a window of 8 tokens: the longer fact runs one row per choice
    m.hf_model.config.sliding_window = 64
    assert [len(r) for r in _rows(m, prompts, options)] == [2, 0]  # within the window: packed
    for p, opts, res in zip(prompts, options, option_logprobs(m, prompts, options), strict=True):
        for o, (lp, greedy) in zip(opts, res, strict=True):
            ref_lp, ref_greedy = whole_sequence(m, p, o)
            assert lp == pytest.approx(ref_lp, abs=1e-4) and greedy == ref_greedy


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
