"""SAEs with sae-lens: loading and refusals, training with sae-lens' trainer, clamping, feature ranking."""

import json
import os

import pytest
import torch

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits import SAEClamp
from mechunlearn.edits.sae_clamp import clamp_features
from mechunlearn.models import load_model
from mechunlearn.ranking.base import FEATURE_RANKERS
from mechunlearn.ranking.sae_store import rank_features
from mechunlearn.saes import load_sae
from mechunlearn.saes.loading import check_sae_fits, sae_fingerprint
from mechunlearn.saes.training import TrainSAEConfig, fit_sae, training_sae
from tests.helpers import PLANT, PLANTED_FEATURE, plant_concept_neuron, write_sae

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics


@pytest.fixture(scope="module")
def planted(tiny_gpt2_dir, planted_concept_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    concept = load_concept(planted_concept_dir)
    plant_concept_neuron(model, concept)
    return model, concept


@pytest.fixture(scope="module")
def planted_sae(tmp_path_factory, planted):
    model, _ = planted
    hook = model.mlp_hook(PLANT.layer)
    return str(write_sae(tmp_path_factory.mktemp("sae") / "planted", model.d_mlp, hook, reads=PLANT.index))


# ---- loading and refusals --------------------------------------------------------------
def test_local_sae_folder_loads_and_fits(tiny_gpt2_dir, tmp_path):
    model = load_model(tiny_gpt2_dir, device="cpu")
    folder = write_sae(tmp_path / "s", model.d_model, "blocks.0.hook_resid_pre")
    sae = load_sae(folder)
    assert sae.cfg.d_sae == 16
    assert check_sae_fits(sae, model) == "blocks.0.hook_resid_pre"


def test_sae_for_another_size_or_hook_is_refused(tiny_gpt2_dir, tmp_path):
    model = load_model(tiny_gpt2_dir, device="cpu")
    wrong_size = load_sae(write_sae(tmp_path / "a", 768, "blocks.0.hook_resid_pre", model_name="gpt2-small"))
    with pytest.raises(MechUnlearnError, match=r"inputs of size 768 .*'gpt2-small'.* has size 32"):
        check_sae_fits(wrong_size, model)
    wrong_hook = load_sae(write_sae(tmp_path / "b", 32, "blocks.8.hook_resid_pre", model_name="gpt2-small"))
    with pytest.raises(MechUnlearnError, match=r"hook 'blocks.8.hook_resid_pre'.*does not have"):
        check_sae_fits(wrong_hook, model)


@pytest.mark.parametrize(
    ("spec", "msg"),
    [
        ("/no/such/sae", "SAE folder does not exist: /no/such/sae"),
        ("no-such-release:blocks.0.hook_resid_pre", "unknown SAE release 'no-such-release'"),
        (
            "gpt2-small-res-jb:blocks.99.hook_resid_pre",
            "release 'gpt2-small-res-jb' has no SAE 'blocks.99.hook_resid_pre'",
        ),
    ],
)
def test_bad_sae_specs(spec, msg):
    with pytest.raises(MechUnlearnError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        load_sae(spec)


def test_folder_without_cfg_is_refused(tmp_path):
    with pytest.raises(MechUnlearnError, match="no cfg.json"):
        load_sae(tmp_path)


@pytest.mark.parametrize(
    ("spec", "repo"),
    [
        ("gpt2-small-res-jb:blocks.8.hook_resid_pre", "jbloom/GPT2-Small-SAEs-Reformatted"),
        # Gemma Scope 2 for gemma-3-270m (resid_post of layer 12 -> bridge hook blocks.12.hook_resid_post)
        ("gemma-scope-2-270m-pt-res:layer_12_width_16k_l0_medium", "google/gemma-scope-2-270m-pt"),
    ],
)
def test_release_offline_fails_fast_with_instructions(monkeypatch, tmp_path, spec, repo):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))  # nothing cached: refused without trying the network
    with pytest.raises(MechUnlearnError, match=rf"huggingface-cli download {repo} --include .*rerun with the same"):
        load_sae(spec)


