"""Generation: nucleus sampling draws from the distribution HF's warpers define; seeded sampling repeats;
greedy is HF's greedy."""

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopPLogitsWarper

from mechunlearn.models.generate import NucleusSampler, generate
from mechunlearn.models.loading import load_model


def hf_nucleus(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """HF's own warpers: the distribution its sampling draws from."""
    return TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(None, logits.clone())).softmax(-1)


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0, 10.0])
@pytest.mark.parametrize("top_p", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("temperature", [0.7, 1.0])
def test_drawn_tokens_lie_in_hfs_nucleus(scale, top_p, temperature):
    torch.manual_seed(0)
    logits = torch.randn(6, 3000) * scale
    logits[0] = torch.randn(3000) * 1e-3  # a near-flat row: its nucleus is far wider than the top k (full sort)
    allowed = hf_nucleus(logits, temperature, top_p) > 0
    sampler = NucleusSampler(temperature, top_p, torch.Generator().manual_seed(0), k=32)
    probs = (logits / temperature).softmax(-1)
    for _ in range(20):
        out = sampler(None, logits.clone())
        assert (out.isfinite().sum(-1) == 1).all()  # one token per row, which greedy's argmax takes
        drawn = out.argmax(-1)
        inside = allowed.gather(-1, drawn[:, None])[:, 0]
        # outside only where float rounding puts the token's predecessors' mass at top_p itself
        for row in (~inside).nonzero()[:, 0]:
            assert abs(float(probs[row][probs[row] > probs[row, drawn[row]]].sum()) - top_p) < 1e-5


@pytest.mark.parametrize("k", [2, 1024])  # the nucleus beyond the top k (full ranking) and within it
def test_draws_follow_the_nucleus_distribution(k):
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -1.0, -3.0]])
    want = hf_nucleus(logits, 0.8, 0.9)[0]
    sampler = NucleusSampler(0.8, 0.9, torch.Generator().manual_seed(1), k=k)
    draws = torch.stack([sampler(None, logits).argmax(-1)[0] for _ in range(20000)])
    freq = torch.bincount(draws, minlength=7) / len(draws)
    assert torch.allclose(freq, want, atol=0.015) and freq[want == 0].sum() == 0


def test_sampling_repeats_with_its_seed_and_greedy_is_hf_greedy():
    bundled_model = load_model(None, device="cpu")
    prompts = ["Harry Potter", "The capital of France"]
    a = generate(bundled_model, prompts, 8, temperature=1.0, top_p=0.9, seed=3)
    assert a == generate(bundled_model, prompts, 8, temperature=1.0, top_p=0.9, seed=3)
    greedy = generate(bundled_model, prompts[:1], 4)
    ids = bundled_model.pad([bundled_model.encode(prompts[0])], side="left")[0]
    hf = bundled_model.hf_model.generate(input_ids=ids, max_new_tokens=4, do_sample=False)
    assert greedy[0] == bundled_model.tokenizer.decode(hf[0, ids.shape[1] :], skip_special_tokens=True)
