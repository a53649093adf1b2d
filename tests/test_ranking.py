"""Every ranking method must find a planted concept neuron; the store reuses and refreshes."""

import numpy as np
import pytest
import torch

from mechunlearn.concepts import load_concept
from mechunlearn.errors import MechUnlearnError
from mechunlearn.labels import CONCEPT
from mechunlearn.models import load_model
from mechunlearn.ranking import RANKERS, Neuron, rank
from mechunlearn.ranking.data import probing_items
from mechunlearn.ranking.store import check_ranking_matches

PLANT = Neuron(1, 7)


def plant_concept_neuron(model, concept) -> None:
    """Make MLP neuron PLANT fire only on the concept's keyword tokens and push towards ' Paris'.

    Attention is silenced and position embeddings zeroed, so each MLP sees only its token.
    Keyword tokens move a value of 8 from residual dimension 2 to dimension 0 (LayerNorm
    statistics stay identical for both classes); only PLANT reads dimensions 0 and 2, and
    it sits in the last layer, so no other neuron sees the concept through it.
    """
    hf = model.hf_model
    items = probing_items(model, concept)
    labels = {}
    for it in items:
        for i, lab in zip(it.ids, it.labels, strict=True):
            labels.setdefault(i, set()).add(lab)
    concept_ids = sorted(i for i, labs in labels.items() if labs == {CONCEPT})
    assert concept_ids, "the tiny tokenizer must give the keywords tokens of their own"
    paris = model.tokenizer(" Paris", add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        hf.transformer.wpe.weight.zero_()
        wte = hf.transformer.wte.weight
        wte[:, 0], wte[:, 1], wte[:, 2] = 0.0, 3.0, 8.0
        wte[concept_ids, 0], wte[concept_ids, 2] = 8.0, 0.0
        for blk in hf.transformer.h:
            blk.attn.c_proj.weight.zero_()
            blk.attn.c_proj.bias.zero_()
            blk.mlp.c_fc.weight[[0, 2], :] = 0.0
        blk = hf.transformer.h[PLANT.layer]
        blk.ln_2.weight.fill_(1.0)
        blk.ln_2.bias.zero_()
        fc, proj = blk.mlp.c_fc, blk.mlp.c_proj
        fc.weight[:, PLANT.index] = 0.0
        fc.weight[0, PLANT.index] = 4.0
        fc.bias[PLANT.index] = -8.0
        direction = wte[paris].clone()
        direction[:3] = 0.0
        proj.weight[PLANT.index] = 4.0 * direction / direction.norm()


@pytest.fixture(scope="module")
def planted(tiny_gpt2_dir, planted_concept_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    concept = load_concept(planted_concept_dir)
    plant_concept_neuron(model, concept)
    return model, concept


@pytest.mark.parametrize("method", sorted(RANKERS))
def test_every_method_ranks_the_planted_neuron_first(planted, method, tmp_path):
    model, concept = planted
    ranking, _ = rank(model, concept, method, store=tmp_path)
    assert ranking.top(1) == [PLANT], (method, ranking.top(5))


def test_planted_neuron_fires_only_on_concept_tokens(planted):
    from mechunlearn.caching import neuron_stats

    model, concept = planted
    s = neuron_stats(model, probing_items(model, concept), progress=False)
    assert s.freq(1)[PLANT] > 0.9 and s.freq(0)[PLANT] < 0.05


def test_probeless_matches_neurox(planted, tmp_path):
    from neurox.interpretation import probeless

    from mechunlearn.caching import InMemory, run_and_cache

    model, concept = planted
    hooks = [model.mlp_hook(i) for i in range(model.n_layers)]
    mem = InMemory()
    run_and_cache(model, probing_items(model, concept), hooks, [mem], progress=False)
    x, y = mem.matrix(hooks)
    theirs = probeless.get_neuron_ordering(x, y)
    ours, _ = rank(model, concept, "probeless", store=tmp_path, reuse=False)
    assert list(ours.order[:20]) == list(theirs[:20])


def test_probe_reports_heldout_accuracy(planted, tmp_path):
    model, concept = planted
    r, _ = rank(model, concept, "probe", store=tmp_path)
    assert r.metrics["probe_accuracy_heldout"] > 0.9
    assert r.metrics["heldout_tokens"] > 0


def test_store_reuses_then_recomputes_when_inputs_change(planted, tmp_path, caplog):
    model, concept = planted
    r1, folder = rank(model, concept, "probeless", store=tmp_path)
    assert folder == tmp_path / model.source_path.split("/")[-1] / concept.name / "probeless"
    stamp = (folder / "ranking.json").stat().st_mtime_ns
    caplog.set_level("INFO")
    r2, _ = rank(model, concept, "probeless", store=tmp_path)
    assert "reusing stored ranking" in caplog.text
    assert (folder / "ranking.json").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(r1.scores, r2.scores)
    r3, _ = rank(model, concept, "probeless", {"batch_size": 5}, store=tmp_path)  # config changed
    assert r3.config["key"] != r1.config["key"]
    with torch.no_grad():
        model.hf_model.transformer.h[0].mlp.c_fc.bias[0] += 1.0  # weights changed
    try:
        r4, _ = rank(model, concept, "probeless", {"batch_size": 5}, store=tmp_path)
        assert r4.model["fingerprint"] != r3.model["fingerprint"]
        with pytest.raises(MechUnlearnError, match="computed on model"):
            check_ranking_matches(r3, model)
    finally:
        with torch.no_grad():
            model.hf_model.transformer.h[0].mlp.c_fc.bias[0] -= 1.0


def test_unknown_method_and_option_are_clear_errors(planted, tmp_path):
    model, concept = planted
    with pytest.raises(MechUnlearnError, match=r"unknown ranking method 'nope'; available: \['attribution'"):
        rank(model, concept, "nope", store=tmp_path)
    with pytest.raises(MechUnlearnError, match=r"unknown option\(s\) \['lamda'\]"):
        rank(model, concept, "probe", {"lamda": 1}, store=tmp_path)


def test_top_k_bounds(planted, tmp_path):
    model, concept = planted
    r, _ = rank(model, concept, "probeless", store=tmp_path)
    with pytest.raises(MechUnlearnError, match="top-k must be between 1 and 128"):
        r.top(129)
