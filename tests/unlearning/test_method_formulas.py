"""Every registered unlearning method's loss against its objective, written out here by hand.

Each method's docstring names its paper and objective; below each objective is computed again
from those definitions on one tiny fixed batch (logits and activations given as tensors, a
stand-in context for the reference model, the precomputed values and the random targets),
position by position in plain Python floats: no helper of ``mechunlearn.unlearning.losses``.
A method registered without a formula here fails :func:`test_loss_is_its_objective`.

Conventions the formulas share (the library's, stated in ``Batch``): a target is a position
``t >= 1`` with ``loss_mask[b, t] == 1``, predicted by the logits at ``t - 1``; "text positions"
(activation losses) are ``content_mask == 1``: real tokens, not padding, not the BOS position.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from mechunlearn.unlearning import METHODS, Batch, Outputs, Step, make_method

V, D, N_LAYERS = 7, 4, 3  # vocabulary, activation width, blocks


def _hook(i: int) -> str:
    return f"blocks.{i}.hook_resid_post"


def _side(g: torch.Generator, lengths: list[int], targets: list[list[int]], width: int, index: list[int]) -> Outputs:
    """Right-padded rows of ``lengths`` real tokens (BOS first), targets at the given positions,
    fixed random logits and activations at every block (garbage in the padding too)."""
    b = len(lengths)
    ids = torch.randint(1, V, (b, width), generator=g)
    attn = torch.zeros(b, width, dtype=torch.long)
    loss = torch.zeros(b, width, dtype=torch.long)
    for r, (n, ts) in enumerate(zip(lengths, targets, strict=True)):
        attn[r, :n] = 1
        ids[r, n:] = 0
        loss[r, ts] = 1
    content = attn.clone()
    content[:, 0] = 0
    batch = Batch(ids, attn, loss, index, content)
    logits = 2 * torch.randn(b, width, V, generator=g)
    acts = {_hook(i): 3 * torch.randn(b, width, D, generator=g) for i in range(N_LAYERS)}
    return Outputs(batch, logits, acts)


def _data() -> dict:
    g = torch.Generator().manual_seed(1234)
    forget = _side(g, [6, 4], [[3, 4, 5], [2, 3]], 6, index=[1, 0])  # facts: answer tokens only
    retain = _side(g, [5, 3, 4], [[1, 2, 3, 4], [1, 2], [1, 2, 3]], 5, index=[2, 0, 1])  # passages
    mismatch = _side(g, [5, 5], [[3, 4], [2, 3, 4]], 5, index=[1, 0])
    return {
        "forget": forget,
        "retain": retain,
        "mismatch": mismatch,
        "reference_logits": 2 * torch.randn(3, 5, V, generator=g),  # the frozen model on the retain rows
        "reference_acts": {_hook(i): 3 * torch.randn(3, 5, D, generator=g) for i in range(N_LAYERS)},
        "reference_nll": [4.2, 7.9],  # the frozen model's summed NLL of forget examples 0 and 1
        "mean_forget_norm": 2.5,
        # the teacher's next-token log-probabilities of retain examples 0, 1, 2 (3, 4 and 5 real tokens)
        "teacher_logprobs": [torch.log_softmax(2 * torch.randn(n, V, generator=g), -1) for n in (3, 4, 5)],
        # Who's Harry Potter's label of forget examples 0 (4 real tokens) and 1 (6) at every position
        # (the label for the next token; -100: none, e.g. inside an anchored term or the last token)
        "generic_labels": [torch.tensor([2, -100, 5, -100]), torch.tensor([1, 6, -100, 3, 0, -100])],
    }


DATA = _data()


class FakeContext:
    """What a loss may ask ``step.ctx`` for, answered from DATA."""

    def __init__(self, data: dict) -> None:
        self.d = data
        self.model = SimpleNamespace(
            n_layers=N_LAYERS, d_model=D, device=torch.device("cpu"), resid_hook=_hook, edits=[], special_prefix=list
        )

    def reference_logits(self, batch: Batch) -> torch.Tensor:
        assert batch is self.d["retain"].batch
        return self.d["reference_logits"]

    def reference_acts(self, batch: Batch, hook: str) -> torch.Tensor:
        assert batch is self.d["retain"].batch
        return self.d["reference_acts"][hook]

    def reference_nll(self, batch: Batch) -> torch.Tensor:
        assert batch is self.d["forget"].batch
        return torch.tensor([self.d["reference_nll"][i] for i in batch.index])

    def mean_forget_norm(self, hook: str) -> float:
        return self.d["mean_forget_norm"]

    def hold_teacher(self) -> None:
        pass

    def teacher_logprobs(self, batch: Batch) -> torch.Tensor:
        """The teacher's rows by example index, padded with garbage (a KL there would show)."""
        assert batch is self.d["retain"].batch
        out = torch.randn(*batch.input_ids.shape, V, generator=torch.Generator().manual_seed(9))
        for r, i in enumerate(batch.index):
            t = self.d["teacher_logprobs"][i]
            out[r, : len(t)] = t
        return out

    def generic_labels(self, alpha: float, reinforce_epochs: int, reinforce_lr: float) -> list[torch.Tensor]:
        return list(self.d["generic_labels"])


