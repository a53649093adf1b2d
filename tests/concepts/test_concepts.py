"""The shipped concept is complete and consistent; bad concept input gets clear errors."""

import json

import pytest

from mechunlearn.concepts.folders import available_concepts, load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import read_jsonl


@pytest.fixture(scope="module")
def hp():
    return load_concept("harry_potter")


def test_harry_potter_ships_complete(hp):
    assert "harry_potter" in available_concepts()
    assert len(set(hp.concept_sentences)) >= 300 and len(set(hp.other_sentences)) >= 300
    assert all(hp.mentions(s) for s in hp.concept_sentences)
    assert not any(hp.mentions(s) for s in hp.other_sentences)
    assert not any(hp.mentions(s) for s in hp.retain_corpus)
    assert len(hp.facts_forget) >= 50 and len(hp.facts_retain) >= 50
    assert len(hp.paraphrased("forget")) == len(hp.facts_forget)
    domains = {r["domain"] for r in read_jsonl(hp.path / "facts_retain.jsonl")}
    assert {"lord_of_the_rings", "star_wars", "sherlock_holmes"} <= domains


def test_fact_files_match_the_knowledge_base(hp):
    from mechunlearn.bundled.corpus import load_knowledge

    kb = load_knowledge()
    forget = [(r["prompt"], r["answer"]) for r in kb if r["domain"] == "harry_potter"]
    assert [(f.prompt, f.answer) for f in hp.facts_forget] == forget
    for r in kb:  # a paraphrase never appears in the training statements
        assert all(r["paraphrase"] not in s for s in r["statements"])


def test_heldout_split_is_disjoint(hp):
    train, held = hp.forget_split()
    assert held and not set(train) & set(held)
    assert len(train) + len(held) == len(hp.forget_corpus)


def test_unknown_concept_lists_available():
    with pytest.raises(MechUnlearnError, match=r"unknown concept 'voldemort_fanfic'; available: \['harry_potter'"):
        load_concept("voldemort_fanfic")


def test_malformed_jsonl_names_file_and_line(tmp_path):
    (tmp_path / "keywords.txt").write_text("Frodo\n")
    (tmp_path / "facts_forget.jsonl").write_text(json.dumps({"prompt": "a", "answer": "b"}) + "\n{oops\n")
    c = load_concept(tmp_path)
    with pytest.raises(MechUnlearnError, match=r"facts_forget.jsonl:2: malformed JSON"):
        _ = c.facts_forget
    (tmp_path / "facts_retain.jsonl").write_text(json.dumps({"prompt": "a"}) + "\n")
    with pytest.raises(MechUnlearnError, match=r"facts_retain.jsonl:1: missing or empty key\(s\) \['answer'\]"):
        _ = c.facts_retain


def test_empty_corpus_is_refused(tmp_path):
    (tmp_path / "keywords.txt").write_text("Frodo\n")
    (tmp_path / "forget.txt").write_text("\n  \n")
    with pytest.raises(MechUnlearnError, match="forget.txt: the forget corpus is empty"):
        _ = load_concept(tmp_path).forget_corpus
