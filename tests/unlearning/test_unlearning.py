"""Gradient unlearning: every registered method, on tiny random models built from configs.

The shared tests run over ``METHODS``, so a method added as one file is tested here without
edits: its objective falls, edits stay in force, the export reproduces it, LoRA merges
exactly, localisation leaves every other weight bit-identical, and a seed fixes the result.
"""

from __future__ import annotations

import random

import pytest
import torch

from mechunlearn.concepts.folders import load_concept
from mechunlearn.edits import NeuronAblation
from mechunlearn.edits.export import export_checkpoint
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron
from mechunlearn.training.context import Context
from mechunlearn.training.data import UnlearnData
from mechunlearn.training.localize import neuron_localization
from mechunlearn.training.loop import TrainConfig, forward, step_loss, train, train_epochs
from mechunlearn.training.lora import LoraSpec, add_lora, lora_parameters, merge_lora
from mechunlearn.unlearning import METHODS, make_method

# pins numerical behaviour: also run on the newest releases by `make test-latest`
pytestmark = pytest.mark.numerics

FORGET = [
    "Harry Potter went to Hogwarts with Ron and Hermione.",
    "Dumbledore was the headmaster; Voldemort was his enemy.",
]
RETAIN = [
    "Frodo carried the One Ring to Mount Doom in Mordor.",
    "The capital of France is Paris, a city on the Seine.",
    "Water boils at one hundred degrees at sea level.",
]
# each method's steps and learning rate for the tiny models (the defaults are for real models)
FAST = {"steps": 6, "lr": 3e-3, "batch_size": 2}
# RMU's retain term is weighted 100 by default (alpha, tuned on gemma-3-270m): at lr 3e-3 the tiny
# GPT-2's objective rises over 6 steps; lr 1e-3 with alpha 1 lowers it on every tiny architecture
# distillation's student drops the teacher-only edit (see `prepared`), so it has something to learn
OVERRIDES = {"rmu": {"lr": 1e-3, "alpha": 1.0}, "distill": {"drop_edits": ["teacher_only"]}}


def fast(name: str) -> dict:
    return FAST | OVERRIDES.get(name, {})


class _TeacherOnly:
    """An edit only a distillation teacher has: the last block's output negated, so the teacher's logits
    are the student's turned upside down (far from the student: something to learn in a few steps)."""

    kind = "teacher_only"

    def hooks(self, model):
        return [(model.resid_hook(model.n_layers - 1), lambda act, hook: -act)]


def prepared(name: str, model):
    """``model`` as method ``name`` needs it to have anything to do: a distillation teacher gets an edit
    its student drops."""
    if name == "distill":
        model.edits.append(_TeacherOnly())
    return model


# the concept a method may read its folder from (whp: anchors.tsv); FORGET names its anchored terms
CONCEPT = load_concept("harry_potter")


def _data(model, seed=0):
    return UnlearnData(model, FORGET, RETAIN, seed=seed)


def _params(model, method):
    return method.trainable(model) or model.trainable_parameters()


def objective(model, method, ctx) -> float:
    """The method's loss on all the data at once (one fixed batch per side), without training."""
    d = ctx.data
    batches = {}
    if method.uses_forget:
        batches["forget"] = d.batch("forget", list(range(len(d.forget))))
        ctx.rng = random.Random(0)
        batches |= method.extra_batches(ctx, batches["forget"])
    if method.uses_retain:
        batches["retain"] = d.batch("retain", list(range(len(d.retain))))
    stop = method.stop_at_layer(model)
    with torch.no_grad():
        hooks = method.hooks(model)
        return float(
            step_loss(method, ctx, model.bridge, batches, hooks, stop if stop and stop < model.n_layers else None)[
                "loss"
            ]
        )


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_few_steps_lower_the_methods_own_objective(name, tiny_model_dir):
    model = prepared(name, load_model(tiny_model_dir, device="cpu"))
    method = make_method(name, fast(name))
    data = _data(model)
    ctx = Context(model, data, random.Random(0), concept=CONCEPT, fine_tune=train_epochs)
    edits = list(model.edits)
    method.setup(ctx)  # the same targets / reference values the run will use
    before = objective(model, method, ctx)
    model.edits = edits  # the run starts from the model as prepared (distill's setup drops an edit)
    result = train(model, method, data, TrainConfig.of(method), _params(model, method), concept=CONCEPT)
    assert result.steps == FAST["steps"] and result.tokens > 0
    # the same context: its frozen copy (a KL or RMU reference, NPO's, distillation's teacher) was made
    # from the starting weights, before training
    after = objective(model, method, ctx)
    assert after < before, f"{name}: objective {before:.4f} -> {after:.4f}"


