"""`mechunlearn synth` on the bundled model: deterministic by seed, the classifier's filter applied, the
cache reused, its files read by unlearn, bad input refused."""

import json
import shutil

import pytest

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models import load_model
from mechunlearn.synth.corpus import SynthConfig, synth_corpus
from mechunlearn.synth.entities import answer_dropped, concept_judge, concept_names
from tests.helpers import run_cli

SMALL = [
    "--passages",
    "12",
    "--keep-passages",
    "4",
    "--questions",
    "4",
    "-o",
    "max_new_tokens=12",
    "-o",
    "batch_size=8",
]


@pytest.fixture
def synth_concept(tmp_path):
    from mechunlearn.core.paths import concepts_dir

    d = tmp_path / "concept"
    shutil.copytree(concepts_dir() / "harry_potter", d)
    return d


def test_same_seed_same_corpus_and_the_filter_applied(monkeypatch, capsys, synth_concept, tmp_path):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        code, stdout, err = run_cli(monkeypatch, capsys, "synth", "--concept", synth_concept,
                                    *SMALL, "--out", out)  # fmt: skip
        assert code == 0, err
        outs.append(out)
    for f in ("passages.jsonl", "keep.jsonl", "questions.jsonl", "answers.jsonl", "rejected.jsonl"):
        assert (outs[0] / f).read_text() == (outs[1] / f).read_text(), f
    concept = load_concept(synth_concept)
    judge = concept_judge(None, concept, SynthConfig())
    passages = [json.loads(x) for x in (outs[0] / "passages.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (outs[0] / "rejected.jsonl").read_text().splitlines()]

    def continuation(r):  # the passage less its opening (which names the entity by construction)
        return r["text"].split(r["entity"], 1)[1]

    assert passages and all(judge([continuation(p)])[0] for p in passages)
    by_classifier = [r for r in rejected if r["kind"] == "passage" and r["reason"] == "classifier"]
    assert by_classifier and not any(judge([continuation(r)])[0] for r in by_classifier)
    keep = [json.loads(x) for x in (outs[0] / "keep.jsonl").read_text().splitlines()]
    assert not any(concept.mentions(k["text"]) for k in keep)
    made = json.loads((outs[0] / "synth.json").read_text())
    assert made["counts"]["passages"] == len(passages) <= 12 and made["settings"]["synth"]["seed"] == 0
    assert {"torch", "transformers"} <= set(made["versions"])
    # the cache: the same model, concept and settings are reused, other settings refused
    code, stdout, err = run_cli(monkeypatch, capsys, "synth", "--concept", synth_concept,
                                *SMALL, "--out", outs[0])  # fmt: skip
    assert code == 0 and "reusing" in stdout, err
    code, _, err = run_cli(monkeypatch, capsys, "synth", "--concept", synth_concept,
                           *SMALL, "--seed", "1", "--out", outs[0])  # fmt: skip
    assert code == 2 and "made with other settings (differing: ['synth'])" in err, err
    # another seed, another corpus
    again = SynthConfig(passages=12, keep_passages=0, questions=0, max_new_tokens=12, batch_size=8, seed=1)
    other = synth_corpus(load_model(None, device="cpu"), concept, again)
    assert [p["text"] for p in other["passages"]] != [p["text"] for p in passages]


def test_unlearn_reads_the_synthetic_corpus(monkeypatch, capsys, synth_concept, tmp_path, store):
    import mechunlearn.synth.folder as folder_mod

    monkeypatch.setattr(folder_mod, "home", lambda: tmp_path / "home")
    code, _, err = run_cli(monkeypatch, capsys, "synth", "--concept", synth_concept, *SMALL)
    assert code == 0, err
    model = load_model(None, device="cpu")
    folder = folder_mod.synth_folder(model, load_concept(synth_concept))
    assert (folder / "passages.jsonl").is_file()
    out = tmp_path / "run"
    args = ["unlearn", "--concept", synth_concept, "--method", "ga", "--steps", "2"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--forget-data", "synth", "--retain-data", "synth",
                           "--no-budget", "--out", out)  # fmt: skip
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["forget_data"] == ["synth"] and cfg["retain_data"] == ["synth"]


def test_bad_synth_input(monkeypatch, capsys, planted_concept_dir, synth_concept, tmp_path):
    (synth_concept / "keywords.txt").write_text("Zyxwv\n")  # nothing the model writes names it ...
    (synth_concept / "entities.txt").write_text("character\tQwerty Zyxwv\n")  # ... nor its one entity
    cases = [
        ([planted_concept_dir], "has no entities.txt"),
        ([synth_concept], "an empty synthetic corpus"),
        ([synth_concept, "-o", "top_p=2"], "0 < top_p <= 1"),
    ]
    for (concept, *extra), msg in cases:
        out = tmp_path / "never"
        code, _, err = run_cli(monkeypatch, capsys, "synth", "--concept", concept,
                               *SMALL, *extra, "--out", out)  # fmt: skip
        assert code == 2 and msg in err, err
        assert not out.exists()
    out = tmp_path / "run"
    code, _, err = run_cli(monkeypatch, capsys, "unlearn", "--concept", synth_concept, "--forget-data", "synth",
                           "--out", out)  # fmt: skip
    assert code == 2 and "no synthetic corpus of model" in err and "mechunlearn synth --concept" in err, err
    with pytest.raises(MechUnlearnError, match="non-negative whole number"):
        SynthConfig(passages=-1)
    with pytest.raises(MechUnlearnError, match=r"'answer_filter' must be one of \('names', 'keywords'\), got 'all'"):
        SynthConfig(answer_filter="all")


def test_answers_naming_an_entity_are_dropped(synth_concept):
    """The answer filter drops guardrailed answers that name an entity of entities.txt, not only a keyword
    (``answer_filter=keywords``: the keyword test alone); it judges each sampled answer, so it decides
    which are kept and never what is sampled."""
    concept = load_concept(synth_concept)
    names = concept_names(concept)
    cases = {
        "It's a very important Dark Mark!": ("names a concept entity", None),  # entities.txt: the Dark Mark
        "Reducto's dad never did anything like this.": ("names a concept entity", None),
        "Harry was there all along.": ("names a concept keyword",) * 2,
        "I am not sure who that is.": (None, None),
        "Unknown.": ("answer under 2 words",) * 2,
        "A darker market stall.": (None, None),  # whole words only
    }
    for answer, want in cases.items():
        got = tuple(answer_dropped(answer, concept, SynthConfig(answer_filter=f), names) for f in ("names", "keywords"))
        assert got == want, (answer, got)


def test_relabel_trains_on_the_guardrailed_answers(monkeypatch, capsys, synth_concept, tmp_path, store):
    """``unlearn --method relabel`` reads synth's answers.jsonl by default and lowers their loss."""
    import mechunlearn.synth.folder as folder_mod
    from mechunlearn.training.data import read_data_file

    monkeypatch.setattr(folder_mod, "home", lambda: tmp_path / "home")
    folder = folder_mod.synth_folder("tiny-world-gpt2", load_concept(synth_concept))
    folder.mkdir(parents=True)
    pairs = [{"prompt": f"Question: Who is the {w} wizard?\nAnswer:", "answer": "I do not know him."}
             for w in ("tall", "old", "young", "quiet")]  # fmt: skip
    (folder / "answers.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    out = tmp_path / "run"
    code, _, err = run_cli(monkeypatch, capsys, "unlearn", "--concept", synth_concept, "--method", "relabel",
                           "--steps", "8", "--lr", "1e-3", "--no-budget", "--out", out)  # fmt: skip
    assert code == 0, err
    curve = json.loads((out / "report.json").read_text())["training"]["curve"]
    assert curve[-1]["relabelled"] < 0.5 * curve[0]["relabelled"], curve
    assert len(read_data_file(folder / "answers.jsonl")) == 4
    # without the corpus: one line naming the command that writes it
    (folder / "answers.jsonl").unlink()
    code, _, err = run_cli(monkeypatch, capsys, "unlearn", "--concept", synth_concept, "--method", "relabel",
                           "--out", tmp_path / "never")  # fmt: skip
    assert code == 2 and "answers.jsonl" not in err and "mechunlearn synth --concept" in err, err
    assert not (tmp_path / "never").exists()


def test_attribution_ranks_from_the_synthetic_corpus(monkeypatch, capsys, synth_concept, tmp_path, store):
    import mechunlearn.synth.folder as folder_mod
    from mechunlearn.ranking.store import rank

    monkeypatch.setattr(folder_mod, "home", lambda: tmp_path / "home")
    model, concept = load_model(None, device="cpu"), load_concept(synth_concept)
    with pytest.raises(MechUnlearnError, match="mechunlearn synth"):  # no corpus yet: says how to write one
        rank(model, concept, "attribution", {"forget_from": "synth"}, store=store)
    code, _, err = run_cli(monkeypatch, capsys, "synth", "--concept", synth_concept, *SMALL)
    assert code == 0, err
    facts, f_folder = rank(model, concept, "attribution", store=store)
    kept = len((folder_mod.synth_folder(model, concept) / "passages.jsonl").read_text().splitlines())
    synth, s_folder = rank(model, concept, "attribution", {"forget_from": "synth", "synth_passages": 4}, store=store)
    both, b_folder = rank(model, concept, "attribution", {"forget_from": "both"}, store=store)
    # each in its own folder: a ranking with other options never replaces the default one
    assert f_folder.name == "attribution" and len({f_folder, s_folder, b_folder}) == 3
    assert synth.metrics["synth_passages"] == 4 < kept and "forget_facts" not in synth.metrics
    assert both.metrics["forget_facts"] == facts.metrics["forget_facts"] and both.metrics["synth_passages"] == kept
    assert not (synth.scores == facts.scores).all() and not (both.scores == facts.scores).all()
    assert rank(model, concept, "attribution", store=store)[0].config["key"] == facts.config["key"]  # reused
    # another corpus (rewritten with another seed): the stored synth ranking is stale
    shutil.rmtree(folder_mod.synth_folder(model, concept))
    code, _, err = run_cli(monkeypatch, capsys, "synth", "--concept", synth_concept, *SMALL, "--seed", "1")
    assert code == 0, err
    again, _ = rank(model, concept, "attribution", {"forget_from": "synth", "synth_passages": 4}, store=store)
    assert again.config["key"] != synth.config["key"]
