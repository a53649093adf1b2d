"""`mechunlearn guardrail` as a user runs it: the run folder, re-applying on load, --bake, bad input."""

import json
import shutil

import torch
from transformers import AutoModelForCausalLM

from mechunlearn.edits import Guardrail
from mechunlearn.edits.stack import load_run
from mechunlearn.models import load_model
from tests.helpers import run_cli

PROMPT = "This text was written by someone who has never heard of Hogwarts or Dumbledore."


def test_guardrail_run_is_a_stack_reapplied_on_load(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path):
    out = tmp_path / "run"
    args = ["guardrail", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--text", PROMPT, "--out", out]
    code, stdout, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "guardrail" in stdout and "wrote" in stdout
    for name in ("report.json", "config.json", "run.log", "edits.json"):
        assert (out / name).is_file(), name
    assert not (out / "model").exists()  # a prompt has no weights without --bake
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["before", "guardrailed"]
    assert set(report["scorecard"]) == {"before", "guardrailed"}
    assert report["edit"]["text"] == PROMPT and report["edit"]["tokens"] > 5
    again = load_run(out, device="cpu")
    assert [e.kind for e in again.edits] == ["guardrail"]
    plain = load_model(tiny_gpt2_dir, device="cpu")
    plain.edits = [Guardrail(PROMPT)]
    ids, mask = plain.pad([plain.encode("Everyone cheered at Hogwarts")])
    assert torch.equal(again.logits(ids, mask), plain.logits(ids, mask))
    # a measurement of the run through evaluate --run reads it with the guardrail in force
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", "--run", out, "--concept", planted_concept_dir, "--out", tmp_path / "ev"
    )
    assert code == 0, err
    ev = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert ev["stages"][1]["metrics"]["retain_ppl"] == report["stages"][1]["metrics"]["retain_ppl"]


def test_bake_writes_a_plain_checkpoint(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path):
    out = tmp_path / "baked"
    args = ["guardrail", "--model", tiny_gpt2_dir, "--concept", planted_concept_dir, "--text", PROMPT, "--bake"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--distill-option", "epochs=2", "--out", out)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["before", "guardrailed", "baked"]
    e = report["edit"]
    assert e["distill"]["epochs"] == 2 and e["export_parity_max_abs_diff"] <= 1e-4
    stack = json.loads((out / "edits.json").read_text())
    assert stack["plain_checkpoint"] == "model" and stack["edits"] == []  # the prompt is in the weights now
    AutoModelForCausalLM.from_pretrained(out / "model")
    assert "context distillation" in stdout


def test_bad_guardrail_input(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(planted_concept_dir, bare)  # the planted concept has no guardrail.txt
    cases = [
        (["--concept", bare], "has no guardrail.txt"),
        (["--concept", bare, "--text", "  "], "the guardrail text in --text is empty"),
        (["--concept", bare, "--distill-option", "epoch=2"], "epoch"),
    ]
    for extra, msg in cases:
        out = tmp_path / "never"
        code, _, err = run_cli(monkeypatch, capsys, "guardrail", "--model", tiny_gpt2_dir, "--out", out, *extra)
        assert code == 2 and msg in err, err
        assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [err.strip().splitlines()[-1]], err
        assert not out.exists()
