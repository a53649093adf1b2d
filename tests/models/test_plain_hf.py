"""Checkpoints work under plain HF defaults exactly as inside mechunlearn (issue: BOS the model needs)."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.paths import bundled_model_dir
from mechunlearn.edits import NeuronAblation
from mechunlearn.edits.export import export_checkpoint
from mechunlearn.evaluation.scoring import greedy_complete, score_facts
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics


def plain_accuracy(folder, facts) -> float:
    """Fact accuracy as a plain transformers user measures it: tok(prompt), generate greedily."""
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    right = 0
    for f in facts:
        enc = tok(f.prompt, return_tensors="pt")
        n = len(tok(" " + f.answer, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=n, do_sample=False, pad_token_id=tok.eos_token_id)
        right += tok.decode(out[0, enc["input_ids"].shape[1] :]).lstrip().startswith(f.answer)
    return right / len(facts)


@pytest.fixture(scope="module")
def facts():
    c = load_concept("harry_potter")
    return c.facts_forget[:30] + c.facts_retain[:30]


def test_bundled_tokenizer_adds_the_bos_the_model_was_trained_with():
    tok = AutoTokenizer.from_pretrained(bundled_model_dir())
    assert tok("Harry")["input_ids"][0] == tok.bos_token_id


def test_bundled_model_under_plain_hf_defaults_matches_mechunlearn(facts):
    model = load_model(device="cpu")
    ours = sum(s.greedy for s in score_facts(model, facts)) / len(facts)
    assert ours >= 0.9  # the bundled model knows its corpus' facts
    assert plain_accuracy(bundled_model_dir(), facts) == pytest.approx(ours, abs=0.02)


def test_exported_checkpoint_under_plain_hf_defaults_matches_mechunlearn(facts, tmp_path):
    model = load_model(device="cpu")
    model.edits.append(NeuronAblation([Neuron(layer, i) for layer in range(model.n_layers) for i in range(0, 400, 2)]))
    ours = sum(s.greedy for s in score_facts(model, facts)) / len(facts)
    texts = [f.prompt for f in facts[:4]]
    export_checkpoint(model, tmp_path, texts)
    assert plain_accuracy(tmp_path, facts) == pytest.approx(ours, abs=0.02)


def test_kv_cached_generation_keeps_edits_in_force():
    model = load_model(device="cpu")
    prompt = ["For most of Harry's school years, the headmaster of Hogwarts was Albus"]
    plain = greedy_complete(model, prompt, 4)
    model.edits.append(NeuronAblation([Neuron(layer, i) for layer in range(model.n_layers) for i in range(1024)]))
    assert greedy_complete(model, prompt, 4) != plain
