"""The command line as a user runs it: outputs on success, one clear line and exit 2 on bad input."""

import json

import pytest
from transformers import AutoModelForCausalLM

from tests.helpers import run_cli


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Keep rankings of tiny test models out of the repository's probes/ folder."""
    import mechunlearn.ranking.store as s

    monkeypatch.setattr(s, "probes_dir", lambda: tmp_path / "probes")
    return tmp_path / "probes"


def test_prune_writes_the_full_output_layout(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, store):
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "prune",
        "--model",
        tiny_gpt2_dir,
        "--concept",
        planted_concept_dir,
        "--method",
        "probeless",
        "--top-k",
        "5",
        "--out",
        out,
    )
    assert code == 0, err
    assert "forget_ppl" in stdout and "wrote" in stdout
    for name in (
        "report.json",
        "config.json",
        "run.log",
        "ranking.html",
        "ranking/ranking.json",
        "model/config.json",
        "model/model.safetensors",
        "model/README.md",
        "model/tokenizer.json",
    ):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    for stage in ("before", "after"):
        assert set(report[stage]) >= {"corpus.forget.validation.n", "corpus.retain.test.n", "forget_ppl", "retain_ppl"}
    assert report["edit"]["n_pruned"] == 5 and len(report["edit"]["neurons"]) == 5
    assert report["edit"]["export_parity_max_abs_diff"] <= 1e-4
    assert set(report["timing"]) >= {"rank", "evaluate_before", "export", "total"}
    AutoModelForCausalLM.from_pretrained(out / "model")  # plain HF, no mechunlearn needed
    assert not list(tmp_path.glob(".run.partial*"))  # the staging folder was renamed, not left behind

    # the saved config reproduces the run from the folder alone
    again = tmp_path / "again"
    code, _, err = run_cli(monkeypatch, capsys, "prune", "--config", out / "config.json", "--out", again)
    assert code == 0, err
    assert json.loads((again / "report.json").read_text())["edit"]["neurons"] == report["edit"]["neurons"]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--model", "/nonexistent/model"], "model path does not exist: /nonexistent/model"),
        (["--concept", "no_such_concept"], "unknown concept 'no_such_concept'; available: ['harry_potter'"),
        (["--ratio", "1.5"], "ratio must be in (0, 1)"),
        (["--top-k", "100000"], "top-k 100000 is larger than the model's"),
        (["--ablation", "half"], 'ablation\' must be one of "zero", "mean", got "half"'),
        (["--method", "magic"], "unknown ranking method 'magic'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, tiny_gpt2_dir, tmp_path, args, msg, store):
    out = tmp_path / "never"
    base = ["prune", "--model", tiny_gpt2_dir, "--out", out]
    if "--model" in args:
        base = ["prune", "--out", out]
    code, _, err = run_cli(monkeypatch, capsys, *base, *args)
    assert code == 2
    assert msg in err and "Traceback" not in err
    # one error line, the last; off a terminal a stage that finished before it has its line too
    assert [ln for ln in err.splitlines() if ln.startswith("error:")] == [err.strip().splitlines()[-1]]
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_existing_output_is_never_overwritten(monkeypatch, capsys, tiny_gpt2_dir, tmp_path, store):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli(monkeypatch, capsys, "prune", "--model", tiny_gpt2_dir, "--out", out)
    assert code == 2 and "output folder already exists" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_unknown_config_key(monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"top_k": 3, "prune_everything": True}))
    code, _, err = run_cli(monkeypatch, capsys, "prune", "--config", cfg)
    assert code == 2 and "unknown config key(s) ['prune_everything']" in err


def test_ranking_from_another_model_is_refused(
    monkeypatch, capsys, tiny_model_dir, tiny_gpt2_dir, planted_concept_dir, tmp_path, store
):
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "rank",
        "--model",
        tiny_gpt2_dir,
        "--concept",
        planted_concept_dir,
        "--method",
        "probeless",
        "--out",
        tmp_path / "r",
    )
    assert code == 0, err
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "prune",
        "--model",
        tiny_model_dir,
        "--concept",
        planted_concept_dir,
        "--ranking",
        tmp_path / "r" / "ranking",
        "--top-k",
        "5",
        "--out",
        tmp_path / "p",
    )
    if tiny_model_dir.name.startswith("gpt2"):  # the same config and seed: the ranking's own model, accepted
        assert code == 0, err
        return
    assert code == 2 and "the ranking was computed on model" in err
    assert not (tmp_path / "p").exists()


def test_cache_command_writes_stats_and_shards(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path):
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "cache",
        "--model",
        tiny_gpt2_dir,
        "--concept",
        planted_concept_dir,
        "--hook",
        "mlp",
        "--hook",
        "resid",
        "--out",
        tmp_path / "c",
    )
    assert code == 0, err
    assert {p.name for p in (tmp_path / "c").iterdir()} >= {
        "stats-64.safetensors",
        "stats-32.safetensors",
        "config.json",
        "run.log",
    }
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "cache",
        "--model",
        tiny_gpt2_dir,
        "--concept",
        planted_concept_dir,
        "--hook",
        "blocks.0.hook_resid_pree",
        "--out",
        tmp_path / "d",
    )
    assert code == 2 and "unknown hook point 'blocks.0.hook_resid_pree'" in err
    assert not (tmp_path / "d").exists()


def test_legacy_neurox_tool_config_runs(monkeypatch, capsys, tiny_gpt2_dir, planted_concept_dir, tmp_path, store):
    import re

    from mechunlearn.concepts.labels import write_neurox_pair

    sentences = (planted_concept_dir / "concept.txt").read_text().splitlines()[:20]
    sentences += (planted_concept_dir / "other.txt").read_text().splitlines()[:20]
    pattern = re.compile(r"(?<!\w)(?:Hogwarts|Dumbledore)(?!\w)")
    write_neurox_pair(sentences, pattern, tmp_path / "tokens.txt", tmp_path / "labels.txt")
    legacy = {
        "base_model": str(tiny_gpt2_dir),
        "concept": str(planted_concept_dir),
        "neural_probing": {
            "concept_definition": ["Hogwarts", "Dumbledore"],
            "tokens_input_path": str(tmp_path / "tokens.txt"),
            "labels_input_path": str(tmp_path / "labels.txt"),
            "prune_ratio": 0.05,
        },
        "retraining": {"num_epochs": 1, "learning_rate": 1e-4, "batch_size": 8},
        "test_prompts": ["The capital of France is", "Everyone cheered at Hogwarts"],
    }
    cfg = tmp_path / "legacy.json"
    cfg.write_text(json.dumps(legacy))
    out = tmp_path / "legacy_run"
    code, _, err = run_cli(monkeypatch, capsys, "prune", "--config", cfg, "--out", out)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["edit"]["method"] == "probe" and report["edit"]["n_pruned"] == round(0.05 * 128)
    assert [t["prompt"] for t in report["test_prompts"]] == legacy["test_prompts"]
    assert all(t["before"] and t["after"] for t in report["test_prompts"])
    assert "retrain" in report and "pruned_only" in report
    saved = json.loads((out / "config.json").read_text())
    assert saved["retrain"] and saved["probing_tokens"] == str(tmp_path / "tokens.txt")
