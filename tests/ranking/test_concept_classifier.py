"""The concept's document classifier (NeuroX probe on pooled MLP activations) and `filter --probe`,
on the bundled model: it must catch passages about the concept that name none of its keywords."""

import json

import numpy as np
import pytest

from mechunlearn.activations.caching import MeanByLabel
from mechunlearn.concepts.folders import load_concept
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def passages():
    c = load_concept("harry_potter")
    keyword_free = [t for t in c.forget_corpus if not c.mentions(t)]
    assert len(keyword_free) >= 20  # the corpus has passages a keyword list cannot see
    return keyword_free, c.retain_corpus


def test_mean_by_label_pools_one_vector_per_label():
    import torch

    sink = MeanByLabel(3)
    sink.add("h", torch.tensor([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]]), torch.tensor([0, 0, 2]))
    np.testing.assert_allclose(sink.matrix(["h"]), [[2.0, 3.0], [0.0, 0.0], [10.0, 0.0]])


def test_classifier_ranks_keyword_free_concept_passages_above_other_passages(passages):
    from mechunlearn.models import load_model
    from mechunlearn.ranking.classifier import ConceptClassifier

    keyword_free, retain = passages
    clf = ConceptClassifier.train(load_model(None), load_concept("harry_potter"))
    assert clf.fitted.metrics["probe_accuracy_heldout"] > 0.75  # held-back probing sentences
    p_concept, p_other = clf.probability(keyword_free), clf.probability(retain)
    assert p_concept.mean() > p_other.mean() + 0.2
    assert clf.is_concept(keyword_free).mean() > clf.is_concept(retain).mean() + 0.2
    assert clf.probability([]).shape == (0,)


def test_filter_probe_removes_keyword_free_mentions_the_keywords_miss(monkeypatch, capsys, passages, tmp_path):
    keyword_free, retain = passages
    docs = keyword_free + retain
    (tmp_path / "in.txt").write_text("\n".join(docs) + "\n")
    code, _, err = run_cli(monkeypatch, capsys, "filter", tmp_path / "in.txt", tmp_path / "kw.txt")
    assert code == 0, err
    assert json.loads((tmp_path / "kw.txt.filter.json").read_text())["removed"] == 0  # no keyword in any of them
    code, stdout, err = run_cli(monkeypatch, capsys, "filter", "--probe", tmp_path / "in.txt", tmp_path / "p.txt")
    assert code == 0, err
    kept = set((tmp_path / "p.txt").read_text().splitlines())
    dropped_concept = sum(d not in kept for d in keyword_free)
    dropped_other = sum(d not in kept for d in retain)
    assert dropped_concept / len(keyword_free) > dropped_other / len(retain) + 0.2
    rec = json.loads((tmp_path / "p.txt.filter.json").read_text())
    assert rec["removed_by_probe"] == dropped_concept + dropped_other and rec["removed_by_keyword"] == 0
    assert rec["probe"] is True and rec["probe_model"] == "tiny-world-gpt2" and rec["threshold"] == 0.5
    assert rec["probe_config"]["probe"]["lambda_l2"] == 1.0  # the probe's settings, for a rerun
    assert 0 < rec["probe_metrics"]["probe_accuracy_heldout"] <= 1
    assert "by the probe" in stdout
    assert "configuration" in (tmp_path / "p.txt.filter.log").read_text()
