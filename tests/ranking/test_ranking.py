"""Every ranking method must find a planted concept neuron; the store reuses and refreshes."""

import numpy as np
import pytest
import torch

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model
from mechunlearn.ranking import RANKERS, rank
from mechunlearn.ranking.data import probing_items
from mechunlearn.ranking.store import check_ranking_matches
from tests.helpers import PLANT, plant_concept_neuron


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
    from mechunlearn.activations.caching import neuron_stats

    model, concept = planted
    s = neuron_stats(model, probing_items(model, concept), progress=False)
    assert s.freq(1)[PLANT] > 0.9 and s.freq(0)[PLANT] < 0.05


def test_probeless_matches_neurox(planted, tmp_path):
    from neurox.interpretation import probeless

    from mechunlearn.activations.caching import InMemory, run_and_cache

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


def test_a_ranking_through_edits_never_replaces_the_bare_models(planted, tmp_path):
    """A stack ranks with its edits in force (a clamp, pruned neurons): the weights' fingerprint is the
    same, so the edits must key the ranking and give it its own folder."""
    from mechunlearn.edits import NeuronAblation
    from mechunlearn.ranking import Neuron

    model, concept = planted
    r1, bare = rank(model, concept, "probeless", store=tmp_path)
    stamp = (bare / "ranking.json").stat().st_mtime_ns
    model.edits.append(NeuronAblation([Neuron(1, 7)], "zero"))
    try:
        r2, edited = rank(model, concept, "probeless", store=tmp_path)
    finally:
        model.edits.clear()
    assert edited != bare and edited.name.startswith("probeless+edits-")
    assert r2.config["key"] != r1.config["key"] and (bare / "ranking.json").stat().st_mtime_ns == stamp
    assert r2.scores[1, 7] != r1.scores[1, 7]  # the ablated neuron ranks differently through the edit
    r3, again = rank(model, concept, "probeless", store=tmp_path)  # the bare model: its own ranking, reused
    assert again == bare and r3.config["key"] == r1.config["key"]


def test_unknown_method_and_option_are_clear_errors(planted, tmp_path):
    model, concept = planted
    with pytest.raises(MechUnlearnError, match=r"unknown ranking method 'nope'; valid: \['attribution'"):
        rank(model, concept, "nope", store=tmp_path)
    with pytest.raises(MechUnlearnError, match=r"unknown option\(s\) \['lamda'\]"):
        rank(model, concept, "probe", {"lamda": 1}, store=tmp_path)


def test_top_k_bounds(planted, tmp_path):
    model, concept = planted
    r, _ = rank(model, concept, "probeless", store=tmp_path)
    with pytest.raises(MechUnlearnError, match="top-k must be between 1 and 128"):
        r.top(129)


@pytest.mark.parametrize("method", ["attribution", "probeless"])
def test_the_shipped_rankings_are_current(method):
    """The bundled model's rankings in probes/ are keyed as today's code keys them, so `prune` reuses them
    (a new option or a changed concept file would otherwise make every stored ranking stale, silently)."""
    from mechunlearn.core.paths import probes_dir
    from mechunlearn.evaluation.report import EvalSets
    from mechunlearn.ranking.base import Ranking
    from mechunlearn.ranking.store import edits_part, ranking_key

    model, concept = load_model(None, device="cpu"), load_concept("harry_potter")
    evals = EvalSets(concept)  # the known facts as a stage records them before it ranks
    evals.measure(model, ("validation", "test"), record_known=True)
    concept.known = evals.known
    stored = Ranking.load(probes_dir() / model.source_path.split("/")[-1] / concept.name / method)
    key = ranking_key(method, RANKERS.build_config(method, None), model.fingerprint(), concept, edits_part(model))
    assert stored.config["key"] == key
