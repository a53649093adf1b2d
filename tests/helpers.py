"""Helpers the test modules share (test modules import from here, never from each other or conftest).

Tiny random checkpoints of every supported architecture, the command line run in-process, a
planted concept neuron, a sae-lens SAE written to a folder, and a tiny Llama as a GGUF file
(the ``gguf`` package; F32 tensors).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from mechunlearn.ranking.base import Neuron

TEXTS = [
    "Harry Potter went to Hogwarts with Ron and Hermione.",
    "Frodo carried the One Ring to Mount Doom in Mordor.",
    "The capital of France is Paris, a city on the Seine.",
    "Dumbledore was the headmaster; Voldemort was his enemy.",
    "Sherlock Holmes lived at Baker Street with Doctor Watson.",
    "Water boils at one hundred degrees at sea level.",
] * 20


def tiny_config(arch: str, vocab: int, eos: int):
    from transformers import Gemma3TextConfig, GPT2Config, GPTNeoXConfig, LlamaConfig

    special = {"bos_token_id": eos, "eos_token_id": eos, "pad_token_id": eos}
    if arch == "gpt2":
        return GPT2Config(n_layer=2, n_embd=32, n_head=4, n_inner=64, vocab_size=vocab, n_positions=256, **special)
    if arch == "gpt_neox":
        return GPTNeoXConfig(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=4,
            intermediate_size=64,
            vocab_size=vocab,
            max_position_embeddings=256,
            **special,
        )
    if arch == "llama":
        return LlamaConfig(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=48,
            vocab_size=vocab,
            max_position_embeddings=256,
            **special,
        )
    if arch == "gemma3_text":  # Gemma 3: gated GELU-tanh MLP, sliding and global attention layers
        return Gemma3TextConfig(
            num_hidden_layers=2,
            hidden_size=32,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            intermediate_size=48,
            vocab_size=vocab,
            max_position_embeddings=256,
            sliding_window=8,
            layer_types=["sliding_attention", "full_attention"],
            **special,
        )
    raise ValueError(arch)


def build_tiny_model_dir(arch: str, tok_dir: Path, out: Path, seed: int = 0) -> Path:
    """Save a tiny random HF checkpoint of ``arch`` (with the tiny tokenizer) into ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(seed)
    cfg = tiny_config(arch, len(tok), tok.eos_token_id)
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():  # random biases, so bias handling is exercised too
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the command line in this process; its exit status, stdout and stderr."""
    from mechunlearn.cli.app import main

    monkeypatch.setattr(sys, "argv", ["mechunlearn", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


PLANT = Neuron(1, 7)


def plant_concept_neuron(model, concept) -> None:
    """Make MLP neuron PLANT fire only on the concept's keyword tokens and push towards ' Paris'.

    Attention is silenced and position embeddings zeroed, so each MLP sees only its token.
    Keyword tokens move a value of 8 from residual dimension 2 to dimension 0 (LayerNorm
    statistics stay identical for both classes); only PLANT reads dimensions 0 and 2, and
    it sits in the last layer, so no other neuron sees the concept through it.
    """
    from mechunlearn.concepts.labels import CONCEPT
    from mechunlearn.ranking.data import probing_items

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


PLANTED_FEATURE = 3


def write_sae(folder, d_in: int, hook: str, d_sae: int = 16, reads: int | None = None, model_name="tiny"):
    """A sae-lens StandardSAE saved in sae-lens format; feature 3 reads input unit ``reads``."""
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    cfg = StandardSAEConfig(d_in=d_in, d_sae=d_sae, metadata=SAEMetadata(hook_name=hook, model_name=model_name))
    sae = StandardSAE(cfg)
    with torch.no_grad():
        for p in sae.parameters():
            p.zero_()
        if reads is None:
            torch.manual_seed(0)
            sae.W_enc.normal_(0, 0.3)
            sae.W_dec.normal_(0, 0.3)
        else:
            sae.W_enc[reads, PLANTED_FEATURE] = 1.0
            sae.W_dec[PLANTED_FEATURE, reads] = 1.0
    sae.save_model(str(folder))
    return folder


LLAMA_NAMES = [
    ("input_layernorm", "attn_norm"),
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    ("post_attention_layernorm", "ffn_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
]


def _to_gguf_qk(w: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's rotary layout of q/k rows (transformers undoes it when it reads GGUF)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(model_dir: Path, path: Path) -> Path:
    """The Llama checkpoint in ``model_dir`` (HF, byte-level BPE tokenizer) as a GGUF file at ``path``."""
    import gguf
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    cfg = model.config
    tj = json.loads((model_dir / "tokenizer.json").read_text())
    vocab = [t for t, _ in sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1])]
    merges = [" ".join(m) if isinstance(m, list) else m for m in tj["model"]["merges"]]
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_tokenizer_model("gpt2")
    w.add_token_list(vocab)
    w.add_token_types([3 if t == "<|endoftext|>" else 1 for t in vocab])
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.bos_token_id)
    w.add_eos_token_id(cfg.eos_token_id)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    names["lm_head.weight"] = "output.weight"
    for i in range(cfg.num_hidden_layers):
        for hf, gg in LLAMA_NAMES:
            names[f"model.layers.{i}.{hf}.weight"] = f"blk.{i}.{gg}.weight"
    for key, t in model.state_dict().items():
        t = t.float()
        if key.endswith("q_proj.weight"):
            t = _to_gguf_qk(t, cfg.num_attention_heads)
        elif key.endswith("k_proj.weight"):
            t = _to_gguf_qk(t, cfg.num_key_value_heads)
        w.add_tensor(names[key], np.ascontiguousarray(t.numpy()))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_gguf_of_arch(path: Path, arch: str) -> Path:
    """A GGUF file with only metadata, claiming architecture ``arch``."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
