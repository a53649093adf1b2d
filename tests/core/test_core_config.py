"""Prune configuration: round trip, the legacy NeuroX-tool format, and bad values."""

import json

import pytest

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.pipeline import PruneConfig

LEGACY = {
    "base_model": "gpt2",
    "neural_probing": {
        "concept_definition": ["Harry", "Hogwarts"],
        "tokens_input_path": "t.txt",
        "labels_input_path": "l.txt",
        "prune_ratio": 0.01,
        "lambda_l1": 0.001,
        "lambda_l2": 0.01,
    },
    "retraining": {"num_epochs": 1, "learning_rate": 5e-5, "batch_size": 8, "weight_decay": 0.01},
    "test_prompts": ["Harry Potter is"],
}


def test_round_trip():
    c = PruneConfig(top_k=12, method="probeless", retrain=True, retrain_options={"epochs": 1})
    assert PruneConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_legacy_format_is_translated():
    c = PruneConfig.from_dict(LEGACY)
    assert c.model == "gpt2" and c.ratio == 0.01 and c.method == "probe"
    assert c.keywords == ["Harry", "Hogwarts"]
    assert (c.probing_tokens, c.probing_labels) == ("t.txt", "l.txt")
    assert c.method_options == {"lambda_l1": 0.001, "lambda_l2": 0.01}
    assert c.retrain and c.retrain_config().epochs == 1 and c.retrain_config().lr == 5e-5
    assert c.test_prompts == ["Harry Potter is"]


@pytest.mark.parametrize(
    ("d", "msg"),
    [
        ({"top_kk": 3}, r"unknown config key\(s\) \['top_kk'\]"),
        ({"ratio": 1.5}, r"ratio must be in \(0, 1\)"),
        ({"ratio": 0.0}, r"ratio must be in \(0, 1\)"),
        ({"top_k": 0}, "top_k must be a positive number"),
        ({"ablation": "half"}, r"'ablation' must be one of \"zero\", \"mean\", got \"half\""),
        ({"retrain_options": {"epoch": 1}}, r"unknown retrain option\(s\) \['epoch'\]"),
        (
            {**LEGACY, "neural_probing": {"prune_ration": 0.1}},
            r"unknown key\(s\) \['prune_ration'\] in 'neural_probing'",
        ),
    ],
)
def test_bad_values_are_named(d, msg):
    with pytest.raises(MechUnlearnError, match=msg):
        PruneConfig.from_dict(d)


def test_top_k_above_neuron_count():
    with pytest.raises(MechUnlearnError, match="top-k 5000 is larger than the model's 4096 MLP neurons"):
        PruneConfig(top_k=5000).n_pruned(4096)
    assert PruneConfig(ratio=0.01).n_pruned(4096) == 41


def test_malformed_config_file(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"top_k": 3,\n "method": }')
    with pytest.raises(MechUnlearnError, match=r"c.json:2: malformed JSON"):
        PruneConfig.from_file(p)
