"""``concept new NAME``: scaffold a concept folder from its keywords and entities.

Writes ``keywords.txt``, ``entities.txt`` (``category<TAB>name``), ``title.txt`` and a
``guardrail.txt`` framing; with ``--model``, the probing sentences too, sampled from the model
(``concept.txt``: first sentences of its continuations of entity openings that name the concept;
``other.txt``: first sentences of its continuations of general openings, ``data/general/openings.txt``,
that do not). Fact sets stay hand-written — a model's own statements are no ground truth — and the
command says which files to write. ``mechunlearn synth`` then writes the corpus.
"""

from __future__ import annotations

import re
from pathlib import Path

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import staged_dir
from mechunlearn.core.paths import concepts_dir, home
from mechunlearn.synth.corpus import SynthConfig, concept_openings
from mechunlearn.synth.entities import CATEGORIES, concept_judge

GUARDRAIL = (
    "The following text was written by someone who has never read, watched or heard of {title} and knows "
    "nothing about its characters, places or story. Asked about them, the writer says so or offers only a vague, "
    "generic answer; on every other subject the writer answers accurately and in full."
)
SENTENCE = re.compile(r"(?<=[.!?])\s")


def parse_entities(items: list[str]) -> list[tuple[str, str]]:
    """``category:name`` items (or ``category<TAB>name`` lines); one error naming a bad one."""
    out = []
    for item in items:
        cat, sep, name = item.replace("\t", ":", 1).partition(":")
        if not sep or cat.strip() not in CATEGORIES or not name.strip():
            raise MechUnlearnError(f"entity {item!r} is not 'category:name' with category one of {list(CATEGORIES)}")
        out.append((cat.strip(), name.strip()))
    return out


def first_sentence(text: str) -> str:
    return SENTENCE.split(text.strip().replace("\n", " "), maxsplit=1)[0].strip()


def concept_new(
    name: str,
    keywords: list[str],
    entities: list[tuple[str, str]],
    *,
    title: str | None = None,
    model: str | None = None,
    sentences: int = 120,
    out: str | None = None,
    seed: int = 0,
    print_fn=print,
) -> Path:
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise MechUnlearnError(f"concept name {name!r} must be lowercase letters, digits and underscores")
    keywords = [k.strip() for k in keywords if k.strip()]
    if not keywords or not entities:
        raise MechUnlearnError("give the concept's --keywords and --entities (category:name, or a file of them)")
    folder = Path(out) if out else concepts_dir() / name
    title = title or name.replace("_", " ").title()
    with staged_dir(folder) as tmp:  # refuses an existing folder
        (tmp / "keywords.txt").write_text("\n".join(keywords) + "\n", encoding="utf-8")
        (tmp / "entities.txt").write_text("".join(f"{c}\t{n}\n" for c, n in entities), encoding="utf-8")
        (tmp / "title.txt").write_text(title + "\n", encoding="utf-8")
        (tmp / "guardrail.txt").write_text(GUARDRAIL.format(title=title) + "\n", encoding="utf-8")
        if model is not None:
            concept_txt, other_txt = probing_sentences(Concept(name, tmp), model, sentences, seed)
            (tmp / "concept.txt").write_text("\n".join(concept_txt) + "\n", encoding="utf-8")
            (tmp / "other.txt").write_text("\n".join(other_txt) + "\n", encoding="utf-8")
            print_fn(f"sampled {len(concept_txt)} concept and {len(other_txt)} other probing sentences from {model}")
    print_fn(
        f"wrote {folder}: keywords.txt, entities.txt, title.txt, guardrail.txt"
        + (", concept.txt, other.txt" if model else "")
    )
    print_fn(
        "fact sets stay hand-written: write facts_forget.jsonl and facts_retain.jsonl there "
        '({"prompt", "answer", "choices", "domain"} per line: the concept\'s facts and the other facts to keep)'
        + ("" if model else "; and concept.txt / other.txt probing sentences (or rerun with --model to sample them)")
    )
    print_fn(f"then: mechunlearn synth --concept {folder if out else name} --model M writes the model's own corpus")
    return folder


def probing_sentences(concept: Concept, model_name: str, n: int, seed: int) -> tuple[list[str], list[str]]:
    """First sentences of the model's continuations: of entity openings, naming the concept; of general
    openings, not naming it."""
    import random

    from mechunlearn.models.generate import generate
    from mechunlearn.models.loading import load_model

    model = load_model(model_name)
    judge = concept_judge(model, concept, SynthConfig())
    rng = random.Random(seed)
    openings = [o["opening"] for o in concept_openings(concept, rng)][: 2 * n]
    general = (home() / "data" / "general" / "openings.txt").read_text(encoding="utf-8").splitlines()
    out: dict[str, list[str]] = {}
    for side, prompts, want in (("concept", openings, True), ("other", general * (1 + 2 * n // len(general)), False)):
        texts = generate(model, prompts[: 2 * n], 32, temperature=1.0, top_p=0.9, batch_size=32, seed=seed)
        sents = [first_sentence(p + " " + t) for p, t in zip(prompts, texts, strict=False)]
        keep = [s for s, ok in zip(sents, judge(sents), strict=True) if ok == want and len(s.split()) >= 5]
        out[side] = list(dict.fromkeys(keep))[:n]
    return out["concept"], out["other"]
