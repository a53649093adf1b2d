import re

import pytest

from mechunlearn.concepts.labels import (
    CONCEPT,
    IGNORE,
    OTHER,
    label_neurox_pair,
    label_text,
    read_neurox_pair,
    write_neurox_pair,
)
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model

PATTERN = re.compile(r"(?<!\w)(?:Hogwarts|Dumbledore|Quidditch)(?!\w)")


@pytest.fixture(scope="module")
def tok(tiny_gpt2_dir):
    return load_model(tiny_gpt2_dir, device="cpu").tokenizer


def test_every_subword_of_a_keyword_is_labelled(tok):
    assert len(tok(" Quidditch", add_special_tokens=False)["input_ids"]) >= 3  # unseen word: split
    (item,) = label_text("Old Dumbledore played Quidditch today", PATTERN, tok, 64)
    assert item.labels[0] == IGNORE and item.ids[0] == tok.bos_token_id
    pieces = [tok.decode([i]) for i in item.ids[1:]]
    labelled = "".join(p for p, lab in zip(pieces, item.labels[1:], strict=True) if lab == CONCEPT)
    assert labelled.replace(" ", "") == "DumbledoreQuidditch"
    assert sum(1 for lab in item.labels if lab == CONCEPT) >= 4
    assert OTHER in item.labels


def test_whole_words_only(tok):
    (item,) = label_text("Hogwartsian Dumbledores", PATTERN, tok, 64)
    assert CONCEPT not in item.labels


def test_long_text_is_chunked_with_warning(tok, caplog):
    text = " ".join(["Dumbledore walked to the lake."] * 40)
    items = label_text(text, PATTERN, tok, 32)
    assert len(items) > 1 and all(len(i.ids) <= 32 for i in items)
    assert "longer than the context" in caplog.text


def test_neurox_pair_round_trip(tok, tmp_path):
    sents = ["Dumbledore lives at Hogwarts", "Paris is lovely"]
    write_neurox_pair(sents, PATTERN, tmp_path / "t.txt", tmp_path / "l.txt")
    assert (tmp_path / "l.txt").read_text().splitlines()[0] == "target N/A N/A target"
    words = read_neurox_pair(tmp_path / "t.txt", tmp_path / "l.txt")
    assert words[1] == (["Paris", "is", "lovely"], [False, False, False])
    items = label_neurox_pair(tmp_path / "t.txt", tmp_path / "l.txt", tok, 64)
    direct = [label_text(s, PATTERN, tok, 64)[0] for s in sents]
    assert [i.labels for i in items] == [d.labels for d in direct]


def test_neurox_pair_mismatch_names_file_and_line(tmp_path, tok):
    (tmp_path / "t.txt").write_text("a b c\nd e\n")
    (tmp_path / "l.txt").write_text("N/A N/A N/A\nN/A\n")
    with pytest.raises(MechUnlearnError, match=r"l.txt:2: 1 labels for 2 tokens"):
        label_neurox_pair(tmp_path / "t.txt", tmp_path / "l.txt", tok, 64)
    (tmp_path / "l.txt").write_text("N/A N/A N/A\nN/A yes\n")
    with pytest.raises(MechUnlearnError, match=r"unknown label\(s\) \['yes'\]"):
        read_neurox_pair(tmp_path / "t.txt", tmp_path / "l.txt")
