"""Anchored-term translation and token alignment on hand-made cases; Who's Harry Potter's generic labels."""

import copy

import pytest
import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model
from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.anchors import align, read_anchors, translate
from mechunlearn.training.data import UnlearnData
from mechunlearn.training.generic_labels import IGNORE, generic_labels

ANCHORS = {"Harry Potter": "Jon Miller", "Harry": "Jon", "Hogwarts": "the academy", "Hermione": "Sarah"}
TEXT = "Harry Potter went to the Hogwarts gate with Hermione and Harry."


def test_translate_replaces_whole_terms_longest_first_without_doubling_articles():
    new, reps = translate(TEXT, ANCHORS)
    assert new == "Jon Miller went to the academy gate with Sarah and Jon."
    assert [TEXT[r.start : r.end] for r in reps] == ["Harry Potter", "Hogwarts", "Hermione", "Harry"]
    assert [new[r.new_start : r.new_end] for r in reps] == ["Jon Miller", "academy", "Sarah", "Jon"]
    assert translate("Harryish and Hogwartsy", ANCHORS)[0] == "Harryish and Hogwartsy"  # whole words only
    assert translate("a Hogwarts letter", ANCHORS)[0] == "a the academy letter"  # only the same article merges


def test_align_maps_unchanged_text_and_term_starts_and_skips_term_insides():
    # character spans of hand-cut tokens of the original and the translation
    orig = [
        (0, 5),
        (5, 12),
        (12, 17),
        (17, 20),
        (20, 24),
        (24, 33),
        (33, 38),
    ]  # Harry| Potter| went| to| the| Hogwarts| gate
    new_text, reps = translate("Harry Potter went to the Hogwarts gate", ANCHORS)
    assert new_text == "Jon Miller went to the academy gate"
    trans = [(0, 3), (3, 10), (10, 15), (15, 18), (18, 22), (22, 25), (25, 29), (29, 30), (30, 35)]
    # Jon| Miller| went| to| the| ac|adem|y| gate: ' Potter' is inside 'Harry Potter' -> no counterpart;
    # ' Hogwarts' (starting at its space, before the term) -> ' ac'; ' gate' -> ' gate'
    assert align(orig, trans, reps) == [0, None, 2, 3, 4, 5, 8]


def test_read_anchors_checks_the_file(tmp_path):
    class C:
        name, path = "c", tmp_path

    with pytest.raises(MechUnlearnError, match="has no anchors.tsv"):
        read_anchors(C)
    (tmp_path / "anchors.tsv").write_text("term\tgeneric\nHarry\tJon\nHarry\tTom\n")
    with pytest.raises(MechUnlearnError, match=r"anchors.tsv:3: expected a new 'term<TAB>generic' pair"):
        read_anchors(C)


def _twin(model: HookedLM, scale: float) -> HookedLM:
    bridge = copy.deepcopy(model.bridge)
    with torch.no_grad():
        for p in bridge.parameters():
            p.mul_(scale)
    return HookedLM(bridge, model.tokenizer, model.name, model.source_path, [])


@torch.no_grad()
def test_generic_labels_follow_the_formula_on_the_bundled_model():
    model = load_model(None, device="cpu")
    data = UnlearnData(model, [TEXT], [], max_len=64)
    ex = data.forget[0]
    ids = torch.tensor([ex.ids])
    # alpha 0: the base model's own predictions on the translation, placed at the aligned positions
    labels, stats = generic_labels(model, _twin(model, 1.01), data.forget, ANCHORS, alpha=0.0)
    lab = labels[0]
    head = len(model.special_prefix())
    new_ids = model.special_prefix() + model.encode(translate(TEXT, ANCHORS)[0], prepend_bos=False)
    t_pred = model.logits(torch.tensor([new_ids]))[0].argmax(-1)
    assert lab[head - 1] == t_pred[head - 1]  # the first token: "Harry" -> the base model's guess before "Jon"
    assert stats.examples == 1 and stats.untranslated_examples == 0 and stats.from_translation > 0
    assert lab[-1] == IGNORE  # nothing follows the last token
    potter = next(k for k in range(len(ex.ids)) if model.tokenizer.decode(ex.ids[k]).strip() == "Potter")
    assert lab[potter - 1] == IGNORE  # inside 'Harry Potter': no label
    # a text without anchored terms, alpha 0: the labels are the model's greedy predictions
    plain = UnlearnData(model, ["The dragon slept under the mountain."], [], max_len=64).forget
    labels, _ = generic_labels(model, _twin(model, 1.01), plain, ANCHORS, alpha=0.0)
    pred = model.logits(torch.tensor([plain[0].ids]))[0].argmax(-1)
    assert torch.equal(labels[0][head - 1 : -1], pred[head - 1 : -1])
    # the reinforced model's boost is pushed down: a twin whose logits exceed the base model's
    # by a large margin on one token makes that token's label change away from it
    labels_a, _ = generic_labels(model, _twin(model, 1.0), plain, ANCHORS, alpha=5.0)
    assert torch.equal(labels_a[0], labels[0])  # no boost (identical twin): alpha changes nothing
    assert ids.shape[1] == len(lab)
