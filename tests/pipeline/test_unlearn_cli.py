"""`mechunlearn unlearn`, `relearn` and `filter` as a user runs them: layout, stacks in every
direction (edits kept in force and baked), rerunnable config, plain-HF export."""

import hashlib
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from mechunlearn.edits.stack import load_run
from mechunlearn.models import load_model
from tests.helpers import run_cli

FAST = ["--steps", "4", "--lr", "3e-3", "--batch-size", "2"]


def unlearn_args(concept, out, *extra):
    return ["unlearn", "--concept", concept, "--out", out, *FAST, *extra]


def test_unlearn_writes_the_stage_layout_and_a_plain_checkpoint(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path
):
    out = tmp_path / "u"
    code, stdout, err = run_cli(
        monkeypatch, capsys, *unlearn_args(planted_concept_dir, out, "--model", tiny_gpt2_dir, "--method", "ga_kl")
    )
    assert code == 0, err
    for name in ("model", "report.json", "config.json", "run.log", "edits.json", "training.html"):
        assert (out / name).exists(), name
    report = json.loads((out / "report.json").read_text())
    t = report["training"]
    assert t["method"] == "ga_kl" and t["steps"] == 4 and len(t["curve"]) == 4
    assert {"forget", "retain", "loss", "tokens"} <= set(t["curve"][0])
    assert t["tokens"] > 0 and t["wall_s"] > 0 and t["peak_memory_mb"] > 0
    emb = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).get_input_embeddings().weight.numel()
    assert t["params_updated"] == t["params_total"] - emb  # every weight could move but the (tied) embedding
    assert [s["name"] for s in report["stages"]] == ["before", "unlearned"]
    assert report["edit"]["export_parity_max_abs_diff"] <= 1e-4
    assert "unlearned" in stdout and "4 of 4 steps kept" in stdout
    # the checkpoint is a plain HF model with the trained weights
    plain = AutoModelForCausalLM.from_pretrained(out / "model")
    start = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    assert not torch.equal(plain.transformer.h[0].mlp.c_fc.weight, start.transformer.h[0].mlp.c_fc.weight)
    # config.json reruns the same job
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"] == "ga_kl" and cfg["steps"] == 4
    code, _, err = run_cli(monkeypatch, capsys, "unlearn", "--config", out / "config.json", "--out", tmp_path / "again")
    assert code == 0, err
    again = load_model(tmp_path / "again" / "model", device="cpu")
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            again.hf_state_dict().values(),
            load_model(out / "model", device="cpu").hf_state_dict().values(),
            strict=True,
        )
    )


