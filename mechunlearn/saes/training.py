"""Train an SAE on a hooked model's activations with sae-lens' own trainer, offline.

sae-lens' ``SAETrainer`` runs the training (its SAE classes, losses, Adam + LR schedule,
dead-feature tracking, activation-norm scaling folded into the weights at the end); it takes
activations from any iterator, and :class:`ActivationStream` feeds it from the hooked model.
sae-lens' ``LanguageModelSAETrainingRunner`` is not used because its ``ActivationsStore``
packs documents into fixed windows without attention masks (unrelated documents attend to
each other, which the bundled model never saw) and expects a hub dataset. The saved folder is
sae-lens' inference format (``cfg.json`` + ``sae_weights.safetensors`` + ``sparsity``),
loadable with ``sae_lens.SAE.load_from_disk``, plus ``config.json``, ``quality.json``, ``run.log``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import ensure_new_dir, read_jsonl, read_lines, write_json
from mechunlearn.core.runs import Timer, run_folder
from mechunlearn.models import HookedLM, load_model
from mechunlearn.models.hooked import model_slug
from mechunlearn.saes.activations import ActivationStream, corpus_tokens
from mechunlearn.saes.loading import activation_size
from mechunlearn.saes.quality import measure_sae

log = logging.getLogger("mechunlearn.train_sae")

Architecture = Literal["topk", "standard"]


@dataclass
class TrainSAEConfig:
    """Args:
    model: checkpoint folder or hub id (``None``: the bundled model).
    hook: hook point whose activations the SAE reconstructs.
    d_sae: number of features (``None``: 8 x the activation size).
    tokens: training activations (tokens) in total.
    corpus: text files, one document per line (``.jsonl``: a ``text`` field per line), and
        ``bundled``, the bundled model's own training corpus under ``data/``; empty means ``bundled``.
    architecture: ``topk`` (exactly ``k`` features per token) or ``standard`` (ReLU + L1).
    k: active features per token for ``topk``.
    l1_coefficient: sparsity penalty for ``standard``.
    lr: Adam learning rate (constant, then decayed over the last 20% of steps).
    batch_tokens: activations per training step.
    buffer_tokens: activations held and shuffled together; a corpus that fits runs through the
        model once and is reshuffled for every pass (a larger one is run again for every pass).
    heldout_every: every n-th document is held back to measure quality.
    seed: seeds the SAE initialisation and activation shuffling.
    out: new output folder (``None``: ``saes/<model>/<hook>``).
    """

    model: str | None = None
    hook: str = "blocks.2.hook_resid_pre"
    d_sae: int | None = None
    tokens: int = 2_000_000
    corpus: list[str] = field(default_factory=list)
    architecture: Architecture = "topk"
    k: int = 32
    l1_coefficient: float = 5.0
    lr: float = 4e-4
    batch_tokens: int = 1024
    buffer_tokens: int = 131_072
    heldout_every: int = 20
    seed: int = 0
    device: str | None = None
    out: str | None = None

    def __post_init__(self) -> None:
        check_choices(self, "train-sae option")
        for name in ("tokens", "batch_tokens", "buffer_tokens", "k", "heldout_every"):
            if getattr(self, name) <= 0:
                raise MechUnlearnError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_sae is not None and self.d_sae <= 0:
            raise MechUnlearnError(f"d_sae must be positive, got {self.d_sae}")
        if self.tokens < self.batch_tokens:
            raise MechUnlearnError(f"tokens ({self.tokens}) must be at least batch_tokens ({self.batch_tokens})")


BUNDLED = "bundled"


def read_corpus(files: list[str]) -> list[str]:
    """Documents from text files (one per line), JSONL (``text`` per line) and ``bundled`` (the bundled
    model's training corpus), in the order given; no files: the bundled corpus."""
    docs: list[str] = []
    for f in files or [BUNDLED]:
        p = Path(f)
        if f == BUNDLED:
            from mechunlearn.bundled.corpus import load_knowledge, training_documents
            from mechunlearn.concepts.folders import load_concept

            docs += training_documents(load_concept("harry_potter"), load_knowledge())
        elif p.suffix == ".jsonl":
            docs += [r["text"] for r in read_jsonl(p, required=("text",))]
        else:
            docs += read_lines(p, what="corpus")
    return docs


def training_sae(cfg: TrainSAEConfig, d_in: int, metadata: dict[str, Any]):
    """A fresh sae-lens training SAE for ``cfg``."""
    from sae_lens import StandardTrainingSAE, StandardTrainingSAEConfig, TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    d_sae = cfg.d_sae or 8 * d_in
    if cfg.architecture == "topk":
        if cfg.k > d_sae:
            raise MechUnlearnError(f"k ({cfg.k}) cannot exceed d_sae ({d_sae})")
        sae_cfg = TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=cfg.k, device="cpu")
        cls = TopKTrainingSAE
    else:
        sae_cfg = StandardTrainingSAEConfig(d_in=d_in, d_sae=d_sae, l1_coefficient=cfg.l1_coefficient, device="cpu")
        cls = StandardTrainingSAE
    sae_cfg.normalize_activations = "expected_average_only_in"
    sae_cfg.metadata = SAEMetadata(**metadata)
    return cls(sae_cfg)


