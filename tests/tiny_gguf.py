"""Write a tiny Llama checkpoint as a GGUF file with the ``gguf`` package (tests only; F32 tensors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

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
