"""How good an SAE is on held-out text: L0, explained variance, cross-entropy loss recovered.

Measured on the hooked model with attention masks. The SAE's reconstruction (or zeros, for
the ablation baseline) replaces the activation at every real token except BOS, which SAEs
are not trained on; the clean model's loss is the reference. CE loss recovered is
``(CE_zero - CE_sae) / (CE_zero - CE_clean)``: 1 when splicing in the SAE costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from mechunlearn.models.hooked import HookedLM
from mechunlearn.models.logprobs import next_token_logprobs
from mechunlearn.saes.activations import document_batches


@dataclass
class SAEQuality:
    l0: float  # mean number of active features per token
    explained_variance: float  # 1 - sum |x - x_hat|^2 / sum |x - mean(x)|^2
    mse: float  # mean squared error per activation entry
    ce_clean: float
    ce_with_sae: float
    ce_zero_ablated: float
    ce_loss_recovered: float
    dead_features: int  # features that never fired on this text
    tokens: int

    def to_dict(self) -> dict:
        return asdict(self)


def _token_ce(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """Summed next-token NLL of the real tokens, and how many there are."""
    m = mask[:, 1:].bool()
    return float(-next_token_logprobs(logits, ids)[m].sum()), int(m.sum())


@torch.no_grad()
def measure_sae(model: HookedLM, sae, hook: str, docs: Sequence[str], batch_size: int = 32) -> SAEQuality:
    """Quality figures of ``sae`` at ``hook`` of ``model`` on ``docs``."""
    model.check_hook(hook)
    dev = model.device
    sae = sae.to(dev).eval()
    sums = {"clean": 0.0, "sae": 0.0, "zero": 0.0}
    n_tgt = n_tok = 0
    l0 = sq_err = sq_norm = 0.0
    x_sum = torch.zeros(int(sae.cfg.d_in), dtype=torch.float64, device=dev)
    fired = torch.zeros(int(sae.cfg.d_sae), dtype=torch.bool, device=dev)
    for ids, mask, keep in document_batches(model, docs, batch_size):
        state: dict[str, torch.Tensor] = {}

        def measure(act, hook, keep=keep, state=state):
            x = act[keep].float()
            feats = sae.encode(x.to(sae.dtype))
            recon = sae.decode(feats).float()
            state["recon"] = recon
            state["stats"] = (x, feats, recon)
            return None

        def splice(act, hook, keep=keep, state=state):
            act = act.clone()
            act[keep] = state["recon"].to(act.dtype)
            return act

        def zero(act, hook, keep=keep):
            act = act.clone()
            act[keep] = 0
            return act

        ce, n = _token_ce(model.logits(ids, mask, extra=[(hook, measure)]), ids, mask)
        sums["clean"] += ce
        sums["sae"] += _token_ce(model.logits(ids, mask, extra=[(hook, splice)]), ids, mask)[0]
        sums["zero"] += _token_ce(model.logits(ids, mask, extra=[(hook, zero)]), ids, mask)[0]
        n_tgt += n
        x, feats, recon = state["stats"]
        active = feats > 0
        l0 += float(active.sum())
        fired |= active.any(0)
        sq_err += float(((x - recon) ** 2).sum())
        sq_norm += float((x.double() ** 2).sum())
        x_sum += x.double().sum(0)
        n_tok += len(x)
    var_total = sq_norm - float((x_sum**2).sum()) / max(n_tok, 1)
    ce = {k: v / max(n_tgt, 1) for k, v in sums.items()}
    gap = ce["zero"] - ce["clean"]
    return SAEQuality(
        l0=l0 / max(n_tok, 1),
        explained_variance=1 - sq_err / var_total if var_total > 0 else float("nan"),
        mse=sq_err / max(n_tok * int(sae.cfg.d_in), 1),
        ce_clean=ce["clean"],
        ce_with_sae=ce["sae"],
        ce_zero_ablated=ce["zero"],
        ce_loss_recovered=(ce["zero"] - ce["sae"]) / gap if gap > 0 else float("nan"),
        dead_features=int((~fired).sum()),
        tokens=n_tok,
    )
