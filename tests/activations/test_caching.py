import re

import numpy as np
import pytest
import torch

from mechunlearn.activations.caching import InMemory, NeuronStats, ShardWriter, iter_shards, neuron_stats, run_and_cache
from mechunlearn.concepts.labels import CONCEPT, IGNORE, label_texts
from mechunlearn.models import load_model

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics

PATTERN = re.compile(r"(?<!\w)(?:Harry Potter|Hogwarts|Dumbledore)(?!\w)")
TEXTS = ["Harry Potter went to Hogwarts.", "Paris is in France.", "Dumbledore smiled at the Hogwarts gate."] * 7


@pytest.fixture(scope="module")
def model(tiny_gpt2_dir):
    return load_model(tiny_gpt2_dir, device="cpu")


def test_streamed_stats_equal_stats_of_all_activations(model):
    items = label_texts(TEXTS, PATTERN, model.tokenizer, model.n_ctx)
    hooks = [model.mlp_hook(i) for i in range(model.n_layers)]
    mem = InMemory()
    stats = NeuronStats(hooks, model.d_mlp)
    run_and_cache(model, items, hooks, [mem, stats], batch_size=4, progress=False)
    x, y = mem.matrix(hooks)
    assert stats.count[1] == (y == CONCEPT).sum() > 0
    expect = x[y == 1].mean(0).reshape(len(hooks), model.d_mlp)
    np.testing.assert_allclose(stats.mean(1), expect, atol=1e-5)
    expect_std = x[y == 0].std(0).reshape(len(hooks), model.d_mlp)
    np.testing.assert_allclose(stats.std(0), expect_std, atol=1e-4)
    # batch size changes nothing
    other = neuron_stats(model, items, batch_size=7, progress=False)
    np.testing.assert_allclose(other.sum, stats.sum, atol=1e-4)


def test_bos_and_padding_are_not_cached(model):
    items = label_texts(TEXTS[:3], PATTERN, model.tokenizer, model.n_ctx)
    mem = InMemory()
    run_and_cache(model, items, [model.mlp_hook(0)], [mem], batch_size=3, progress=False)
    _, y = mem.matrix()
    assert len(y) == sum(sum(1 for lab in it.labels if lab != IGNORE) for it in items)


def test_shards_round_trip(model, tmp_path):
    items = label_texts(TEXTS, PATTERN, model.tokenizer, model.n_ctx)
    hook = model.mlp_hook(1)
    mem = InMemory()
    run_and_cache(
        model,
        items,
        [hook],
        [mem, ShardWriter(tmp_path, shard_tokens=40, dtype=torch.float32)],
        batch_size=4,
        progress=False,
    )
    parts = list(iter_shards(tmp_path, hook))
    assert len(parts) > 1
    x = torch.cat([a for a, _ in parts]).numpy()
    ref, y = mem.matrix()
    np.testing.assert_allclose(x, ref, atol=1e-6)
    assert (torch.cat([lab for _, lab in parts]).numpy() == y).all()


def test_stats_save_load(model, tmp_path):
    items = label_texts(TEXTS, PATTERN, model.tokenizer, model.n_ctx)
    s = neuron_stats(model, items, progress=False)
    s.save(tmp_path / "s.safetensors")
    t = NeuronStats.load(tmp_path / "s.safetensors")
    assert t.hooks == s.hooks
    np.testing.assert_array_equal(t.sumsq, s.sumsq)


def test_run_hooks_stops_early_yet_sees_the_same_activations(tiny_model_dir):
    """Caching stops after the last hooked block (or skips the LM head): activations equal a full pass."""
    from mechunlearn.models import load_model
    from tests.helpers import TEXTS

    m = load_model(tiny_model_dir, device="cpu")
    ids, mask = m.pad([m.encode(t) for t in TEXTS[:4]])
    for hooks in ([m.mlp_hook(0)], [m.mlp_hook(m.n_layers - 1)], [m.resid_hook(m.n_layers - 1)]):
        full, early = {}, {}
        m.logits(ids, mask, extra=[(h, lambda a, hook, h=h, d=full: d.__setitem__(h, a.clone())) for h in hooks])
        m.run_hooks(ids, mask, [(h, lambda a, hook, h=h, d=early: d.__setitem__(h, a.clone())) for h in hooks])
        assert all(torch.equal(full[h], early[h]) for h in hooks)