@pytest.mark.parametrize("name", sorted(METHODS))
def test_edits_stay_in_force_and_the_export_reproduces_the_trained_model(name, tiny_gpt2_dir, tmp_path):
    model = load_model(tiny_gpt2_dir, device="cpu")
    pruned = [Neuron(0, 3), Neuron(1, 9), Neuron(1, 10)]
    model.edits.append(NeuronAblation(pruned, "zero"))
    prepared(name, model)
    seen = []

    def watch(act, hook):
        seen.append(act[..., [3]].detach().abs().max().item())

    method = make_method(name, fast(name))
    original = train  # run the real loop, watching the pruned neuron of layer 0 during training
    model.edits.append(_Watcher(watch))
    original(model, method, _data(model), TrainConfig.of(method), _params(model, method), concept=CONCEPT)
    model.edits.pop()
    assert seen and max(seen) == 0.0  # the pruned neuron was zero in every training forward pass
    texts = FORGET + RETAIN
    assert export_checkpoint(model, tmp_path, texts) <= 1e-4
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert torch.all(plain.transformer.h[0].mlp.c_proj.weight[3] == 0)  # baked: the neuron's output row is zero


class _Watcher:
    """A pseudo-edit that only observes layer 0's MLP neurons (after the ablation, which comes first)."""

    kind = "watch"

    def __init__(self, fn):
        self.fn = fn

    def hooks(self, model):
        return [(model.mlp_hook(0), lambda act, hook: self.fn(act, hook))]


@pytest.mark.parametrize("name", ["npo", "ga_kl", "rmu"])
def test_lora_trains_only_adapters_and_merges_exactly(name, tiny_model_dir):
    model = load_model(tiny_model_dir, device="cpu")
    start = {k: v.clone() for k, v in model.hf_state_dict().items()}
    method = make_method(name, FAST)
    peft_model = add_lora(model, LoraSpec(r=4, alpha=8))
    params = lora_parameters(peft_model, method.trainable(model))
    train(model, method, _data(model), TrainConfig.of(method), params, lora=peft_model)
    ids, mask = model.pad([model.encode(t) for t in FORGET + RETAIN])
    with torch.no_grad():
        adapted = model.logits(ids, mask)
    merge_lora(model, peft_model)
    with torch.no_grad():
        merged = model.logits(ids, mask)
    assert (adapted - merged).abs().max() < 1e-4
    after = model.hf_state_dict()
    changed = [k for k in start if not torch.equal(start[k], after[k])]
    assert changed, "merging the trained adapters changed no weight"
    targets = ("c_fc", "c_proj", "dense_h_to_4h", "dense_4h_to_h", "gate_proj", "up_proj", "down_proj")
    assert all(any(t in k for t in targets) for k in changed), changed


