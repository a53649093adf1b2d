"""Train the bundled model: ``python -m mechunlearn.bundled.train [--out DIR] [--epochs N]``.

Plain next-token prediction of a small GPT-2 on the project's corpus (see ``corpus.py``),
seeded, on CPU. Writes a standard HF checkpoint (config, safetensors, tokenizer) plus
``training_config.json`` and ``metrics.json`` (fact accuracy, paraphrased too).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mechunlearn.bundled.corpus import load_knowledge, training_documents, write_fact_files
from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.io import staged_dir, write_json
from mechunlearn.core.paths import bundled_model_dir

log = logging.getLogger("mechunlearn.bundled")
EOS = "<|endoftext|>"


@dataclass
class BundledModelConfig:
    """Hyper-parameters of the bundled model and its training run.

    Args:
        concept: concept folder whose sentences and corpora are part of the training data.
        concept_domains: knowledge domains that belong to the concept (its forget facts).
        vocab_size: byte-level BPE vocabulary trained on the corpus.
        n_layer, d_model, n_head, d_mlp, n_ctx: GPT-2 shape.
        dropout: residual, embedding and attention dropout during training.
        epochs, batch_size, lr, weight_decay: AdamW training schedule.
        seed: seeds tokenizer data order, initialisation and batch order.
    """

    concept: str = "harry_potter"
    concept_domains: tuple[str, ...] = ("harry_potter",)
    vocab_size: int = 4096
    n_layer: int = 4
    d_model: int = 256
    n_head: int = 4
    d_mlp: int = 1024
    n_ctx: int = 128
    dropout: float = 0.0
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    seed: int = 0


def train_tokenizer(docs: list[str], vocab_size: int):
    """A GPT-2-style byte-level BPE tokenizer trained on ``docs``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(docs, trainer)
    # the model is trained on BOS + document, so plain `tok(text)` must add the BOS too
    tok.post_processor = processors.TemplateProcessing(
        single=f"{EOS} $A", pair=f"{EOS} $A $B", special_tokens=[(EOS, tok.token_to_id(EOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=1024,
    )


def build_model(cfg: BundledModelConfig, vocab: int, eos_id: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab,
        n_positions=cfg.n_ctx,
        n_embd=cfg.d_model,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        n_inner=cfg.d_mlp,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        tie_word_embeddings=True,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
    )
    return GPT2LMHeadModel(config)


def evaluate_facts(model_dir: Path, concept_name: str) -> dict[str, float]:
    """Fact accuracy of a saved checkpoint, loaded as a user would load it."""
    from mechunlearn.evaluation.scoring import fact_accuracy
    from mechunlearn.models.loading import load_model

    m = load_model(model_dir, device="cpu")
    c = load_concept(concept_name)
    return {
        "forget_fact_acc": fact_accuracy(m, c.facts_forget),
        "retain_fact_acc": fact_accuracy(m, c.facts_retain),
        "forget_fact_acc_paraphrased": fact_accuracy(m, c.paraphrased("forget")),
        "retain_fact_acc_paraphrased": fact_accuracy(m, c.paraphrased("retain")),
    }


def train_from_scratch(model, tok, seqs: list[list[int]], cfg: BundledModelConfig, start: Path):
    """Next-token prediction (the ``sft`` objective) on ``seqs`` in the one training loop, through the hooked
    model: ``model`` is saved to ``start`` and loaded as a user would, then trained in place.

    Batches hold documents of similar length, the batches in a new seeded order every epoch.
    """
    from mechunlearn.models.loading import load_model
    from mechunlearn.training.data import Example
    from mechunlearn.training.epochs import EpochConfig
    from mechunlearn.training.loop import train_epochs

    model.save_pretrained(start, safe_serialization=True)
    tok.save_pretrained(start)
    hooked = load_model(start, device="cpu")
    docs = [Example(tuple(s), 1, max(2, len(s) // 3)) for s in seqs]
    every = EpochConfig(cfg.epochs, cfg.lr, cfg.batch_size, cfg.weight_decay, cfg.seed)

    def report(point: dict) -> None:
        if point["step"] % 100 == 0:
            log.info("step %d: loss %.4f", point["step"], point["loss"])

    result = train_epochs(hooked, "sft", docs, every, bucket=True, max_len=cfg.n_ctx, on_step=report)
    model.load_state_dict(hooked.hf_state_dict())
    return result


def train_bundled_model(cfg: BundledModelConfig, out: Path) -> dict:
    """Build the corpus, train tokenizer and model, save to ``out``; returns the metrics."""
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    concept = load_concept(cfg.concept)
    knowledge = load_knowledge()
    counts = write_fact_files(concept, knowledge, set(cfg.concept_domains))
    docs = training_documents(concept, knowledge, seed=cfg.seed)
    tok = train_tokenizer(docs, cfg.vocab_size)
    eos = tok.eos_token_id
    seqs = [[eos] + tok(d, add_special_tokens=False)["input_ids"][: cfg.n_ctx - 2] + [eos] for d in docs]
    n_tokens = sum(len(s) for s in seqs)
    log.info("corpus: %d documents, %d tokens; fact files %s", len(docs), n_tokens, counts)
    model = build_model(cfg, len(tok), eos)
    with tempfile.TemporaryDirectory() as start:
        result = train_from_scratch(model, tok, seqs, cfg, Path(start))
    model.eval()
    with staged_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        metrics = {
            "corpus_documents": len(docs),
            "corpus_tokens": n_tokens,
            "fact_files": counts,
            "train_steps": result.steps,
            "first_loss": result.first_loss,
            "final_loss": result.last_loss,
            "n_params": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(time.time() - t0, 1),
        }
        metrics |= evaluate_facts(tmp, cfg.concept)
        write_json(tmp / "training_config.json", asdict(cfg))
        write_json(tmp / "metrics.json", metrics)
        (tmp / "README.md").write_text(model_card(cfg, metrics), encoding="utf-8")
    return metrics


def model_card(cfg: BundledModelConfig, m: dict) -> str:
    return f"""# tiny-world-gpt2 (mechunlearn's bundled model)

A {m["n_params"] / 1e6:.1f}M-parameter GPT-2 ({cfg.n_layer} layers, d_model {cfg.d_model}, d_mlp {cfg.d_mlp},
context {cfg.n_ctx}, byte-level BPE vocabulary of {cfg.vocab_size}) trained from scratch by plain next-token
prediction on mechunlearn's own corpus ({m["corpus_documents"]} documents, {m["corpus_tokens"]} tokens):
world knowledge, Harry Potter, The Lord of the Rings, Star Wars, Sherlock Holmes and everyday English.
Rebuild with `python -m mechunlearn.bundled.train` (seed {cfg.seed}; {m["train_seconds"]:.0f} s on the
machine that built it).

| fact set | greedy accuracy |
|---|---|
| Harry Potter facts (forget set) | {m["forget_fact_acc"]:.3f} |
| other facts (retain set) | {m["retain_fact_acc"]:.3f} |
| Harry Potter facts, paraphrased prompts (never in training) | {m["forget_fact_acc_paraphrased"]:.3f} |
| other facts, paraphrased prompts (never in training) | {m["retain_fact_acc_paraphrased"]:.3f} |

Load offline: `AutoModelForCausalLM.from_pretrained("data/models/tiny-world-gpt2")`.
"""


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", type=Path, default=bundled_model_dir())
    p.add_argument("--epochs", type=int, default=BundledModelConfig.epochs)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    metrics = train_bundled_model(BundledModelConfig(epochs=a.epochs, seed=a.seed), a.out)
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
