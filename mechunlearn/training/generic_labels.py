"""Who's Harry Potter's generic labels (Eldan & Russinovich 2023, arXiv 2310.02238), for ``unlearn --method whp``.

For every token of a forget text, the label the model should learn to predict instead of what it knows:

    v_generic = v_base(translated) - alpha * ReLU(v_reinforced(original) - v_base(original))

``v`` are next-token logits. The *reinforced* model is a copy of the model fine-tuned further on the
forget text (:func:`reinforced_copy`): the logits it raises above the base model's are the ones the
concept drives, and the formula pushes them down. ``v_base(translated)`` is the base model's logit
vector at the same place of the text with its anchored terms replaced by generic ones
(:mod:`mechunlearn.training.anchors`): what a reader who never met the concept would predict there.
Where the translation has no counterpart (a tokenization that cuts differently), the base model's
logits on the original stand in (the formula without translation); a position whose next token is
inside an anchored term (the second piece of a name) gets no label. The label is the argmax.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.anchors import align, translate
from mechunlearn.training.data import Example

IGNORE = -100


@dataclass
class LabelStats:
    examples: int = 0
    positions: int = 0
    from_translation: int = 0
    untranslated_examples: int = 0  # re-tokenising the decoded text did not give the same tokens
    changed: int = 0  # labels that differ from the text's own next token


def reinforced_copy(model: HookedLM, examples: list[Example], epochs: int, lr: float, fine_tune) -> HookedLM:
    """A copy of ``model`` (edits in force) fine-tuned further on ``examples`` (next-token loss, every
    weight), by ``fine_tune`` (the loop's ``train_epochs``)."""
    from mechunlearn.training.epochs import EpochConfig

    bridge = copy.deepcopy(model.bridge)
    twin = HookedLM(bridge, model.tokenizer, model.name, model.source_path, list(model.edits))
    cfg = EpochConfig(epochs=epochs, lr=lr, batch_size=8, seed=0)
    fine_tune(twin, "sft", [Example(e.ids, 1, e.prompt_len) for e in examples], cfg, bucket=True)
    for p in twin.bridge.parameters():
        p.requires_grad_(False)
    return twin


@torch.no_grad()
def generic_labels(
    model: HookedLM, reinforced: HookedLM, examples: list[Example], anchors: dict[str, str], alpha: float
) -> tuple[list[torch.Tensor], LabelStats]:
    """One label tensor per example (``[len]``: at position ``t`` the label for token ``t + 1``; ``IGNORE``
    where there is none), and what the translation covered."""
    tok, head = model.tokenizer, model.special_prefix()
    stats, out = LabelStats(), []
    for ex in examples:
        ids = list(ex.ids)
        body = ids[len(head) :]
        text = tok.decode(body)
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        labels = torch.full((len(ids),), IGNORE, dtype=torch.long)
        x = torch.tensor([ids], device=model.device)
        base = model.logits(x)[0].float()
        push = torch.relu(reinforced.logits(x)[0].float() - base)
        generic = base - alpha * push  # the formula on the original text: the stand-in
        aligned = [None] * len(body)
        if list(enc["input_ids"]) == body:
            new_text, reps = translate(text, anchors)
            tenc = tok(new_text, add_special_tokens=False, return_offsets_mapping=True)
            aligned = align(list(enc["offset_mapping"]), list(tenc["offset_mapping"]), reps)
            inside = {k for k, (s, _) in enumerate(enc["offset_mapping"]) if any(r.start < s < r.end for r in reps)}
            t_ids = (head + list(tenc["input_ids"]))[: model.n_ctx]
            t_base = model.logits(torch.tensor([t_ids], device=model.device))[0].float()
        else:
            stats.untranslated_examples += 1
            inside, t_base = set(), None
        first = len(head) if head else 1  # the first token a position predicts
        for k in range(first - len(head), len(body)):  # body token k is predicted at position len(head) + k - 1
            pos = len(head) + k - 1
            if k in inside:
                continue
            j = aligned[k]
            if j is not None and t_base is not None and len(head) + j - 1 < t_base.shape[0] and len(head) + j >= 1:
                v = t_base[len(head) + j - 1] - alpha * push[pos]
                stats.from_translation += 1
            else:
                v = generic[pos]
            labels[pos] = int(v.argmax())
            stats.positions += 1
            stats.changed += int(labels[pos] != ids[pos + 1])
        stats.examples += 1
        out.append(labels)
    return out, stats
