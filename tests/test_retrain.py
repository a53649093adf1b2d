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
