"""`mechunlearn concept new`: the scaffold, probing sentences sampled from the bundled model, bad input."""

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.paths import bundled_model_dir
from mechunlearn.synth.corpus import SynthConfig
from mechunlearn.synth.entities import concept_judge, read_entities
from tests.helpers import run_cli

ENTITIES = "character:Harry Potter,place:Hogwarts,object:the Elder Wand"


def test_scaffold_with_sampled_probing_sentences(monkeypatch, capsys, tmp_path):
    out = tmp_path / "wizards"
    args = [
        "concept",
        "new",
        "wizards",
        "--keywords",
        "Harry,Hogwarts",
        "--entities",
        ENTITIES,
        "--title",
        "Harry Potter",
    ]
    code, stdout, err = run_cli(
        monkeypatch, capsys, *args, "--model", bundled_model_dir(), "--sentences", "20", "--out", out
    )
    assert code == 0, err
    assert "fact sets stay hand-written: write facts_forget.jsonl and facts_retain.jsonl" in stdout
    concept = load_concept(out)
    assert concept.keywords == ["Harry", "Hogwarts"]
    assert read_entities(concept) == [
        ("character", "Harry Potter"),
        ("place", "Hogwarts"),
        ("object", "the Elder Wand"),
    ]
    assert "Harry Potter" in concept.guardrail_text
    judge = concept_judge(None, concept, SynthConfig())
    assert concept.concept_sentences and all(judge(concept.concept_sentences))
    assert concept.other_sentences and not any(judge(concept.other_sentences))
    assert len(concept.concept_sentences) <= 20


def test_bad_concept_new_input(monkeypatch, capsys, tmp_path):
    base = ["concept", "new", "wizards", "--keywords", "Harry"]
    for extra, msg in [
        (["--entities", "wizard:Harry"], "entity 'wizard:Harry' is not 'category:name' with category one of"),
        (["--entities", "character:Harry", "--keywords", " "], "give the concept's --keywords and --entities"),
    ]:
        code, _, err = run_cli(monkeypatch, capsys, *base, *extra, "--out", tmp_path / "x")
        assert code == 2 and msg in err, err
        assert not (tmp_path / "x").exists()
    code, _, err = run_cli(
        monkeypatch, capsys, "concept", "new", "Bad Name", "--keywords", "a", "--entities", "place:b"
    )
    assert code == 2 and "must be lowercase letters" in err, err
    (tmp_path / "taken").mkdir()
    code, _, err = run_cli(monkeypatch, capsys, *base, "--entities", "character:Harry", "--out", tmp_path / "taken")
    assert code == 2 and "taken" in err, err
