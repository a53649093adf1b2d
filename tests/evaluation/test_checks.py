"""Evaluation checks: each registered one runs through the report, and each measures what it claims on a
case built for it."""

from __future__ import annotations

import json
import shutil

import pytest

from mechunlearn.concepts.folders import load_concept
from mechunlearn.evaluation.checks import CHECKS, default_checks, make_checks
from mechunlearn.evaluation.checks.familiarity import named_terms
from mechunlearn.evaluation.checks.mia import auc
from mechunlearn.evaluation.report import EvalSets
from mechunlearn.evaluation.scorecard import scorecard
from mechunlearn.models import load_model

# options that keep each check to seconds on the bundled model
FAST = {
    "relearn": {"steps": 2, "lr": [1e-4]},
    "familiarity": {"max_new_tokens": 6},
    "mia": {"max_tokens": 32},
}


@pytest.fixture(scope="module")
def bundled():
    return load_model(None, device="cpu")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_every_check_runs_through_the_report_and_returns_numbers(name, bundled, tmp_path):
    concept = load_concept("harry_potter")
    checks = ["facts", name] if name != "facts" else ["facts"]  # relearn needs the known facts
    ev = EvalSets(concept, checks=checks, check_options=FAST, out=tmp_path)
    before = dict(bundled.hf_model.state_dict())
    before = {k: v.clone() for k, v in before.items()}
    metrics = ev.measure(bundled, ("test",), record_known=True, stage="before")
    again = ev.measure(bundled, ("test",), stage="after")  # a later stage: the known subset is used
    own = [k for k in again if not k.startswith(("corpus.", "natural.")) or name in ("facts", "paraphrase")]
    assert own, f"check '{name}' added no metric"
    assert all(isinstance(v, float) for v in [*metrics.values(), *again.values()])
    assert all(k in again for k in own)
    after = bundled.hf_model.state_dict()
    assert all(v.equal(after[k]) for k, v in before.items()), f"check '{name}' changed the model"


def test_the_default_set_is_todays_report_and_all_is_every_check():
    assert default_checks() == ["facts", "paraphrase", "perplexity"]
    # all: every check but lm_eval (an optional extra; --lm-eval adds it)
    assert sorted(c.name for c in make_checks("all")) == [n for n in CHECKS.names() if n != "lm_eval"]
    assert [c.name for c in make_checks("perplexity,facts")] == ["facts", "perplexity"]  # known first


def test_unknown_check_or_option_is_one_error():
    from mechunlearn.core.errors import MechUnlearnError

    with pytest.raises(MechUnlearnError, match="unknown evaluation check 'famility'; valid: .*familiarity"):
        make_checks("facts,famility")
    with pytest.raises(MechUnlearnError, match="unknown option.*'max_tokens'.*valid for 'familiarity'"):
        make_checks("familiarity", {"familiarity": {"max_tokens": 3}})


def test_mia_auc_is_the_mann_whitney_probability():
    # members beat non-members in 5 of 6 pairs, one tie: (5 + 0.5) / 6... written out pair by pair
    members, others = [3.0, 1.0], [0.5, 1.0, 2.0]
    pairs = [(3, 0.5), (3, 1), (3, 2), (1, 0.5), (1, 1), (1, 2)]
    want = sum(1.0 if m > o else 0.5 if m == o else 0.0 for m, o in pairs) / 6
    assert auc(members, others) == pytest.approx(want) == pytest.approx(4.5 / 6)


def test_mia_tells_the_bundled_models_training_text_from_text_it_never_saw(bundled):
    """The bundled model memorised its corpus, which holds the forget passages but not the held-back ones."""
    ev = EvalSets(load_concept("harry_potter"), checks=["mia"], check_options=FAST)
    m = ev.measure(bundled, ("test",))
    assert m["mia.loss.auc"] > 0.9 and m["mia.min_k.auc"] > 0.9
    assert m["mia.loss.change"] == 0.0  # the first stage is its own reference


def test_familiarity_names_only_terms_the_opening_does_not_already_have():
    terms = ["Hogwarts", "Dumbledore", "Diagon Alley"]
    assert named_terms("went to hogwarts, then Diagon  Alley", terms, "A boy") == ["Hogwarts"]
    assert named_terms("Dumbledore's office", terms, "He met Dumbledore") == []
    assert named_terms("Hogwartsian", terms, "") == []  # whole words only


def test_familiarity_is_one_on_a_model_that_memorised_the_continuations(tiny_gpt2_dir, tmp_path):
    from mechunlearn.training.epochs import EpochConfig
    from mechunlearn.training.loop import train_epochs

    folder = tmp_path / "concept"
    shutil.copytree(load_concept("harry_potter").path, folder, ignore=shutil.ignore_patterns("familiarity"))
    (folder / "familiarity").mkdir()
    openings = [
        {"side": "concept", "domain": "hp", "opening": "The wizard boy took the train to"},
        {"side": "concept", "domain": "hp", "opening": "The old headmaster was called"},
        {"side": "control", "domain": "lotr", "opening": "The halfling carried the ring to"},
    ]
    ends = [" Hogwarts castle.", " Dumbledore the wise.", " Mordor at last."]
    (folder / "familiarity" / "openings.jsonl").write_text("".join(json.dumps(o) + "\n" for o in openings))
    (folder / "familiarity" / "terms.json").write_text(
        json.dumps({"hp": ["Hogwarts", "Dumbledore"], "lotr": ["Mordor"]})
    )
    model = load_model(tiny_gpt2_dir, device="cpu")
    ev = EvalSets(load_concept(folder), checks=["familiarity"], check_options={"familiarity": {"max_new_tokens": 5}})
    untrained = ev.measure(model)
    texts = [o["opening"] + e for o, e in zip(openings, ends, strict=True)] * 4
    train_epochs(model, "sft", texts, EpochConfig(epochs=40, lr=1e-2, batch_size=4))
    trained = ev.measure(model)
    assert untrained["familiarity.concept"] == 0.0
    assert trained["familiarity.concept"] == 1.0 and trained["familiarity.control"] == 1.0


def test_scorecard_reads_the_headline_set_and_the_perplexity_ratio():
    first = {"natural.forget.test.known.mc": 1.0, "retain_ppl": 20.0, "corpus.forget.test.known.greedy": 1.0}
    now = {"natural.forget.test.known.mc": 0.4, "retain_ppl": 25.0, "familiarity.concept": 0.1}
    card = scorecard(now, first)
    assert card == {"forget.mc": 0.4, "forget.familiarity": 0.1, "keep.ppl_ratio": 1.25}


def test_adversarial_templates_build_each_type_from_the_fact():
    from pathlib import Path

    from mechunlearn.concepts.folders import Fact
    from mechunlearn.evaluation.checks.adversarial import Probes

    p = Probes(Path(load_concept("harry_potter").path) / "adversarial", icl_examples=2)
    f = Fact("Voldemort's pet snake is named", "Nagini", ("Nagini", "Kaa", "Fang", "Aragog"), "harry_potter")
    t = {name: build(f, "forget") for name, build in p.templates().items()}
    assert t["background_hint"] == "The following is about the Harry Potter books. Voldemort's pet snake is named"
    assert t["in_context"].count("\n") == 2 and t["in_context"].endswith(f.prompt)
    assert t["alias"].startswith("The Dark Lord's pet snake")  # the alias starts the prompt: capitalised
    assert t["prefix_injection"].endswith(f.prompt) and t["role_play"].endswith(f.prompt)
    assert p.alias(Fact("The sky is", "blue"), "forget") is None  # no name to replace: not asked