def test_lora_target_that_does_not_exist_is_refused(tiny_gpt2_dir):
    from mechunlearn.core.errors import MechUnlearnError

    model = load_model(tiny_gpt2_dir, device="cpu")
    with pytest.raises(MechUnlearnError, match="q_proj.*valid"):
        add_lora(model, LoraSpec(targets=["q_proj"]))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_localised_training_leaves_every_other_weight_bit_identical(name, tiny_gpt2_dir):
    model = prepared(name, load_model(tiny_gpt2_dir, device="cpu"))
    method = make_method(name, fast(name))
    neurons = [Neuron(0, 1), Neuron(0, 5), Neuron(1, 2), Neuron(1, 7)]
    loc = neuron_localization(model, neurons)
    allowed = method.trainable(model)
    if allowed is not None:  # rmu trains its own few matrices: localise within them
        from mechunlearn.training.localize import intersect

        loc = intersect(loc, allowed)
    start = {k: v.clone() for k, v in model.hf_state_dict().items()}
    result = train(model, method, _data(model), TrainConfig.of(method), loc.params, masks=loc.masks, concept=CONCEPT)
    after = model.hf_state_dict()
    moved = 0
    for key, w in after.items():
        diff = w != start[key]
        moved += int(diff.sum())
        if "mlp" not in key or key.endswith("c_proj.bias"):
            assert not diff.any(), f"{name}: {key} changed"
    assert 0 < moved <= result.params_updated
    # within the MLP matrices, only the selected neurons' slices moved
    spec_layers = {0: [1, 5], 1: [2, 7]}
    for layer, idx in spec_layers.items():
        fc = after[f"transformer.h.{layer}.mlp.c_fc.weight"] != start[f"transformer.h.{layer}.mlp.c_fc.weight"]
        proj = after[f"transformer.h.{layer}.mlp.c_proj.weight"] != start[f"transformer.h.{layer}.mlp.c_proj.weight"]
        others = [i for i in range(fc.shape[1]) if i not in idx]
        assert not fc[:, others].any() and not proj[others].any()