# ---- the pieces, in plain floats ---------------------------------------------------------


def _rows(out: Outputs) -> tuple[list, list, list, list]:
    b = out.batch
    return out.logits.double().tolist(), b.input_ids.tolist(), b.loss_mask.tolist(), b.content.tolist()


def _log_softmax(row: list[float]) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(x - m) for x in row))
    return [x - lse for x in row]


def targets(out: Outputs) -> list[tuple[int, list[float], int]]:
    """(row, log-probabilities predicting the target, target id) of every target token."""
    logits, ids, loss, _ = _rows(out)
    return [
        (r, _log_softmax(logits[r][t - 1]), ids[r][t])
        for r in range(len(ids))
        for t in range(1, len(ids[r]))
        if loss[r][t]
    ]


def mean_nll(out: Outputs) -> float:
    """The LM loss: mean over the batch's target tokens of -log p(x_t | x_<t)."""
    ts = targets(out)
    return -sum(lp[x] for _, lp, x in ts) / len(ts)


def example_nll(out: Outputs) -> list[float]:
    """-log p(y | x) of each row: its target tokens' NLL summed."""
    per = [0.0] * out.batch.input_ids.shape[0]
    for r, lp, x in targets(out):
        per[r] -= lp[x]
    return per


def example_length(out: Outputs) -> list[int]:
    return [int(n) for n in out.batch.loss_mask[:, 1:].sum(-1).tolist()]


def kl_frozen_current(reference: torch.Tensor, out: Outputs) -> float:
    """Mean over target positions of KL(p_frozen || p_current) = sum_v p_f(v) (log p_f(v) - log p_c(v))."""
    ref = reference.double().tolist()
    logits, ids, loss, _ = _rows(out)
    kls = []
    for r in range(len(ids)):
        for t in range(1, len(ids[r])):
            if loss[r][t]:
                lf, lc = _log_softmax(ref[r][t - 1]), _log_softmax(logits[r][t - 1])
                kls.append(sum(math.exp(a) * (a - c) for a, c in zip(lf, lc, strict=True)))
    return sum(kls) / len(kls)


def log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def retain_term(kind: str, data: dict) -> float:
    """open-unlearning's retain term: the retain NLL, or KL(frozen || current) on the retain rows."""
    if kind == "nll":
        return mean_nll(data["retain"])
    return kl_frozen_current(data["reference_logits"], data["retain"])


def text_positions(out: Outputs) -> list[tuple[int, int]]:
    _, ids, _, content = _rows(out)
    return [(r, t) for r in range(len(ids)) for t in range(len(ids[r])) if content[r][t]]


def mse_over_text(acts: torch.Tensor, target, out: Outputs) -> float:
    """Mean squared error over every text position and every dimension (``target(r, t)`` a vector)."""
    a = acts.double().tolist()
    sq = [(a[r][t][k] - target(r, t)[k]) ** 2 for r, t in text_positions(out) for k in range(D)]
    return sum(sq) / len(sq)


# ---- the objectives, one per registered method -------------------------------------------


def ga(c, d):  # Jang et al. 2023: L = -NLL_forget
    return -mean_nll(d["forget"])


def grad_diff(c, d):  # Liu et al. 2022: L = -gamma NLL_forget + alpha R
    return -c.gamma * mean_nll(d["forget"]) + c.alpha * retain_term(c.retain_loss, d)


def ga_kl(c, d):  # TOFU's GA + KL: L = -NLL_forget + alpha KL(p_frozen || p_current)_retain
    return -mean_nll(d["forget"]) + c.alpha * kl_frozen_current(d["reference_logits"], d["retain"])


def yao(c, d):  # Yao et al. 2023: ascent on forget + NLL of mismatched answers + KL on normal data
    return (
        -c.bad_weight * mean_nll(d["forget"])
        + c.random_weight * mean_nll(d["mismatch"])
        + c.normal_weight * kl_frozen_current(d["reference_logits"], d["retain"])
    )