def test_prune_then_unlearn_keeps_pruned_neurons_zero_and_bakes_them(
    monkeypatch,
    capsys,
    tiny_gpt2_dir,
    planted_concept_dir,
    tmp_path,
    store,
):
    pruned = tmp_path / "pruned"
    code, _, err = run_cli(monkeypatch, capsys, "prune", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir,
                           "--method", "probeless", "--top-k", "5", "--no-budget", "--out", pruned)  # fmt: skip
    assert code == 0, err
    neurons = json.loads((pruned / "report.json").read_text())["edit"]["neurons"]
    out = tmp_path / "u"
    code, _, err = run_cli(
        monkeypatch, capsys, *unlearn_args(planted_concept_dir, out, "--from", pruned, "--method", "npo")
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["before", "pruned", "unlearned"]
    plain = AutoModelForCausalLM.from_pretrained(out / "model")
    for layer, idx in neurons:  # still exactly zero after training: the ablation was in force and is baked
        assert torch.all(plain.transformer.h[layer].mlp.c_proj.weight[idx] == 0)
    # ... and unlearn -> prune continues the stack
    args = ["--method", "probeless", "--top-k", "3", "--no-budget", "--out", tmp_path / "third"]
    code, _, err = run_cli(monkeypatch, capsys, "prune", "--from", out, "--concept", planted_concept_dir, *args)
    assert code == 0, err
    names = [s["name"] for s in json.loads((tmp_path / "third" / "report.json").read_text())["stages"]]
    assert names == ["before", "pruned", "unlearned", "pruned"]


def test_clamp_then_unlearn_trains_under_the_clamp_and_keeps_it_live(
    monkeypatch,
    capsys,
    tiny_gpt2_dir,
    planted_concept_dir,
    sae_dir,
    tmp_path,
    store,
):
    clamped = tmp_path / "clamped"
    code, _, err = run_cli(monkeypatch, capsys, "clamp", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir,
                           "--sae", sae_dir, "--top-k", "4", "--no-budget", "--out", clamped)  # fmt: skip
    assert code == 0, err
    out = tmp_path / "u"
    code, stdout, err = run_cli(
        monkeypatch, capsys, *unlearn_args(planted_concept_dir, out, "--from", clamped, "--method", "ga")
    )
    assert code == 0, err
    stack = json.loads((out / "edits.json").read_text())
    assert stack["plain_checkpoint"] == "model" and [e["kind"] for e in stack["live_edits"]] == ["sae_clamp"]
    assert "re-applied" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["edit"]["export_parity_max_abs_diff"] <= 1e-4  # trained weights + the clamp, reloaded
    reloaded = load_run(out, device="cpu")
    assert [e.kind for e in reloaded.edits] == ["sae_clamp"]
    # the clamp was in force while training: the reloaded stack reproduces the run's 'after' figures
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.evaluation.report import EvalSets

    c = load_concept(planted_concept_dir)
    ev = EvalSets(c, known=stack["known"])
    again = ev.measure(reloaded, ("validation", "test"))
    assert again["retain_ppl"] == pytest.approx(report["after"]["retain_ppl"], rel=1e-4)
    # ... and clamp -> unlearn -> clamp stacks again on top
    args = ["--sae", sae_dir, "--top-k", "2", "--no-budget", "--out", tmp_path / "third"]
    code, _, err = run_cli(monkeypatch, capsys, "clamp", "--from", out, "--concept", planted_concept_dir, *args)
    assert code == 0, err
    assert [e.kind for e in load_run(tmp_path / "third", device="cpu").edits] == ["sae_clamp", "sae_clamp"]


def test_localising_to_sae_features_keeps_the_update_in_their_decoder_span(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, sae_dir, tmp_path, store
):
    """--localize-from an SAE feature ranking: the MLP output projections writing into the SAE's hook
    (block 0's, for blocks.1.hook_resid_pre) move only within the span of the top features' decoder
    directions; every other weight stays bit-identical."""
    from safetensors.torch import load_file

    from mechunlearn.ranking.base import Ranking

    clamped = tmp_path / "clamped"  # a clamp run writes the SAE feature ranking it used in ranking/
    code, _, err = run_cli(monkeypatch, capsys, "clamp", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir,
                           "--sae", sae_dir, "--top-k", "4", "--no-budget", "--out", clamped)  # fmt: skip
    assert code == 0, err
    out = tmp_path / "u"
    args = unlearn_args(planted_concept_dir, out, "--model", tiny_gpt2_dir, "--method", "ga", "--no-budget")
    code, _, err = run_cli(monkeypatch, capsys, *args, "--localize-from", clamped / "ranking", "--localize", "3")
    assert code == 0, err
    loc = json.loads((out / "report.json").read_text())["training"]["localisation"]
    assert (loc["kind"], loc["units"], loc["layers"]) == ("sae_features", 3, [0])
    start = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out / "model").state_dict()
    key = "transformer.h.0.mlp.c_proj.weight"  # Conv1D: [d_mlp, d_model], a neuron's output is a row
    assert [k for k in start if not torch.equal(start[k], after[k])] == [key]
    delta = (after[key] - start[key]).double()
    top = Ranking.load(clamped / "ranking").top_features(3)
    dirs = load_file(str(sae_dir / "sae_weights.safetensors"))["W_dec"][top].double()  # [3, d_model]
    onto_span = dirs.T @ torch.linalg.pinv(dirs @ dirs.T) @ dirs  # orthogonal projection onto their span
    residual = delta - delta @ onto_span
    assert delta.norm() > 1e-4  # the update is real ...
    assert residual.norm() <= 1e-5 * delta.norm()  # ... and lies in the span
    assert torch.linalg.matrix_rank(delta, atol=1e-6 * float(delta.norm())) <= 3


