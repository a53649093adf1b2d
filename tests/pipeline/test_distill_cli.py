"""`mechunlearn distill RUN --noise` (UNDO) as a user runs it: a stage on top of a run, the student
noised and distilled towards the run's model, a plain checkpoint, bad input refused."""

import json

import torch
from transformers import AutoModelForCausalLM

from mechunlearn.edits.stack import load_run
from tests.helpers import run_cli


def _pruned(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path):
    run = tmp_path / "pruned"
    args = ["prune", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--method", "probeless"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--top-k", "5", "--out", run)
    assert code == 0, err
    return run


def test_distill_a_run_into_a_noised_student(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, store):
    run = _pruned(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path)
    out = tmp_path / "undo"
    args = ["distill", run, "--concept", planted_concept_dir, "--noise", "0.3", "--epochs", "6", "--lr", "3e-3"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--out", out)
    assert code == 0, err
    assert "distilled into a student noised by 0.3" in stdout
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["before", "pruned", "distilled"]
    t = report["training"]
    assert t["noise"] == 0.3 and t["last_kl"] < 0.5 * t["first_kl"], t  # the student moves back to the teacher
    AutoModelForCausalLM.from_pretrained(out / "model")
    # the pruned neurons stay pruned in the student (kept in force while it trained, baked on export)
    from mechunlearn.models import arch_spec

    student = load_run(out, device="cpu")
    spec = arch_spec(student.model_type)
    neurons = json.loads((run / "report.json").read_text())["edit"]["neurons"]
    for layer, i in neurons:  # the pruned neurons write nothing into the residual stream (noise did not revive them)
        w = spec.mlp_weights(student.hf_model, layer).output
        assert torch.all(w.param.index_select(w.neuron_axis, torch.tensor([i])) == 0), (layer, i)
    assert report["edit"]["export_parity_max_abs_diff"] <= 1e-4


def test_bad_distill_input(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path):
    for extra, msg in [
        (["--noise", "1.5"], "--noise must be a fraction in [0, 1]"),
        (["--epochs", "0"], "epochs and batch_size must be at least 1"),
    ]:
        code, _, err = run_cli(monkeypatch, capsys, "distill", tmp_path, "--concept", planted_concept_dir, *extra)
        assert code == 2 and msg in err, err
    code, _, err = run_cli(monkeypatch, capsys, "distill", tmp_path / "nope", "--concept", planted_concept_dir)
    assert code == 2 and "nope" in err, err