# ---- training with sae-lens ------------------------------------------------------------
def test_sae_lens_trainer_learns_to_reconstruct(tiny_gpt2_dir):
    from mechunlearn.saes.quality import measure_sae

    model = load_model(tiny_gpt2_dir, device="cpu")
    docs = [
        f"The {w} went to the {v} market on day {i}." for i in range(40) for w, v in (("cat", "big"), ("dog", "old"))
    ]
    cfg = TrainSAEConfig(hook="blocks.1.hook_resid_pre", d_sae=64, tokens=40_000, batch_tokens=256, k=8, lr=3e-3)
    untrained = measure_sae(model, training_sae(cfg, model.d_model, {"hook_name": cfg.hook}), cfg.hook, docs[:20])
    sae, trainer, _ = fit_sae(model, cfg, docs, progress=False)
    q = measure_sae(model, sae, cfg.hook, docs[:20])
    assert trainer.n_training_steps == 40_000 // 256
    assert q.l0 <= 8 + 1e-6  # top-k: at most k features per token
    assert q.explained_variance > untrained.explained_variance + 0.2
    assert q.mse < untrained.mse / 2


def test_train_sae_command_writes_sae_lens_folder(monkeypatch, capsys, tiny_gpt2_dir, tmp_path):
    from sae_lens import SAE

    from tests.helpers import run_cli

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"The fox jumped over {i} lazy dogs at Hogwarts." for i in range(60)) + "\n")
    out = tmp_path / "sae"
    args = ["train-sae", "--model", tiny_gpt2_dir, "--hook", "blocks.0.hook_resid_post", "--d-sae", "48"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--tokens", "8192", "--corpus", corpus, "--out", out)
    assert code == 0, err
    for name in (
        "cfg.json",
        "sae_weights.safetensors",
        "sparsity.safetensors",
        "quality.json",
        "config.json",
        "run.log",
    ):
        assert (out / name).is_file(), name
    q = json.loads((out / "quality.json").read_text())["quality_heldout"]
    assert set(q) >= {"l0", "explained_variance", "ce_loss_recovered"}
    sae = SAE.load_from_disk(str(out))  # plain sae-lens can read it
    assert sae.cfg.d_sae == 48 and sae.cfg.metadata.hook_name == "blocks.0.hook_resid_post"
    code, _, err = run_cli(monkeypatch, capsys, *args, "--tokens", "8192", "--corpus", corpus, "--out", out)
    assert code == 2 and "already exists" in err


def test_train_sae_records_how_many_times_it_went_over_the_corpus(tiny_gpt2_dir, tmp_path):
    """A corpus that fits the activation buffer is run through the model once and reshuffled for every
    pass: 8,192 training tokens from a corpus of under 2,000 are about five passes, not the one model pass."""
    from mechunlearn.saes.training import train_sae

    docs = [f"The fox jumped over {i} lazy dogs at Hogwarts." for i in range(60)]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(docs) + "\n")
    cfg = TrainSAEConfig(
        model=str(tiny_gpt2_dir), hook="blocks.0.hook_resid_post", d_sae=48, tokens=8192, corpus=[str(corpus)]
    )
    cfg.out, cfg.device = str(tmp_path / "sae"), "cpu"
    training = train_sae(cfg, print_fn=lambda *a: None)["training"]
    model = load_model(tiny_gpt2_dir, device="cpu")
    bos = len(model.special_prefix())
    trained_on = [d for i, d in enumerate(docs) if i % cfg.heldout_every]  # every 20th is held out
    corpus_tokens = sum(len(model.encode(d)) - bos for d in trained_on)
    assert training["corpus_tokens"] == corpus_tokens
    assert training["tokens"] == 8192
    assert training["epochs_over_corpus"] == round(8192 / corpus_tokens, 2)
    assert training["epochs_over_corpus"] > 4  # ~5 passes over 1,644 tokens


