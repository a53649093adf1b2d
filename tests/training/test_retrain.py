"""Retraining runs through the hooked model: pruned neurons stay pruned, the rest learns."""

import torch

from mechunlearn.edits import NeuronAblation
from mechunlearn.edits.export import export_checkpoint
from mechunlearn.evaluation.scoring import perplexity
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron
from mechunlearn.training.retrain import RetrainConfig, retrain

TEXTS = ["Frodo carried the One Ring to Mount Doom in Mordor.", "The capital of France is Paris."] * 8


def test_retrain_lowers_loss_and_keeps_neurons_ablated(tiny_gpt2_dir, tmp_path):
    m = load_model(tiny_gpt2_dir, device="cpu")
    pruned = [Neuron(0, 3), Neuron(1, 9)]
    m.edits.append(NeuronAblation(pruned, "zero"))
    before = perplexity(m, TEXTS)
    stats = retrain(m, TEXTS, RetrainConfig(epochs=5, lr=3e-3, batch_size=4))
    assert stats.steps == 20 and stats.last_loss < stats.first_loss
    assert perplexity(m, TEXTS) < before
    seen = {}

    def grab(layer):
        def fn(act, hook):
            seen[layer] = act.detach().clone()

        return fn

    ids, mask = m.pad([m.encode(t) for t in TEXTS[:2]])
    m.logits(ids, mask, extra=[(m.mlp_hook(0), grab(0)), (m.mlp_hook(1), grab(1))])
    assert torch.all(seen[0][..., 3] == 0) and torch.all(seen[1][..., 9] == 0)
    assert seen[0][..., 4].abs().sum() > 0
    assert export_checkpoint(m, tmp_path, TEXTS[:2]) <= 1e-4


def test_length_buckets_cover_every_example_once_per_pass_in_a_new_order(tiny_gpt2_dir):
    from mechunlearn.training.data import UnlearnData

    m = load_model(tiny_gpt2_dir, device="cpu")
    texts = [" ".join(["word"] * n) for n in range(1, 23)]  # 22 lengths, all different
    data = UnlearnData(m, [], texts, seed=3, bucket=4)
    assert data.batches_per_pass("retain", 4) == 6
    passes = [[data.next_indices("retain", 4) for _ in range(6)] for _ in range(2)]
    for p in passes:
        assert sorted(i for b in p for i in b) == list(range(22))
        # a bucket holds neighbours in length: its examples' lengths span at most its size
        assert all(max(b) - min(b) == len(b) - 1 for b in p)
    assert passes[0] != passes[1]
    assert UnlearnData(m, [], texts, seed=3).batches_per_pass("retain", 4) == 6  # without buckets: ceil(22/4)