@pytest.mark.parametrize("extra", [["--lora", "r=4,alpha=8"], ["--localize", "6", "--localize-method", "probeless"]])
def test_lora_and_localised_runs_report_what_moved(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, store, extra
):
    out = tmp_path / "u"
    args = unlearn_args(planted_concept_dir, out, "--model", tiny_gpt2_dir, "--method", "npo", *extra)
    if "--localize-method" in extra:  # a config key, not a CLI flag: through the config file
        i = extra.index("--localize-method")
        cfg = tmp_path / "cfg.json"
        cfg.write_text(json.dumps({"localize_method": extra[i + 1]}))
        args = [a for a in args if a not in extra[i : i + 2]] + ["--config", cfg]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    t = json.loads((out / "report.json").read_text())["training"]
    assert 0 < t["params_updated"] < t["params_total"]
    if "--lora" in extra:
        assert t["lora"]["r"] == 4
    else:
        assert t["localisation"]["units"] == 6 and t["localisation"]["kind"] == "mlp_neurons"
    # the exported checkpoint holds the update, and only in the MLP matrices it was allowed into
    start = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(out / "model").state_dict()
    moved = {k: int((after[k] != start[k]).sum()) for k in start if not torch.equal(after[k], start[k])}
    assert moved and all(k.split(".mlp.")[-1] in ("c_fc.weight", "c_fc.bias", "c_proj.weight") for k in moved), moved
    if "--localize" in extra:  # no more entries than the 6 neurons' input columns, biases and output rows
        assert sum(moved.values()) <= t["params_updated"]


