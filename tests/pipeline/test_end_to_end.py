"""End-to-end on the bundled model (minutes on 2 cores): run with `pytest -m slow`."""

import json

import pytest
from transformers import AutoModelForCausalLM

from mechunlearn.core.paths import bundled_model_dir
from mechunlearn.pipeline import PruneConfig, prune

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _needs_bundled_model():
    if not (bundled_model_dir() / "config.json").is_file():
        pytest.skip("bundled model not built")


def test_bundled_model_knows_its_facts():
    metrics = json.loads((bundled_model_dir() / "metrics.json").read_text())
    assert metrics["forget_fact_acc"] >= 0.8 and metrics["retain_fact_acc"] >= 0.8


def test_default_prune_forgets_more_than_it_loses(tmp_path, monkeypatch):
    import mechunlearn.ranking.store as store

    monkeypatch.setattr(store, "probes_dir", lambda: tmp_path / "probes")
    report = prune(PruneConfig(out=str(tmp_path / "run")), print_fn=lambda *_: None)
    b, a = report["before"], report["after"]
    assert (
        b["corpus.forget.test.greedy"] - a["corpus.forget.test.greedy"]
        > b["corpus.retain.test.greedy"] - a["corpus.retain.test.greedy"]
    )
    e = report["edit"]
    assert e["export_parity_max_abs_diff"] <= max(1e-4, 2 * e["bridge_vs_hf_float_noise"])
    AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model")


def test_retrain_recovers_retain_accuracy(tmp_path, monkeypatch):
    import mechunlearn.ranking.store as store

    monkeypatch.setattr(store, "probes_dir", lambda: tmp_path / "probes")
    # without the budget and with many neurons, so that pruning costs retain facts to recover (within the
    # default budget it costs none: the pruned model is at 1.0 and there is nothing to recover)
    cfg = PruneConfig(retrain=True, top_k=256, max_retain_drop=None, out=str(tmp_path / "run"))
    report = prune(cfg, print_fn=lambda *_: None)
    pruned, retrained = report["pruned_only"], report["after"]
    assert pruned["corpus.retain.test.greedy"] < report["before"]["corpus.retain.test.greedy"]
    assert retrained["corpus.retain.test.greedy"] > pruned["corpus.retain.test.greedy"]
    e = report["edit"]  # on this model the bridge and plain HF differ by ~1.7e-4 in fp32 even unedited
    assert e["export_parity_max_abs_diff"] <= max(1e-4, 2 * e["bridge_vs_hf_float_noise"])