def fit_sae(model: HookedLM, cfg: TrainSAEConfig, docs: list[str], *, progress: bool = True):
    """Train with sae-lens' ``SAETrainer`` on ``docs``; returns ``(sae, trainer)``."""
    from sae_lens import SAETrainer
    from sae_lens.config import SAETrainerConfig

    torch.manual_seed(cfg.seed)
    d_in = activation_size(model, cfg.hook)
    metadata = {
        "model_name": model.name,
        "hook_name": cfg.hook,
        "prepend_bos": True,
        "context_size": model.n_ctx,
        "exclude_special_tokens": True,
        "dataset_path": "local: " + (", ".join(cfg.corpus) or "bundled corpus (data/)"),
        "mechunlearn_model_fingerprint": model.fingerprint(),
    }
    sae = training_sae(cfg, d_in, metadata)
    stream = ActivationStream(
        model, cfg.hook, docs, batch_tokens=cfg.batch_tokens, buffer_tokens=cfg.buffer_tokens, seed=cfg.seed
    )
    steps = cfg.tokens // cfg.batch_tokens
    trainer_cfg = SAETrainerConfig(
        total_training_samples=steps * cfg.batch_tokens,
        train_batch_size_samples=cfg.batch_tokens,
        lr=cfg.lr,
        lr_end=cfg.lr / 10,
        lr_scheduler_name="constant",
        lr_warm_up_steps=min(100, steps // 20),
        lr_decay_steps=steps // 5,
        device=str(model.device),
        dead_feature_window=min(1000, max(steps // 4, 1)),
        feature_sampling_window=min(2000, max(steps // 2, 1)),
        n_batches_for_norm_estimate=min(100, steps),
    )
    trainer = SAETrainer(cfg=trainer_cfg, sae=sae, data_provider=stream)
    if not progress:
        import sae_lens.training.sae_trainer as st

        st.tqdm = lambda *a, **k: _NoBar()  # sae-lens draws its own bar; silence it in tests
    sae = trainer.fit()
    return sae, trainer, stream


class _NoBar:
    def update(self, *a, **k): ...
    def set_description(self, *a, **k): ...
    def close(self): ...


def train_sae(cfg: TrainSAEConfig, *, print_fn=print) -> dict[str, Any]:
    """``mechunlearn train-sae``: train, measure, and write the SAE folder; returns quality figures."""
    from sae_lens.constants import SPARSITY_FILENAME
    from safetensors.torch import save_file

    docs_all = read_corpus(cfg.corpus)
    if len(docs_all) < 2 * cfg.heldout_every:
        raise MechUnlearnError(f"the corpus has {len(docs_all)} documents; need at least {2 * cfg.heldout_every}")
    timer = Timer()
    with timer("load"):
        model = load_model(cfg.model, device=cfg.device)
    model.check_hook(cfg.hook)
    from mechunlearn.core.paths import home

    out = Path(cfg.out) if cfg.out else home() / "saes" / model_slug(model) / cfg.hook
    ensure_new_dir(out)
    held = docs_all[:: cfg.heldout_every]
    train_docs = [d for i, d in enumerate(docs_all) if i % cfg.heldout_every]
    full = dataclasses.asdict(cfg) | {"out": str(out), "d_sae": cfg.d_sae or 8 * activation_size(model, cfg.hook)}
    with run_folder(out, full) as tmp:
        log.info("training on %d documents, measuring on %d held-out documents", len(train_docs), len(held))
        with timer("train"):
            sae, trainer, _ = fit_sae(model, cfg, train_docs)
        with timer("measure"):
            quality = measure_sae(model, sae, cfg.hook, held)
        n_corpus = corpus_tokens(model, train_docs)
        sae.save_inference_model(str(tmp))
        save_file({"sparsity": trainer.log_feature_sparsity}, str(tmp / SPARSITY_FILENAME))
        report = {
            "quality_heldout": quality.to_dict(),
            "training": {
                "steps": trainer.n_training_steps,
                "tokens": trainer.n_training_samples,
                "corpus_documents": len(train_docs),
                "corpus_tokens": n_corpus,
                # passes the training made over the corpus: a corpus that fits the buffer is run through
                # the model once (stream.epochs == 1) and reshuffled for each pass, so count the tokens
                "epochs_over_corpus": round(trainer.n_training_samples / max(1, n_corpus), 2),
                "dead_features_at_end": int(trainer.dead_neurons.sum()),
                "sae_lens_version": sae.cfg.metadata.sae_lens_training_version,
            },
            "timing": timer.seconds,
        }
        write_json(tmp / "quality.json", report)
        log.info("quality: %s", json.dumps(report))
    q = quality
    print_fn(
        f"SAE {cfg.architecture} d_sae={sae.cfg.d_sae} at {cfg.hook}: L0 {q.l0:.1f}, explained variance "
        f"{q.explained_variance:.3f}, CE loss recovered {q.ce_loss_recovered:.3f} "
        f"(CE clean {q.ce_clean:.3f} / SAE {q.ce_with_sae:.3f} / zero {q.ce_zero_ablated:.3f}) "
        f"on {len(held)} held-out documents"
    )
    print_fn(f"wrote {out}")
    return report