def test_without_a_method_the_default_recipe_runs_and_is_written_out_in_full(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, store
):
    from mechunlearn.pipeline.unlearn_config import RECIPE, UnlearnConfig

    model = load_model(tiny_gpt2_dir, device="cpu")
    k = max(1, round(RECIPE.localize_share * model.n_layers * model.d_mlp))
    out = tmp_path / "u"
    args = ["unlearn", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--steps", "2", "--out", out]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["method"], cfg["lr"], cfg["localize"]) == (RECIPE.method, RECIPE.lr, k)
    assert cfg["method_options"] == dict(RECIPE.options)
    t = json.loads((out / "report.json").read_text())["training"]
    assert t["method"] == RECIPE.method and t["localisation"]["units"] == k
    assert t["method_config"]["alpha"] == dict(RECIPE.options)["alpha"]
    # a given method runs at its own defaults, on every weight; LoRA replaces the recipe's localisation
    assert UnlearnConfig(method="npo").resolved(model).localize is None
    assert cfg["forget_kind"] == "facts" and UnlearnConfig(method="rmu").resolved(model).forget_kind == "all"
    lora = UnlearnConfig(lora="").resolved(model)
    assert lora.method == RECIPE.method and lora.localize is None


def _digest(params) -> str:
    """An exact hash of the weights' bytes."""
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_relearn_reports_recovery(monkeypatch, capsys, tmp_path):
    import mechunlearn.training.loop as loop_module  # the attack (evaluation.checks.relearn) trains in the loop
    from mechunlearn.edits.stack import load_stack

    out = tmp_path / "u"  # the bundled model: it knows its corpus' facts, so there is something to forget
    code, _, err = run_cli(
        monkeypatch, capsys, "unlearn", "--method", "ga", "--steps", "6", "--lr", "1e-3", "--no-budget", "--out", out
    )
    assert code == 0, err
    # the weights relearn trains (all but the embeddings, its default), as the unlearn run left them
    unlearned = _digest(load_stack(out, device="cpu")[0].trainable_parameters(embeddings=False))
    seen = []  # (weights at the start of each rate's attack, at its end)
    real_train = loop_module.train

    def watched_train(model, method, data, cfg, params, **kw):
        start = _digest(params)
        result = real_train(model, method, data, cfg, params, **kw)
        seen.append((start, _digest(params)))
        return result

    monkeypatch.setattr(loop_module, "train", watched_train)
    code, stdout, err = run_cli(
        monkeypatch, capsys, "relearn", out, "--steps", "3", "--lr", "1e-5", "--lr", "1e-3", "--out", tmp_path / "r"
    )
    assert code == 0, err
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [a["lr"] for a in rep["attempts"]] == [1e-5, 1e-3]
    # each rate's attack starts from the unlearned weights (not from the previous rate's result)
    assert [start for start, _ in seen] == [unlearned, unlearned]
    assert all(end != start for start, end in seen)  # ... and each one moved them
    assert rep["after_relearning"] == max((a["after"] for a in rep["attempts"]), key=lambda x: x["known"])
    assert rep["trained_on"] >= 1 and rep["measured_on"] >= 1
    assert {"greedy", "known", "n"} <= set(rep["after_relearning"])
    assert rep["before_relearning"]["known"] < 1.0  # gradient ascent forgot some of the measured half
    # relearning on one half brings back some of the other half's forgotten facts
    assert rep["after_relearning"]["known"] > rep["before_relearning"]["known"] and rep["recovery"] > 0
    assert (tmp_path / "r" / "config.json").is_file() and (tmp_path / "r" / "run.log").is_file()
    assert "recovery" in stdout


@pytest.mark.parametrize(("method", "side_rows"), [("sft", 10), ("grad_diff", 2)])
def test_epochs_count_passes_over_the_data_the_method_reads(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, method, side_rows
):
    """sft reads only retain rows: one epoch is one pass over them (10 rows, 2 a step: 5 steps), not over
    the 2 forget rows it never reads; a method that reads forget rows counts passes over those."""
    (tmp_path / "f.txt").write_text("Harry went to Hogwarts.\nDumbledore smiled.\n")
    (tmp_path / "r.txt").write_text("".join(f"Frodo walked {i} miles to Mordor.\n" for i in range(10)))
    out = tmp_path / "u"
    args = ["unlearn", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--method", method]
    args += ["--epochs", "1", "--batch-size", "2", "--lr", "1e-4", "--no-budget", "--out", out]
    args += ["--forget-data", tmp_path / "f.txt", "--retain-data", tmp_path / "r.txt"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    t = json.loads((out / "report.json").read_text())["training"]
    assert (t["forget_examples"], t["retain_examples"]) == (2, 10)
    assert t["steps"] == t["method_config"]["steps"] == side_rows // 2


def _run_without_config(folder, config_text):
    """A run folder whose edits.json records a known subset and whose config.json is ``config_text``."""
    folder.mkdir()
    stack = {"base_model": "bundled", "edits": [], "plain_checkpoint": None, "known": {"facts": {"forget": [0, 1]}}}
    (folder / "edits.json").write_text(json.dumps(stack))
    if config_text is not None:
        (folder / "config.json").write_text(config_text)
    return folder


@pytest.mark.parametrize(
    ("config_text", "words"),
    [(None, "config.json is missing"), ("{not json", "config.json"), ('{"seed": 0}', "records no concept")],
    ids=["missing", "malformed", "no-concept"],
)
def test_relearn_refuses_a_run_whose_config_does_not_name_its_concept(tmp_path, config_text, words):
    """It used to fall back to harry_potter silently: a different concept's facts measured as 'forgotten'."""
    from mechunlearn.core.errors import MechUnlearnError
    from mechunlearn.pipeline.relearn import RelearnConfig, relearn

    run = _run_without_config(tmp_path / "run", config_text)
    with pytest.raises(MechUnlearnError, match=words) as e:
        relearn(RelearnConfig(run_dir=str(run), out=str(tmp_path / "r")), print_fn=lambda *a: None)
    assert str(run) in str(e.value)
    assert not (tmp_path / "r").exists()


def test_filter_txt_jsonl_and_datasets(monkeypatch, capsys, planted_concept_dir, tmp_path):
    docs = ["Frodo went to Mordor.", "The Hogwárts feast began.", "Paris is in France.", "Dumbledore smiled."]
    (tmp_path / "in.txt").write_text("\n".join(docs) + "\n")
    code, stdout, err = run_cli(
        monkeypatch, capsys, "filter", "--concept", planted_concept_dir, tmp_path / "in.txt", tmp_path / "out.txt"
    )
    assert code == 0, err
    assert (tmp_path / "out.txt").read_text().splitlines() == ["Frodo went to Mordor.", "Paris is in France."]
    rec = json.loads((tmp_path / "out.txt.filter.json").read_text())
    assert (rec["documents"], rec["kept"], rec["removed"]) == (4, 2, 2)  # the accented spelling is caught too
    assert "kept 2 of 4" in stdout
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": d, "id": i}) + "\n" for i, d in enumerate(docs)))
    code, _, err = run_cli(
        monkeypatch, capsys, "filter", "--concept", planted_concept_dir, tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    )
    assert code == 0, err
    assert [json.loads(x)["id"] for x in (tmp_path / "out.jsonl").read_text().splitlines()] == [0, 2]
    from datasets import Dataset, DatasetDict, load_from_disk

    Dataset.from_dict({"text": docs}).save_to_disk(str(tmp_path / "ds"))
    code, _, err = run_cli(
        monkeypatch, capsys, "filter", "--concept", planted_concept_dir, tmp_path / "ds", tmp_path / "ds_out"
    )
    assert code == 0, err
    assert load_from_disk(str(tmp_path / "ds_out"))["text"] == ["Frodo went to Mordor.", "Paris is in France."]
    DatasetDict(
        {"train": Dataset.from_dict({"text": docs[:2]}), "test": Dataset.from_dict({"text": docs[2:]})}
    ).save_to_disk(str(tmp_path / "dd"))
    code, _, err = run_cli(
        monkeypatch, capsys, "filter", "--concept", planted_concept_dir, tmp_path / "dd", tmp_path / "dd_out"
    )
    assert code == 0, err
    split_texts = {k: list(v["text"]) for k, v in load_from_disk(str(tmp_path / "dd_out")).items()}
    assert split_texts == {"train": ["Frodo went to Mordor."], "test": ["Paris is in France."]}  # each split kept
    # never overwrites, and the filtered file feeds `unlearn --method sft --retain-data`
    code, _, err = run_cli(
        monkeypatch, capsys, "filter", "--concept", planted_concept_dir, tmp_path / "in.txt", tmp_path / "out.txt"
    )
    assert code == 2 and "already exists" in err


def test_training_figure_shows_losses_budget_checks_and_forgetting():
    from mechunlearn.evaluation.plots import training_figure

    check = {"retain_loss": 0.05, "forget_known_still": 0.75}
    curve = [
        {"step": 1, "forget": 3.0, "retain": 2.0, "loss": 5.0},
        {"step": 2, "forget": 2.0, "retain": 2.1, "loss": 4.1},
    ]
    curve[1]["retain_validation"] = check
    fig = training_figure(curve, "t", max_drop=0.1)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["forget term"].y) == [3.0, 2.0] and list(by_name["total loss"].y) == [5.0, 4.1]
    assert list(by_name["retain loss (validation)"].y) == [0.05]
    assert list(by_name["forget facts still known (validation)"].y) == [0.75]
    assert [s.y0 for s in fig.layout.shapes] == [0.1]  # the budget line