def test_train_sae_runs_the_model_once_over_a_corpus_within_its_buffer(tiny_gpt2_dir):
    """``buffer_tokens`` decides whether the corpus' activations are kept (one model pass, reshuffled) or
    made again for every pass over the corpus."""
    docs = [f"The fox jumped over {i} lazy dogs at Hogwarts." for i in range(60)]
    model = load_model(tiny_gpt2_dir, device="cpu")
    passes = {}
    for buffer in (131_072, 256):
        cfg = TrainSAEConfig(hook="blocks.0.hook_resid_post", d_sae=48, tokens=8192, buffer_tokens=buffer)
        _, _, stream = fit_sae(model, cfg, docs, progress=False)
        passes[buffer] = stream.epochs
    assert passes[131_072] == 1
    assert passes[256] >= 4  # ~5 passes over ~1,700 tokens, each one a forward over the corpus


def test_train_sae_corpus_names_the_bundled_corpus_beside_files(tmp_path):
    from mechunlearn.bundled.corpus import load_knowledge, training_documents
    from mechunlearn.saes.training import read_corpus

    lines = tmp_path / "more.txt"
    lines.write_text("one more document\nand another\n")
    rows = tmp_path / "more.jsonl"
    rows.write_text(json.dumps({"text": "a passage\nof two lines"}) + "\n")
    bundled = training_documents(load_concept("harry_potter"), load_knowledge())
    assert read_corpus([]) == bundled
    got = read_corpus(["bundled", str(lines), str(rows)])
    assert got == [*bundled, "one more document", "and another", "a passage\nof two lines"]


# ---- clamping --------------------------------------------------------------------------
def test_clamp_modes_on_features():
    f = torch.tensor([[0.0, 2.0, 5.0], [1.0, 0.5, 0.0]])
    idx = torch.tensor([1, 2])
    assert clamp_features(f, idx, "zero", 0, "fixed", 0).tolist() == [[0, 0, 0], [1, 0, 0]]
    assert clamp_features(f, idx, "negative", 2, "multiplier", 0).tolist() == [[0, -4, -10], [1, -1, 0]]
    assert clamp_features(f, idx, "negative", 3, "fixed", 0).tolist() == [[0, -3, -3], [1, -3, -3]]
    assert clamp_features(f, idx, "conditional", 3, "fixed", 1.0).tolist() == [[0, -3, -3], [1, 0.5, 0]]


def test_unchanged_features_leave_logits_exact(tiny_gpt2_dir, tmp_path):
    """The SAE's error term is added back: a clamp that changes nothing changes no logit."""
    model = load_model(tiny_gpt2_dir, device="cpu")
    folder = write_sae(tmp_path / "s", model.d_model, "blocks.1.hook_resid_pre")
    ids, mask = model.pad([model.encode("The cat went to the big market"), model.encode("A dog")])
    clean = model.logits(ids, mask)
    model.edits = [SAEClamp(str(folder), [], "zero")]
    assert (model.logits(ids, mask) - clean).abs().max() <= 1e-4
    model.edits = [SAEClamp(str(folder), list(range(16)), "negative", 0.0 + 1e-9, "multiplier")]
    assert (model.logits(ids, mask) - clean).abs().max() > 1e-4  # ... and clamping does act
    f_before = load_sae(folder).encode(torch.randn(4, model.d_model))
    assert f_before.shape == (4, 16)


def test_clamp_validates_indices_and_mode(tiny_gpt2_dir, tmp_path):
    model = load_model(tiny_gpt2_dir, device="cpu")
    folder = write_sae(tmp_path / "s", model.d_model, "blocks.1.hook_resid_pre")
    with pytest.raises(MechUnlearnError, match=r"feature indices \[16, 99\] are outside the SAE's 16 features"):
        SAEClamp(str(folder), [0, 16, 99], "zero").hooks(model)
    with pytest.raises(MechUnlearnError, match='mode\' must be one of "zero", "negative", "conditional", got "soft"'):
        SAEClamp(str(folder), [0], "soft")
    with pytest.raises(MechUnlearnError, match="cannot be written into the weights exactly"):
        SAEClamp(str(folder), [0], "zero").bake(model)


