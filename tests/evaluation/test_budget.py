"""The retain budget: measured on validation data, keeps the largest edit within it, stops at the first over."""

import pytest

from mechunlearn.concepts.folders import load_concept
from mechunlearn.edits import NeuronAblation
from mechunlearn.evaluation.budget import RetainBudget, geometric_steps, largest_within
from mechunlearn.evaluation.report import EvalSets
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron


@pytest.fixture(scope="module")
def setup():
    model, concept = load_model(device="cpu"), load_concept("harry_potter")
    ev = EvalSets(concept)
    ev.measure(model, ("validation",), record_known=True)
    return model, concept, ev.known


def test_no_edit_costs_nothing_and_a_huge_one_is_over_budget(setup):
    model, concept, known = setup
    budget = RetainBudget(concept, known, 0.1)
    budget.calibrate(model)
    assert budget.facts and budget.loss(model) == {
        "facts_lost": 0.0,
        "loss_rise": 0.0,
        "ppl_ratio": 1.0,
        "retain_loss": 0.0,
    }
    neurons = [Neuron(layer, i) for layer in range(model.n_layers) for i in range(model.d_mlp)]

    def apply(k):
        model.edits.append(NeuronAblation(neurons[:: model.n_layers * model.d_mlp // k][:k]))

    chosen, trials = largest_within([2, 4, 3000], apply, model.edits.pop, model, budget)
    assert chosen in (2, 4) and trials[-1]["candidate"] == 3000 and not trials[-1]["within_budget"]
    assert model.edits == []  # every trial undone


def test_geometric_grid():
    assert geometric_steps(16, 100) == [16, 23, 32, 45, 64, 91, 100] and geometric_steps(16, 16) == [16]
