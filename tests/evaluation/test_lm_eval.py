"""lm-eval on the concept's exported tasks scores exactly as this library does, edits in force."""

import json

import pytest
import yaml

from mechunlearn.concepts.folders import load_concept
from mechunlearn.edits import NeuronAblation
from mechunlearn.evaluation.report import EvalSets
from mechunlearn.models import load_model
from mechunlearn.ranking import Neuron
from tests.helpers import run_cli

pytest.importorskip("lm_eval")  # the lm-eval extra; `make install` installs it (dev)


def test_lm_eval_acc_equals_the_projects_mc_accuracy_with_an_edit_in_force():
    model = load_model(None, device="cpu")
    # an edit that changes answers: lm-eval must see it (its HFLM runs the module the hooks sit in)
    model.edits.append(NeuronAblation([Neuron(layer, i) for layer in (2, 3) for i in range(1024)], "zero"))
    ev = EvalSets(load_concept("harry_potter"), checks=["facts", "lm_eval"])
    m = ev.measure(model, ("test",))
    for side in ("forget", "retain"):
        ours = m[f"natural.{side}.test.mc"]
        assert m[f"lm_eval.mechunlearn_harry_potter_natural_{side}.acc"] == pytest.approx(ours, abs=1e-12)
    unedited = EvalSets(load_concept("harry_potter"), checks=["facts"]).measure(load_model(None, device="cpu"))
    assert unedited["natural.forget.test.mc"] != m["natural.forget.test.mc"]  # the edit did change answers


def test_export_tasks_writes_loadable_tasks(monkeypatch, capsys, tmp_path):
    out = tmp_path / "tasks"
    code, stdout, err = run_cli(monkeypatch, capsys, "export-tasks", out)
    assert code == 0, err
    spec = yaml.safe_load((out / "mechunlearn_harry_potter_natural_forget.yaml").read_text())
    data = spec["dataset_kwargs"]["data_files"]["test"]
    assert data == str((out / "mechunlearn_harry_potter_natural_forget.jsonl").resolve())
    rows = [json.loads(line) for line in open(data)]
    assert rows and all(r["choices"][r["answer_index"]] for r in rows)
    from lm_eval.tasks import TaskManager

    assert "mechunlearn_harry_potter_natural_forget" in TaskManager(include_path=str(out)).all_tasks
    code, _, err = run_cli(monkeypatch, capsys, "export-tasks", out)
    assert code == 2 and "already exists" in err  # never overwritten


def test_lm_eval_option_concept_stands_for_the_exported_tasks(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(
        monkeypatch, capsys, "evaluate", "--checks", "perplexity", "--lm-eval", "concept", "-c", "lm_eval.limit=3",
        "--out", tmp_path / "e",
    )  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "e" / "report.json").read_text())["stages"][0]["metrics"]
    assert {k for k in metrics if k.endswith(".acc")} == {
        f"lm_eval.mechunlearn_harry_potter_{s}_{side}.acc"
        for s in ("natural", "natural_paraphrased")
        for side in ("forget", "retain")
    }
