"""Shrink and perturb (UNDO's student): its formula, its seed, what it leaves alone."""

import pytest
import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.training.noise import shrink_and_perturb


def _params():
    g = torch.Generator().manual_seed(0)
    return [torch.nn.Parameter(torch.randn(6, 5, generator=g)), torch.nn.Parameter(torch.ones(5))]


def test_formula_seed_and_vectors_left_alone():
    w, v = _params()
    before, std = w.detach().clone(), float(w.std())
    assert shrink_and_perturb([w, v], 0.0) == 0 and torch.equal(w, before)
    moved = shrink_and_perturb([w, v], 0.3, seed=7)
    eps = torch.randn(6, 5, generator=torch.Generator().manual_seed(7))
    assert moved == 30 and torch.allclose(w, 0.7 * before + 0.3 * std * eps)
    assert torch.equal(v, torch.ones(5))  # a norm gain is not noise at initialisation
    w2, _ = _params()
    shrink_and_perturb([w2, w2], 0.3, seed=7)  # a tied weight listed twice moves once
    assert torch.allclose(w2, w)
    w3, _ = _params()
    shrink_and_perturb([w3], 1.0, seed=7)
    assert torch.allclose(w3, std * eps)  # all noise: nothing of the weights is left
    with pytest.raises(MechUnlearnError, match=r"noise must be a fraction in \[0, 1\]"):
        shrink_and_perturb([w3], 1.5)
