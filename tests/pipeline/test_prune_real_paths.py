"""Prune paths that matter on real models: refusing an unbakeable architecture early, a real parity comparison."""

import math

import pytest
import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.pipeline import PruneConfig, prune

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Keep rankings of tiny test models out of the repository's probes/ folder."""
    import mechunlearn.ranking.store as s

    monkeypatch.setattr(s, "probes_dir", lambda: tmp_path / "probes")


@pytest.fixture(scope="module")
def tiny_opt_dir(tiny_tokenizer_dir, tmp_path_factory):
    """OPT boots in the bridge, but mechunlearn has no neuron layout for it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, OPTConfig

    d = tmp_path_factory.mktemp("opt")
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    cfg = OPTConfig(
        num_hidden_layers=2,
        hidden_size=32,
        num_attention_heads=4,
        ffn_dim=64,
        vocab_size=len(tok),
        max_position_embeddings=256,
        word_embed_proj_dim=32,
        bos_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def test_an_architecture_whose_neurons_cannot_be_baked_is_refused_before_any_work(
    tiny_opt_dir, planted_concept_dir, tmp_path, monkeypatch
):
    from mechunlearn.evaluation.report import EvalSets

    def no_work(*a, **k):
        raise AssertionError("evaluation ran before the refusal")

    monkeypatch.setattr(EvalSets, "measure", no_work)
    out = tmp_path / "never"
    cfg = PruneConfig(model=str(tiny_opt_dir), concept=str(planted_concept_dir), out=str(out), top_k=4)
    with pytest.raises(MechUnlearnError, match="model type 'opt' is not supported for neuron edits; supported: \\["):
        prune(cfg, print_fn=lambda *_: None)
    assert not out.exists() and not list(tmp_path.glob(".never*"))


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_export_parity_is_a_real_comparison_with_a_real_floor(
    arch, tiny_tokenizer_dir, planted_concept_dir, tmp_path, store
):
    from tests.helpers import build_tiny_model_dir

    model_dir = build_tiny_model_dir(arch, tiny_tokenizer_dir, tmp_path / arch)
    lines: list[str] = []
    cfg = PruneConfig(model=str(model_dir), concept=str(planted_concept_dir), out=str(tmp_path / "run"), top_k=8)
    cfg.max_retain_drop = None
    e = prune(cfg, print_fn=lines.append)["edit"]
    # on these architectures the bridge runs the HF modules themselves: the floor is a real 0.0, not NaN
    assert isinstance(e["bridge_vs_hf_float_noise"], float) and math.isfinite(e["bridge_vs_hf_float_noise"])
    assert e["edit_effect_max_abs_logit_diff"] > 1e-3  # the edit moved the logits, so parity means something
    assert e["export_parity_max_abs_diff"] <= 1e-4
    assert not any("nan" in ln for ln in lines if "fp32 floor" in ln)
