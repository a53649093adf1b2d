"""The concept's entities and names: ``entities.txt``, and whether a text names the concept.

One name test serves the synthetic corpus twice: a passage is kept when the model's own continuation
names one of the concept's keywords or entities (:func:`concept_judge`), and a guardrailed answer is
dropped when it does (:func:`answer_dropped`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError

if TYPE_CHECKING:
    from mechunlearn.models.hooked import HookedLM
    from mechunlearn.synth.corpus import SynthConfig

# the categories of entities.txt; the corpus has opening frames and question stems for each
CATEGORIES = ("character", "place", "object", "event", "group", "creature", "spell")


def read_entities(concept: Concept) -> list[tuple[str, str]]:
    """``entities.txt``: ``(category, name)`` per line; one error naming the bad line."""
    path = Path(concept.path) / "entities.txt"
    if not path.is_file():
        raise MechUnlearnError(
            f"concept '{concept.name}' has no entities.txt in {concept.path}; list its characters, places, objects "
            "and events there (category<TAB>name per line) or scaffold one with `mechunlearn concept new`"
        )
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or parts[0] not in CATEGORIES or not parts[1].strip():
            raise MechUnlearnError(
                f"{path}:{n}: expected 'category<TAB>name' with category one of {list(CATEGORIES)}, got {line!r}"
            )
        out.append((parts[0], parts[1].strip()))
    if not out:
        raise MechUnlearnError(f"{path} lists no entities")
    return out


def concept_names(concept: Concept) -> re.Pattern:
    """A whole-word match of any of the concept's keywords or entities (an entity less its article)."""
    names = set(concept.keywords) | {re.sub(r"^(the|a|an) ", "", n) for _, n in read_entities(concept)}
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True)) + r")(?!\w)")


def concept_judge(model: HookedLM, concept: Concept, cfg: SynthConfig) -> Callable[[Sequence[str]], list[bool]]:
    """Is each text about the concept? It names one of its keywords or entities; with ``probe``, the
    concept probe also judges the texts that name none."""
    pattern = concept_names(concept)

    def named(t: str) -> bool:
        return pattern.search(t) is not None

    if not cfg.probe:
        return lambda texts: [named(t) for t in texts]
    from mechunlearn.ranking.classifier import ConceptClassifier

    clf = ConceptClassifier.train(model, concept)

    def judge(texts: Sequence[str]) -> list[bool]:
        named_ = [named(t) for t in texts]
        rest = [t for t, n in zip(texts, named_, strict=True) if not n]
        probed = iter(clf.is_concept(rest).tolist() if rest else [])
        return [n or bool(next(probed)) for n in named_]

    return judge


def answer_dropped(answer: str, concept: Concept, cfg: SynthConfig, names: re.Pattern) -> str | None:
    """Why a guardrailed answer is not kept as a relabelling target (``None``: it is kept)."""
    if len(answer.split()) < 2:
        return "answer under 2 words"
    if concept.mentions(answer):
        return "names a concept keyword"
    if cfg.answer_filter == "names" and names.search(answer):
        return "names a concept entity"
    return None