def test_zero_clamp_of_planted_feature_equals_neuron_ablation(planted, planted_sae):
    from mechunlearn.edits import NeuronAblation

    model, concept = planted
    ids, mask = model.pad([model.encode(f.prompt) for f in concept.facts_forget])
    model.edits = [SAEClamp(planted_sae, [PLANTED_FEATURE], "zero")]
    clamped = model.logits(ids, mask)
    model.edits = [NeuronAblation([PLANT], "zero")]
    ablated = model.logits(ids, mask)
    model.edits = []
    clean = model.logits(ids, mask)
    assert (clamped - clean).abs().max() > 0.1
    assert (clamped - ablated).abs().max() <= 1e-4


# ---- ranking ---------------------------------------------------------------------------
def test_two_saes_at_one_hook_keep_a_stored_ranking_each(planted, planted_sae, tmp_path):
    """A second SAE at the same hook is ranked beside the first, never in its place: ranking the first
    again reuses its stored ranking."""
    model, concept = planted
    other = write_sae(tmp_path / "other", model.d_mlp, model.mlp_hook(PLANT.layer))  # random weights
    first, first_dir = rank_features(model, load_sae(planted_sae), planted_sae, concept, store=tmp_path / "p")
    second, second_dir = rank_features(model, load_sae(other), str(other), concept, store=tmp_path / "p")
    assert first_dir != second_dir and first_dir.name == second_dir.name
    stored = (first_dir / "ranking.json").stat().st_mtime_ns
    again, again_dir = rank_features(model, load_sae(planted_sae), planted_sae, concept, store=tmp_path / "p")
    assert again_dir == first_dir and (first_dir / "ranking.json").stat().st_mtime_ns == stored  # reused
    assert again.sae["fingerprint"] == first.sae["fingerprint"] != second.sae["fingerprint"]


@pytest.mark.parametrize("method", sorted(FEATURE_RANKERS))
def test_every_feature_ranker_finds_the_planted_feature(planted, planted_sae, method, tmp_path):
    model, concept = planted
    sae = load_sae(planted_sae)
    opts = {"min_steps": 300} if method == "sae-probe" else {}
    r, folder = rank_features(model, sae, planted_sae, concept, method, opts, store=tmp_path)
    assert r.top_features(1) == [PLANTED_FEATURE]
    sae_dir = f"sae-{model.mlp_hook(1)}-{sae_fingerprint(sae)[:8]}"
    assert folder.parent == tmp_path / model.name.split(os.sep)[-1] / concept.name / sae_dir
    # a ranking with options other than the defaults is stored beside the default one, never in its place
    assert folder.name == method if not opts else folder.name.startswith(f"{method}+options-")
    table = json.loads((folder / "features.json").read_text())
    top = table[0]
    assert top["feature"] == PLANTED_FEATURE and top["freq_concept"] > 0.9 and top["freq_other"] == 0
    assert top["contexts"] and all("[[" in c["text"] for c in top["contexts"])
    assert any(k in c["text"] for c in top["contexts"] for k in ("Hogwarts", "Dumbledore"))
    with pytest.raises(MechUnlearnError, match="between 1 and 16 \\(the SAE's width\\)"):
        r.top(17)


def test_default_sae_is_the_one_in_its_hooks_folder_not_a_variant_beside_it(monkeypatch, tiny_gpt2_dir, tmp_path):
    """A second SAE at the same hook, in a folder named otherwise (``<hook>-synth``), does not make the shipped
    one ambiguous: the default is the SAE in ``saes/<model>/<hook>/``; two of those with none preferred is an error."""
    from mechunlearn.models.hooked import model_slug
    from mechunlearn.pipeline.clamp import default_sae

    model = load_model(tiny_gpt2_dir, device="cpu")
    root = tmp_path / "saes" / model_slug(model)
    hook, other = "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"
    write_sae(root / hook, model.d_model, hook)
    write_sae(root / f"{hook}-synth", model.d_model, hook)
    monkeypatch.setenv("MECHUNLEARN_HOME", str(tmp_path))
    assert default_sae(model).endswith(hook)
    write_sae(root / other, model.d_model, other)
    with pytest.raises(MechUnlearnError, match="several"):
        default_sae(model)
