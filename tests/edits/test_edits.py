"""Neuron ablation through hooks is reversible, and baking it into weights is exact."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits import NeuronAblation, edit_from_dict
from mechunlearn.edits.export import bake_edits, export_checkpoint
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics

TEXTS = ["Harry Potter went to Hogwarts with Ron.", "The capital of France is Paris.", "Frodo walked on."]


def logits(model):
    ids, mask = model.pad([model.encode(t) for t in TEXTS])
    with torch.no_grad():
        return model.logits(ids, mask), mask.bool()


def edit_for(model, mode):
    neurons = [Neuron(0, 1), Neuron(0, 5), Neuron(1, 3), Neuron(model.n_layers - 1, model.d_mlp - 1)]
    values = [0.7, -0.3, 1.1, 0.25] if mode == "mean" else []
    return NeuronAblation(neurons, mode, values)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_hooks_change_logits_and_removing_them_restores_exactly(tiny_model_dir, mode):
    m = load_model(tiny_model_dir, device="cpu")
    base, real = logits(m)
    m.edits.append(edit_for(m, mode))
    edited, _ = logits(m)
    assert (edited[real] - base[real]).abs().max() > 1e-3
    m.edits.clear()
    again, _ = logits(m)
    assert torch.equal(again, base)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_baked_weights_reproduce_hooked_logits(tiny_model_dir, mode):
    m = load_model(tiny_model_dir, device="cpu")
    m.edits.append(edit_for(m, mode))
    hooked, real = logits(m)
    if mode == "mean" and m.model_type in ("llama", "gemma3_text"):
        with pytest.raises(MechUnlearnError, match="no bias to hold the mean"):
            bake_edits(m)
        return
    bake_edits(m)
    assert m.edits == []
    baked, _ = logits(m)
    assert (hooked[real] - baked[real]).abs().max() <= 1e-4


def test_export_reloads_as_plain_hf_with_same_logits(tiny_model_dir, tmp_path):
    m = load_model(tiny_model_dir, device="cpu")
    m.edits.append(edit_for(m, "zero"))
    hooked, real = logits(m)
    diff = export_checkpoint(m, tmp_path, TEXTS, card="# card\n")
    assert diff <= 1e-4
    plain = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    ids, mask = m.pad([m.encode(t) for t in TEXTS])
    with torch.no_grad():
        out = plain(ids, attention_mask=mask).logits
    assert (out[real] - hooked[real]).abs().max() <= 1e-4
    assert (tmp_path / "README.md").read_text() == "# card\n"


def test_neurons_outside_the_model_are_refused(tiny_gpt2_dir):
    m = load_model(tiny_gpt2_dir, device="cpu")
    m.edits.append(NeuronAblation([Neuron(0, m.d_mlp)]))
    with pytest.raises(MechUnlearnError, match="outside this model's MLP space"):
        logits(m)


def test_edit_round_trips_through_dict():
    e = NeuronAblation([Neuron(1, 2)], "mean", [0.5])
    assert edit_from_dict(e.to_dict()) == e
    with pytest.raises(MechUnlearnError, match='mode\' must be one of "zero", "mean", got "half"'):
        NeuronAblation([Neuron(1, 2)], "half")


def test_plain_hf_view_matches_the_bridge(tiny_model_dir):
    from mechunlearn.edits.export import bridge_float_noise

    m = load_model(tiny_model_dir, device="cpu")
    assert bridge_float_noise(m, TEXTS) <= 1e-4
    m.edits.append(edit_for(m, "zero"))
    with pytest.raises(ValueError, match="before adding edits"):
        bridge_float_noise(m, TEXTS)
