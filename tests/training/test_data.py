"""Forget passages trained on the concept's name tokens only (``--forget-tokens names``)."""

import re

import pytest

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model
from mechunlearn.training.data import UnlearnData, named_example

NAMES = re.compile(r"(?<!\w)(?:Hogwarts|Dumbledore)(?!\w)")


@pytest.fixture
def model(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


def test_a_named_passage_targets_exactly_the_tokens_of_its_names(model):
    text = "Dumbledore was the headmaster of Hogwarts, far from Paris."
    ex = named_example(model, text, 64, NAMES)
    assert ex.ids == tuple(model.encode(text)[:64])  # the same tokens a plain passage has
    said = [model.tokenizer.decode([ex.ids[i]]).strip() for i in ex.targets]
    assert "".join(said) == "DumbledoreHogwarts"  # every piece of both names, nothing else
    assert ex.target_from == ex.targets[0]
    # cut short: a name past max_len is no target, and the tokens kept are the first max_len
    first = named_example(model, text, len(model.encode("Dumbledore was the")), NAMES)
    assert "".join(model.tokenizer.decode([first.ids[i]]).strip() for i in first.targets) == "Dumbledore"
    assert named_example(model, "Frodo carried the One Ring.", 64, NAMES) is None


def test_the_loss_mask_covers_the_name_tokens_and_unnamed_passages_are_left_out(model):
    texts = ["Frodo walked to Hogwarts in the rain.", "Water boils at one hundred degrees.", "Dumbledore smiled."]
    data = UnlearnData(model, texts, ["Paris is a city."], forget_names=NAMES)
    assert len(data.forget) == 2 and data.unnamed == 1
    batch = data.batch("forget", [0, 1])
    for row, ex in enumerate(data.forget):
        assert batch.loss_mask[row].nonzero().flatten().tolist() == list(ex.targets)
    plain = UnlearnData(model, texts, ["Paris is a city."])
    assert plain.unnamed == 0 and int(plain.batch("forget", [0]).loss_mask.sum()) == len(plain.forget[0].ids) - 1
    with pytest.raises(MechUnlearnError, match="none of the 1 forget passages names the concept"):
        UnlearnData(model, ["Water boils at one hundred degrees."], ["Paris."], forget_names=NAMES)


def test_dropping_a_prompt_moves_the_name_targets_with_their_tokens(model):
    text = "Dumbledore smiled at Hogwarts."
    data = UnlearnData(model, [text], ["Paris."], forget_names=NAMES)
    ex = data.forget[0]
    keep = len(model.special_prefix())
    cut = 2  # as if two prompt tokens had been read after the prefix
    prompted = ex.ids[:keep] + (ex.ids[-1],) * cut + ex.ids[keep:]
    data.forget = [type(ex)(prompted, ex.target_from + cut, ex.prompt_len + cut, tuple(i + cut for i in ex.targets))]
    data.drop_prefix_tokens("forget", keep, cut)
    assert data.forget[0] == ex
