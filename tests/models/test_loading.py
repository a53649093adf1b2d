import time

import pytest
import torch
from transformers import AutoModelForCausalLM

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model


def test_loads_each_architecture_with_raw_hf_logits(tiny_model_dir):
    m = load_model(tiny_model_dir, device="cpu")
    ref = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="eager").eval()
    ids, mask = m.pad([m.encode("Harry went to Hogwarts"), m.encode("Paris")])
    with torch.no_grad():
        ours = m.logits(ids, mask)
        theirs = ref(ids, attention_mask=mask).logits
    real = mask.bool()
    assert torch.allclose(ours[real], theirs[real], atol=1e-5)
    assert m.hf_model is m.bridge.original_model
    assert m.mlp_hook(1) in m.hook_names()


def test_mlp_hook_has_d_mlp_units(tiny_model_dir):
    m = load_model(tiny_model_dir, device="cpu")
    seen = {}
    ids, mask = m.pad([m.encode("Harry Potter")])

    def grab(act, hook):
        seen["shape"] = tuple(act.shape)

    m.logits(ids, mask, extra=[(m.mlp_hook(0), grab)])
    assert seen["shape"] == (1, ids.shape[1], m.d_mlp)
    assert m.d_mlp in (64, 48)  # the tiny configs' MLP widths, not d_model (32)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(MechUnlearnError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(MechUnlearnError, match="no config.json"):
        load_model(tmp_path)


def test_hub_id_offline_fails_fast_with_instructions():
    t = time.time()
    with pytest.raises(MechUnlearnError, match="huggingface-cli download some-org/some-model"):
        load_model("some-org/some-model")
    assert time.time() - t < 10


def test_unknown_hook_lists_valid_ones(tiny_gpt2_dir):
    m = load_model(tiny_gpt2_dir, device="cpu")
    with pytest.raises(MechUnlearnError, match=r"unknown hook point 'blocks.0.mlp.hook_postt'.*hook_post"):
        m.check_hook("blocks.0.mlp.hook_postt")


def test_device_map_loading(tiny_gpt2_dir):
    m = load_model(tiny_gpt2_dir, device_map={"": "cpu"})
    ids, mask = m.pad([m.encode("Harry went to Hogwarts")])
    assert m.logits(ids, mask).shape[-1] == len(m.tokenizer)
