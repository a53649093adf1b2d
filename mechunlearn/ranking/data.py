"""The labelled token stream that ranking methods read: a concept's probing sentences."""

from __future__ import annotations

from mechunlearn.concepts.folders import Concept
from mechunlearn.concepts.labels import LabelledText, label_neurox_pair, label_texts
from mechunlearn.models.hooked import HookedLM


def probing_items(model: HookedLM, concept: Concept) -> list[LabelledText]:
    """Concept and non-concept sentences, tokenized by the model, keyword tokens labelled 1.

    If the concept carries a NeuroX tokens/labels pair, that pair is used instead.
    """
    if concept.probing_pair is not None:
        return label_neurox_pair(*concept.probing_pair, model.tokenizer, model.n_ctx)
    texts = concept.concept_sentences + concept.other_sentences
    return label_texts(texts, concept.keyword_pattern, model.tokenizer, model.n_ctx)
