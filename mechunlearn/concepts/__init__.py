"""Concepts: their folders under ``data/concepts/`` (:mod:`.folders`: keywords, facts, held-back
passages, splits) and token-level labels (:mod:`.labels`). The data every later stage starts from;
it imports only :mod:`mechunlearn.core` and the tokenizer helper in :mod:`mechunlearn.models.tokens`."""