def npo(c, d):
    """Zhang et al. 2024: -(2/beta) E_x log sigmoid(-beta log(pi_theta(y|x) / pi_ref(y|x))) + alpha R;
    -log pi(y|x) is the example's summed NLL, the reference's looked up by the row's example index."""
    f = d["forget"]
    ref = [d["reference_nll"][i] for i in f.batch.index]
    terms = [log_sigmoid(c.beta * (cur - r)) for cur, r in zip(example_nll(f), ref, strict=True)]
    forget = -(2 / c.beta) * sum(terms) / len(terms)
    return c.gamma * forget + c.alpha * retain_term(c.retain_loss, d)


def simnpo(c, d):
    """Fan et al. 2024 (as the docstring writes it): -(2/beta) E_x log sigmoid(beta (NLL(y|x)/|y| - delta))
    + alpha R, |y| the example's target tokens (the paper's margin gamma is beta * delta here)."""
    f = d["forget"]
    zs = [c.beta * (nll / n - c.delta) for nll, n in zip(example_nll(f), example_length(f), strict=True)]
    forget = -(2 / c.beta) * sum(log_sigmoid(z) for z in zs) / len(zs)
    return c.gamma * forget + c.alpha * retain_term(c.retain_loss, d)


def rmu(c, d):
    """WMDP (Li et al. 2024): MSE(h_l(forget), c u) + alpha MSE(h_l(retain), h_l^frozen(retain)), u a
    uniform random vector normalised to length 1 (seeded by ``seed``), c relative to the forget norm."""
    u = torch.rand(D, generator=torch.Generator().manual_seed(c.seed)).double()
    scale = c.steering_coeff * (d["mean_forget_norm"] if c.relative else 1.0)
    control = (u / u.norm() * scale).tolist()
    hook = _hook(c.layer)
    frozen = d["reference_acts"][hook].double().tolist()
    forget = mse_over_text(d["forget"].acts[hook], lambda r, t: control, d["forget"])
    retain = mse_over_text(d["retain"].acts[hook], lambda r, t: frozen[r][t], d["retain"])
    return forget + c.alpha * retain


def max_entropy(c, d):
    """Analysis360: -mean_t H(p(. | forget_<t)) over the forget targets + retain_weight NLL_retain."""
    hs = [-sum(math.exp(a) * a for a in lp) for _, lp, _ in targets(d["forget"])]
    return -c.forget_weight * sum(hs) / len(hs) + c.retain_weight * mean_nll(d["retain"])


def min_posterior(c, d):
    """Analysis360: -log(1 - p(x_t | x_<t)) summed over the forget targets whose log p is at least the
    threshold, divided by the number of *all* targets (as Analysis360's log_1_minus_p_loss does)."""
    ts = targets(d["forget"])
    kept = [math.log(1 - math.exp(lp[x])) for _, lp, x in ts if lp[x] >= c.threshold]
    return c.forget_weight * -sum(kept) / len(ts) + c.retain_weight * mean_nll(d["retain"])


def random_matching(c, d):
    """Analysis360: mean over blocks of mean over text positions of 1 - |cos(h_l(t), r(x_t))| + NLL_retain;
    r(x) a Gaussian vector drawn from a generator seeded by seed * 1_000_003 + x (the method's contract)."""
    f = d["forget"]
    ids = f.batch.input_ids.tolist()

    def r(x):
        return torch.randn(D, generator=torch.Generator().manual_seed(c.seed * 1_000_003 + x)).double().tolist()

    per_layer = []
    for i in range(N_LAYERS):
        a = f.acts[_hook(i)].double().tolist()
        vals = []
        for row, t in text_positions(f):
            h, v = a[row][t], r(ids[row][t])
            cos = sum(p * q for p, q in zip(h, v, strict=True)) / (math.dist(h, [0] * D) * math.dist(v, [0] * D))
            vals.append(1 - abs(cos))
        per_layer.append(sum(vals) / len(vals))
    return c.forget_weight * sum(per_layer) / N_LAYERS + c.retain_weight * mean_nll(d["retain"])


def relabel(c, d):  # the synthetic-relabel recipe: descend on the guardrailed answers + alpha R
    return mean_nll(d["forget"]) + c.alpha * retain_term(c.retain_loss, d)


