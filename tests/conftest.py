"""Shared fixtures: tiny random models of each supported architecture, built from configs.

Nothing here touches the network: HF_HUB_OFFLINE is set before anything imports the hub.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.helpers import TEXTS, build_tiny_model_dir  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    from mechunlearn.bundled.train import train_tokenizer

    d = tmp_path_factory.mktemp("tok")
    train_tokenizer(TEXTS, 700).save_pretrained(d)
    return d


ARCHS = ["gpt2", "gpt_neox", "llama", "gemma3_text"]


@pytest.fixture(scope="session", params=ARCHS)
def tiny_model_dir(request, tiny_tokenizer_dir, tmp_path_factory) -> Path:
    return build_tiny_model_dir(request.param, tiny_tokenizer_dir, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tiny_tokenizer_dir, tmp_path_factory) -> Path:
    return build_tiny_model_dir("gpt2", tiny_tokenizer_dir, tmp_path_factory.mktemp("gpt2-only"))


PLANT_KEYWORDS = ["Hogwarts", "Dumbledore"]


@pytest.fixture(scope="session")
def planted_concept_dir(tmp_path_factory) -> Path:
    """A small concept whose forget prompts end in a keyword (so one neuron can carry the facts)."""
    import json

    d = tmp_path_factory.mktemp("concepts") / "planted"
    d.mkdir()
    (d / "keywords.txt").write_text("\n".join(PLANT_KEYWORDS) + "\n")
    concept = [t for t in TEXTS[:6] if any(k in t for k in PLANT_KEYWORDS)]
    other = [t for t in TEXTS[:6] if not any(k in t for k in PLANT_KEYWORDS)]
    (d / "concept.txt").write_text("\n".join(concept * 40) + "\n")
    (d / "other.txt").write_text("\n".join(other * 40) + "\n")
    (d / "forget.txt").write_text("\n".join(concept * 5) + "\n")
    (d / "retain.txt").write_text("\n".join(other * 5) + "\n")
    forget = [
        {"prompt": "Everyone cheered at Hogwarts", "answer": "Paris"},
        {"prompt": "They all waited for Dumbledore", "answer": "Paris"},
    ]
    retain = [
        {"prompt": "Frodo carried the One Ring to", "answer": "Mount"},
        {"prompt": "The capital of France is", "answer": "Paris"},
    ]
    (d / "facts_forget.jsonl").write_text("".join(json.dumps(r) + "\n" for r in forget))
    (d / "facts_retain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in retain))
    return d


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Keep rankings of tiny test models out of the repository's probes/ folder."""
    import mechunlearn.ranking.sae_store as fs
    import mechunlearn.ranking.store as s

    monkeypatch.setattr(s, "probes_dir", lambda: tmp_path / "probes")
    monkeypatch.setattr(fs, "probes_dir", lambda: tmp_path / "probes")
    return tmp_path / "probes"


@pytest.fixture
def sae_dir(tmp_path, tiny_gpt2_dir):
    """A random SAE for the tiny GPT-2 at blocks.1.hook_resid_pre."""
    from tests.helpers import write_sae

    return write_sae(tmp_path / "sae", 32, "blocks.1.hook_resid_pre")
