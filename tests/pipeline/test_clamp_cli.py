"""`mechunlearn clamp` as a user runs it: layout, re-applying on load, --bake, --from stacks, bad input."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits import SAEClamp
from mechunlearn.edits.stack import load_run
from mechunlearn.models import load_model
from tests.helpers import run_cli, write_sae

PRUNE_KEYS = {"before", "after", "edit", "model", "test_prompts", "stages", "top_units", "timing"}


def clamp_args(model, concept, sae, out, *extra, top_k="4"):
    k = ["--top-k", top_k] if top_k else []
    return ["clamp", "--model", model, "--concept", concept, "--sae", sae, "--out", out, *k, *extra]


def test_clamp_writes_prune_layout_and_reapplies_on_load(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, sae_dir, tmp_path, store
):
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        monkeypatch, capsys, *clamp_args(tiny_gpt2_dir, planted_concept_dir, sae_dir, out, "--method", "sae-activation")
    )
    assert code == 0, err
    assert "clamped" in stdout and "wrote" in stdout
    for name in ("report.json", "config.json", "run.log", "ranking.html", "edits.json", "ranking/features.json"):
        assert (out / name).is_file(), name
    assert not (out / "model").exists()  # a clamp has no exact weights without --bake
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= PRUNE_KEYS
    assert report["edit"]["n_clamped"] == 4 and report["edit"]["mode"] == "negative"
    assert [s["name"] for s in report["stages"]] == ["before", "clamped"]
    # the folder loads as the clamped model
    again = load_run(out, device="cpu")
    assert [e.kind for e in again.edits] == ["sae_clamp"]
    with pytest.raises(MechUnlearnError, match="output folder.*load_run"):
        load_model(out, device="cpu")  # the plain model loader does not reach into output folders
    plain = load_model(tiny_gpt2_dir, device="cpu")
    plain.edits = [SAEClamp(str(sae_dir), report["edit"]["features"], "negative", report["edit"]["value"])]
    ids, mask = plain.pad([plain.encode("Everyone cheered at Hogwarts")])
    assert torch.allclose(again.logits(ids, mask), plain.logits(ids, mask), atol=1e-5)
    # config.json reruns the same job
    code, _, err = run_cli(monkeypatch, capsys, "clamp", "--config", out / "config.json", "--out", tmp_path / "b")
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "report.json").read_text())["edit"]["features"] == report["edit"]["features"]


def test_bake_distils_into_a_plain_checkpoint(
    monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, sae_dir, tmp_path, store
):
    out = tmp_path / "baked"
    args = ["clamp", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--sae", sae_dir, "--out", out]
    args += ["--features", ",".join(map(str, range(16))), "--bake", "--value", "4"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    e = report["edit"]
    assert e["distill"]["steps"] > 0  # the recorded KL is checked against the unedited model's below
    assert e["export_parity_max_abs_diff"] <= 1e-4
    assert [s["name"] for s in report["stages"]] == ["before", "clamped", "baked"]
    assert report["after"] == report["baked"] and report["clamped_only"]["retain_ppl"] > 0
    AutoModelForCausalLM.from_pretrained(out / "model")
    # distillation moved the weights towards the clamped model: KL after < KL of the unedited model
    unedited = load_model(tiny_gpt2_dir, device="cpu")
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.training.distill import kl_between

    texts = load_concept(planted_concept_dir).retain_split()[1]
    unedited.edits = [SAEClamp(str(sae_dir), e["features"], "negative", 4.0)]
    kl_unedited = kl_between(unedited, [], texts)
    assert e["kl_baked_vs_clamped_retain"] < kl_unedited


def test_prune_then_clamp_stack(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, sae_dir, tmp_path, store):
    pruned = tmp_path / "pruned"
    args = ["prune", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--method", "probeless"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--top-k", "5", "--out", pruned)
    assert code == 0, err
    stacked = tmp_path / "stacked"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "clamp", "--from", pruned, "--concept", planted_concept_dir, "--sae", sae_dir,
        "--top-k", "4", "--out", stacked,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((stacked / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["before", "pruned", "clamped"]
    assert "pruned" in stdout and "clamped" in stdout  # the printed table shows every stage
    stack = json.loads((stacked / "edits.json").read_text())
    assert [e["kind"] for e in stack["edits"]] == ["sae_clamp"]  # the pruned weights are its base
    assert stack["base_model"].endswith("pruned/model")
    # and prune on top of a clamp keeps the clamp as an edit (no plain export possible)
    code, stdout, err = run_cli(monkeypatch, capsys, "prune", "--from", stacked, "--concept", planted_concept_dir,
                                "--method", "probeless", "--top-k", "3", "--out", tmp_path / "third")  # fmt: skip
    assert code == 0, err
    third = json.loads((tmp_path / "third" / "edits.json").read_text())
    assert [e["kind"] for e in third["edits"]] == ["sae_clamp", "neuron_ablation"] and third["plain_checkpoint"] is None
    assert [s["name"] for s in json.loads((tmp_path / "third" / "report.json").read_text())["stages"]] == [
        "before", "pruned", "clamped", "pruned",
    ]  # fmt: skip
    assert [e.kind for e in load_run(tmp_path / "third", device="cpu").edits] == ["sae_clamp", "neuron_ablation"]


@pytest.mark.parametrize(
    ("extra", "msg"),
    [
        (["--features", "1,99"], "feature indices [99] are outside the SAE's 16 features"),
        (["--top-k", "17"], "top-k 17 is larger than the SAE's width (16 features)"),
        (["--mode", "soft"], 'mode\' must be one of "zero", "negative", "conditional", got "soft"'),
        (["--features", "1,x"], "--features takes comma-separated integers"),
    ],
)
def test_bad_clamp_input(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, sae_dir, tmp_path, store, extra, msg):
    out = tmp_path / "never"
    args = clamp_args(tiny_gpt2_dir, planted_concept_dir, sae_dir, out, *extra, top_k=None)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    # one error line, the last; off a terminal a stage that finished before it has its line too
    assert code == 2 and msg in err, err
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [err.strip().splitlines()[-1]], err
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_bad_sae_and_from_folders(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, store):
    out = tmp_path / "never"
    other = write_sae(tmp_path / "other", 768, "blocks.8.hook_resid_pre", model_name="gpt2-small")
    cases = [
        (["--sae", other], "'blocks.8.hook_resid_pre' (trained on model 'gpt2-small'), which model"),
        (["--sae", tmp_path / "missing"], "SAE folder does not exist"),
    ]
    for extra, msg in cases:
        code, _, err = run_cli(monkeypatch, capsys, "clamp", "--model", tiny_gpt2_dir, "--concept",
                               planted_concept_dir, "--out", out, *extra)  # fmt: skip
        assert code == 2 and msg in err, err
    not_ours = tmp_path / "plain"
    not_ours.mkdir()
    code, _, err = run_cli(monkeypatch, capsys, "clamp", "--from", not_ours, "--sae", other, "--out", out)
    assert code == 2 and "is not a mechunlearn output (no edits.json)" in err, err
    assert not out.exists()
