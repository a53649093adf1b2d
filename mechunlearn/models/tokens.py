"""How a tokenizer starts a text: the special tokens it puts first (no torch; the labels and the model use it)."""

from __future__ import annotations


def special_prefix(tokenizer) -> list[int]:
    """Special tokens ``tokenizer(text)`` puts before a text by default (its BOS, if any).

    Found once per tokenizer (remembered on it): every labelled text needs it.
    """
    cached = getattr(tokenizer, "_mechunlearn_prefix", None)
    if cached is None:
        plain = list(tokenizer("a b", add_special_tokens=False)["input_ids"])
        full = list(tokenizer("a b")["input_ids"])
        start = next((i for i in range(len(full)) if full[i : i + len(plain)] == plain), 0)
        cached = full[:start]
        tokenizer._mechunlearn_prefix = cached
    return list(cached)