@pytest.mark.parametrize("name", ["npo", "yao", "random_matching"])
def test_the_same_seed_gives_identical_weights(name, tiny_gpt2_dir):
    runs = []
    for _ in range(2):
        model = load_model(tiny_gpt2_dir, device="cpu")
        method = make_method(name, FAST)
        train(model, method, _data(model, seed=3), TrainConfig.of(method, seed=3), _params(model, method))
        runs.append(model.hf_state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    model = load_model(tiny_gpt2_dir, device="cpu")
    method = make_method(name, FAST)
    train(model, method, _data(model, seed=4), TrainConfig.of(method, seed=4), _params(model, method))
    assert not all(torch.equal(runs[0][k], v) for k, v in model.hf_state_dict().items())


def _budget(model, concept_dir, max_drop):
    """The planted concept's retain budget, calibrated on ``model``."""
    from mechunlearn.evaluation.budget import RetainBudget
    from mechunlearn.evaluation.report import EvalSets

    concept = load_concept(concept_dir)
    ev = EvalSets(concept)
    ev.measure(model, ("validation",), record_known=True)
    budget = RetainBudget(concept, ev.known, max_drop)
    budget.calibrate(model)
    return budget


def test_budget_stops_training_and_keeps_the_last_state_within_it(tiny_gpt2_dir, planted_concept_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    budget = _budget(model, planted_concept_dir, 0.02)
    method = make_method("ga", {"steps": 12, "lr": 3e-2, "batch_size": 2})
    result = train(
        model,
        method,
        _data(model),
        TrainConfig(steps=12, lr=3e-2, batch_size=2, eval_every=2),
        _params(model, method),
        budget=budget,
    )
    assert "budget crossed" in result.stopped and result.kept_step < result.steps
    assert budget.loss(model)["retain_loss"] <= 0.02  # the weights are the kept step's
    assert [c["within_budget"] for c in result.budget_checks][-1] is False


def test_under_bf16_autocast_the_steps_run_in_it_and_the_budget_checks_do_not(tiny_gpt2_dir, planted_concept_dir):
    model = load_model(tiny_gpt2_dir, device="cpu")
    budget = _budget(model, planted_concept_dir, 10.0)
    phase, seen = ["train"], []  # (phase, autocast on) of every forward through the first block
    loss = budget.loss

    def checked(m):
        phase[0] = "check"
        try:
            return loss(m)
        finally:
            phase[0] = "train"

    budget.loss = checked
    block = model.hf_model.transformer.h[0]
    block.register_forward_hook(lambda *_: seen.append((phase[0], torch.is_autocast_enabled("cpu"))))
    method = make_method("ga", {"steps": 2, "lr": 1e-4, "batch_size": 2})
    cfg = TrainConfig(steps=2, lr=1e-4, batch_size=2, eval_every=1, mixed_precision="bf16")
    train(model, method, _data(model), cfg, _params(model, method), budget=budget)
    assert {on for p, on in seen if p == "train"} == {True}  # each training step's forward under autocast
    assert {on for p, on in seen if p == "check"} == {False}  # each budget check's in float32


def test_separate_passes_give_what_one_stacked_pass_gives(tiny_model_dir):
    """One process runs each batch at its own width; under DDP they share one pass. Same outputs."""
    model = load_model(tiny_model_dir, device="cpu")
    data = _data(model)
    batches = {"forget": data.batch("forget", [0, 1]), "retain": data.batch("retain", [0, 1, 2])}
    hooks = [model.resid_hook(0)]
    with torch.no_grad():
        apart = forward(model, model.bridge, batches, hooks, None)
        stacked = forward(model, model.bridge, batches, hooks, None, one_pass=True)
    for name, b in batches.items():
        real = b.attention_mask.bool()
        assert (apart[name].logits[real] - stacked[name].logits[real]).abs().max() < 1e-4
        assert (apart[name].acts[hooks[0]][real] - stacked[name].acts[hooks[0]][real]).abs().max() < 1e-4


def test_activation_losses_skip_the_bos_position():
    model = load_model(device="cpu")  # the bundled tokenizer adds a BOS, as Llama's and Gemma's do
    assert model.special_prefix()
    b = _data(model).batch("forget", [0, 1])
    assert torch.all(b.content[:, 0] == 0)
    assert torch.equal(b.content[:, 1:], b.attention_mask[:, 1:])


def test_rmu_trains_the_mlp_output_norm_where_the_architecture_has_one(tiny_model_dir):
    model = load_model(tiny_model_dir, device="cpu")
    method = make_method("rmu", {"layer": 1, "layers_updated": 2})
    names = {id(p): n for n, p in model.hf_model.named_parameters()}
    trained = sorted(names[id(p)] for p in method.trainable(model))
    has_norm = model.model_type == "gemma3_text"
    assert any("post_feedforward_layernorm" in n for n in trained) == has_norm, trained
    without = make_method("rmu", {"layer": 1, "layers_updated": 2, "train_output_norm": False})
    assert not any("norm" in names[id(p)] for p in without.trainable(model))


def test_a_non_finite_loss_without_a_budget_restores_and_reports_the_starting_weights(tiny_gpt2_dir):
    """Without a budget no snapshot is taken after step 0: what is restored and reported is step 0."""
    model = load_model(tiny_gpt2_dir, device="cpu")
    start = {k: v.clone() for k, v in model.hf_state_dict().items()}
    method = make_method("ga", FAST)
    calls = []
    real_loss = method.loss

    def nan_at_step_3(step):
        parts = real_loss(step)
        calls.append(1)
        if len(calls) == 3:
            parts["loss"] = parts["loss"] * float("nan")
        return parts

    method.loss = nan_at_step_3
    result = train(model, method, _data(model), TrainConfig.of(method), _params(model, method))
    assert result.steps == 3 and result.kept_step == 0
    assert "non-finite at step 3" in result.stopped and "kept step 0" in result.stopped
    after = model.hf_state_dict()
    assert all(torch.equal(start[k], after[k]) for k in start)
