"""``mechunlearn evaluate``: a model alone, or a run against its base model, with the checks asked for."""

import json

from tests.helpers import run_cli


def test_evaluate_a_run_measures_its_base_and_the_run(monkeypatch, capsys, tmp_path):
    run = tmp_path / "pruned"
    code, _, err = run_cli(
        monkeypatch, capsys, "prune", "--method", "probeless", "--top-k", "64", "--no-budget", "--out", run
    )
    assert code == 0, err
    out = tmp_path / "eval"
    code, stdout, err = run_cli(
        monkeypatch, capsys, "evaluate", "--run", run, "--checks", "facts,mia", "-c", "mia.max_tokens=32", "--out", out
    )
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["base", "run"]
    assert report["checks"] == ["facts", "mia"]
    base, pruned = (s["metrics"] for s in report["stages"])
    # the run's known subset is the one prune recorded: every known fact is right on the base model
    assert base["corpus.forget.test.known.greedy"] == 1.0
    assert pruned["corpus.forget.test.known.greedy"] < 1.0  # pruning 64 concept neurons forgets some
    assert report["scorecard"]["run"]["forget.mia_auc"] == pruned["mia.min_k_pp.auc"]
    assert (out / "checks" / "mia-run.json").is_file() and (out / "config.json").is_file()
    table = stdout.splitlines()
    assert table[0].split() == ["metric", "base", "run"] and table[1].startswith("scorecard.forget.mc")

    # a second evaluation of a run of that base reuses the base stage: the same report, the base not measured
    again = tmp_path / "again"
    args = ["evaluate", "--run", run, "--checks", "facts,mia", "-c", "mia.max_tokens=32", "--out", again]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--base-from", out)
    assert code == 0, err
    reused = json.loads((again / "report.json").read_text())
    assert reused["stages"] == report["stages"] and reused["scorecard"] == report["scorecard"]
    assert list(reused["seconds"]) == ["run"] and reused["base_from"] == str(out)
    assert not (again / "checks" / "mia-base.json").exists()
    # other checks measured another base stage: refused, naming what differs
    args[4] = "facts"
    code, _, err = run_cli(monkeypatch, capsys, *args[:-1], tmp_path / "refused", "--base-from", out)
    assert code == 2 and "checks" in err and "['facts', 'mia']" in err and not (tmp_path / "refused").exists()

    # a stage continued from the prune's checkpoint is measured against the unedited model, not the pruned one
    stacked = tmp_path / "stacked"
    code, _, err = run_cli(monkeypatch, capsys, "unlearn", "--from", run, "--method", "ga", "--steps", "2",
                           "--no-budget", "--out", stacked)  # fmt: skip
    assert code == 0, err
    args = ["evaluate", "--run", stacked, "--checks", "facts,mia", "-c", "mia.max_tokens=32", "--out"]
    code, _, err = run_cli(monkeypatch, capsys, *args, tmp_path / "stacked-eval")
    assert code == 0, err
    on_stack = json.loads((tmp_path / "stacked-eval" / "report.json").read_text())
    assert on_stack["stages"][0] == report["stages"][0]  # the same base stage as the prune's own evaluation
    code, _, err = run_cli(monkeypatch, capsys, *args, tmp_path / "stacked-again", "--base-from", out)
    assert code == 0, err  # and so the prune's evaluation lends it


def test_stage_commands_run_the_checks_asked_for(monkeypatch, capsys, tmp_path):
    run = tmp_path / "pruned"
    code, stdout, err = run_cli(
        monkeypatch,
        capsys,
        "prune",
        "--method",
        "probeless",
        "--top-k",
        "16",
        "--no-budget",
        "--checks",
        "facts,familiarity",
        "--out",
        run,
    )
    assert code == 0, err
    report = json.loads((run / "report.json").read_text())
    assert "familiarity.concept" in report["before"] and "familiarity.concept" in report["after"]
    assert "forget_ppl" not in report["after"]  # perplexity was not asked for
    assert (run / "checks" / "familiarity-before.json").is_file()
    assert list(report["scorecard"]) == [s["name"] for s in report["stages"]] == ["before", "pruned"]
    assert stdout.splitlines()[0].startswith("metric") and "scorecard.forget.familiarity" in stdout