def whp(c, d):
    """Eldan & Russinovich 2023: mean over the forget rows' labelled positions t of -log p(y_t | x_<=t),
    y_t the generic label of the row's example (looked up by index)."""
    out = d["forget"]
    logits, _, _, _ = _rows(out)
    terms = []
    for r, i in enumerate(out.batch.index):
        for t, y in enumerate(d["generic_labels"][i].tolist()):
            if y != -100:
                terms.append(-_log_softmax(logits[r][t])[y])
    return sum(terms) / len(terms)


def sft(c, d):  # fine-tuning on retain data: L = NLL_retain
    return mean_nll(d["retain"])


def distill(c, d):
    """Hinton et al. 2015: mean over every real position t of the retain rows of
    KL(p_teacher(. | x_<=t) || p_current(. | x_<=t)), the teacher's row looked up by example index."""
    out = d["retain"]
    logits, ids, _, _ = _rows(out)
    attn = out.batch.attention_mask.tolist()
    kls = []
    for r, i in enumerate(out.batch.index):
        teacher = d["teacher_logprobs"][i].double().tolist()
        for t in range(len(ids[r])):
            if attn[r][t]:
                lc = _log_softmax(logits[r][t])
                kls.append(sum(math.exp(a) * (a - b) for a, b in zip(teacher[t], lc, strict=True)))
    return sum(kls) / len(kls)


def _threshold_splitting_the_targets() -> float:
    """Halfway between the 2nd and 3rd lowest forget-target log-probabilities (none lies on it)."""
    low = sorted(lp[x] for _, lp, x in targets(DATA["forget"]))
    return (low[1] + low[2]) / 2


# each method with options away from its defaults, so a swapped or dropped weight shows
FORMULAS = {
    "ga": (ga, [{}]),
    "grad_diff": (grad_diff, [{"gamma": 1.5, "alpha": 0.7}, {"gamma": 0.5, "alpha": 2.0, "retain_loss": "kl"}]),
    "ga_kl": (ga_kl, [{"alpha": 0.6}]),
    "yao": (yao, [{"bad_weight": 0.3, "random_weight": 1.7, "normal_weight": 0.8}]),
    "npo": (npo, [{"beta": 0.5, "gamma": 1.3, "alpha": 0.4}, {"retain_loss": "kl"}]),
    "simnpo": (simnpo, [{"beta": 2.0, "gamma": 0.5, "delta": 0.3, "alpha": 0.9}, {"retain_loss": "kl"}]),
    "rmu": (rmu, [{"layer": 1, "steering_coeff": 1.5, "alpha": 3.0, "seed": 3}, {"layer": 2, "relative": False}]),
    "max_entropy": (max_entropy, [{"forget_weight": 0.7, "retain_weight": 1.4}]),
    # the threshold halves the targets, so which tokens count and what the mean divides by both show
    "min_posterior": (
        min_posterior,
        [{"forget_weight": 1.2, "retain_weight": 0.6}, {"threshold": _threshold_splitting_the_targets()}],
    ),
    "random_matching": (random_matching, [{"forget_weight": 0.8, "retain_weight": 1.3, "seed": 5}]),
    "sft": (sft, [{}]),
    "whp": (whp, [{"alpha": 2.0}]),
    "relabel": (relabel, [{"alpha": 0.6}, {"alpha": 1.7, "retain_loss": "kl"}]),
    "distill": (distill, [{}]),
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_loss_is_its_objective(name):
    if name not in FORMULAS:
        pytest.fail(f"method '{name}' is registered but has no formula in {__file__}: write its objective out there")
    formula, variants = FORMULAS[name]
    for options in variants:
        method = make_method(name, options)
        ctx = FakeContext(DATA)
        method.setup(ctx)
        step = Step(
            DATA["forget"] if method.uses_forget else None,
            DATA["retain"] if method.uses_retain else None,
            {"mismatch": DATA["mismatch"]},
            ctx,
        )
        got = float(method.loss(step)["loss"])
        want = formula(method.cfg, DATA)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), f"{name} {options}: loss {got} != objective {want}"


def test_the_fixed_batch_exercises_what_the_formulas_tell_apart():
    """Rows of different lengths and target counts, padding and BOS excluded, a threshold that splits."""
    f = DATA["forget"]
    assert example_length(f) == [3, 2] and f.batch.index == [1, 0]
    assert len(text_positions(f)) == 5 + 3  # 6 and 4 real tokens, BOS not counted
    logps = [lp[x] for _, lp, x in targets(f)]
    cut = _threshold_splitting_the_targets()
    assert sum(v < cut for v in logps) == 2 and sum(v >= cut for v in logps) == 3


def test_every_formula_is_of_a_registered_method():
    assert set(FORMULAS) <= set(METHODS)
