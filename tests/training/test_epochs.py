"""Training counted in epochs: the bundled model's own training runs in the one loop."""

from mechunlearn.bundled.train import BundledModelConfig, build_model, train_from_scratch, train_tokenizer

DOCS = [
    "Harry Potter went to Hogwarts.",
    "Frodo carried the One Ring to Mordor.",
    "The capital of France is Paris.",
    "Water boils at one hundred degrees at sea level.",
    "Sherlock Holmes lived on Baker Street in London.",
] * 4


def test_the_bundled_model_trains_from_scratch_in_the_loop(tmp_path):
    import torch

    cfg = BundledModelConfig(
        vocab_size=300, n_layer=1, d_model=32, n_head=2, d_mlp=64, n_ctx=32, epochs=3, batch_size=4
    )
    tok = train_tokenizer(DOCS, cfg.vocab_size)
    eos = tok.eos_token_id
    seqs = [[eos] + tok(d, add_special_tokens=False)["input_ids"] + [eos] for d in DOCS]
    torch.manual_seed(0)
    model = build_model(cfg, len(tok), eos)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_from_scratch(model, tok, seqs, cfg, tmp_path)
    assert result.steps == 3 * 5  # 20 documents in buckets of 4, three passes
    assert result.last_loss < result.first_loss
    # the weights trained through the bridge are back in the plain HF model that gets saved
    assert any(not torch.equal(v, model.state_dict()[k]) for k, v in start.items())
